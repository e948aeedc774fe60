//! What the service stores in a resource record's body, and how a body is encoded. Everything about a resource
//! beyond the store's index columns lives here: spec, display name, systemData, provisioning, the agent's status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use clusterconfig_model::arm::{ProvisioningState, SystemData};
use clusterconfig_model::dataplane::ReportedState;
use clusterconfig_model::error::{ArmError, ErrorDetail, codes};
use clusterconfig_model::extension::{ExtensionSpec, ExtensionStatus};
use clusterconfig_model::flux::FluxConfigSpec;
use clusterconfig_model::flux::wire::{FluxComplianceState, ObjectStatus};
use clusterconfig_model::scc::SourceControlSpec;
use clusterconfig_model::secrets::SecretMap;
use clusterconfig_store::{ResourceKind, ResourceRecord, SecretRecord};
use zeroize::Zeroizing;

use crate::keyring::{KeyError, Keyring, SecretSeal};

/// A resource as stored: `S` its spec, `T` what its agent last reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document<S, T> {
    /// The name in the casing last given.
    pub name: String,
    pub spec: S,
    #[serde(default)]
    pub status: T,
    pub system_data: SystemData,
    pub provisioning_state: ProvisioningState,
    /// Why the last operation failed.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
    /// The running operation, if any.
    #[serde(default)]
    pub operation: Option<Uuid>,
    /// The newest generation an agent has reported on.
    #[serde(default)]
    pub acked_generation: u64,
    /// Per secret group: the generation that last changed it and a keyed fingerprint of what was written,
    /// so that a repeated write of the same values is recognised after the values themselves are gone.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretMeta>,
    /// A fluxConfiguration whose operation also waits for the `microsoft.flux` extension it installed.
    #[serde(default)]
    pub awaiting_extension: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub generation: u64,
    pub fingerprint: String,
}

/// What the agent last reported about a fluxConfiguration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxStatus {
    pub generation: u64,
    pub result: Option<ReportedState>,
    pub compliance_state: Option<FluxComplianceState>,
    pub statuses: Vec<ObjectStatus>,
    pub source_synced_commit_id: Option<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    pub repository_public_key: Option<String>,
    pub status_updated_at: Option<DateTime<Utc>>,
}

/// What the agent last reported about an extension.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionStatusDoc {
    pub generation: u64,
    pub result: Option<ReportedState>,
    pub current_version: Option<String>,
    pub statuses: Vec<ExtensionStatus>,
    pub status_updated_at: Option<DateTime<Utc>>,
}

pub type FluxDocument = Document<FluxConfigSpec, FluxStatus>;
pub type ExtensionDocument = Document<ExtensionSpec, ExtensionStatusDoc>;
pub type SourceControlDocument = Document<SourceControlSpec, ()>;

/// The values of one secret group as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretBody {
    pub values: SecretMap,
}

/// Turns documents into sealed record bodies and back. Each body is encrypted with the service's data key and
/// bound to its record (cluster, kind, name, generation; and group for secrets), so bytes copied into another
/// record, or replayed into another generation, do not open.
#[derive(Clone)]
pub struct Codec {
    keyring: Arc<Keyring>,
}

