//! Write-only values: how a write changes them, and a map that never prints them.
//!
//! A resource's write-only values are kept in groups, each replaced as a whole and each with the generation
//! that last changed it, so an agent rewrites its cluster-side copy only when its group changed:
//! - `configurationProtectedSettings` (fluxConfigurations and extensions);
//! - `sourceCredentials`: the secret fields of an AzureBlob or OCIRepository source (fluxConfigurations).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

crate::arm_enum! {
    /// The groups of write-only values a resource can hold.
    pub enum SecretGroup {
        ProtectedSettings = "configurationProtectedSettings",
        SourceCredentials = "sourceCredentials",
    }
}

/// Secret values by name. `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretMap(pub BTreeMap<String, String>);

impl SecretMap {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

impl From<BTreeMap<String, String>> for SecretMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl fmt::Debug for SecretMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| format!("{k}: <redacted>")))
            .finish()
    }
}

/// What one write said about each group: `None` leaves the group as stored; `Some` replaces the values it
/// holds with these (for `sourceCredentials`, the stored values of fields the write kept are carried over).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretGroups {
    pub protected_settings: Option<BTreeMap<String, String>>,
    pub source_credentials: Option<BTreeMap<String, String>>,
}

impl SecretGroups {
    pub fn get(&self, group: SecretGroup) -> Option<&BTreeMap<String, String>> {
        match group {
            SecretGroup::ProtectedSettings => self.protected_settings.as_ref(),
            SecretGroup::SourceCredentials => self.source_credentials.as_ref(),
        }
    }
}

impl fmt::Debug for SecretGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys =
            |m: &Option<BTreeMap<String, String>>| m.as_ref().map(|m| m.keys().cloned().collect::<Vec<_>>());
        f.debug_struct("SecretGroups")
            .field("protected_settings", &keys(&self.protected_settings))
            .field("source_credentials", &keys(&self.source_credentials))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let map = SecretMap(BTreeMap::from([(
            "sshPrivateKey".to_owned(),
            "CANARY-VALUE".to_owned(),
        )]));
        let groups = SecretGroups {
            protected_settings: Some(map.0.clone()),
            source_credentials: None,
        };
        let printed = format!("{map:?} {groups:?}");
        assert!(!printed.contains("CANARY"), "{printed}");
        assert!(printed.contains("sshPrivateKey"));
    }
}
