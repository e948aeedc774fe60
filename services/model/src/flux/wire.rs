//! fluxConfigurations as ARM's JSON has them in api-version 2025-04-01, the newest: the request and response
//! bodies. Everything is optional here; `super::spec` turns a body into a valid configuration.
//! Older api-versions are subsets of this shape (see `crate::versioning`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::arm::{ProvisioningState, SystemData};

crate::arm_enum! {
    pub enum ScopeType { Cluster = "cluster", Namespace = "namespace" }
}

crate::arm_enum! {
    pub enum SourceKind {
        GitRepository = "GitRepository",
        Bucket = "Bucket",
        AzureBlob = "AzureBlob",
        OciRepository = "OCIRepository",
    }
}

crate::arm_enum! {
    /// How a GitRepository authenticates: `Generic` with secrets, `Azure` through workload identity (Azure DevOps),
    /// `GitHub` through a GitHub App.
    pub enum GitProvider { Azure = "Azure", GitHub = "GitHub", Generic = "Generic" }
}

crate::arm_enum! {
    pub enum FluxComplianceState {
        Compliant = "Compliant",
        NonCompliant = "Non-Compliant",
        Pending = "Pending",
        Suspended = "Suspended",
        Unknown = "Unknown",
    }
}

crate::arm_enum! {
    pub enum SubstituteFromKind { ConfigMap = "ConfigMap", Secret = "Secret" }
}

crate::arm_enum! {
    pub enum LayerSelectorOperation { Extract = "extract", Copy = "copy" }
}

/// A fluxConfiguration resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxConfiguration {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub system_data: Option<SystemData>,
    pub properties: Option<FluxConfigurationProperties>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxConfigurationProperties {
    /// Fixed at creation.
    pub scope: Option<ScopeType>,
    /// Fixed at creation.
    pub namespace: Option<String>,
    pub source_kind: Option<SourceKind>,
    pub suspend: Option<bool>,
    pub git_repository: Option<GitRepositoryDefinition>,
    pub bucket: Option<BucketDefinition>,
    pub azure_blob: Option<AzureBlobDefinition>,
    pub oci_repository: Option<OciRepositoryDefinition>,
    pub kustomizations: Option<BTreeMap<String, KustomizationDefinition>>,
    /// Write-only: never returned.
    pub configuration_protected_settings: Option<BTreeMap<String, String>>,
    pub wait_for_reconciliation: Option<bool>,
    pub reconciliation_wait_duration: Option<String>,
    #[schema(read_only)]
    pub statuses: Option<Vec<ObjectStatus>>,
    #[schema(read_only)]
    pub repository_public_key: Option<String>,
    #[schema(read_only)]
    pub source_synced_commit_id: Option<String>,
    #[schema(read_only)]
    pub source_updated_at: Option<DateTime<Utc>>,
    #[schema(read_only)]
    pub status_updated_at: Option<DateTime<Utc>>,
    #[schema(read_only)]
    pub compliance_state: Option<FluxComplianceState>,
    #[schema(read_only)]
    pub provisioning_state: Option<ProvisioningState>,
    #[schema(read_only)]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryDefinition {
    pub url: Option<String>,
    pub timeout_in_seconds: Option<i64>,
    pub sync_interval_in_seconds: Option<i64>,
    pub repository_ref: Option<RepositoryRefDefinition>,
    /// Base64 of known_hosts lines.
    pub ssh_known_hosts: Option<String>,
    pub https_user: Option<String>,
    /// Base64 of a PEM CA certificate.
    #[serde(rename = "httpsCACert")]
    pub https_ca_cert: Option<String>,
    pub local_auth_ref: Option<String>,
    pub provider: Option<GitProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryRefDefinition {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub semver: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketDefinition {
    pub url: Option<String>,
    pub bucket_name: Option<String>,
    pub insecure: Option<bool>,
    pub timeout_in_seconds: Option<i64>,
    pub sync_interval_in_seconds: Option<i64>,
    pub access_key: Option<String>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureBlobDefinition {
    pub url: Option<String>,
    pub container_name: Option<String>,
    pub timeout_in_seconds: Option<i64>,
    pub sync_interval_in_seconds: Option<i64>,
    pub service_principal: Option<ServicePrincipalDefinition>,
    /// Write-only.
    pub account_key: Option<String>,
    /// Write-only.
    pub sas_token: Option<String>,
    pub managed_identity: Option<ManagedIdentityDefinition>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalDefinition {
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    /// Write-only.
    pub client_secret: Option<String>,
    /// Write-only. Base64 of a PEM certificate with its private key.
    pub client_certificate: Option<String>,
    /// Write-only.
    pub client_certificate_password: Option<String>,
    pub client_certificate_send_chain: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityDefinition {
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryDefinition {
    pub url: Option<String>,
    pub timeout_in_seconds: Option<i64>,
    pub sync_interval_in_seconds: Option<i64>,
    pub repository_ref: Option<OciRepositoryRefDefinition>,
    pub layer_selector: Option<LayerSelectorDefinition>,
    pub verify: Option<VerifyDefinition>,
    pub insecure: Option<bool>,
    pub use_workload_identity: Option<bool>,
    pub service_account_name: Option<String>,
    pub tls_config: Option<TlsConfigDefinition>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryRefDefinition {
    pub tag: Option<String>,
    pub semver: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayerSelectorDefinition {
    pub media_type: Option<String>,
    pub operation: Option<LayerSelectorOperation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyDefinition {
    pub provider: Option<String>,
    pub verification_config: Option<BTreeMap<String, String>>,
    pub match_oidc_identity: Option<Vec<MatchOidcIdentityDefinition>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchOidcIdentityDefinition {
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

/// Write-only: none of these is returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfigDefinition {
    pub client_certificate: Option<String>,
    pub private_key: Option<String>,
    pub ca_certificate: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationDefinition {
    /// Read-only: the key of the kustomization in the map.
    #[schema(read_only)]
    pub name: Option<String>,
    pub path: Option<String>,
    pub depends_on: Option<Vec<String>>,
    pub timeout_in_seconds: Option<i64>,
    pub sync_interval_in_seconds: Option<i64>,
    pub retry_interval_in_seconds: Option<i64>,
    pub prune: Option<bool>,
    pub force: Option<bool>,
    pub wait: Option<bool>,
    pub post_build: Option<PostBuildDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuildDefinition {
    pub substitute: Option<BTreeMap<String, String>>,
    pub substitute_from: Option<Vec<SubstituteFromDefinition>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubstituteFromDefinition {
    pub kind: Option<SubstituteFromKind>,
    pub name: Option<String>,
    pub optional: Option<bool>,
}

/// The status of one object the configuration made in the cluster, as the agent reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub kind: Option<String>,
    pub compliance_state: Option<FluxComplianceState>,
    pub applied_by: Option<ObjectReference>,
    pub status_conditions: Option<Vec<ObjectStatusCondition>>,
    pub helm_release_properties: Option<HelmReleaseProperties>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatusCondition {
    pub last_transition_time: Option<DateTime<Utc>>,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub condition_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseProperties {
    pub last_revision_applied: Option<i64>,
    pub helm_chart_ref: Option<ObjectReference>,
    pub failure_count: Option<i64>,
    pub install_failure_count: Option<i64>,
    pub upgrade_failure_count: Option<i64>,
}
