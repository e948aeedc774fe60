//! Which version an extension runs as its release train moves on: automatic upgrades by `autoUpgradeMode`
//! (`patch`: newest of the same minor line; `compatible`: newest of the same major version; `none`: stay), and
//! the warning an extension carries once the version it runs falls out of the supported N-2 minor lines.
//!
//! Nothing here moves an extension off a version the catalog no longer supports: a pinned or not upgraded
//! instance keeps running and says so in its `statuses`, as Azure leaves such an installation in place.

use crate::catalog::{Catalog, ExtensionVersion, ReleaseTrain, SUPPORTED_MINOR_VERSIONS};

use super::{AutoUpgradeMode, ExtensionSpec, ExtensionStatus, LevelType};

/// `statuses[].code` of the warning on an extension whose version is out of support.
pub const VERSION_OUT_OF_SUPPORT: &str = "VersionOutOfSupport";

/// The version to run when none is pinned. A new instance (or one moved to another train) gets the newest
/// version of its train; an existing one keeps its version unless automatic upgrades move it, within the
/// versions that can be installed.
pub(super) fn resolve_target(
    train: &ReleaseTrain,
    auto_upgrade_minor_version: bool,
    mode: AutoUpgradeMode,
    previous: Option<&ExtensionVersion>,
) -> ExtensionVersion {
    let Some(previous) = previous else {
        return train.newest().clone();
    };
    let newest_where = |same: &dyn Fn(&ExtensionVersion) -> bool| {
        train
            .supported()
            .into_iter()
            .find(|v| same(v) && *v >= previous)
            .unwrap_or(previous)
            .clone()
    };
    match (auto_upgrade_minor_version, mode) {
        (false, _) | (true, AutoUpgradeMode::None) => previous.clone(),
        (true, AutoUpgradeMode::Patch) => newest_where(&|v| v.minor_line() == previous.minor_line()),
        (true, AutoUpgradeMode::Compatible) => newest_where(&|v| v.major() == previous.major()),
    }
}

impl ExtensionSpec {
    /// A warning status when the version this extension runs is no longer one of the newest
    /// `SUPPORTED_MINOR_VERSIONS` minor lines of its train (or left the catalog).
    pub fn support_warning(&self, catalog: &Catalog) -> Option<ExtensionStatus> {
        let extension_type = catalog.extension_type(&self.extension_type).ok()?;
        let train = extension_type.train(&self.release_train).ok()?;
        let running = ExtensionVersion::parse(&self.target_version)?;
        let supported = train.supported();
        if supported.contains(&&running) {
            return None;
        }
        let listed = supported
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let how = if self.version.is_some() {
            "pin a supported version or turn on autoUpgradeMinorVersion"
        } else {
            "update the extension to a supported version"
        };
        Some(ExtensionStatus {
            code: Some(VERSION_OUT_OF_SUPPORT.to_owned()),
            display_status: Some("Version out of support".to_owned()),
            level: Some(LevelType::Warning),
            message: Some(format!(
                "Version {running} of '{}' is out of support: only the newest {SUPPORTED_MINOR_VERSIONS} minor versions \
                 of the '{}' train are supported ({listed}). The installation keeps running; {how}.",
                self.extension_type, train.name
            )),
            time: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(versions: &[&str]) -> ReleaseTrain {
        let mut versions: Vec<_> = versions
            .iter()
            .map(|v| ExtensionVersion::parse(v).unwrap())
            .collect();
        versions.sort_by(|a, b| b.cmp(a));
        ReleaseTrain {
            name: "Stable".into(),
            versions,
        }
    }

    fn resolve(train: &ReleaseTrain, auto: bool, mode: AutoUpgradeMode, from: &str) -> String {
        resolve_target(train, auto, mode, Some(&ExtensionVersion::parse(from).unwrap())).to_string()
    }

    #[test]
    fn each_mode_moves_as_far_as_it_allows() {
        let train = train(&["1.4.0", "1.4.2", "1.5.0", "1.5.1", "2.0.0"]);
        assert_eq!(resolve(&train, true, AutoUpgradeMode::Patch, "1.4.0"), "1.4.2");
        assert_eq!(
            resolve(&train, true, AutoUpgradeMode::Compatible, "1.4.0"),
            "1.5.1"
        );
        assert_eq!(resolve(&train, true, AutoUpgradeMode::None, "1.4.0"), "1.4.0");
        assert_eq!(
            resolve(&train, false, AutoUpgradeMode::Compatible, "1.4.0"),
            "1.4.0"
        );
        assert_eq!(
            resolve_target(&train, true, AutoUpgradeMode::Compatible, None).to_string(),
            "2.0.0",
            "a new instance gets the newest of its train"
        );
    }

    #[test]
    fn a_version_out_of_support_stays_where_no_upgrade_may_take_it() {
        // 1.2 is out of the newest three minor lines (2.1, 2.0, 1.3); no 1.x line left beyond 1.3.
        let train = train(&["1.2.0", "1.3.0", "2.0.0", "2.1.0"]);
        assert_eq!(resolve(&train, true, AutoUpgradeMode::Patch, "1.2.0"), "1.2.0");
        assert_eq!(
            resolve(&train, true, AutoUpgradeMode::Compatible, "1.2.0"),
            "1.3.0"
        );
        assert_eq!(
            resolve(&train, false, AutoUpgradeMode::Compatible, "1.2.0"),
            "1.2.0"
        );
    }
}
