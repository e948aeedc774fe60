//! Azure Cosmos DB, for the service in Azure: one container partitioned by cluster (`/pk`).
//!
//! A cluster's items share one logical partition, so its desired state is one single-partition query and a
//! change is one transactional batch. Every change replaces the cluster's own item under If-Match (the
//! partition's anchor) and makes each other write conditional on the item as it was read (If-Match, or Create
//! for an item read as absent): a batch that meets anything it did not read fails as a whole and the change is
//! planned again from fresh reads, so concurrent writers on any number of instances never lose an update.
//! Expectations (`Expect`) are checked against those reads, so a failed one is a `Conflict`, never a retry.
//!
//! Secrets and finished operations carry a Cosmos DB `ttl`; the service still checks expiry itself, as
//! emulators do not apply TTL and Cosmos DB removes expired items in the background. Throttling (429) is
//! retried by the SDK after the server's retry-after; every call has a deadline, and an unreachable or
//! overloaded account is `StoreError::Unavailable` (a 503 for the caller), never a hang.

mod documents;
mod feed;
mod metrics;
mod plan;
mod policy;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_data_cosmos::models::{ContainerProperties, PartitionKeyDefinition, TimeToLive};
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, EndToEndOperationLatencyPolicy, ItemWriteOptions,
    MaxItemCountHint, OperationOptions, OperationOptionsBuilder, Precondition, QueryOptions,
    ReadConsistencyStrategy, Region, ServerCertificateValidation, ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, ContainerClient, CosmosClient, CosmosError, CosmosRuntime, FeedScope,
    Query, RoutingStrategy, TransactionalBatch,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{
    Change, ChangeFeed, ClusterRecord, Committed, DataKeyRecord, Etag, Expect, OperationRecord, Partition,
    PolicyKind, PolicyRecord, PolicyStateRecord, ResourceKind, ResourceRecord, Result, SecretKey, Store,
    StoreError, SubscriptionRecord, to_millis,
};
use documents::*;
use plan::Planner;

/// How the service reaches its Cosmos DB account (see the README's configuration reference).
#[derive(Clone)]
pub struct CosmosSettings {
    /// e.g. `https://my-account.documents.azure.com:443/`
    pub endpoint: String,
    pub database: String,
    pub container: String,
    pub auth: CosmosAuth,
    /// Create the database and container when missing (needs key auth); in Azure they come from `infra/`.
    pub create_if_missing: bool,
    /// An emulator on this machine: HTTP/1.1, plain JSON, and its self-signed certificate accepted.
    pub emulator: bool,
    /// The Azure region the service runs in, to read from the nearest replica; the account's order when unset.
    pub region: Option<String>,
    /// The longest any one call to Cosmos DB may take, retries of throttled requests included.
    pub request_timeout: Duration,
    /// How often the change feed is polled when it is quiet.
    pub feed_poll_interval: Duration,
    /// The least time between two saves of the change feed's checkpoint.
    pub checkpoint_interval: Duration,
    /// Names this instance's change-feed checkpoint, so that a restarted instance resumes where it stopped.
    pub instance: String,
}

/// Entra ID (managed identity, workload identity, ...) in Azure; the account key for emulators and tests.
#[derive(Clone)]
pub enum CosmosAuth {
    Key(String),
    Credential(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CosmosAuth::Key(_) => "Key(<redacted>)",
            CosmosAuth::Credential(_) => "Credential",
        })
    }
}

pub struct CosmosStore {
    container: ContainerClient,
    timeout: Duration,
    feed: feed::FeedSettings,
}

/// What a call to Cosmos DB came to, with the statuses the store acts on kept apart from failures.
enum Outcome<T> {
    Done(T),
    NotFound,
    /// 409: the item exists.
    Exists,
    /// 412: the item changed since it was read.
    Changed,
}

impl CosmosStore {
    const BACKEND: &'static str = "cosmos";

