//! Key Vault references in deployment parameters, and [`SecretValue`], the resolved secret whose `Debug` never
//! shows it.
//!
//! A deployment parameter written as `{"reference": {"keyVault": {"id": ...}, "secretName": ..., "secretVersion"?}}`
//! (ARM's Key Vault parameter reference,
//! <https://learn.microsoft.com/azure/azure-resource-manager/templates/key-vault-parameter>) is not resolved by this
//! crate: planning lists the [`KeyVaultReference`]s, the server fetches them, and rendering takes the values.

use std::fmt;

/// A Key Vault secret a deployment needs: the vault's resource id, the secret's name and optional version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyVaultReference {
    pub vault_id: String,
    pub secret_name: String,
    pub secret_version: Option<String>,
}

/// A resolved secret. `Debug` prints `SecretValue(<redacted>)`; read it with [`SecretValue::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> SecretValue {
        SecretValue(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> SecretValue {
        SecretValue(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> SecretValue {
        SecretValue(value.to_owned())
    }
}
