//! The service started in this process on a random port, with a clock the test moves: lifetimes of 47 and 48
//! hours are tested to the second without waiting.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clusterconfig_store::*;
use uuid::Uuid;

use chrono::TimeZone;
use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_crypto::KeyProvider;
use clusterconfig_model::arm::CreatedByType;
use clusterconfig_server::clock::ManualClock;
use clusterconfig_server::config::{Config, Redacted, StoreKind};
use clusterconfig_server::server::{self, Overrides, Running};
use clusterconfig_testkit::{ARC, Arm, Response, TestStore};

pub const FLUX: &str = "2025-04-01";
pub const HOUR: i64 = 3600;

pub struct Service {
    pub running: Running,
    pub clock: Arc<ManualClock>,
    pub arm: Arm,
    pub agent: Arm,
    pub url: String,
    pub cluster: String,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.data_dir = dir.join("data");
    config.arm_listen = "127.0.0.1:0".parse().unwrap();
    config.dataplane_listen = config.arm_listen;
    config.arm.retry_after_seconds = 1;
    // Status answers at once: the test's clock, not time, ends operations.
    config.arm.status_wait = Duration::ZERO;
    // Tasks run when the test says, not on their own.
    let never = Duration::from_secs(365 * 24 * 3600);
    config.tasks.secret_expiry = never;
    config.tasks.pending_timeouts = never;
    config.tasks.operation_retention = never;
    config.tasks.key_rotation = never;
    config.tasks.key_refresh = never;
    config.tasks.subscription_purge = never;
    config.tasks.data_key_rollover = never;
    config.tasks.data_key_reseal = never;
    config.tasks.extension_auto_upgrade = never;
    config
}

impl Service {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    pub async fn start_with(
        adjust: impl FnOnce(&mut Config),
        provider: Option<Arc<dyn KeyProvider>>,
    ) -> Self {
        Self::start_with_overrides(
            adjust,
            Overrides {
                key_provider: provider,
                ..Default::default()
            },
        )
        .await
    }

    /// Starts with parts supplied by the test (a key provider, a wrapped store).
    pub async fn start_with_overrides(adjust: impl FnOnce(&mut Config), overrides: Overrides) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap(),
        ));
        Self::start_on(
            config,
            clock,
            overrides,
            dir,
            clusterconfig_testkit::cluster_id(ARC),
        )
        .await
    }

    pub async fn start_on(
        config: Config,
        clock: Arc<ManualClock>,
        overrides: Overrides,
        dir: tempfile::TempDir,
        cluster: String,
    ) -> Self {
        let running = server::start_with(&config, clock.clone(), overrides)
            .await
            .unwrap();
        let url = format!("http://{}", running.arm_addr);
        let key = &running.state.key;
        let now = chrono::Utc::now().min(clusterconfig_server::clock::Clock::now(clock.as_ref()));
        let long = chrono::Duration::days(3650);
        let arm = Arm::new(
            &url,
            &key.issue_arm("lifetimes-test", CreatedByType::User, now, long),
        );
        let cluster_key = clusterconfig_model::ids::ClusterId::parse(&cluster)
            .unwrap()
            .key();
        let agent = Arm::new(&url, &key.issue_agent(&cluster_key, now, long));
        Service {
            running,
            clock,
            arm,
            agent,
            url,
            cluster,
            config,
            dir,
        }
    }

    /// Stops this instance and starts another on the same data (and clock, and cluster).
    pub async fn restart(self, provider: Option<Arc<dyn KeyProvider>>) -> Self {
        let Service {
            running,
            clock,
            config,
            dir,
            cluster,
            ..
        } = self;
        running.stop().await.unwrap();
        let overrides = Overrides {
            key_provider: provider,
            ..Default::default()
        };
        Self::start_on(config, clock, overrides, dir, cluster).await
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(chrono::Duration::seconds(seconds));
    }

    pub fn flux(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}?api-version={FLUX}",
            self.cluster
        )
    }

    pub async fn desired(&self) -> Value {
        let response = self
            .agent
            .get(&format!("{}/dataplane/v1{}/desiredState", self.url, self.cluster))
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.body
    }

    pub async fn report(&self, collection: &str, name: &str, body: Value) -> Response {
        let url = format!(
            "{}/dataplane/v1{}/{collection}/{name}/status",
            self.url, self.cluster
        );
        self.agent.send(Method::POST, &url, Some(&body), &[]).await
    }

    /// Reports the cluster's microsoft.flux (auto-installed by the first configuration) installed.
    pub async fn install_flux(&self) {
        let generation = self.desired().await["extensions"][0]["generation"]
            .as_u64()
            .unwrap();
        let response = self.report("extensions", "flux", json!({"generation": generation, "provisioningState": "Succeeded", "installedVersion": "1.23.0"})).await;
        assert_eq!(response.status, 200, "{}", response.text);
    }

    pub fn store(&self) -> &Arc<dyn clusterconfig_store::Store> {
        self.running.state.app.store()
    }

    pub async fn stored_secrets(&self) -> Vec<clusterconfig_store::SecretRecord> {
        let key = clusterconfig_model::ids::ClusterId::parse(&self.cluster)
            .unwrap()
            .key();
        self.store().partition(&key).await.unwrap().secrets
    }
}