    /// Connects to the account (a first request checks it is reachable), creating the database and container
    /// when configured to.
    pub async fn connect(settings: &CosmosSettings) -> Result<Self> {
        let client = build_client(settings).await?;
        Self::open(client, settings).await
    }

    /// Opens the store on a client built elsewhere (tests build one on the SDK's in-process emulator).
    pub async fn open(client: CosmosClient, settings: &CosmosSettings) -> Result<Self> {
        let within =
            |what: &'static str| StoreError::Unavailable(format!("Cosmos DB did not answer {what} in time"));
        if settings.create_if_missing {
            tokio::time::timeout(settings.request_timeout * 3, provision(&client, settings))
                .await
                .map_err(|_| within("while provisioning"))??;
        }
        // Resolving the container's metadata can fail transiently (a 5xx, a body cut short): a few quick tries
        // before the service refuses to start.
        let mut delays = clusterconfig_retry::REMOTE_CALL.delays();
        let opened = loop {
            let opened = tokio::time::timeout(
                settings.request_timeout,
                client
                    .database_client(&settings.database)
                    .container_client(&settings.container, None),
            )
            .await
            .map_err(|_| within("when opening the container"))?;
            match (opened, delays.next()) {
                (Err(err), Some(delay)) if !(400..500).contains(&u16::from(err.status().status_code())) => {
                    tracing::warn!(error = %err, "cannot open the Cosmos DB container yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                (opened, _) => break opened,
            }
        };
        let container = opened.map_err(|err| {
            StoreError::Backend(format!(
                "cannot open container '{}' of database '{}' ({err}); provision them with infra/ or set \
                 store.cosmos.create_if_missing",
                settings.container, settings.database
            ))
        })?;
        Ok(Self {
            container,
            timeout: settings.request_timeout,
            feed: feed::FeedSettings {
                poll_interval: settings.feed_poll_interval,
                checkpoint_interval: settings.checkpoint_interval,
                request_timeout: settings.request_timeout,
                instance: settings.instance.clone(),
            },
        })
    }

    /// Runs one call with the store's deadline; sorts the statuses the store acts on from failures.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = azure_data_cosmos::Result<T>>,
    ) -> Result<Outcome<T>> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(StoreError::Unavailable(format!(
                "Cosmos DB did not answer {what} within {:?}",
                self.timeout
            ))),
            Ok(Ok(value)) => Ok(Outcome::Done(value)),
            Ok(Err(err)) => match u16::from(err.status().status_code()) {
                // Only a plain 404 means "no such item": a missing container, or a read session the replica
                // cannot serve yet, is a failure, not an absence.
                404 if err.status().is_not_found() => Ok(Outcome::NotFound),
                409 => Ok(Outcome::Exists),
                412 => Ok(Outcome::Changed),
                _ => Err(failure(what, &err)),
            },
        }
    }

    async fn read_doc(&self, pk: &str, id: &str) -> Result<Option<Doc>> {
        match self
            .call("a read", self.container.read_item(pk.to_owned(), id, None))
            .await?
        {
            Outcome::Done(response) => Ok(Some(
                response
                    .into_model::<Doc>()
                    .map_err(|e| StoreError::Corrupt(format!("item '{id}': {e}")))?,
            )),
            Outcome::NotFound => Ok(None),
            _ => Err(StoreError::Backend(format!("unexpected status reading '{id}'"))),
        }
    }

    /// Every item a query returns, page by page, each page within the deadline.
    async fn query<T: DeserializeOwned + Send + 'static>(
        &self,
        query: Query,
        scope: FeedScope,
    ) -> Result<Vec<T>> {
        Ok(self.query_pages(query, scope, None).await?.0)
    }

    /// The items of a query and the number of pages they came in.
    async fn query_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        query: Query,
        scope: FeedScope,
        operation: Option<OperationOptions>,
    ) -> Result<(Vec<T>, usize)> {
        let mut options = QueryOptions::default().with_max_item_count(MaxItemCountHint::Limit(
            std::num::NonZeroU32::new(1000).expect("non-zero"),
        ));
        if let Some(operation) = operation {
            options = options.with_operation_options(operation);
        }
        let items = match self
            .call(
                "a query",
                self.container.query_items::<T>(query, scope, Some(options)),
            )
            .await?
        {
            Outcome::Done(items) => items,
            _ => return Err(StoreError::Backend("unexpected status opening a query".into())),
        };
        let mut pages = items.into_pages();
        let mut out = Vec::new();
        let mut count = 0;
        loop {
            match self
                .call("a query page", async { pages.next().await.transpose() })
                .await?
            {
                Outcome::Done(Some(page)) => {
                    count += 1;
                    out.extend(page.into_items());
                }
                Outcome::Done(None) => return Ok((out, count)),
                _ => {
                    return Err(StoreError::Backend(
                        "unexpected status reading a query page".into(),
                    ));
                }
            }
        }
    }

    /// Reads the cluster's item and every item the change depends on, in one query of the partition at the
    /// latest committed version. Its first page comes from one replica and holds the anchor (ids sort `cluster`
    /// first); later pages are at least as new (session consistency), and the anchor's If-Match refuses the
    /// batch if anything changed since the first.
    async fn read_for_change(&self, change: &Change) -> Result<Vec<Doc>> {
        let mut ids = vec![CLUSTER_ID.to_owned()];
        ids.extend(change.writes.iter().filter_map(plan::read_before));
        ids.sort();
        ids.dedup();
        let (query, scope) = partition_query(
            &change.cluster,
            "SELECT * FROM c WHERE c.pk = @pk AND ARRAY_CONTAINS(@ids, c.id) ORDER BY c.id",
        )?;
        let query = query
            .with_parameter("@ids", &ids)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let latest = OperationOptionsBuilder::new()
            .with_read_consistency_strategy(ReadConsistencyStrategy::LatestCommitted)
            .build();
        let (docs, _) = self.query_pages(query, scope, Some(latest)).await?;
        // Emulators may ignore the partition scope: keep only this partition's items.
        Ok(docs
            .into_iter()
            .filter(|doc: &Doc| doc.pk() == change.cluster && ids.iter().any(|id| id == doc.id()))
            .collect())
    }

    /// One attempt: `Ok(None)` when the batch met a concurrent change and must be planned again.
    async fn try_commit(&self, change: &Change) -> Result<Option<Committed>> {
        let read = self.read_for_change(change).await?;
        let (batch, committed) = Planner::new(change, read)?.plan(change)?;
        match self
            .call(
                "a change",
                self.container.execute_transactional_batch(batch, None),
            )
            .await?
        {
            Outcome::Done(response) => {
                let status = response.status();
                let results = response
                    .into_model()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let applied = status.is_success() && results.results().iter().all(|r| r.is_success());
                if applied {
                    return Ok(Some(committed));
                }
                // 207: one operation failed (the others say 424). 404, 409 and 412 mean the partition is not as
                // it was read: plan again. Anything else is not a race.
                match results
                    .results()
                    .iter()
                    .find(|r| !r.is_success() && r.status_code() != 424)
                    .map(|r| r.status_code())
                {
                    None | Some(404 | 409 | 412) => Ok(None),
                    Some(status @ (408 | 429 | 503)) => Err(StoreError::Unavailable(format!(
                        "a change to cluster '{}' failed with status {status}",
                        change.cluster
                    ))),
                    Some(status) => Err(StoreError::Backend(format!(
                        "a change to cluster '{}' failed with status {status}",
                        change.cluster
                    ))),
                }
            }
            Outcome::NotFound | Outcome::Exists | Outcome::Changed => Ok(None),
        }
    }

    async fn delete_if_unchanged(&self, pk: &str, id: &str, cosmos_etag: Option<&str>) -> Result<bool> {
        let mut options = ItemWriteOptions::default();
        if let Some(etag) = cosmos_etag {
            options = options.with_precondition(Precondition::if_match(etag.to_owned()));
        }
        Ok(matches!(
            self.call(
                "a delete",
                self.container.delete_item(pk.to_owned(), id, Some(options))
            )
            .await?,
            Outcome::Done(_)
        ))
    }
}

