//! The application layer: every rule of the resource provider and the data plane, between the thin HTTP
//! handlers and the store. Handlers parse the request's edges (path, api-version, caller) and call one method here.

mod desired;
mod documents;
mod extension_types;
mod extension_upgrades;
mod extensions;
pub mod fleet;
mod flux;
mod lifetimes;
mod operations;
pub mod policy;
mod reports;
mod reseal;
mod resources;
mod scc;
mod shared_reads;
mod subscriptions;
mod views;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use clusterconfig_model::arm::{CreatedByType, SystemData};
use clusterconfig_model::dataplane::AgentFacts;
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::{ClusterId, ResourceName, ResourceType};
use clusterconfig_store::{Change, Partition, ResourceKind, Store, StoreError};

use crate::catalog::CatalogSource;
use crate::clock::Clock;
use crate::hub::ChangeHub;

pub use documents::{Aad, Codec, Document, ExtensionDocument, FluxDocument, SourceControlDocument};
pub use extension_types::CatalogScope;
pub use extension_upgrades::{AUTO_UPGRADE_SUBJECT, UpgradeOutcome};
pub use operations::OperationResult;
pub use reports::ReportOutcome;
pub use reseal::ResealOutcome;
pub use subscriptions::SubscriptionState;
pub use views::OperationView;
pub use writes::{Preconditions, WriteOutcome};

/// Lifetimes and limits the application enforces (from configuration).
#[derive(Clone)]
pub struct Settings {
    pub pending_timeout: Duration,
    pub secret_retention: Duration,
    pub operation_retention: Duration,
    pub contact_write_interval: Duration,
    /// Key of the fingerprints that recognise repeated secret values (its own key, kept wrapped in the store).
    pub fingerprint_key: Vec<u8>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("pending_timeout", &self.pending_timeout)
            .field("secret_retention", &self.secret_retention)
            .field("operation_retention", &self.operation_retention)
            .field("contact_write_interval", &self.contact_write_interval)
            .field("fingerprint_key", &"<redacted>")
            .finish()
    }
}

/// Who is calling the ARM API, and what ARM says about the change.
#[derive(Debug, Clone)]
pub struct ArmCaller {
    pub subject: String,
    pub subject_type: CreatedByType,
    /// `x-ms-arm-resource-system-data`, when ARM sends it.
    pub system_data: Option<SystemData>,
}

impl ArmCaller {
    /// systemData for a change made now: ARM's header when present, else the caller and the clock.
    pub fn change_data(&self, now: DateTime<Utc>) -> SystemData {
        self.system_data.clone().unwrap_or_else(|| SystemData {
            created_by: Some(self.subject.clone()),
            created_by_type: Some(self.subject_type),
            created_at: Some(now),
            last_modified_by: Some(self.subject.clone()),
            last_modified_by_type: Some(self.subject_type),
            last_modified_at: Some(now),
        })
    }
}

/// A resource named in a request: its cluster (as the caller spelled it), type and name.
#[derive(Debug, Clone)]
pub struct Target {
    pub cluster: ClusterId,
    pub resource_type: ResourceType,
    pub name: ResourceName,
}

impl Target {
    pub fn kind(&self) -> ResourceKind {
        kind_of(self.resource_type)
    }

    pub fn id(&self) -> String {
        self.cluster.resource_id(self.resource_type, self.name.as_given())
    }

    fn not_found(&self) -> ArmError {
        ArmError::not_found(format!(
            "The Resource '{}/{}' under resource group '{}' was not found.",
            self.resource_type.arm_type(),
            self.name.as_given(),
            self.cluster.resource_group()
        ))
    }
}

pub fn kind_of(resource_type: ResourceType) -> ResourceKind {
    match resource_type {
        ResourceType::FluxConfigurations => ResourceKind::FluxConfiguration,
        ResourceType::Extensions => ResourceKind::Extension,
        ResourceType::SourceControlConfigurations => ResourceKind::SourceControlConfiguration,
    }
}

pub fn type_of(kind: ResourceKind) -> ResourceType {
    match kind {
        ResourceKind::FluxConfiguration => ResourceType::FluxConfigurations,
        ResourceKind::Extension => ResourceType::Extensions,
        ResourceKind::SourceControlConfiguration => ResourceType::SourceControlConfigurations,
    }
}