impl Codec {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self { keyring }
    }

    /// Makes sure the data keys that sealed these bodies are at hand (keys made by another instance, or aged out).
    pub async fn prepare<'a>(&self, bodies: impl IntoIterator<Item = &'a [u8]>) -> Result<(), ArmError> {
        let ids: BTreeSet<_> = bodies
            .into_iter()
            .filter_map(clusterconfig_crypto::sealed_key_id)
            .collect();
        self.keyring.load(&ids).await.map_err(|err| key_error(err, None))
    }

    pub fn encode<D: Serialize>(&self, aad: &Aad, document: &D) -> Result<Vec<u8>, ArmError> {
        let plain = Zeroizing::new(serde_json::to_vec(document).expect("documents serialize"));
        self.keyring
            .seal(aad.as_bytes(), &plain)
            .map_err(|err| key_error(err, None))
    }

    /// The record's body sealed again under the active data key (its content unchanged).
    pub fn reseal(&self, record: &ResourceRecord) -> Result<Vec<u8>, ArmError> {
        let aad = Aad::resource(&record.cluster, record.kind, &record.name, record.generation);
        let plain = self
            .keyring
            .open(aad.as_bytes(), &record.body)
            .map_err(|err| key_error(err, Some(format!("{} {}", record.kind.as_str(), record.name))))?;
        self.keyring
            .seal(aad.as_bytes(), &plain)
            .map_err(|err| key_error(err, None))
    }

    /// Reads a body back; a body that does not open or decode is an error of that record only.
    pub fn decode<D: DeserializeOwned>(&self, record: &ResourceRecord) -> Result<D, ArmError> {
        let aad = Aad::resource(&record.cluster, record.kind, &record.name, record.generation);
        let describe = || {
            format!(
                "{} {} of cluster {}",
                record.kind.as_str(),
                record.name,
                record.cluster
            )
        };
        let plain = self
            .keyring
            .open(aad.as_bytes(), &record.body)
            .map_err(|err| key_error(err, Some(describe())))?;
        serde_json::from_slice(&plain).map_err(|err| {
            tracing::error!(record = %describe(), error_kind = ?err.classify(), "stored resource does not decode");
            unreadable()
        })
    }

    /// The key that will seal secret values meant to expire at `expires_at`, and when they really expire
    /// (the end of its secret period, at most `crypto.secret_key_period` sooner).
    pub async fn secret_seal(&self, expires_at: DateTime<Utc>) -> Result<SecretSeal, ArmError> {
        self.keyring
            .secret_key(expires_at)
            .await
            .map_err(|err| key_error(err, None))
    }

    /// Destroys the keys of secret periods that ended; returns how many.
    pub async fn destroy_ended_secret_keys(&self) -> Result<usize, ArmError> {
        self.keyring.destroy_ended_secret_keys().await.map_err(|err| {
            tracing::warn!(error = %err, "could not destroy the keys of ended secret periods");
            ArmError::new(
                503,
                codes::KEY_PROVIDER_UNAVAILABLE,
                "The key provider is unavailable.",
            )
        })
    }

    pub fn encode_secret(
        &self,
        seal: SecretSeal,
        aad: &Aad,
        values: &SecretMap,
    ) -> Result<Vec<u8>, ArmError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&SecretBody {
                values: values.clone(),
            })
            .expect("secrets serialize"),
        );
        self.keyring
            .seal_secret(seal, aad.as_bytes(), &plain)
            .map_err(|err| key_error(err, None))
    }

    pub fn decode_secret(&self, record: &SecretRecord) -> Result<SecretMap, ArmError> {
        let aad = Aad::secret(
            &record.cluster,
            record.kind,
            &record.name,
            &record.group,
            record.generation,
        );
        let describe = || {
            format!(
                "secret group {} of {} {} of cluster {}",
                record.group,
                record.kind.as_str(),
                record.name,
                record.cluster
            )
        };
        let plain = self
            .keyring
            .open(aad.as_bytes(), &record.body)
            .map_err(|err| key_error(err, Some(describe())))?;
        serde_json::from_slice::<SecretBody>(&plain)
            .map(|b| b.values)
            .map_err(|_| {
                tracing::error!(record = %describe(), "stored secret group does not decode");
                unreadable()
            })
    }
}

/// The associated data a sealed body is bound to.
pub struct Aad(String);

impl Aad {
    pub fn resource(cluster: &str, kind: ResourceKind, name: &str, generation: u64) -> Self {
        Aad(format!(
            "clusterconfig/resource/v1\0{cluster}\0{}\0{name}\0{generation}",
            kind.as_str()
        ))
    }

    pub fn secret(cluster: &str, kind: ResourceKind, name: &str, group: &str, generation: u64) -> Self {
        Aad(format!(
            "clusterconfig/secret/v1\0{cluster}\0{}\0{name}\0{group}\0{generation}",
            kind.as_str()
        ))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn key_error(err: KeyError, record: Option<String>) -> ArmError {
    match err {
        KeyError::Unavailable(id) => {
            tracing::warn!(key = id, "a data key is unavailable");
            ArmError::new(
                503,
                codes::KEY_PROVIDER_UNAVAILABLE,
                "The service's encryption keys are unavailable; retry the request later.",
            )
        }
        KeyError::Open(error) => {
            // Logged without any content of the record.
            tracing::error!(record = record.as_deref().unwrap_or("?"), %error, "stored record does not open: damaged or tampered with");
            unreadable()
        }
    }
}

/// Whether an error is a damaged record's: it fails that record alone, never the rules about the others.
pub fn is_unreadable(err: &ArmError) -> bool {
    err.code == codes::STORED_RESOURCE_UNREADABLE
}

pub fn unreadable() -> ArmError {
    ArmError::internal(
        codes::STORED_RESOURCE_UNREADABLE,
        "The stored resource could not be read (its record is damaged). The service's operators have been alerted; other resources are unaffected.",
    )
}