/// A query of one partition, named in the SQL as well as in the scope: some emulators ignore the scope.
fn partition_query(pk: &str, sql: &str) -> Result<(Query, FeedScope)> {
    let query = Query::from(sql.to_owned())
        .with_parameter("@pk", pk)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok((query, FeedScope::partition(pk.to_owned())))
}

/// A failed call as the caller should see it: `Unavailable` (retry later) when Cosmos DB is out of reach,
/// overloaded or slow; `Backend` otherwise.
fn failure(what: &str, err: &CosmosError) -> StoreError {
    let status = err.status();
    let detail = format!("Cosmos DB failed {what}: {err}");
    if status.is_throttled()
        || status.is_service_unavailable()
        || status.is_timeout()
        || status.is_transient()
        || status.is_transport_generated_503()
        || status.is_gone()
        || status.is_write_forbidden()
    {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Backend(detail)
    }
}

/// Builds the client: TLS, HTTP version and encoding for emulators; deadlines and throttling retries for all.
async fn build_client(settings: &CosmosSettings) -> Result<CosmosClient> {
    let config = |e: CosmosError| StoreError::Backend(format!("invalid Cosmos DB settings: {e}"));
    let endpoint: AccountEndpoint = settings.endpoint.parse().map_err(config)?;
    let account = match &settings.auth {
        CosmosAuth::Key(key) => AccountReference::with_authentication_key(endpoint, Secret::new(key.clone())),
        CosmosAuth::Credential(credential) => AccountReference::with_credential(endpoint, credential.clone()),
    };
    let mut pool = ConnectionPoolOptions::builder();
    if settings.emulator {
        pool = pool
            .with_is_http2_allowed(false)
            .with_server_certificate_validation(ServerCertificateValidation::RequiredUnlessEmulator);
    }
    let runtime = CosmosRuntime::builder()
        .with_connection_pool(pool.build().map_err(config)?)
        .build()
        .await
        .map_err(config)?;
    let mut builder = CosmosClient::builder()
        .with_runtime(runtime)
        .with_default_operation_options(operation_options(settings.request_timeout))
        .with_diagnostics_handler(std::sync::Arc::new(metrics::CosmosMetrics::new()));
    if settings.emulator {
        builder = builder.with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false));
    }
    let routing = match &settings.region {
        Some(region) => RoutingStrategy::ProximityTo(Region::from(region.clone())),
        None => RoutingStrategy::PreferredRegions(Vec::new()),
    };
    tokio::time::timeout(settings.request_timeout * 3, builder.build(account, routing))
        .await
        .map_err(|_| StoreError::Unavailable(format!("Cosmos DB at {} did not answer", settings.endpoint)))?
        .map_err(|e| failure("to connect", &e))
}

