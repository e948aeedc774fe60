//! The fleet at a glance, for the operator's page: every cluster with its agent's last contact and facts, its
//! resources' provisioning and compliance states as ARM shows them, and its policy compliance. Held in memory
//! and kept current from the changes this instance commits (and those the store's feed brings from others):
//! each marks its cluster for a re-read by the `fleet_index` task, which also re-reads the whole fleet now and
//! then. Filtering, paging and fleet-wide counts over 10,000 clusters are then in-memory passes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::ClusterId;

use super::{App, agent_facts, type_of};

/// One resource of a cluster, as ARM shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSummary {
    /// `fluxConfigurations`, `extensions` or `sourceControlConfigurations`.
    pub resource_type: &'static str,
    pub name: String,
    pub provisioning_state: String,
    pub compliance_state: Option<String>,
    pub source_synced_commit_id: Option<String>,
    /// An extension's installed version.
    pub current_version: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
    /// The cluster's resource id.
    pub id: String,
    pub name: String,
    pub last_contact: Option<DateTime<Utc>>,
    pub agent_version: Option<String>,
    pub kubernetes_version: Option<String>,
    pub resources: Vec<ResourceSummary>,
    /// The cluster's compliance with each assignment covering it (assignment id, `Compliant`/`NonCompliant`).
    pub policy: Vec<(String, String)>,
}

impl ClusterSummary {
    /// Every state the cluster shows: its resources' provisioning and compliance states.
    fn states(&self) -> impl Iterator<Item = &str> {
        self.resources
            .iter()
            .flat_map(|r| std::iter::once(r.provisioning_state.as_str()).chain(r.compliance_state.as_deref()))
    }
}

/// What the page asks for.
#[derive(Debug, Clone, Default)]
pub struct FleetFilter {
    /// Clusters whose name contains this, case-insensitively.
    pub name: Option<String>,
    /// Clusters with a resource in this provisioning or compliance state (`Failed`, `Non-Compliant`, ...).
    pub state: Option<String>,
}

impl FleetFilter {
    fn admits(&self, cluster: &ClusterSummary) -> bool {
        let name = self.name.as_deref().is_none_or(|n| {
            cluster
                .name
                .to_ascii_lowercase()
                .contains(&n.to_ascii_lowercase())
        });
        let state = self
            .state
            .as_deref()
            .is_none_or(|s| cluster.states().any(|have| have.eq_ignore_ascii_case(s)));
        name && state
    }
}

/// One page of the fleet, and counts over all of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetPage {
    pub clusters: Vec<ClusterSummary>,
    /// The key to continue after, when more clusters match.
    pub next: Option<String>,
    /// Clusters that match the filter.
    pub matching: usize,
    pub total_clusters: usize,
    /// Resources by provisioning state, fleet-wide.
    pub by_provisioning_state: BTreeMap<String, usize>,
    /// Resources by compliance state, fleet-wide.
    pub by_compliance_state: BTreeMap<String, usize>,
    /// Per assignment: clusters by compliance.
    pub assignments: BTreeMap<String, BTreeMap<String, usize>>,
    /// When the index last finished a pass over the whole fleet.
    pub indexed_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct FleetIndex {
    clusters: RwLock<BTreeMap<String, ClusterSummary>>,
    /// Clusters changed since they were last read.
    dirty: Mutex<BTreeSet<String>>,
    /// Wakes the `fleet_index` task.
    pub changed: tokio::sync::Notify,
    indexed_at: Mutex<Option<DateTime<Utc>>>,
}

impl FleetIndex {
    /// Marks a cluster for a re-read.
    pub fn touch(&self, cluster: &str) {
        self.dirty.lock().expect("fleet lock").insert(cluster.to_owned());
        self.changed.notify_one();
    }