/// A resource as ARM shows it in the newest api-version, with its ETag. The HTTP layer cuts it down to the
/// requested version.
#[derive(Debug, Clone)]
pub struct ResourceView {
    pub body: Value,
    pub etag: String,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

pub struct App {
    store: Arc<dyn Store>,
    /// Secret groups were deleted since the store last compacted what it deleted (`compact_deleted_secrets`).
    compaction_due: std::sync::atomic::AtomicBool,
    clock: Arc<dyn Clock>,
    hub: Arc<ChangeHub>,
    catalog: Arc<CatalogSource>,
    codec: Codec,
    settings: Settings,
    /// Long-polls of one cluster woken by one change share one read of its desired state.
    shared_reads: shared_reads::SharedReads,
    /// Azure Policy: assignments in force and the clusters waiting for evaluation.
    policy: policy::PolicyRuntime,
    /// The fleet as the operator's page shows it.
    fleet: fleet::FleetIndex,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hub: Arc<ChangeHub>,
        catalog: Arc<CatalogSource>,
        codec: Codec,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            compaction_due: std::sync::atomic::AtomicBool::new(false),
            clock,
            hub,
            catalog,
            codec,
            settings,
            shared_reads: shared_reads::SharedReads::default(),
            policy: policy::PolicyRuntime::default(),
            fleet: fleet::FleetIndex::default(),
        }
    }

    /// Where deployments resolve Key Vault references, and the policy knobs.
    pub fn with_policy(
        mut self,
        secrets: Arc<dyn policy::DeploymentSecrets>,
        settings: policy::PolicySettings,
    ) -> Self {
        self.policy.secrets = secrets;
        self.policy.settings = settings;
        self
    }

    pub fn policy(&self) -> &policy::PolicyRuntime {
        &self.policy
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn hub(&self) -> &Arc<ChangeHub> {
        &self.hub
    }

    /// The extension-type catalog in force (it can be reloaded while the service runs).
    pub fn catalog(&self) -> &Arc<CatalogSource> {
        &self.catalog
    }

    /// A cluster's partition, with the data keys its records need at hand (not those of expired secret values:
    /// nothing reads them, and their period's key may be destroyed already).
    async fn partition(&self, cluster: &ClusterId) -> Result<Partition, ArmError> {
        let partition = self.store.partition(&cluster.key()).await.map_err(store_error)?;
        let now = self.now();
        let bodies = partition.resources.iter().map(|r| r.body.as_slice()).chain(
            partition
                .secrets
                .iter()
                .filter(|s| s.expires_at > now)
                .map(|s| s.body.as_slice()),
        );
        self.codec.prepare(bodies).await?;
        Ok(partition)
    }

    /// Commits a change; one that deletes secret values makes a compaction of the store due, so that the
    /// deleted values leave its files too (`compact_deleted_secrets`).
    async fn commit(&self, change: Change) -> Result<clusterconfig_store::Committed, StoreError> {
        use clusterconfig_store::Write;
        let deletes_secrets = change
            .writes
            .iter()
            .any(|w| matches!(w, Write::DeleteSecret { .. }));
        // A change of a cluster's resources is an event for the policy assignments covering the cluster.
        let resources_changed = change
            .writes
            .iter()
            .any(|w| matches!(w, Write::PutResource { .. } | Write::DeleteResource { .. }));
        let cluster = resources_changed.then(|| change.cluster.clone());
        let operations: Vec<(&'static str, &'static str)> = change
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::PutOperation { record, .. } => Some((record.kind.as_str(), operation_state(record))),
                _ => None,
            })
            .collect();
        let changed_cluster = change.cluster.clone();
        let committed = self.store.commit(change).await?;
        self.fleet.touch(&changed_cluster);
        for (kind, state) in operations {
            crate::telemetry::metrics().operation(kind, state);
        }
        if let Some(cluster) = cluster {
            self.policy
                .cluster_changed(&cluster, policy::Trigger::ResourcesChanged);
        }
        if deletes_secrets {
            self.compaction_due
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(committed)
    }

    /// Lets the store make deleted secret values unrecoverable from its files (SQLite's write-ahead log keeps
    /// old pages until a checkpoint), when secrets were deleted since it last did. Returns whether it ran.
    pub async fn compact_deleted_secrets(&self) -> Result<bool, ArmError> {
        use std::sync::atomic::Ordering;
        if !self.compaction_due.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        match self.store.compact_deleted().await {
            Ok(true) => Ok(true),
            // A reader held an old snapshot: try again on the next run.
            Ok(false) => {
                self.compaction_due.store(true, Ordering::SeqCst);
                Ok(false)
            }
            Err(err) => {
                self.compaction_due.store(true, Ordering::SeqCst);
                Err(store_error(err))
            }
        }
    }

    /// A change of the cluster's desired state decided on `partition`: it bumps the version (waking the agent)
    /// and commits only if no other such change landed since `partition` was read. Rules that span resources
    /// ("one microsoft.flux per cluster", "microsoft.flux stays while fluxConfigurations exist") are decided on
    /// the whole partition, so they hold only if the decision and the commit are one step; a loser reads and
    /// decides again (`with_retries`).
    fn desired_state_change(&self, target: &Target, partition: &Partition) -> Change {
        Change::new(
            target.cluster.key(),
            target.cluster.subscription_key(),
            self.now(),
        )
        .bump()
        .expecting_version(partition.version())
    }

    /// Runs `attempt` (read, decide, commit) until it commits without a conflicting writer, backing off as
    /// `clusterconfig_retry::CONTENTION` says; then the caller gets 409.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, ArmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        // Writers that lost a race back off by a random pause, so a crowd of them spreads out instead of
        // colliding again on the next read.
        let mut delays = clusterconfig_retry::CONTENTION.delays();
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Attempt::Failed(err)) => return Err(err),
                Err(Attempt::Raced) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => break,
                },
            }
        }
        Err(ArmError::conflict(format!(
            "{what} is being changed by other requests at the same time; retry the request."
        )))
    }
}

