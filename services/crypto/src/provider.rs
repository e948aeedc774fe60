//! Key-encryption keys: whoever holds them wraps and unwraps data keys.

use std::fmt;

use async_trait::async_trait;

use crate::envelope::DataKey;

/// A data key wrapped by a key-encryption key, with the KEK version that wrapped it (needed to unwrap it).
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_version: String,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("kek_version", &self.kek_version)
            .field("bytes", &self.ciphertext.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or refused to answer; the caller may retry.
    #[error("key provider unavailable: {0}")]
    Unavailable(String),
    /// The KEK version named by a wrapped key is not known to the provider.
    #[error("key-encryption key version '{0}' is not available")]
    UnknownVersion(String),
    /// The wrapped key does not unwrap (damaged, or not wrapped by this provider).
    #[error("the wrapped data key does not unwrap")]
    Unwrap,
    /// The destroyable key-encryption key was destroyed (or never made): what it wrapped is gone for good.
    #[error("key-encryption key '{0}' was destroyed")]
    Destroyed(String),
    #[error("key provider error: {0}")]
    Other(String),
}

#[async_trait]
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// `local` or `keyvault`, recorded with each wrapped key.
    fn kind(&self) -> &'static str;

    /// The KEK version new wraps use (re-read from the source: a rotation elsewhere shows up here).
    async fn current_version(&self) -> Result<String, ProviderError>;

    /// Wraps a data key with the current KEK version.
    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, ProviderError>;

    /// Unwraps a data key with the KEK version that wrapped it.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, ProviderError>;

    /// Wraps a data key under a key-encryption key of its own, `name`, made on first use. Unlike the main KEK,
    /// it can be destroyed (`destroy`): from then on no copy of what it wrapped unwraps, wherever a store kept
    /// one (crypto-shredding).
    async fn wrap_destroyable(&self, name: &str, key: &DataKey) -> Result<WrappedKey, ProviderError>;

    /// Unwraps with the destroyable KEK `name`: `ProviderError::Destroyed` once it is gone.
    async fn unwrap_destroyable(&self, name: &str, wrapped: &WrappedKey) -> Result<DataKey, ProviderError>;

    /// Destroys the destroyable KEK `name`, every version of it; one already gone is not an error.
    async fn destroy(&self, name: &str) -> Result<(), ProviderError>;
}
