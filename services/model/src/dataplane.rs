//! The agent data plane's documents: a cluster's desired state, and what its agent reports back.
//! Described for third-party agents in `api-specs/dataplane.yaml`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extension::{ExtensionStatus, ScopeDefinition};
use crate::flux::wire::{FluxComplianceState, FluxConfigurationProperties, ObjectStatus};
use crate::secrets::SecretMap;

/// Everything one cluster should run. `version` grows with every change; it is also the response's ETag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    /// The cluster's resource id.
    pub cluster: String,
    pub version: u64,
    pub extensions: Vec<DesiredExtension>,
    pub flux_configurations: Vec<DesiredFluxConfiguration>,
    /// Resources the service could not read back (a damaged record). Agents leave their objects as they are and
    /// report nothing for them until they are readable again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableResource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableResource {
    /// `fluxConfiguration` or `extension`.
    pub kind: String,
    pub name: String,
}

/// One fluxConfiguration as the agent applies it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredFluxConfiguration {
    /// The configuration's name, lowercase: the name of its source object; kustomizations are `{name}-{kustomization}`.
    pub name: String,
    /// Grows with every change of the spec; reports name the generation they are about.
    pub generation: u64,
    /// True while the configuration is being deleted: remove its objects, then report `Removed`.
    pub deleting: bool,
    /// The configuration's properties in the ARM shape of api-version 2025-04-01, defaults filled in,
    /// without read-only or write-only members.
    pub spec: FluxConfigurationProperties,
    /// `configurationProtectedSettings` (keys such as `sshPrivateKey`, `httpsKey`, `bucketSecretKey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_settings: Option<DesiredSecretGroup>,
    /// The write-only fields of an AzureBlob or OCIRepository source, keyed by their path
    /// (`azureBlob.accountKey`, `ociRepository.tlsConfig.privateKey`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_credentials: Option<DesiredSecretGroup>,
}

/// One extension as the agent installs it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredExtension {
    pub name: String,
    pub generation: u64,
    pub deleting: bool,
    pub extension_type: String,
    /// The version to run.
    pub version: String,
    pub release_train: String,
    pub auto_upgrade_minor_version: bool,
    pub scope: ScopeDefinition,
    pub configuration_settings: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_settings: Option<DesiredSecretGroup>,
}

/// A group of write-only values. The agent keeps its own copy in the cluster (a Secret) and rewrites it only when
/// `generation` differs from the one it holds. `values` are present only until the agent acknowledges a generation
/// at or above `generation`, or until they expire (at most 48 hours); after that only `keys` remain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredSecretGroup {
    /// The generation of the resource in which these values last changed.
    pub generation: u64,
    /// Every key the group holds. Keys missing from `values` keep the value the cluster already has.
    pub keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub values: Option<SecretMap>,
}

crate::arm_enum! {
    /// What the agent did with one generation.
    pub enum ReportedState {
        /// Applied (or installed).
        Succeeded = "Succeeded",
        /// Could not be applied; `message` says why.
        Failed = "Failed",
        /// The resource was being deleted and its objects are gone from the cluster.
        Removed = "Removed",
    }
}

/// `POST /dataplane/v1{cluster}/fluxConfigurations/{name}/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxStatusReport {
    pub generation: u64,
    pub provisioning_state: Option<ReportedState>,
    pub message: Option<String>,
    pub compliance_state: Option<FluxComplianceState>,
    pub statuses: Option<Vec<ObjectStatus>>,
    pub source_synced_commit_id: Option<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// The public half of the SSH key the agent made when the configuration gave none.
    pub repository_public_key: Option<String>,
}

/// `POST /dataplane/v1{cluster}/extensions/{name}/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionStatusReport {
    pub generation: u64,
    pub provisioning_state: Option<ReportedState>,
    pub message: Option<String>,
    pub installed_version: Option<String>,
    pub statuses: Option<Vec<ExtensionStatus>>,
}

/// `POST /dataplane/v1{cluster}/agent`: facts about the cluster the service checks writes against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentFacts {
    /// e.g. `v1.30.4` or `1.30.4`.
    pub kubernetes_version: Option<String>,
    /// e.g. `amd64` or `arm64`.
    pub cpu_architecture: Option<String>,
    pub agent_version: Option<String>,
}

impl AgentFacts {
    pub fn is_arm64(&self) -> bool {
        self.cpu_architecture
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("arm64") || a.eq_ignore_ascii_case("aarch64"))
    }

    /// The Kubernetes version as (major, minor, patch), if the agent reported one that parses.
    pub fn kubernetes_version(&self) -> Option<(u64, u64, u64)> {
        let text = self.kubernetes_version.as_deref()?.trim().trim_start_matches('v');
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some((
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    }
}

/// What the service knows of a cluster's agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub facts: AgentFacts,
    pub last_contact: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_versions_parse() {
        let facts = |v: &str| AgentFacts {
            kubernetes_version: Some(v.into()),
            ..Default::default()
        };
        assert_eq!(facts("v1.20.6").kubernetes_version(), Some((1, 20, 6)));
        assert_eq!(facts("1.31.2-gke.100").kubernetes_version(), Some((1, 31, 2)));
        assert_eq!(facts("1.29").kubernetes_version(), Some((1, 29, 0)));
        assert_eq!(facts("x").kubernetes_version(), None);
    }
}