    pub fn take_dirty(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.dirty.lock().expect("fleet lock"))
    }

    pub fn put(&self, key: String, summary: Option<ClusterSummary>) {
        let mut clusters = self.clusters.write().expect("fleet lock");
        match summary {
            Some(summary) => {
                clusters.insert(key, summary);
            }
            None => {
                clusters.remove(&key);
            }
        }
    }

    /// Drops clusters the store no longer has, after a full pass saw `seen`.
    pub fn retain(&self, seen: &BTreeSet<String>, at: DateTime<Utc>) {
        self.clusters
            .write()
            .expect("fleet lock")
            .retain(|key, _| seen.contains(key));
        *self.indexed_at.lock().expect("fleet lock") = Some(at);
    }

    /// Clusters by how long ago their agent was last in contact (`never`, `5m`, `1h`, `24h`, `older`: within
    /// 5 minutes, an hour, a day, or longer ago), for the agents gauge.
    pub fn agents_by_contact_age(&self, now: DateTime<Utc>) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for cluster in self.clusters.read().expect("fleet lock").values() {
            let bucket = match cluster.last_contact.map(|at| (now - at).num_seconds()) {
                None => "never",
                Some(..300) => "5m",
                Some(..3600) => "1h",
                Some(..86400) => "24h",
                Some(_) => "older",
            };
            *counts.entry(bucket).or_default() += 1;
        }
        counts
    }

    /// Resources by type, provisioning state and compliance state, for the resources gauge.
    pub fn resources_by_state(&self) -> BTreeMap<(&'static str, String, String), u64> {
        let mut counts = BTreeMap::new();
        for cluster in self.clusters.read().expect("fleet lock").values() {
            for r in &cluster.resources {
                let key = (
                    r.resource_type,
                    r.provisioning_state.clone(),
                    r.compliance_state.clone().unwrap_or_default(),
                );
                *counts.entry(key).or_default() += 1;
            }
        }
        counts
    }

    pub fn page(&self, filter: &FleetFilter, after: Option<&str>, limit: usize) -> FleetPage {
        let clusters = self.clusters.read().expect("fleet lock");
        let mut page = FleetPage {
            clusters: Vec::new(),
            next: None,
            matching: 0,
            total_clusters: clusters.len(),
            by_provisioning_state: BTreeMap::new(),
            by_compliance_state: BTreeMap::new(),
            assignments: BTreeMap::new(),
            indexed_at: *self.indexed_at.lock().expect("fleet lock"),
        };
        for (key, cluster) in clusters.iter() {
            for resource in &cluster.resources {
                *page
                    .by_provisioning_state
                    .entry(resource.provisioning_state.clone())
                    .or_default() += 1;
                if let Some(compliance) = &resource.compliance_state {
                    *page.by_compliance_state.entry(compliance.clone()).or_default() += 1;
                }
            }
            for (assignment, compliance) in &cluster.policy {
                *page
                    .assignments
                    .entry(assignment.clone())
                    .or_default()
                    .entry(compliance.clone())
                    .or_default() += 1;
            }
            if !filter.admits(cluster) {
                continue;
            }
            page.matching += 1;
            if after.is_some_and(|after| key.as_str() <= after) {
                continue;
            }
            if page.clusters.len() < limit {
                page.clusters.push(cluster.clone());
            } else if page.next.is_none() {
                page.next = page.clusters.last().map(|c| c.id.to_ascii_lowercase());
            }
        }
        page
    }
}

impl App {
    pub fn fleet(&self) -> &FleetIndex {
        &self.fleet
    }

    /// Reads one cluster into the index (or drops it, when the store has nothing of it any more).
    pub async fn index_cluster(&self, key: &str) -> Result<(), ArmError> {
        let Ok(cluster) = ClusterId::parse(key) else {
            return Ok(());
        };
        let partition = self.partition(&cluster).await?;
        if partition.cluster.is_none() && partition.resources.is_empty() {
            self.fleet.put(key.to_owned(), None);
            return Ok(());
        }
        let facts = agent_facts(&partition);
        let mut resources = Vec::new();
        for record in &partition.resources {
            let view = self.render(&cluster, record)?;
            let properties = &view.body["properties"];
            let text = |field: &str| properties[field].as_str().map(str::to_owned);
            resources.push(ResourceSummary {
                resource_type: type_of(record.kind).segment(),
                name: view.body["name"].as_str().unwrap_or(&record.name).to_owned(),
                provisioning_state: text("provisioningState").unwrap_or_else(|| record.state.clone()),
                compliance_state: text("complianceState").or_else(|| {
                    properties["complianceStatus"]["complianceState"]
                        .as_str()
                        .map(str::to_owned)
                }),
                source_synced_commit_id: text("sourceSyncedCommitId"),
                current_version: text("currentVersion"),
                error: text("errorMessage")
                    .filter(|m| !m.is_empty())
                    .or_else(|| properties["errorInfo"]["message"].as_str().map(str::to_owned)),
            });
        }
        let summary = ClusterSummary {
            id: cluster.to_string(),
            name: cluster.name().to_owned(),
            last_contact: partition.cluster.as_ref().and_then(|c| c.last_contact),
            agent_version: facts.as_ref().and_then(|f| f.agent_version.clone()),
            kubernetes_version: facts.as_ref().and_then(|f| f.kubernetes_version.clone()),
            resources,
            policy: partition
                .policy_states
                .iter()
                .map(|s| (s.assignment.clone(), s.compliance.clone()))
                .collect(),
        };
        self.fleet.put(key.to_owned(), Some(summary));
        Ok(())
    }
}