/// A Git configuration with HTTPS credentials in its protected settings.
pub fn with_token(token: &str) -> Value {
    use base64::Engine;
    json!({"properties": {
        "namespace": "apps",
        "gitRepository": {"url": "https://github.com/org/private", "repositoryRef": {"branch": "main"}, "httpsUser": "flux"},
        "configurationProtectedSettings": {"httpsKey": base64::engine::general_purpose::STANDARD.encode(token)},
        "kustomizations": {"apps": {"path": "./apps"}}
    }})
}

/// The service's configuration for a test store (as `TestStore::server_env` gives it to a process).
pub fn use_store(config: &mut Config, store: &TestStore) {
    match store {
        TestStore::Sqlite => config.store.kind = StoreKind::Sqlite,
        TestStore::Postgres(database) => {
            config.store.kind = StoreKind::Postgres;
            config.store.postgres.url = Some(Redacted(database.url.clone()));
        }
        TestStore::Cosmos(cosmos) => {
            config.store.kind = StoreKind::Cosmos;
            let settings = &mut config.store.cosmos;
            settings.endpoint = Some(cosmos.endpoint.clone());
            settings.key = Some(Redacted(cosmos.key.to_owned()));
            settings.database = cosmos.database.clone();
            settings.create_if_missing = true;
            settings.emulator = true;
            settings.feed_poll_interval = Duration::from_millis(100);
        }
    }
}

/// A store that counts partition reads and whose commits take `commit_latency` longer (as a database across a
/// network does).
pub struct Instrumented {
    inner: Arc<dyn Store>,
    commit_latency: Duration,
    pub partition_reads: Arc<AtomicU64>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn Store>, commit_latency: Duration) -> Self {
        Self {
            inner,
            commit_latency,
            partition_reads: Arc::default(),
        }
    }
}

#[async_trait]
impl Store for Instrumented {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn partition(&self, cluster: &str) -> Result<Partition> {
        self.partition_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.partition(cluster).await
    }
    async fn cluster(&self, cluster: &str) -> Result<Option<ClusterRecord>> {
        self.inner.cluster(cluster).await
    }
    async fn resource(
        &self,
        cluster: &str,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<ResourceRecord>> {
        self.inner.resource(cluster, kind, name).await
    }
    async fn list_resources(
        &self,
        cluster: &str,
        kind: ResourceKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ResourceRecord>> {
        self.inner.list_resources(cluster, kind, after, limit).await
    }
    async fn operation(&self, cluster: &str, id: Uuid) -> Result<Option<OperationRecord>> {
        self.inner.operation(cluster, id).await
    }
    async fn list_running_operations(
        &self,
        cluster: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        self.inner.list_running_operations(cluster, after, limit).await
    }
    async fn commit(&self, change: Change) -> Result<Committed> {
        tokio::time::sleep(self.commit_latency).await;
        self.inner.commit(change).await
    }
    async fn operations_past_deadline(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OperationRecord>> {
        self.inner.operations_past_deadline(now, limit).await
    }
    async fn expired_secrets(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<SecretKey>> {
        self.inner.expired_secrets(now, limit).await
    }
    async fn delete_expired_secret(&self, key: &SecretKey, now: DateTime<Utc>) -> Result<bool> {
        self.inner.delete_expired_secret(key, now).await
    }
    async fn delete_expired_operations(&self, now: DateTime<Utc>, limit: usize) -> Result<u64> {
        self.inner.delete_expired_operations(now, limit).await
    }
    async fn subscription(&self, subscription: &str) -> Result<Option<SubscriptionRecord>> {
        self.inner.subscription(subscription).await
    }
    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<()> {
        self.inner.put_subscription(record).await
    }
    async fn subscriptions_in_state(&self, state: &str) -> Result<Vec<SubscriptionRecord>> {
        self.inner.subscriptions_in_state(state).await
    }
    async fn clusters_in_subscription(&self, subscription: &str) -> Result<Vec<String>> {
        self.inner.clusters_in_subscription(subscription).await
    }
    async fn clusters_after(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.inner.clusters_after(after, limit).await
    }
    async fn purge_cluster(&self, cluster: &str) -> Result<()> {
        self.inner.purge_cluster(cluster).await
    }
    async fn data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        self.inner.data_keys().await
    }
    async fn put_data_key(&self, record: DataKeyRecord, expect: Expect) -> Result<Etag> {
        self.inner.put_data_key(record, expect).await
    }
    async fn delete_data_key(&self, id: u32) -> Result<bool> {
        self.inner.delete_data_key(id).await
    }
    async fn policy_record(&self, kind: PolicyKind, id: &str) -> Result<Option<PolicyRecord>> {
        self.inner.policy_record(kind, id).await
    }
    async fn policy_records(
        &self,
        kind: PolicyKind,
        scope_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>> {
        self.inner.policy_records(kind, scope_prefix, after, limit).await
    }
    async fn put_policy_record(&self, record: PolicyRecord, expect: Expect) -> Result<Etag> {
        self.inner.put_policy_record(record, expect).await
    }
    async fn delete_policy_record(&self, kind: PolicyKind, id: &str) -> Result<bool> {
        self.inner.delete_policy_record(kind, id).await
    }
    async fn policy_states(
        &self,
        assignment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyStateRecord>> {
        self.inner.policy_states(assignment, after, limit).await
    }
    async fn delete_policy_states(&self, assignment: &str) -> Result<u64> {
        self.inner.delete_policy_states(assignment).await
    }
    fn changes(&self) -> Option<ChangeFeed> {
        self.inner.changes()
    }
}
