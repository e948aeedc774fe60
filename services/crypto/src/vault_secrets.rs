//! Secrets that deployments reference: ARM templates take `securestring` parameters as Key Vault references
//! (`{"reference": {"keyVault": {"id": <vault resource id>}, "secretName": ...}}`), which the deploying side
//! resolves. In Azure, through Key Vault (`KeyVaultSecrets`, the real `SecretClient`); self-hosted, through a
//! local file (`LocalSecrets`). Values are handed out as `SecretValue`, which never prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_security_keyvault_secrets::models::SecretClientGetSecretOptions;
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use zeroize::Zeroizing;

/// A secret value. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Why a secret could not be had. Messages name the vault and secret, never a value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret '{secret}' was not found in the key vault '{vault}'")]
    NotFound { vault: String, secret: String },
    #[error("'{0}' is not the resource id of a key vault")]
    BadVaultId(String),
    #[error("the key vault '{vault}' cannot be reached now ({detail})")]
    Unavailable { vault: String, detail: String },
    #[error("no secrets provider is configured (policy.secrets), so Key Vault references cannot be resolved")]
    NotConfigured,
    #[error("{0}")]
    Other(String),
}

#[async_trait]
pub trait DeploymentSecrets: Send + Sync + 'static {
    /// The value of `secret` (its newest version, or `version`) in the vault whose resource id is `vault_id`.
    async fn secret(
        &self,
        vault_id: &str,
        secret: &str,
        version: Option<&str>,
    ) -> Result<SecretValue, SecretError>;
}

/// The vault's name: the last segment of `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`.
pub fn vault_name(vault_id: &str) -> Result<String, SecretError> {
    let segments: Vec<&str> = vault_id.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", subs, _, rgs, _, providers, ns, vaults, name]
            if subs.eq_ignore_ascii_case("subscriptions")
                && rgs.eq_ignore_ascii_case("resourceGroups")
                && providers.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.KeyVault")
                && vaults.eq_ignore_ascii_case("vaults")
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Ok(name.to_ascii_lowercase())
        }
        _ => Err(SecretError::BadVaultId(vault_id.chars().take(300).collect())),
    }
}

/// No provider: every reference fails with a clear error.
pub struct NoSecrets;

#[async_trait]
impl DeploymentSecrets for NoSecrets {
    async fn secret(&self, _: &str, _: &str, _: Option<&str>) -> Result<SecretValue, SecretError> {
        Err(SecretError::NotConfigured)
    }
}

/// Azure Key Vault, through the SDK's `SecretClient`: one client per vault, at `https://{name}.{dns_suffix}`.
pub struct KeyVaultSecrets {
    credential: Arc<dyn TokenCredential>,
    /// `vault.azure.net` in Azure's public cloud (`vault.azure.cn`, `vault.usgovcloudapi.net` elsewhere).
    dns_suffix: String,
    options: SecretClientOptions,
    clients: Mutex<HashMap<String, Arc<SecretClient>>>,
}

impl KeyVaultSecrets {
    pub fn new(
        credential: Arc<dyn TokenCredential>,
        dns_suffix: &str,
        options: Option<SecretClientOptions>,
    ) -> Self {
        let mut options = options.unwrap_or_default();
        // Failures are retried by the caller's policy (a deployment is tried again), not inside one call.
        options.client_options.retry = azure_core::http::RetryOptions::none();
        Self {
            credential,
            dns_suffix: dns_suffix.trim_start_matches('.').to_owned(),
            options,
            clients: Mutex::default(),
        }
    }

    fn client(&self, vault: &str) -> Result<Arc<SecretClient>, SecretError> {
        let mut clients = self.clients.lock().expect("clients lock");
        if let Some(client) = clients.get(vault) {
            return Ok(client.clone());
        }
        let url = format!("https://{vault}.{}/", self.dns_suffix);
        let client = SecretClient::new(&url, self.credential.clone(), Some(self.options.clone()))
            .map_err(|e| SecretError::Other(format!("cannot build a Key Vault client for '{vault}': {e}")))?;
        let client = Arc::new(client);
        clients.insert(vault.to_owned(), client.clone());
        Ok(client)
    }
}

