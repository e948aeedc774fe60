//! The `keyvault` key provider: data keys wrapped by an RSA key in Azure Key Vault (RSA-OAEP-256), through
//! `azure_security_keyvault_keys`, authenticated with the `azure_identity` credential the configuration names.
//! The version of the key that wrapped each data key is recorded with it; rotating the key in Key Vault makes a
//! new current version, and re-wrapping moves data keys onto it while older versions keep unwrapping.
//! Destroyable KEKs (the keys of secret periods) are Key Vault keys of their own, named after the main key
//! (`{key}-{name}`): created on first use, deleted and purged to destroy them. A vault with purge protection
//! keeps a deleted key for its retention, but a deleted key wraps and unwraps nothing unless an operator recovers it.

#[cfg(feature = "key-vault-simulator")]
pub mod simulator;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::StatusCode;
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, EncryptionAlgorithm, KeyClientWrapKeyOptions, KeyOperation, KeyOperationParameters,
    KeyType,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceExt as _};

use crate::envelope::DataKey;
use crate::provider::{KeyProvider, ProviderError, WrappedKey};

/// Which Entra ID credential reaches Key Vault.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// The system-assigned identity, or a user-assigned one by client id or resource id.
    ManagedIdentity {
        client_id: Option<String>,
        resource_id: Option<String>,
    },
    /// Kubernetes workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE by default).
    WorkloadIdentity {
        client_id: Option<String>,
        tenant_id: Option<String>,
        token_file: Option<PathBuf>,
    },
    /// A service principal with a client secret.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: Secret,
    },
    /// The signed-in Azure CLI user.
    AzureCli,
    /// Developer tools (Azure CLI, then Azure Developer CLI): for development only.
    DeveloperTools,
}

pub fn credential(source: &CredentialSource) -> Result<Arc<dyn TokenCredential>, ProviderError> {
    let error =
        |e: azure_core::Error| ProviderError::Other(format!("cannot build the Azure credential: {e}"));
    let credential: Arc<dyn TokenCredential> = match source {
        CredentialSource::ManagedIdentity {
            client_id,
            resource_id,
        } => {
            let user_assigned_id = match (client_id, resource_id) {
                (Some(id), _) => Some(UserAssignedId::ClientId(id.clone())),
                (None, Some(id)) => Some(UserAssignedId::ResourceId(id.clone())),
                (None, None) => None,
            };
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id,
                ..Default::default()
            }))
            .map_err(error)?
        }
        CredentialSource::WorkloadIdentity {
            client_id,
            tenant_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            client_id: client_id.clone(),
            tenant_id: tenant_id.clone(),
            token_file_path: token_file.clone(),
            ..Default::default()
        }))
        .map_err(error)?,
        CredentialSource::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => {
            ClientSecretCredential::new(tenant_id, client_id.clone(), secret.clone(), None).map_err(error)?
        }
        CredentialSource::AzureCli => AzureCliCredential::new(None).map_err(error)?,
        CredentialSource::DeveloperTools => DeveloperToolsCredential::new(None).map_err(error)?,
    };
    Ok(credential)
}

pub struct KeyVaultProvider {
    client: KeyClient,
    vault_url: String,
    key_name: String,
}

impl std::fmt::Debug for KeyVaultProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultProvider")
            .field("vault_url", &self.vault_url)
            .field("key_name", &self.key_name)
            .finish()
    }
}

impl KeyVaultProvider {
    /// `options` carries the transport (the defaults use the SDK's HTTP client). The SDK's own retries are
    /// turned off: transient failures are retried by the service's one policy (`with_retries`), not twice.
    pub fn new(
        vault_url: &str,
        key_name: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<KeyClientOptions>,
    ) -> Result<Self, ProviderError> {
        if !vault_url.starts_with("https://") {
            return Err(ProviderError::Other(format!(
                "the Key Vault URL must be https:// (got '{vault_url}')"
            )));
        }
        let mut options = options.unwrap_or_default();
        options.client_options.retry = azure_core::http::RetryOptions::none();
        let client = KeyClient::new(vault_url, credential, Some(options))
            .map_err(|e| ProviderError::Other(format!("cannot build the Key Vault client: {e}")))?;
        Ok(Self {
            client,
            vault_url: vault_url.to_owned(),
            key_name: key_name.to_owned(),
        })
    }
}

fn operation(value: &[u8]) -> KeyOperationParameters {
    KeyOperationParameters {
        algorithm: Some(EncryptionAlgorithm::RsaOaep256),
        value: Some(value.to_vec()),
        ..Default::default()
    }
}

/// Key Vault's failures: unreachable, throttled or failing (retry later), or a definite answer.
fn classify(err: azure_core::Error, what: &str) -> ProviderError {
    match err.http_status() {
        Some(StatusCode::NotFound) => ProviderError::UnknownVersion(format!("{what}: {err}")),
        Some(StatusCode::BadRequest) => ProviderError::Unwrap,
        Some(status) if u16::from(status) == 429 || u16::from(status) >= 500 => {
            ProviderError::Unavailable(format!("{what}: Key Vault answered {status}"))
        }
        Some(status) => ProviderError::Other(format!("{what}: Key Vault answered {status}")),
        None => ProviderError::Unavailable(format!("{what}: {err}")),
    }
}

