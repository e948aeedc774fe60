//! The items of the Cosmos DB container and their mapping to the store's records.
//!
//! Every item carries `pk` (the container's partition key path is `/pk`) and `doc`, its kind. A cluster's items
//! share `pk` = the cluster's lowercase resource id: its `cluster` item (version counter, agent facts, and the
//! anchor every change replaces under If-Match), `resource|…`, `secret|…`, `operation|…` and `policy_state|…`
//! items. Subscriptions, data keys, change-feed checkpoints and policy records have partitions of their own. Times are milliseconds since the epoch, as
//! in the SQL backends; bodies (sealed by the application) are base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ClusterRecord, DataKeyRecord, Etag, OperationRecord, PolicyKind, PolicyRecord, PolicyStateRecord,
    ResourceKind, ResourceRecord, SecretKey, SecretRecord, StoreError, SubscriptionRecord, from_millis,
    to_millis,
};

/// The id of a cluster's own item in its partition.
pub(super) const CLUSTER_ID: &str = "cluster";
/// The partition of the data-encryption keys.
pub(super) const DATA_KEYS_PK: &str = "data-keys";
/// The partition of the instances' change-feed checkpoints.
pub(super) const CHECKPOINTS_PK: &str = "feed-checkpoints";
/// The partition of policy definitions, assignments and remediations (a few hundred items at most).
pub(super) const POLICY_PK: &str = "policy";

/// One item of the container, tagged by `doc`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "doc", rename_all = "snake_case")]
pub(super) enum Doc {
    Cluster(ClusterDoc),
    Resource(ResourceDoc),
    Secret(SecretDoc),
    Operation(OperationDoc),
    Subscription(SubscriptionDoc),
    DataKey(DataKeyDoc),
    Checkpoint(CheckpointDoc),
    Policy(PolicyDoc),
    PolicyState(PolicyStateDoc),
}

impl Doc {
    /// Cosmos DB's own etag of the item as read (If-Match on it makes a write conditional on nothing having
    /// changed since).
    pub(super) fn cosmos_etag(&self) -> Option<&str> {
        match self {
            Doc::Cluster(d) => d.cosmos_etag.as_deref(),
            Doc::Resource(d) => d.cosmos_etag.as_deref(),
            Doc::Secret(d) => d.cosmos_etag.as_deref(),
            Doc::Operation(d) => d.cosmos_etag.as_deref(),
            Doc::Subscription(d) => d.cosmos_etag.as_deref(),
            Doc::DataKey(d) => d.cosmos_etag.as_deref(),
            Doc::Checkpoint(d) => d.cosmos_etag.as_deref(),
            Doc::Policy(d) => d.cosmos_etag.as_deref(),
            Doc::PolicyState(d) => d.cosmos_etag.as_deref(),
        }
    }

