//! What the store keeps. Every record belongs to one cluster (its partition); bodies are opaque bytes that the
//! application encodes (and encrypts), so the store sees only what it needs to find and order records.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An opaque version of a record, new on every write; used for optimistic concurrency. The default (empty) is what a
/// record carries before it is written: the store assigns the real one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Etag(pub String);

impl Etag {
    pub fn new_random() -> Self {
        Etag(Uuid::new_v4().simple().to_string())
    }
}

/// The kinds of resource a cluster holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    FluxConfiguration,
    Extension,
    SourceControlConfiguration,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 3] = [
        ResourceKind::FluxConfiguration,
        ResourceKind::Extension,
        ResourceKind::SourceControlConfiguration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::FluxConfiguration => "flux",
            ResourceKind::Extension => "extension",
            ResourceKind::SourceControlConfiguration => "scc",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// A kind as a backend stored it: anything else is a corrupt record.
    pub fn from_stored(text: &str) -> Result<Self, crate::StoreError> {
        Self::parse(text).ok_or_else(|| crate::StoreError::Corrupt(format!("unknown resource kind '{text}'")))
    }
}

/// A cluster's own record: its version counter and what its agent last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRecord {
    pub cluster: String,
    pub subscription: String,
    /// Grows by one with every change of the cluster's desired state.
    pub version: u64,
    /// JSON of the agent's reported facts.
    pub agent: Option<String>,
    pub last_contact: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Agent tokens of the cluster issued before this are revoked.
    pub agent_tokens_not_before: Option<DateTime<Utc>>,
    /// JSON of what the cluster inventory knows of the cluster as an Azure resource (`location`, `tags`):
    /// imported from Azure Resource Graph, visible to policy conditions.
    pub inventory: Option<String>,
}

/// A resource of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRecord {
    pub cluster: String,
    pub kind: ResourceKind,
    /// Lowercase.
    pub name: String,
    pub generation: u64,
    /// The provisioning state, for operators and queries.
    pub state: String,
    pub deleting: bool,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set by the store; ignored when writing.
    pub etag: Etag,
}

/// One group of a resource's write-only values, with the time it must be gone by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub cluster: String,
    pub kind: ResourceKind,
    pub name: String,
    pub group: String,
    /// The resource generation that wrote these values.
    pub generation: u64,
    pub expires_at: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// Identifies a secret group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey {
    pub cluster: String,
    pub kind: ResourceKind,
    pub name: String,
    pub group: String,
}

/// A long-running operation on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    pub cluster: String,
    pub id: Uuid,
    pub kind: ResourceKind,
    pub name: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The resource generation this operation waits for.
    pub generation: u64,
    /// While running, the resource's state (`Creating`...); then `Succeeded`, `Failed` or `Canceled`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// When a running operation times out.
    pub deadline: DateTime<Utc>,
    /// JSON of the ARM error of a failed operation.
    pub error: Option<String>,
    /// When a finished operation record may be removed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set by the store; ignored when writing.
    pub etag: Etag,
}

impl OperationRecord {
    pub fn is_running(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// The state ARM last notified for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Lowercase.
    pub subscription: String,
    pub state: String,
    /// JSON of the notification body.
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

/// Everything of one cluster that the desired state and write decisions need, read consistently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Partition {
    pub cluster: Option<ClusterRecord>,
    pub resources: Vec<ResourceRecord>,
    pub secrets: Vec<SecretRecord>,
    /// Running operations only.
    pub operations: Vec<OperationRecord>,
    /// The cluster's compliance with each policy assignment that covers it.
    pub policy_states: Vec<PolicyStateRecord>,
}

impl Partition {
    pub fn version(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |c| c.version)
    }

    pub fn resource(&self, kind: ResourceKind, name: &str) -> Option<&ResourceRecord> {
        self.resources.iter().find(|r| r.kind == kind && r.name == name)
    }

    pub fn policy_state(&self, assignment: &str) -> Option<&PolicyStateRecord> {
        self.policy_states.iter().find(|s| s.assignment == assignment)
    }
}

/// Timestamps are kept as milliseconds since the epoch in every backend.
pub fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// A data-encryption key, wrapped by a key-encryption key; resource data sealed with it names its `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    pub id: u32,
    /// The key provider that wrapped it (`local`, `keyvault`).
    pub provider: String,
    /// The version of the key-encryption key that wrapped it.
    pub kek_version: String,
    pub wrapped: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// For the key of a secret period: when it (and its key-encryption key) is destroyed. Never changes.
    pub destroy_at: Option<DateTime<Utc>>,
    /// Set by the store; ignored when writing.
    pub etag: Etag,
}

/// The kinds of Azure Policy object the service keeps (`Microsoft.Authorization` and `Microsoft.PolicyInsights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    Definition,
    Assignment,
    Remediation,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 3] = [
        PolicyKind::Definition,
        PolicyKind::Assignment,
        PolicyKind::Remediation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Definition => "definition",
            PolicyKind::Assignment => "assignment",
            PolicyKind::Remediation => "remediation",
        }
    }

    /// A kind as a backend stored it: anything else is a corrupt record.
    pub fn from_stored(text: &str) -> Result<Self, crate::StoreError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("unknown policy kind '{text}'")))
    }
}

/// A policy definition, assignment or remediation. These live beside the clusters, not in them: one assignment
/// covers many clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub kind: PolicyKind,
    /// The lowercase ARM id.
    pub id: String,
    /// The lowercase scope it was made at (`/subscriptions/{s}` or `/subscriptions/{s}/resourcegroups/{rg}`).
    pub scope: String,
    /// JSON, as the application keeps it.
    pub body: String,
    pub updated_at: DateTime<Utc>,
    /// Set by the store; ignored when writing.
    pub etag: Etag,
}

/// A cluster's compliance with one policy assignment, kept in the cluster's partition so that an evaluation and
/// the resources it looked at are read together, and a state written is conditional on the cluster not having
/// changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStateRecord {
    pub cluster: String,
    /// The assignment's lowercase id.
    pub assignment: String,
    /// `Compliant` or `NonCompliant`.
    pub compliance: String,
    pub evaluated_at: DateTime<Utc>,
    /// JSON of the evaluation and of the last remediation deployment to the cluster, as the application keeps it.
    pub body: String,
    /// Set by the store; ignored when writing.
    pub etag: Etag,
}
