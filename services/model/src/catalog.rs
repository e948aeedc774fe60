//! The extension-type catalog: which extension types exist, their release trains and versions.
//!
//! Loaded from a TOML data file (`infra/extension-types.toml`, documented there). Only the three newest minor
//! versions of a train can be installed (the "N-2" support policy of Azure extensions).

use std::cmp::Ordering;
use std::fmt;

use serde::Deserialize;

use crate::error::{ArmError, codes};
use crate::ids::printable;

pub const FLUX_EXTENSION_TYPE: &str = "microsoft.flux";
/// How many minor versions, counting the newest, can be installed.
pub const SUPPORTED_MINOR_VERSIONS: usize = 3;

/// An extension version: a semantic version (`major.minor.patch`, optionally `-pre.release` and `+build`),
/// parsed once and ordered by SemVer's rules (`1.0.0-rc.9` before `1.0.0-rc.10`, pre-releases before their
/// release); the text is kept as given for display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtensionVersion {
    version: semver::Version,
    text: String,
}

impl ExtensionVersion {
    pub fn parse(text: &str) -> Option<Self> {
        let version = semver::Version::parse(text).ok()?;
        Some(Self {
            version,
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn major(&self) -> u64 {
        self.version.major
    }

    /// The `major.minor` line the version belongs to (patch upgrades stay on it).
    pub fn minor_line(&self) -> (u64, u64) {
        (self.version.major, self.version.minor)
    }
}

impl Ord for ExtensionVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // SemVer precedence ignores build metadata; the text breaks the tie so that Ord agrees with Eq.
        self.version
            .cmp_precedence(&other.version)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for ExtensionVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ExtensionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(rename = "extension_type", default)]
    extension_types: Vec<ExtensionTypeFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtensionTypeFile {
    name: String,
    #[serde(default)]
    description: String,
    /// `cluster`, `namespace` or both.
    scopes: Vec<String>,
    /// The release namespace of a cluster-scoped installation when none is given; for `fixed_release_namespace`
    /// types, the only one allowed.
    default_release_namespace: Option<String>,
    #[serde(default)]
    fixed_release_namespace: bool,
    /// Whether a cluster may hold more than one instance (default true).
    allow_multiple_instances: Option<bool>,
    /// Default "Microsoft".
    publisher: Option<String>,
    /// The cluster resource types it installs on (`connectedClusters`, `managedClusters`, ...); default all.
    cluster_types: Option<Vec<String>>,
    #[serde(default)]
    managed_identity_required: bool,
    #[serde(rename = "release_train")]
    release_trains: Vec<ReleaseTrainFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseTrainFile {
    name: String,
    versions: Vec<String>,
}

/// The extension types that can be installed.
#[derive(Debug, Clone)]
pub struct Catalog {
    types: Vec<ExtensionType>,
}

#[derive(Debug, Clone)]
pub struct ExtensionType {
    pub name: String,
    pub description: String,
    pub cluster_scope: bool,
    pub namespace_scope: bool,
    pub default_release_namespace: Option<String>,
    pub fixed_release_namespace: bool,
    pub allow_multiple_instances: bool,
    pub publisher: String,
    /// Cluster resource types (`connectedClusters`, ...), as the catalog spells them.
    pub cluster_types: Vec<String>,
    pub managed_identity_required: bool,
    pub release_trains: Vec<ReleaseTrain>,
}

/// The cluster resource types an extension type installs on when its entry names none.
pub const ALL_CLUSTER_TYPES: &[&str] = &[
    "connectedClusters",
    "managedClusters",
    "provisionedClusters",
    "appliances",
];

#[derive(Debug, Clone)]
pub struct ReleaseTrain {
    pub name: String,
    /// Newest first.
    pub versions: Vec<ExtensionVersion>,
}

impl ReleaseTrain {
    pub fn newest(&self) -> &ExtensionVersion {
        &self.versions[0]
    }

    /// The versions that can be installed: those of the newest `SUPPORTED_MINOR_VERSIONS` minor lines.
    pub fn supported(&self) -> Vec<&ExtensionVersion> {
        let mut lines: Vec<(u64, u64)> = self.versions.iter().map(ExtensionVersion::minor_line).collect();
        lines.dedup();
        lines.truncate(SUPPORTED_MINOR_VERSIONS);
        self.versions
            .iter()
            .filter(|v| lines.contains(&v.minor_line()))
            .collect()
    }
}

impl Catalog {
    /// Parses a catalog file; every problem is reported with where it is.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut types = Vec::new();
        for t in file.extension_types {
            let name = t.name.to_ascii_lowercase();
            if types.iter().any(|x: &ExtensionType| x.name == name) {
                return Err(format!("extension type '{name}' is listed twice"));
            }
            let cluster_scope = t.scopes.iter().any(|s| s == "cluster");
            let namespace_scope = t.scopes.iter().any(|s| s == "namespace");
            if let Some(bad) = t.scopes.iter().find(|s| *s != "cluster" && *s != "namespace") {
                return Err(format!(
                    "extension type '{name}': unknown scope '{bad}' (use 'cluster' or 'namespace')"
                ));
            }
            if !cluster_scope && !namespace_scope {
                return Err(format!("extension type '{name}' has no scope"));
            }
            if t.fixed_release_namespace && t.default_release_namespace.is_none() {
                return Err(format!(
                    "extension type '{name}': fixed_release_namespace needs default_release_namespace"
                ));
            }
            if let Some(bad) = t
                .cluster_types
                .iter()
                .flatten()
                .find(|c| !ALL_CLUSTER_TYPES.iter().any(|k| k.eq_ignore_ascii_case(c)))
            {
                return Err(format!(
                    "extension type '{name}': unknown cluster type '{bad}' (use {})",
                    ALL_CLUSTER_TYPES.join(", ")
                ));
            }
            let mut release_trains = Vec::new();
            for train in t.release_trains {
                let mut versions = Vec::new();
                for v in &train.versions {
                    versions.push(ExtensionVersion::parse(v).ok_or_else(|| {
                        format!(
                            "extension type '{name}', train '{}': '{v}' is not a version (major.minor.patch)",
                            train.name
                        )
                    })?);
                }
                if versions.is_empty() {
                    return Err(format!(
                        "extension type '{name}', train '{}' has no versions",
                        train.name
                    ));
                }
                versions.sort_by(|a, b| b.cmp(a));
                versions.dedup();
                release_trains.push(ReleaseTrain {
                    name: train.name,
                    versions,
                });
            }
            if release_trains.is_empty() {
                return Err(format!("extension type '{name}' has no release train"));
            }
            types.push(ExtensionType {
                name,
                description: t.description,
                cluster_scope,
                namespace_scope,
                default_release_namespace: t.default_release_namespace,
                fixed_release_namespace: t.fixed_release_namespace,
                allow_multiple_instances: t.allow_multiple_instances.unwrap_or(true),
                publisher: t.publisher.unwrap_or_else(|| "Microsoft".to_owned()),
                cluster_types: t
                    .cluster_types
                    .unwrap_or_else(|| ALL_CLUSTER_TYPES.iter().map(|c| (*c).to_owned()).collect()),
                managed_identity_required: t.managed_identity_required,
                release_trains,
            });
        }
        Ok(Self { types })
    }

    pub fn types(&self) -> &[ExtensionType] {
        &self.types
    }

    /// The type named `name` (case-insensitively).
    pub fn extension_type(&self, name: &str) -> Result<&ExtensionType, ArmError> {
        self.types
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ArmError::new(
                    400,
                    codes::EXTENSION_TYPE_NOT_FOUND,
                    format!(
                        "Extension type '{}' is not available. Available types: {}.",
                        printable(name),
                        self.types
                            .iter()
                            .map(|t| format!("'{}'", t.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_target("properties.extensionType")
            })
    }
}

impl ExtensionType {
    /// Whether it installs on clusters of the resource type `cluster_type` (`connectedClusters`, ...).
    pub fn installs_on(&self, cluster_type: &str) -> bool {
        self.cluster_types
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cluster_type))
    }

    /// The release train named `name` (case-insensitively).
    pub fn train(&self, name: &str) -> Result<&ReleaseTrain, ArmError> {
        self.release_trains
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ArmError::validation(
                    "properties.releaseTrain",
                    format!(
                        "Release train '{}' is not available for extension type '{}'. Available trains: {}.",
                        printable(name),
                        self.name,
                        self.release_trains
                            .iter()
                            .map(|t| format!("'{}'", t.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Checks that `version` can be installed from `train`.
    pub fn installable<'a>(
        &self,
        train: &'a ReleaseTrain,
        version: &str,
    ) -> Result<&'a ExtensionVersion, ArmError> {
        let supported = train.supported();
        supported.iter().copied().find(|v| v.as_str() == version).ok_or_else(|| {
            let listed = supported.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
            let why = if train.versions.iter().any(|v| v.as_str() == version) {
                format!(
                    "only the newest {SUPPORTED_MINOR_VERSIONS} minor versions of '{}' on the '{}' train can be installed",
                    self.name, train.name
                )
            } else {
                format!("it is not a version of '{}' on the '{}' train", self.name, train.name)
            };
            ArmError::new(
                400,
                codes::EXTENSION_VERSION_NOT_SUPPORTED,
                format!("Version '{}' cannot be installed: {why}. Supported versions: {listed}.", printable(version)),
            )
            .with_target("properties.version")
        })
    }
}

/// The catalog shipped with the service.
pub const DEFAULT_CATALOG: &str = include_str!("../../../infra/extension-types.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        let v = |s| ExtensionVersion::parse(s).unwrap();
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("1.7.0") > v("1.7.0-preview"));
        assert!(
            v("1.0.0-rc.10") > v("1.0.0-rc.9"),
            "numeric pre-release parts compare as numbers"
        );
        assert!(v("1.0.0-rc.1") > v("1.0.0-beta.11"));
        assert!(ExtensionVersion::parse("1.2").is_none());
        assert!(ExtensionVersion::parse("01.2.3").is_none(), "no leading zeros");
    }

    #[test]
    fn only_the_newest_three_minor_lines_are_installable() {
        let catalog = Catalog::from_toml(
            r#"
            [[extension_type]]
            name = "Example.Type"
            scopes = ["cluster"]
            [[extension_type.release_train]]
            name = "Stable"
            versions = ["1.1.0", "1.2.0", "1.3.0", "1.3.1", "1.4.0"]
            "#,
        )
        .unwrap();
        let t = catalog.extension_type("example.type").unwrap();
        let train = t.train("stable").unwrap();
        assert_eq!(train.newest().as_str(), "1.4.0");
        assert!(t.installable(train, "1.2.0").is_ok());
        let err = t.installable(train, "1.1.0").unwrap_err();
        assert_eq!(err.code, codes::EXTENSION_VERSION_NOT_SUPPORTED);
        assert!(
            err.message.contains("1.4.0, 1.3.1, 1.3.0, 1.2.0"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_shipped_catalog_parses_and_has_flux() {
        let catalog = Catalog::from_toml(DEFAULT_CATALOG).unwrap();
        let flux = catalog.extension_type(FLUX_EXTENSION_TYPE).unwrap();
        assert!(flux.cluster_scope && !flux.namespace_scope);
        assert_eq!(flux.default_release_namespace.as_deref(), Some("flux-system"));
    }
}