/// Runs one Key Vault call, trying again (as `clusterconfig_retry::REMOTE_CALL` says) while Key Vault is
/// throttling or unavailable; a definite answer (an unknown version, a refused unwrap) is final at once.
async fn with_retries<T, F, Fut>(call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    use clusterconfig_retry::Retryable as _;
    call.retry(clusterconfig_retry::REMOTE_CALL.builder())
        .when(|err| matches!(err, ProviderError::Unavailable(_)))
        .notify(|err, delay| tracing::debug!(error = %err, retry_in_ms = delay.as_millis() as u64, "Key Vault call failed; retrying"))
        .await
}

#[async_trait]
impl KeyProvider for KeyVaultProvider {
    fn kind(&self) -> &'static str {
        "keyvault"
    }

    async fn current_version(&self) -> Result<String, ProviderError> {
        let key = with_retries(|| async {
            self.client
                .get_key(&self.key_name, None)
                .await
                .and_then(|r| r.into_model())
                .map_err(|e| classify(e, "reading the key"))
        })
        .await?;
        key.resource_id()
            .ok()
            .and_then(|id| id.version)
            .ok_or_else(|| ProviderError::Other("Key Vault returned a key id without a version".into()))
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        self.wrap_under(&self.key_name, key).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        self.unwrap_under(&self.key_name, wrapped).await
    }

    async fn wrap_destroyable(&self, name: &str, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        let key_name = self.destroyable_key_name(name);
        match self.wrap_under(&key_name, key).await {
            Err(ProviderError::UnknownVersion(_)) => {
                self.create_wrapping_key(&key_name).await?;
                self.wrap_under(&key_name, key).await
            }
            done => done,
        }
    }

    async fn unwrap_destroyable(&self, name: &str, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        match self.unwrap_under(&self.destroyable_key_name(name), wrapped).await {
            Err(ProviderError::UnknownVersion(_)) => Err(ProviderError::Destroyed(name.to_owned())),
            done => done,
        }
    }

    async fn destroy(&self, name: &str) -> Result<(), ProviderError> {
        let key_name = self.destroyable_key_name(name);
        match with_retries(|| async {
            self.client
                .delete_key(&key_name, None)
                .await
                .map(|_| ())
                .map_err(|e| classify(e, "deleting a key"))
        })
        .await
        {
            Ok(()) | Err(ProviderError::UnknownVersion(_)) => {}
            Err(err) => return Err(err),
        }
        // Purging is best effort: a vault with purge protection refuses it, and a deleted key already serves
        // no wrap or unwrap.
        if let Err(err) = self.client.purge_deleted_key(&key_name, None).await {
            tracing::info!(key = %key_name, status = ?err.http_status(),
                "deleted the key; Key Vault did not purge it (yet): it keeps it, unusable, for its retention");
        }
        Ok(())
    }
}

impl KeyVaultProvider {
    fn destroyable_key_name(&self, name: &str) -> String {
        format!("{}-{name}", self.key_name)
    }

    async fn create_wrapping_key(&self, key_name: &str) -> Result<(), ProviderError> {
        let parameters = CreateKeyParameters {
            kty: Some(KeyType::Rsa),
            key_size: Some(2048),
            key_ops: Some(vec![KeyOperation::WrapKey, KeyOperation::UnwrapKey]),
            ..Default::default()
        }
        .try_into()
        .map_err(|e| ProviderError::Other(format!("{e}")))?;
        let parameters: azure_core::http::RequestContent<CreateKeyParameters> = parameters;
        with_retries(|| async {
            self.client
                .create_key(key_name, parameters.clone(), None)
                .await
                .map(|_| ())
                .map_err(|e| classify(e, "creating a key"))
        })
        .await
    }

    async fn wrap_under(&self, key_name: &str, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        let parameters = operation(key.as_bytes())
            .try_into()
            .map_err(|e| ProviderError::Other(format!("{e}")))?;
        // No version: Key Vault wraps with the current one and names it in the result.
        let parameters: azure_core::http::RequestContent<KeyOperationParameters> = parameters;
        let result = with_retries(|| async {
            self.client
                .wrap_key(
                    key_name,
                    parameters.clone(),
                    Some(KeyClientWrapKeyOptions {
                        key_version: None,
                        ..Default::default()
                    }),
                )
                .await
                .and_then(|r| r.into_model())
                .map_err(|e| classify(e, "wrapping a data key"))
        })
        .await?;
        let kek_version = result
            .resource_id()
            .ok()
            .and_then(|id| id.version)
            .ok_or_else(|| ProviderError::Other("Key Vault's wrap result names no key version".into()))?;
        let ciphertext = result
            .result
            .ok_or_else(|| ProviderError::Other("Key Vault's wrap result has no value".into()))?;
        Ok(WrappedKey {
            kek_version,
            ciphertext,
        })
    }