#[async_trait]
impl DeploymentSecrets for KeyVaultSecrets {
    async fn secret(
        &self,
        vault_id: &str,
        secret: &str,
        version: Option<&str>,
    ) -> Result<SecretValue, SecretError> {
        let vault = vault_name(vault_id)?;
        let client = self.client(&vault)?;
        let options = SecretClientGetSecretOptions {
            secret_version: version.map(str::to_owned),
            ..Default::default()
        };
        let not_found = || SecretError::NotFound {
            vault: vault.clone(),
            secret: secret.to_owned(),
        };
        let response =
            client
                .get_secret(secret, Some(options))
                .await
                .map_err(|err| match err.http_status() {
                    Some(azure_core::http::StatusCode::NotFound) => not_found(),
                    Some(status) if u16::from(status) == 429 || u16::from(status) >= 500 => {
                        SecretError::Unavailable {
                            vault: vault.clone(),
                            detail: format!("Key Vault answered {status}"),
                        }
                    }
                    Some(status) => {
                        SecretError::Other(format!("Key Vault '{vault}' answered {status} for '{secret}'"))
                    }
                    None => SecretError::Unavailable {
                        vault: vault.clone(),
                        detail: "no answer".into(),
                    },
                })?;
        let model = response.into_model().map_err(|_| {
            SecretError::Other(format!("Key Vault '{vault}' answered with an unreadable secret"))
        })?;
        model.value.map(SecretValue::new).ok_or_else(not_found)
    }
}

/// Secrets in a local JSON file, for self-hosted services: `{"<vault name>": {"<secret name>": "<value>"}}`.
/// Read on every use, so a changed file applies without a restart.
pub struct LocalSecrets {
    path: PathBuf,
}

impl LocalSecrets {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl DeploymentSecrets for LocalSecrets {
    async fn secret(
        &self,
        vault_id: &str,
        secret: &str,
        _version: Option<&str>,
    ) -> Result<SecretValue, SecretError> {
        let vault = vault_name(vault_id)?;
        let text = Zeroizing::new(tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            SecretError::Unavailable {
                vault: vault.clone(),
                detail: format!(
                    "cannot read the secrets file {}: {}",
                    self.path.display(),
                    e.kind()
                ),
            }
        })?);
        let file: HashMap<String, HashMap<String, String>> = serde_json::from_str(&text).map_err(|_| {
            SecretError::Other(format!(
                "the secrets file {} is not {{\"<vault>\": {{\"<secret>\": \"<value>\"}}}}",
                self.path.display()
            ))
        })?;
        file.into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&vault))
            .and_then(|(_, secrets)| secrets.into_iter().find(|(name, _)| name == secret))
            .map(|(_, value)| SecretValue::new(value))
            .ok_or(SecretError::NotFound {
                vault,
                secret: secret.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids_name_their_vault() {
        assert_eq!(
            vault_name("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/My-Vault")
                .unwrap(),
            "my-vault"
        );
        assert!(
            vault_name("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/accounts/a").is_err()
        );
        assert!(vault_name("my-vault.vault.azure.net").is_err());
    }

    #[test]
    fn values_never_print() {
        let value = SecretValue::new("canary-3f9a".into());
        assert!(!format!("{value:?}").contains("canary"));
    }

    #[tokio::test]
    async fn the_local_file_serves_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, r#"{"vault-a": {"ssh": "key-material"}}"#).unwrap();
        let secrets = LocalSecrets::new(&path);
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/Vault-A";
        assert_eq!(
            secrets.secret(id, "ssh", None).await.unwrap().expose(),
            "key-material"
        );
        let missing = secrets.secret(id, "other", None).await.unwrap_err();
        assert!(matches!(missing, SecretError::NotFound { .. }));
    }
}
