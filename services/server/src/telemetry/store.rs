//! The store as the service calls it: each call a child span (`store.<operation>`, with `db.system`) of the
//! request or task that made it, timed into `clusterconfig.store.call.duration`. Arguments and results are
//! never recorded: records hold sealed secrets and customer data.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument;
use uuid::Uuid;

use clusterconfig_store::*;

use super::metrics::metrics;

pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    backend: &'static str,
}

impl InstrumentedStore {
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        let backend = inner.backend();
        Arc::new(Self { inner, backend })
    }
}

/// Runs one call of the inner store under its span and timer.
macro_rules! call {
    ($self:ident, $operation:literal, $call:expr) => {{
        let span = tracing::info_span!(
            "store",
            otel.name = concat!("store.", $operation),
            otel.kind = "client",
            db.system = $self.backend,
            db.operation = $operation,
        );
        let started = Instant::now();
        let result = $call.instrument(span).await;
        metrics().store_call(
            $self.backend,
            $operation,
            started.elapsed(),
            result.as_ref().map(|_| ()),
        );
        result
    }};
}

#[async_trait]
impl Store for InstrumentedStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    async fn partition(&self, cluster: &str) -> Result<Partition> {
        call!(self, "partition", self.inner.partition(cluster))
    }

    async fn cluster(&self, cluster: &str) -> Result<Option<ClusterRecord>> {
        call!(self, "cluster", self.inner.cluster(cluster))
    }

    async fn resource(
        &self,
        cluster: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        call!(self, "resource", self.inner.resource(cluster, kind, name))
    }

    async fn list_resources(
        &self,
        cluster: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>> {
        call!(
            self,
            "list_resources",
            self.inner.list_resources(cluster, kind, after, limit)
        )
    }

    async fn operation(&self, cluster: &str, id: Uuid) -> Result<Option<OperationRecord>> {
        call!(self, "operation", self.inner.operation(cluster, id))
    }

    async fn list_running_operations(
        &self,
        cluster: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        call!(
            self,
            "list_running_operations",
            self.inner.list_running_operations(cluster, after, limit)
        )
    }

    async fn commit(&self, change: Change) -> Result<Committed> {
        call!(self, "commit", self.inner.commit(change))
    }

    async fn operations_past_deadline(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        call!(
            self,
            "operations_past_deadline",
            self.inner.operations_past_deadline(now, limit)
        )
    }

    async fn expired_secrets(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<SecretKey>> {
        call!(self, "expired_secrets", self.inner.expired_secrets(now, limit))
    }

    async fn delete_expired_secret(&self, key: &SecretKey, now: DateTime<Utc>) -> Result<bool> {
        call!(
            self,
            "delete_expired_secret",
            self.inner.delete_expired_secret(key, now)
        )
    }

    async fn compact_deleted(&self) -> Result<bool> {
        call!(self, "compact_deleted", self.inner.compact_deleted())
    }

    async fn delete_expired_operations(&self, now: DateTime<Utc>, limit: usize) -> Result<u64> {
        call!(
            self,
            "delete_expired_operations",
            self.inner.delete_expired_operations(now, limit)
        )
    }

    async fn subscription(&self, subscription: &str) -> Result<Option<SubscriptionRecord>> {
        call!(self, "subscription", self.inner.subscription(subscription))
    }

    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<()> {
        call!(self, "put_subscription", self.inner.put_subscription(record))
    }

    async fn subscriptions_in_state(&self, state: &str) -> Result<Vec<SubscriptionRecord>> {
        call!(
            self,
            "subscriptions_in_state",
            self.inner.subscriptions_in_state(state)
        )
    }

    async fn clusters_in_subscription(&self, subscription: &str) -> Result<Vec<String>> {
        call!(
            self,
            "clusters_in_subscription",
            self.inner.clusters_in_subscription(subscription)
        )
    }

    async fn clusters_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        call!(self, "clusters_after", self.inner.clusters_after(after, limit))
    }

    async fn purge_cluster(&self, cluster: &str) -> Result<()> {
        call!(self, "purge_cluster", self.inner.purge_cluster(cluster))
    }

    async fn data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        call!(self, "data_keys", self.inner.data_keys())
    }

    async fn put_data_key(&self, record: DataKeyRecord, expect: Expect) -> Result<Etag> {
        call!(self, "put_data_key", self.inner.put_data_key(record, expect))
    }

    async fn delete_data_key(&self, id: u32) -> Result<bool> {
        call!(self, "delete_data_key", self.inner.delete_data_key(id))
    }

    async fn policy_record(&self, kind: PolicyKind, id: &str) -> Result<Option<PolicyRecord>> {
        call!(self, "policy_record", self.inner.policy_record(kind, id))
    }

    async fn policy_records(
        &self,
        kind: PolicyKind,
        scope_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>> {
        call!(
            self,
            "policy_records",
            self.inner.policy_records(kind, scope_prefix, after, limit)
        )
    }

    async fn put_policy_record(&self, record: PolicyRecord, expect: Expect) -> Result<Etag> {
        call!(
            self,
            "put_policy_record",
            self.inner.put_policy_record(record, expect)
        )
    }

    async fn delete_policy_record(&self, kind: PolicyKind, id: &str) -> Result<bool> {
        call!(
            self,
            "delete_policy_record",
            self.inner.delete_policy_record(kind, id)
        )
    }

    async fn policy_states(
        &self,
        assignment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyStateRecord>> {
        call!(
            self,
            "policy_states",
            self.inner.policy_states(assignment, after, limit)
        )
    }

    async fn delete_policy_states(&self, assignment: &str) -> Result<u64> {
        call!(
            self,
            "delete_policy_states",
            self.inner.delete_policy_states(assignment)
        )
    }

    fn changes(&self) -> Option<ChangeFeed> {
        self.inner.changes()
    }
}
