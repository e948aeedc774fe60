//! Where clusterconfig keeps its state: the `Store` trait and its backends.
//!
//! A cluster is the unit of everything: its resources, secrets, operations, agent facts and version counter
//! live in one partition, so a cluster's desired state is one read and a change is one atomic write (a SQL
//! transaction, or one Cosmos DB transactional batch). The `conformance` module is the trait's contract, run
//! against every backend.

pub mod change;
#[cfg(test)]
mod conformance;
pub mod cosmos;
pub mod error;
pub mod postgres;
pub mod records;
mod sql;
mod sql_policy;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use uuid::Uuid;

pub use change::{Change, Committed, Expect, Write};
pub use error::{Result, StoreError};
pub use records::*;

/// What the store tells an instance about changes, possibly made by another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// A cluster reached a version.
    Changed { cluster: String, version: u64 },
    /// Changes may have gone unseen (the feed reconnected): every waiter should look at the store again.
    Resync,
}

/// The stream of changes, for stores several instances share.
pub type ChangeFeed = BoxStream<'static, FeedEvent>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite`, `postgres` or `cosmos`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// The cluster's record, resources, secrets and running operations, read consistently.
    async fn partition(&self, cluster: &str) -> Result<Partition>;

    async fn cluster(&self, cluster: &str) -> Result<Option<ClusterRecord>>;

    async fn resource(&self, cluster: &str, kind: ResourceKind, name: &str)
    -> Result<Option<ResourceRecord>>;

    /// Resources of one kind in name order, starting after `after`.
    async fn list_resources(
        &self,
        cluster: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>>;

    async fn operation(&self, cluster: &str, id: Uuid) -> Result<Option<OperationRecord>>;

    /// Running operations of a cluster in id order, starting after `after`.
    async fn list_running_operations(
        &self,
        cluster: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>>;

    /// Applies all writes of `change` or none: if any expectation fails, `StoreError::Conflict`.
    async fn commit(&self, change: Change) -> Result<Committed>;

    /// Running operations whose deadline has passed, across all clusters.
    async fn operations_past_deadline(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>>;

    /// Secret groups past their expiry, across all clusters.
    async fn expired_secrets(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<SecretKey>>;

    /// Deletes one secret group if it is still expired at `now` (a rewrite since it was listed keeps it).
    async fn delete_expired_secret(&self, key: &SecretKey, now: DateTime<Utc>) -> Result<bool>;

    /// Makes what was deleted unrecoverable from the store's own files, where the backend can: SQLite moves its
    /// write-ahead log into the database (whose freed pages `secure_delete` zeroes) and truncates it;
    /// PostgreSQL vacuums the secrets table, so its dead tuples are no longer kept as such. Returns whether it
    /// completed (SQLite cannot while a reader holds an old snapshot; the caller tries again later).
    async fn compact_deleted(&self) -> Result<bool> {
        Ok(true)
    }

    /// Deletes finished operation records whose retention ended; returns how many.
    async fn delete_expired_operations(&self, now: DateTime<Utc>, limit: usize) -> Result<u64>;

    async fn subscription(&self, subscription: &str) -> Result<Option<SubscriptionRecord>>;

    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<()>;

    /// The subscriptions ARM last notified in `state`, in id order.
    async fn subscriptions_in_state(&self, state: &str) -> Result<Vec<SubscriptionRecord>>;

    /// The clusters (lowercase ids) that have records in a subscription.
    async fn clusters_in_subscription(&self, subscription: &str) -> Result<Vec<String>>;

    /// Every cluster with a record, in id order, starting after `after`: for background passes over the fleet.
    async fn clusters_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>>;

    /// Removes every record of a cluster, secrets included.
    async fn purge_cluster(&self, cluster: &str) -> Result<()>;

    /// Every data-encryption key, in id order.
    async fn data_keys(&self) -> Result<Vec<DataKeyRecord>>;

    /// Creates (`Expect::Absent`) or re-wraps (`Expect::Etag`) a data key; returns its new etag.
    async fn put_data_key(&self, record: DataKeyRecord, expect: Expect) -> Result<Etag>;

    /// Deletes a data key (a secret period's, once destroyed); returns whether it was there.
    async fn delete_data_key(&self, id: u32) -> Result<bool>;

    /// A policy definition, assignment or remediation by its lowercase id.
    async fn policy_record(&self, kind: PolicyKind, id: &str) -> Result<Option<PolicyRecord>>;

    /// Policy records of a kind whose scope starts with `scope_prefix` (lowercase), in id order, starting after
    /// `after`.
    async fn policy_records(
        &self,
        kind: PolicyKind,
        scope_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>>;

    /// Creates (`Expect::Absent`), replaces (`Expect::Etag`) or upserts (`Expect::Anything`) a policy record;
    /// returns its new etag.
    async fn put_policy_record(&self, record: PolicyRecord, expect: Expect) -> Result<Etag>;

    /// Deletes a policy record; returns whether it was there.
    async fn delete_policy_record(&self, kind: PolicyKind, id: &str) -> Result<bool>;

    /// The clusters' states for one assignment, in cluster order, starting after the cluster `after`.
    async fn policy_states(
        &self,
        assignment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyStateRecord>>;

    /// Forgets every cluster's state for one assignment (the assignment was deleted); returns how many.
    async fn delete_policy_states(&self, assignment: &str) -> Result<u64>;

    /// Changes made through other instances, for stores several instances share; `None` for a single-process store.
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }
}