    pub(super) fn pk(&self) -> &str {
        match self {
            Doc::Cluster(d) => &d.pk,
            Doc::Resource(d) => &d.pk,
            Doc::Secret(d) => &d.pk,
            Doc::Operation(d) => &d.pk,
            Doc::Subscription(d) => &d.pk,
            Doc::DataKey(d) => &d.pk,
            Doc::Checkpoint(d) => &d.pk,
            Doc::Policy(d) => &d.pk,
            Doc::PolicyState(d) => &d.pk,
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Doc::Cluster(d) => &d.id,
            Doc::Resource(d) => &d.id,
            Doc::Secret(d) => &d.id,
            Doc::Operation(d) => &d.id,
            Doc::Subscription(d) => &d.id,
            Doc::DataKey(d) => &d.id,
            Doc::Checkpoint(d) => &d.id,
            Doc::Policy(d) => &d.id,
            Doc::PolicyState(d) => &d.id,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ClusterDoc {
    pub id: String,
    pub pk: String,
    pub cluster: String,
    pub subscription: String,
    pub version: u64,
    pub agent: Option<String>,
    pub last_contact: Option<i64>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_tokens_not_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<String>,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ResourceDoc {
    pub id: String,
    pub pk: String,
    pub cluster: String,
    pub kind: String,
    pub name: String,
    pub generation: u64,
    pub state: String,
    pub deleting: bool,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub etag: String,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SecretDoc {
    pub id: String,
    pub pk: String,
    pub cluster: String,
    pub kind: String,
    pub name: String,
    pub group: String,
    pub generation: u64,
    pub expires_at: i64,
    pub body: String,
    /// Cosmos DB deletes the item by itself at expiry (the service checks expiry on every read regardless).
    pub ttl: i64,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OperationDoc {
    pub id: String,
    pub pk: String,
    pub cluster: String,
    pub operation_id: String,
    pub kind: String,
    pub name: String,
    pub action: String,
    pub generation: u64,
    pub status: String,
    /// Not yet ended: what the deadline sweep and the partition read look for.
    pub running: bool,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub deadline: i64,
    pub error: Option<String>,
    pub expires_at: Option<i64>,
    pub etag: String,
    /// Set once the operation has ended and has a retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SubscriptionDoc {
    pub id: String,
    pub pk: String,
    pub subscription: String,
    pub state: String,
    pub body: String,
    pub updated_at: i64,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DataKeyDoc {
    pub id: String,
    pub pk: String,
    pub key_id: u32,
    pub provider: String,
    pub kek_version: String,
    pub wrapped: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_at: Option<i64>,
    pub etag: String,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CheckpointDoc {
    pub id: String,
    pub pk: String,
    /// The change feed's continuation token.
    pub token: String,
    pub updated_at: i64,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

/// A policy definition, assignment or remediation, in the policy partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PolicyDoc {
    pub id: String,
    pub pk: String,
    pub kind: String,
    pub policy_id: String,
    pub scope: String,
    pub body: String,
    pub updated_at: i64,
    pub etag: String,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

/// A cluster's compliance with one assignment, in the cluster's partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PolicyStateDoc {
    pub id: String,
    pub pk: String,
    pub cluster: String,
    pub assignment: String,
    pub compliance: String,
    pub evaluated_at: i64,
    pub body: String,
    pub etag: String,
    #[serde(rename = "_etag", default, skip_serializing)]
    pub cosmos_etag: Option<String>,
}

/// Cosmos DB item ids may not contain `/`, `\`, `?` or `#`; `|` separates the parts of ours. Names are
/// validated long before they reach the store, but the store does not rely on it.
pub(super) fn id_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' | '\\' | '?' | '#' | '%' | '|' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn resource_id(kind: ResourceKind, name: &str) -> String {
    format!("resource|{}|{}", kind.as_str(), id_part(name))
}

pub(super) fn secret_id(kind: ResourceKind, name: &str, group: &str) -> String {
    format!("secret|{}|{}|{}", kind.as_str(), id_part(name), id_part(group))
}

pub(super) fn operation_id(id: uuid::Uuid) -> String {
    format!("operation|{id}")
}

pub(super) fn policy_doc_id(kind: PolicyKind, id: &str) -> String {
    format!("{}|{}", kind.as_str(), id_part(id))
}

pub(super) fn policy_state_id(assignment: &str) -> String {
    format!("policy_state|{}", id_part(assignment))
}

pub(super) fn subscription_pk(subscription: &str) -> String {
    format!("subscription|{}", id_part(subscription))
}

/// Seconds from now until `at` for a Cosmos DB `ttl`: at least one (zero is not a valid ttl), at most what an
/// item's ttl can hold.
pub(super) fn ttl_until(at: DateTime<Utc>) -> i64 {
    let left = at - Utc::now();
    (left.num_milliseconds() + 999)
        .div_euclid(1000)
        .clamp(1, i64::from(i32::MAX))
}

fn bytes_of(text: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    STANDARD
        .decode(text)
        .map_err(|_| StoreError::Corrupt(format!("the body of {what} is not base64")))
}

impl ClusterDoc {
    pub(super) fn new(cluster: &str, subscription: &str, at: DateTime<Utc>) -> Self {
        Self {
            id: CLUSTER_ID.into(),
            pk: cluster.into(),
            cluster: cluster.into(),
            subscription: subscription.into(),
            version: 0,
            agent: None,
            last_contact: None,
            created_at: to_millis(at),
            agent_tokens_not_before: None,
            inventory: None,
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> ClusterRecord {
        ClusterRecord {
            cluster: self.cluster.clone(),
            subscription: self.subscription.clone(),
            version: self.version,
            agent: self.agent.clone(),
            last_contact: self.last_contact.map(from_millis),
            created_at: from_millis(self.created_at),
            agent_tokens_not_before: self.agent_tokens_not_before.map(from_millis),
            inventory: self.inventory.clone(),
        }
    }
}

impl ResourceDoc {
    pub(super) fn new(cluster: &str, record: &ResourceRecord, etag: &Etag) -> Self {
        Self {
            id: resource_id(record.kind, &record.name),
            pk: cluster.into(),
            cluster: cluster.into(),
            kind: record.kind.as_str().into(),
            name: record.name.clone(),
            generation: record.generation,
            state: record.state.clone(),
            deleting: record.deleting,
            body: STANDARD.encode(&record.body),
            created_at: to_millis(record.created_at),
            updated_at: to_millis(record.updated_at),
            etag: etag.0.clone(),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> Result<ResourceRecord, StoreError> {
        Ok(ResourceRecord {
            cluster: self.cluster.clone(),
            kind: ResourceKind::from_stored(&self.kind)?,
            name: self.name.clone(),
            generation: self.generation,
            state: self.state.clone(),
            deleting: self.deleting,
            body: bytes_of(&self.body, &self.id)?,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            etag: Etag(self.etag.clone()),
        })
    }
}

impl SecretDoc {
    pub(super) fn new(cluster: &str, record: &SecretRecord) -> Self {
        Self {
            id: secret_id(record.kind, &record.name, &record.group),
            pk: cluster.into(),
            cluster: cluster.into(),
            kind: record.kind.as_str().into(),
            name: record.name.clone(),
            group: record.group.clone(),
            generation: record.generation,
            expires_at: to_millis(record.expires_at),
            body: STANDARD.encode(&record.body),
            ttl: ttl_until(record.expires_at),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> Result<SecretRecord, StoreError> {
        Ok(SecretRecord {
            cluster: self.cluster.clone(),
            kind: ResourceKind::from_stored(&self.kind)?,
            name: self.name.clone(),
            group: self.group.clone(),
            generation: self.generation,
            expires_at: from_millis(self.expires_at),
            body: bytes_of(&self.body, &self.id)?,
        })
    }

    pub(super) fn key(&self) -> Result<SecretKey, StoreError> {
        Ok(SecretKey {
            cluster: self.cluster.clone(),
            kind: ResourceKind::from_stored(&self.kind)?,
            name: self.name.clone(),
            group: self.group.clone(),
        })
    }
}

impl OperationDoc {
    pub(super) fn new(cluster: &str, record: &OperationRecord, etag: &Etag) -> Self {
        Self {
            id: operation_id(record.id),
            pk: cluster.into(),
            cluster: cluster.into(),
            operation_id: record.id.to_string(),
            kind: record.kind.as_str().into(),
            name: record.name.clone(),
            action: record.action.clone(),
            generation: record.generation,
            status: record.status.clone(),
            running: record.is_running(),
            started_at: to_millis(record.started_at),
            ended_at: record.ended_at.map(to_millis),
            deadline: to_millis(record.deadline),
            error: record.error.clone(),
            expires_at: record.expires_at.map(to_millis),
            etag: etag.0.clone(),
            ttl: record
                .expires_at
                .filter(|_| record.ended_at.is_some())
                .map(ttl_until),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> Result<OperationRecord, StoreError> {
        Ok(OperationRecord {
            cluster: self.cluster.clone(),
            id: self
                .operation_id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("operation id '{}'", self.operation_id)))?,
            kind: ResourceKind::from_stored(&self.kind)?,
            name: self.name.clone(),
            action: self.action.clone(),
            generation: self.generation,
            status: self.status.clone(),
            started_at: from_millis(self.started_at),
            ended_at: self.ended_at.map(from_millis),
            deadline: from_millis(self.deadline),
            error: self.error.clone(),
            expires_at: self.expires_at.map(from_millis),
            etag: Etag(self.etag.clone()),
        })
    }
}

impl SubscriptionDoc {
    pub(super) fn new(record: &SubscriptionRecord) -> Self {
        Self {
            id: "subscription".into(),
            pk: subscription_pk(&record.subscription),
            subscription: record.subscription.clone(),
            state: record.state.clone(),
            body: record.body.clone(),
            updated_at: to_millis(record.updated_at),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> SubscriptionRecord {
        SubscriptionRecord {
            subscription: self.subscription.clone(),
            state: self.state.clone(),
            body: self.body.clone(),
            updated_at: from_millis(self.updated_at),
        }
    }
}

impl DataKeyDoc {
    pub(super) fn new(record: &DataKeyRecord, etag: &Etag) -> Self {
        Self {
            id: record.id.to_string(),
            pk: DATA_KEYS_PK.into(),
            key_id: record.id,
            provider: record.provider.clone(),
            kek_version: record.kek_version.clone(),
            wrapped: STANDARD.encode(&record.wrapped),
            created_at: to_millis(record.created_at),
            destroy_at: record.destroy_at.map(to_millis),
            etag: etag.0.clone(),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> Result<DataKeyRecord, StoreError> {
        Ok(DataKeyRecord {
            id: self.key_id,
            provider: self.provider.clone(),
            kek_version: self.kek_version.clone(),
            wrapped: bytes_of(&self.wrapped, &format!("data key {}", self.key_id))?,
            created_at: from_millis(self.created_at),
            destroy_at: self.destroy_at.map(from_millis),
            etag: Etag(self.etag.clone()),
        })
    }
}

impl PolicyDoc {
    pub(super) fn new(record: &PolicyRecord, etag: &Etag) -> Self {
        Self {
            id: policy_doc_id(record.kind, &record.id),
            pk: POLICY_PK.into(),
            kind: record.kind.as_str().into(),
            policy_id: record.id.clone(),
            scope: record.scope.clone(),
            body: record.body.clone(),
            updated_at: to_millis(record.updated_at),
            etag: etag.0.clone(),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> Result<PolicyRecord, StoreError> {
        Ok(PolicyRecord {
            kind: PolicyKind::from_stored(&self.kind)?,
            id: self.policy_id.clone(),
            scope: self.scope.clone(),
            body: self.body.clone(),
            updated_at: from_millis(self.updated_at),
            etag: Etag(self.etag.clone()),
        })
    }
}

impl PolicyStateDoc {
    pub(super) fn new(cluster: &str, record: &PolicyStateRecord, etag: &Etag) -> Self {
        Self {
            id: policy_state_id(&record.assignment),
            pk: cluster.into(),
            cluster: cluster.into(),
            assignment: record.assignment.clone(),
            compliance: record.compliance.clone(),
            evaluated_at: to_millis(record.evaluated_at),
            body: record.body.clone(),
            etag: etag.0.clone(),
            cosmos_etag: None,
        }
    }

    pub(super) fn record(&self) -> PolicyStateRecord {
        PolicyStateRecord {
            cluster: self.cluster.clone(),
            assignment: self.assignment.clone(),
            compliance: self.compliance.clone(),
            evaluated_at: from_millis(self.evaluated_at),
            body: self.body.clone(),
            etag: Etag(self.etag.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_hold_characters_cosmos_refuses() {
        let id = secret_id(ResourceKind::Extension, "a/b?c#d\\e", "x|y%z");
        assert_eq!(id, "secret|extension|a%2Fb%3Fc%23d%5Ce|x%7Cy%25z");
        assert!(!id.contains(['/', '\\', '?', '#']));
    }

    #[test]
    fn ttls_are_positive_seconds() {
        assert_eq!(ttl_until(Utc::now() - chrono::Duration::hours(1)), 1);
        let in_an_hour = ttl_until(Utc::now() + chrono::Duration::hours(1));
        assert!((3599..=3601).contains(&in_an_hour), "{in_an_hour}");
    }

    #[test]
    fn items_are_tagged_by_kind() {
        let doc = Doc::Cluster(ClusterDoc::new("/subscriptions/s/c", "s", Utc::now()));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["doc"], "cluster");
        assert_eq!(json["pk"], "/subscriptions/s/c");
        assert!(json.get("_etag").is_none(), "Cosmos DB's etag is never written");
    }
}