/// Every call ends within `timeout`, retrying throttled requests after the server's retry-after until then.
pub fn operation_options(timeout: Duration) -> azure_data_cosmos::options::OperationOptions {
    OperationOptionsBuilder::new()
        .with_end_to_end_latency_policy(EndToEndOperationLatencyPolicy::new(timeout))
        .with_throttling_retry_options(
            ThrottlingRetryOptionsBuilder::new()
                .with_max_retry_count(9)
                .with_max_retry_wait_time(timeout)
                .build(),
        )
        .build()
}

/// Creates the database and the container (partition key `/pk`, per-item TTL) if they are missing.
async fn provision(client: &CosmosClient, settings: &CosmosSettings) -> Result<()> {
    fn created_or_exists<T>(what: &str, result: azure_data_cosmos::Result<T>) -> Result<()> {
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.status().is_conflict() => Ok(()),
            Err(err) => Err(failure(what, &err)),
        }
    }
    created_or_exists(
        "to create the database",
        client.create_database(&settings.database, None).await,
    )?;
    let properties =
        ContainerProperties::new(settings.container.clone(), PartitionKeyDefinition::from("/pk"))
            .with_default_ttl(TimeToLive::NoDefault);
    created_or_exists(
        "to create the container",
        client
            .database_client(&settings.database)
            .create_container(properties, None)
            .await,
    )
}

