//! Envelope encryption for clusterconfig's stored data.
//!
//! Resource data is sealed with AES-256-GCM under a data-encryption key (DEK); the sealed bytes carry the DEK's id
//! in a clear header and are bound to their resource by associated data. DEKs are stored wrapped by a
//! key-encryption key (KEK) that a `KeyProvider` holds: a local key file, or a key in Azure Key Vault.
//! This crate does no storage: the server keeps wrapped DEKs in its store.

pub mod envelope;
pub mod keyvault;
pub mod local;
pub mod provider;
pub mod vault_secrets;

pub use envelope::{DataKey, DataKeyId, OpenError, open, seal, sealed_key_id};
pub use provider::{KeyProvider, ProviderError, WrappedKey};
