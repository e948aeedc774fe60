//! What the service stores in a resource record's body, and how a body is encoded. Everything about a resource
//! beyond the store's index columns lives here: spec, display name, systemData, provisioning, the agent's status.

use std::collections::BTreeMap;

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
use clusterconfig_store::ResourceRecord;

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

/// Turns documents into record bodies and back.
#[derive(Clone, Default)]
pub struct Codec;

impl Codec {
    pub fn encode<D: Serialize>(&self, document: &D) -> Vec<u8> {
        serde_json::to_vec(document).expect("documents serialize")
    }

    /// Reads a body back; a body that does not decode is an error of that record only.
    pub fn decode<D: DeserializeOwned>(&self, record: &ResourceRecord) -> Result<D, ArmError> {
        serde_json::from_slice(&record.body).map_err(|err| {
            tracing::error!(cluster = %record.cluster, kind = record.kind.as_str(), name = %record.name,
                error = %err, "stored resource does not decode");
            unreadable()
        })
    }

    pub fn encode_secret(&self, values: &SecretMap) -> Vec<u8> {
        serde_json::to_vec(&SecretBody {
            values: values.clone(),
        })
        .expect("secrets serialize")
    }

    pub fn decode_secret(&self, body: &[u8]) -> Result<SecretMap, ArmError> {
        serde_json::from_slice::<SecretBody>(body)
            .map(|b| b.values)
            .map_err(|_| {
                tracing::error!("stored secret group does not decode");
                unreadable()
            })
    }
}

pub fn unreadable() -> ArmError {
    ArmError::internal(
        codes::INTERNAL_ERROR,
        "The stored resource could not be read. The service's operators have been alerted; other resources are unaffected.",
    )
}