    async fn unwrap_under(&self, key_name: &str, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        let parameters = operation(&wrapped.ciphertext)
            .try_into()
            .map_err(|e| ProviderError::Other(format!("{e}")))?;
        let parameters: azure_core::http::RequestContent<KeyOperationParameters> = parameters;
        let result = with_retries(|| async {
            self.client
                .unwrap_key(key_name, &wrapped.kek_version, parameters.clone(), None)
                .await
                .and_then(|r| r.into_model())
                .map_err(|e| classify(e, "unwrapping a data key"))
        })
        .await?;
        let plain = zeroize::Zeroizing::new(result.result.ok_or(ProviderError::Unwrap)?);
        DataKey::from_bytes(&plain).ok_or(ProviderError::Unwrap)
    }
}

#[cfg(test)]
mod tests {
    use super::simulator::{KeyVaultSimulator, VAULT_URL};
    use super::*;

    #[tokio::test]
    async fn wraps_and_unwraps_through_the_real_client_across_key_versions() {
        let vault = KeyVaultSimulator::new();
        let first = vault.add_version("kek");
        let provider = KeyVaultProvider::new(
            VAULT_URL,
            "kek",
            KeyVaultSimulator::credential(),
            Some(vault.client_options()),
        )
        .unwrap();
        assert_eq!(provider.current_version().await.unwrap(), first);

        let key = DataKey::generate();
        let wrapped = provider.wrap(&key).await.unwrap();
        assert_eq!(wrapped.kek_version, first);
        assert_eq!(wrapped.ciphertext.len(), 256, "RSA-2048 OAEP output");
        assert_eq!(
            provider.unwrap(&wrapped).await.unwrap().as_bytes(),
            key.as_bytes()
        );

        // Rotation in Key Vault: new wraps use the new version; the old one still unwraps.
        let second = vault.add_version("kek");
        assert_eq!(provider.current_version().await.unwrap(), second);
        let rewrapped = provider.wrap(&key).await.unwrap();
        assert_eq!(rewrapped.kek_version, second);
        assert_eq!(
            provider.unwrap(&wrapped).await.unwrap().as_bytes(),
            key.as_bytes()
        );

        let mut damaged = rewrapped.clone();
        damaged.ciphertext[10] ^= 1;
        assert!(matches!(
            provider.unwrap(&damaged).await,
            Err(ProviderError::Unwrap)
        ));
        vault.set_unavailable(true);
        assert!(matches!(
            provider.unwrap(&wrapped).await,
            Err(ProviderError::Unavailable(_))
        ));
        vault.set_unavailable(false);

        let requests = vault.requests();
        assert!(
            requests
                .iter()
                .any(|r| r.ends_with(&format!("/keys/kek/{first}/unwrapkey"))),
            "{requests:?}"
        );
        assert!(
            requests.iter().any(|r| r == "POST /keys/kek//wrapkey"),
            "wrapping names no version: {requests:?}"
        );
    }

    #[tokio::test]
    async fn destroyable_keys_are_keys_of_their_own_deleted_and_purged_to_destroy() {
        let vault = KeyVaultSimulator::new();
        vault.add_version("kek");
        let provider = KeyVaultProvider::new(
            VAULT_URL,
            "kek",
            KeyVaultSimulator::credential(),
            Some(vault.client_options()),
        )
        .unwrap();
        let key = DataKey::generate();
        let wrapped = provider.wrap_destroyable("secrets-7", &key).await.unwrap();
        let again = provider.wrap_destroyable("secrets-7", &key).await.unwrap();
        assert_eq!(wrapped.kek_version, again.kek_version, "made once, then used");
        assert_eq!(
            vault.key_names(),
            (vec!["kek".to_owned(), "kek-secrets-7".to_owned()], vec![])
        );
        assert_eq!(
            provider
                .unwrap_destroyable("secrets-7", &wrapped)
                .await
                .unwrap()
                .as_bytes(),
            key.as_bytes()
        );
        assert!(provider.unwrap(&wrapped).await.is_err(), "not the main key");

        provider.destroy("secrets-7").await.unwrap();
        assert_eq!(
            vault.key_names(),
            (vec!["kek".to_owned()], vec![]),
            "deleted and purged"
        );
        assert!(matches!(
            provider.unwrap_destroyable("secrets-7", &wrapped).await,
            Err(ProviderError::Destroyed(_))
        ));
        provider.destroy("secrets-7").await.unwrap();
        let requests = vault.requests();
        for expected in [
            "POST /keys/kek-secrets-7/create",
            "DELETE /keys/kek-secrets-7",
            "DELETE /deletedkeys/kek-secrets-7",
        ] {
            assert!(requests.iter().any(|r| r == expected), "{expected}: {requests:?}");
        }
    }

    #[test]
    fn plain_http_vaults_are_refused() {
        let error =
            KeyVaultProvider::new("http://vault", "kek", KeyVaultSimulator::credential(), None).unwrap_err();
        assert!(error.to_string().contains("https"));
    }
}