#[async_trait]
impl Store for CosmosStore {
    fn backend(&self) -> &'static str {
        Self::BACKEND
    }

    async fn partition(&self, cluster: &str) -> Result<Partition> {
        // One query of one logical partition: each page comes from one snapshot of a replica, and later pages are
        // at least as new as earlier ones (session consistency). Ids sort the cluster's item first; a partition
        // that needed several pages is read again if that item changed after the first page.
        for _ in 0..5 {
            let (query, scope) = partition_query(
                cluster,
                "SELECT * FROM c WHERE c.pk = @pk AND (c.doc != 'operation' OR c.running = true) ORDER BY c.id",
            )?;
            let (docs, pages): (Vec<Doc>, usize) = self.query_pages(query, scope, None).await?;
            let mut partition = Partition::default();
            // Every change replaces the cluster item, so its Cosmos DB etag says whether anything changed.
            let mut seen = None;
            for doc in docs {
                match doc {
                    Doc::Cluster(d) => {
                        seen = d.cosmos_etag.clone();
                        partition.cluster = Some(d.record());
                    }
                    Doc::Resource(d) => partition.resources.push(d.record()?),
                    Doc::Secret(d) => partition.secrets.push(d.record()?),
                    Doc::Operation(d) => partition.operations.push(d.record()?),
                    Doc::PolicyState(d) => partition.policy_states.push(d.record()),
                    _ => {}
                }
            }
            let consistent = pages <= 1
                || match self.read_doc(cluster, CLUSTER_ID).await? {
                    Some(Doc::Cluster(now)) => now.cosmos_etag == seen,
                    _ => seen.is_none(),
                };
            if consistent {
                partition
                    .resources
                    .sort_by(|a, b| (a.kind.as_str(), &a.name).cmp(&(b.kind.as_str(), &b.name)));
                partition.secrets.sort_by(|a, b| {
                    (a.kind.as_str(), &a.name, &a.group).cmp(&(b.kind.as_str(), &b.name, &b.group))
                });
                partition.operations.sort_by_key(|o| o.id);
                partition
                    .policy_states
                    .sort_by(|a, b| a.assignment.cmp(&b.assignment));
                return Ok(partition);
            }
        }
        Err(StoreError::Unavailable(format!(
            "cluster '{cluster}' kept changing while it was read"
        )))
    }

    async fn cluster(&self, cluster: &str) -> Result<Option<ClusterRecord>> {
        match self.read_doc(cluster, CLUSTER_ID).await? {
            Some(Doc::Cluster(doc)) => Ok(Some(doc.record())),
            _ => Ok(None),
        }
    }

    async fn resource(
        &self,
        cluster: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        match self.read_doc(cluster, &resource_id(kind, name)).await? {
            Some(Doc::Resource(doc)) => Ok(Some(doc.record()?)),
            _ => Ok(None),
        }
    }

    async fn list_resources(
        &self,
        cluster: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>> {
        let query = Query::from(format!(
            "SELECT TOP {limit} * FROM c WHERE c.pk = @pk AND c.doc = 'resource' AND c.kind = @kind \
             AND c.name > @after ORDER BY c.name"
        ))
        .with_parameter("@pk", cluster)
        .and_then(|q| q.with_parameter("@kind", kind.as_str()))
        .and_then(|q| q.with_parameter("@after", after.unwrap_or("")))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<ResourceDoc> = self
            .query(query, FeedScope::partition(cluster.to_owned()))
            .await?;
        let mut records = docs.iter().map(ResourceDoc::record).collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| a.name.cmp(&b.name));
        records.truncate(limit);
        Ok(records)
    }

    async fn operation(&self, cluster: &str, id: Uuid) -> Result<Option<OperationRecord>> {
        match self.read_doc(cluster, &operation_id(id)).await? {
            Some(Doc::Operation(doc)) => Ok(Some(doc.record()?)),
            _ => Ok(None),
        }
    }

    async fn list_running_operations(
        &self,
        cluster: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        let after = after.map(operation_id).unwrap_or_default();
        let query = Query::from(format!(
            "SELECT TOP {limit} * FROM c WHERE c.pk = @pk AND c.doc = 'operation' AND c.running = true \
             AND c.id > @after ORDER BY c.id"
        ))
        .with_parameter("@pk", cluster)
        .and_then(|q| q.with_parameter("@after", after))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<OperationDoc> = self
            .query(query, FeedScope::partition(cluster.to_owned()))
            .await?;
        let mut records = docs
            .iter()
            .map(OperationDoc::record)
            .collect::<Result<Vec<_>>>()?;
        records.sort_by_key(|o| o.id);
        records.truncate(limit);
        Ok(records)
    }

    async fn commit(&self, change: Change) -> Result<Committed> {
        // Concurrent changes to one cluster serialize on its anchor: the losers plan again.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut delays = clusterconfig_retry::CONTENTION.unbounded().delays();
        let mut attempt: u32 = 0;
        loop {
            if let Some(committed) = self.try_commit(&change).await? {
                return Ok(committed);
            }
            attempt += 1;
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "cluster '{}' changed concurrently {attempt} times in a row",
                    change.cluster
                )));
            }
            let pause = delays.next().unwrap_or(clusterconfig_retry::CONTENTION.max);
            tokio::time::sleep(pause).await;
        }
    }

    async fn operations_past_deadline(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        let query = Query::from(format!(
            "SELECT TOP {limit} * FROM c WHERE c.doc = 'operation' AND c.running = true AND c.deadline <= @now \
             ORDER BY c.deadline"
        ))
        .with_parameter("@now", to_millis(now))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<OperationDoc> = self.query(query, FeedScope::full_container()).await?;
        let mut records = docs
            .iter()
            .map(OperationDoc::record)
            .collect::<Result<Vec<_>>>()?;
        records.sort_by_key(|o| o.deadline);
        records.truncate(limit);
        Ok(records)
    }

    async fn expired_secrets(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<SecretKey>> {
        let query = Query::from(format!(
            "SELECT TOP {limit} * FROM c WHERE c.doc = 'secret' AND c.expires_at <= @now ORDER BY c.expires_at"
        ))
        .with_parameter("@now", to_millis(now))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut docs: Vec<SecretDoc> = self.query(query, FeedScope::full_container()).await?;
        docs.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        docs.truncate(limit);
        docs.iter().map(SecretDoc::key).collect()
    }

    async fn delete_expired_secret(&self, key: &SecretKey, now: DateTime<Utc>) -> Result<bool> {
        let id = secret_id(key.kind, &key.name, &key.group);
        match self.read_doc(&key.cluster, &id).await? {
            // If-Match: a secret rewritten since this read is left alone.
            Some(Doc::Secret(doc)) if doc.expires_at <= to_millis(now) => {
                self.delete_if_unchanged(&key.cluster, &id, doc.cosmos_etag.as_deref())
                    .await
            }
            _ => Ok(false),
        }
    }

    async fn delete_expired_operations(&self, now: DateTime<Utc>, limit: usize) -> Result<u64> {
        let query = Query::from(format!(
            "SELECT TOP {limit} * FROM c WHERE c.doc = 'operation' AND c.running = false AND c.expires_at <= @now"
        ))
        .with_parameter("@now", to_millis(now))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<OperationDoc> = self.query(query, FeedScope::full_container()).await?;
        // One failed delete (throttled, say) does not stop the others; the next run picks it up again.
        let mut deleted = 0;
        let mut failed = None;
        for doc in docs.iter().take(limit) {
            match self
                .delete_if_unchanged(&doc.pk, &doc.id, doc.cosmos_etag.as_deref())
                .await
            {
                Ok(true) => deleted += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, operation = %doc.operation_id, "cannot delete an expired operation");
                    failed.get_or_insert(err);
                }
            }
        }
        match failed {
            Some(err) if deleted == 0 => Err(err),
            _ => Ok(deleted),
        }
    }

    async fn subscription(&self, subscription: &str) -> Result<Option<SubscriptionRecord>> {
        match self
            .read_doc(&subscription_pk(subscription), "subscription")
            .await?
        {
            Some(Doc::Subscription(doc)) => Ok(Some(doc.record())),
            _ => Ok(None),
        }
    }

    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<()> {
        let doc = SubscriptionDoc::new(&record);
        let pk = doc.pk.clone();
        match self
            .call(
                "a write",
                self.container
                    .upsert_item(pk, "subscription", Doc::Subscription(doc), None),
            )
            .await?
        {
            Outcome::Done(_) => Ok(()),
            _ => Err(StoreError::Backend(
                "unexpected status writing a subscription".into(),
            )),
        }
    }

    async fn subscriptions_in_state(&self, state: &str) -> Result<Vec<SubscriptionRecord>> {
        let query = Query::from("SELECT * FROM c WHERE c.doc = 'subscription' AND c.state = @state")
            .with_parameter("@state", state)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<SubscriptionDoc> = self.query(query, FeedScope::full_container()).await?;
        // The emulator's queries are not reliable filters (see dependencies.md): filter here too.
        let mut records: Vec<SubscriptionRecord> = docs
            .iter()
            .map(SubscriptionDoc::record)
            .filter(|r| r.state == state)
            .collect();
        records.sort_by(|a, b| a.subscription.cmp(&b.subscription));
        records.dedup_by(|a, b| a.subscription == b.subscription);
        Ok(records)
    }

    async fn clusters_in_subscription(&self, subscription: &str) -> Result<Vec<String>> {
        let query = Query::from("SELECT * FROM c WHERE c.doc = 'cluster' AND c.subscription = @subscription")
            .with_parameter("@subscription", subscription)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<ClusterDoc> = self.query(query, FeedScope::full_container()).await?;
        let mut clusters: Vec<String> = docs.into_iter().map(|d| d.cluster).collect();
        clusters.sort();
        clusters.dedup();
        Ok(clusters)
    }

    async fn clusters_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        // Cross-partition ORDER BY is not served by this SDK's queries: filter and order here (a background
        // pass reads its pages seldom).
        let after = after.unwrap_or("");
        let query = Query::from("SELECT * FROM c WHERE c.doc = 'cluster' AND c.cluster > @after")
            .with_parameter("@after", after)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<ClusterDoc> = self.query(query, FeedScope::full_container()).await?;
        let mut clusters: Vec<String> = docs
            .into_iter()
            .map(|d| d.cluster)
            .filter(|c| c.as_str() > after)
            .collect();
        clusters.sort();
        clusters.dedup();
        clusters.truncate(limit);
        Ok(clusters)
    }

    async fn purge_cluster(&self, cluster: &str) -> Result<()> {
        // The cluster's item goes last, so that a purge cut short is finished by the next one.
        for _ in 0..10 {
            let (query, scope) = partition_query(cluster, "SELECT * FROM c WHERE c.pk = @pk")?;
            let docs: Vec<Doc> = self.query(query, scope).await?;
            if docs.is_empty() {
                return Ok(());
            }
            let (anchor, others): (Vec<Doc>, Vec<Doc>) =
                docs.into_iter().partition(|d| matches!(d, Doc::Cluster(_)));
            for chunk in others.chunks(100) {
                let batch = chunk
                    .iter()
                    .fold(TransactionalBatch::new(cluster.to_owned()), |batch, doc| {
                        batch.delete_item(doc.id().to_owned(), None)
                    });
                // A failed batch (an item already gone) deletes nothing; the next round reads again.
                self.call("a purge", self.container.execute_transactional_batch(batch, None))
                    .await?;
            }
            if let Some(doc) = anchor.first() {
                self.delete_if_unchanged(cluster, CLUSTER_ID, doc.cosmos_etag())
                    .await?;
            }
        }
        Err(StoreError::Unavailable(format!(
            "cluster '{cluster}' kept changing while it was purged"
        )))
    }

    async fn data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        let (query, scope) = partition_query(
            DATA_KEYS_PK,
            "SELECT * FROM c WHERE c.pk = @pk AND c.doc = 'data_key'",
        )?;
        let docs: Vec<DataKeyDoc> = self.query(query, scope).await?;
        let mut keys = docs.iter().map(DataKeyDoc::record).collect::<Result<Vec<_>>>()?;
        keys.sort_by_key(|k| k.id);
        Ok(keys)
    }

    async fn put_data_key(&self, record: DataKeyRecord, expect: Expect) -> Result<Etag> {
        let etag = Etag::new_random();
        let doc = DataKeyDoc::new(&record, &etag);
        let id = doc.id.clone();
        let outcome = match &expect {
            Expect::Etag(expected) => {
                let current = match self.read_doc(DATA_KEYS_PK, &id).await? {
                    Some(Doc::DataKey(current)) if current.etag == expected.0 => current,
                    _ => return Err(StoreError::Conflict(format!("data key {} changed", record.id))),
                };
                let mut options = ItemWriteOptions::default();
                if let Some(cosmos) = current.cosmos_etag {
                    options = options.with_precondition(Precondition::if_match(cosmos));
                }
                self.call(
                    "a write",
                    self.container
                        .replace_item(DATA_KEYS_PK, &id, Doc::DataKey(doc), Some(options)),
                )
                .await?
            }
            Expect::Absent | Expect::Anything => {
                self.call(
                    "a write",
                    self.container
                        .create_item(DATA_KEYS_PK, &id, Doc::DataKey(doc), None),
                )
                .await?
            }
        };
        match outcome {
            Outcome::Done(_) => Ok(etag),
            Outcome::Exists => Err(StoreError::Conflict(format!("data key {} exists", record.id))),
            Outcome::Changed | Outcome::NotFound => {
                Err(StoreError::Conflict(format!("data key {} changed", record.id)))
            }
        }
    }

    async fn delete_data_key(&self, id: u32) -> Result<bool> {
        self.delete_if_unchanged(DATA_KEYS_PK, &id.to_string(), None)
            .await
    }

    async fn policy_record(&self, kind: PolicyKind, id: &str) -> Result<Option<PolicyRecord>> {
        self.read_policy_record(kind, id).await
    }

    async fn policy_records(
        &self,
        kind: PolicyKind,
        scope_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>> {
        self.query_policy_records(kind, scope_prefix, after, limit).await
    }

    async fn put_policy_record(&self, record: PolicyRecord, expect: Expect) -> Result<Etag> {
        self.write_policy_record(record, expect).await
    }

    async fn delete_policy_record(&self, kind: PolicyKind, id: &str) -> Result<bool> {
        self.delete_if_unchanged(POLICY_PK, &policy_doc_id(kind, id), None)
            .await
    }

    async fn policy_states(
        &self,
        assignment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyStateRecord>> {
        self.query_policy_states(assignment, after, limit).await
    }

    async fn delete_policy_states(&self, assignment: &str) -> Result<u64> {
        self.delete_all_policy_states(assignment).await
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(feed::spawn(self.container.clone(), self.feed.clone()))
    }
}