/// Why one attempt of a write did not commit.
enum Attempt {
    /// Another writer changed the cluster between our read and our commit: read again.
    Raced,
    Failed(ArmError),
}

impl From<ArmError> for Attempt {
    fn from(err: ArmError) -> Self {
        Attempt::Failed(err)
    }
}

impl From<StoreError> for Attempt {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(_) => Attempt::Raced,
            other => Attempt::Failed(store_error(other)),
        }
    }
}

/// A store failure as the caller sees it: 503 when the store is out of reach (retry later), 500 otherwise.
pub fn store_error(err: StoreError) -> ArmError {
    match err {
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "store unavailable");
            ArmError::new(
                503,
                codes::STORE_UNAVAILABLE,
                "The service's store is unavailable; retry the request later.",
            )
        }
        StoreError::Conflict(detail) => {
            ArmError::conflict(format!("Conflicting change: {detail}; retry the request."))
        }
        StoreError::TooLarge(detail) => {
            tracing::warn!(%detail, "change too large for the store");
            ArmError::new(
                413,
                codes::REQUEST_TOO_LARGE,
                "The resource is too large to store; reduce its size (its settings, kustomizations or \
                 protected settings) and retry.",
            )
        }
        StoreError::Corrupt(detail) | StoreError::Backend(detail) => {
            tracing::error!(%detail, "store error");
            ArmError::internal(
                codes::INTERNAL_ERROR,
                "The service could not complete the request; retry it later.",
            )
        }
    }
}

/// What a committed operation record says happened, for the operations metric: `started`, or how it ended.
fn operation_state(record: &clusterconfig_store::OperationRecord) -> &'static str {
    if record.ended_at.is_none() {
        return "started";
    }
    match record.status.as_str() {
        "Succeeded" => "Succeeded",
        "Failed" => "Failed",
        "Canceled" => "Canceled",
        _ => "ended",
    }
}

/// The facts an agent reported for a cluster, if any.
fn agent_facts(partition: &Partition) -> Option<AgentFacts> {
    facts_of(partition.cluster.as_ref()?)
}

/// The facts an agent reported, from its cluster's record.
fn facts_of(record: &clusterconfig_store::ClusterRecord) -> Option<AgentFacts> {
    record
        .agent
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
}
