//! One cluster against the assignments that cover it. The `if` of the rule says whether the cluster is in the
//! policy's reach, the effect whether it is evaluated at all, and the existence condition, over the cluster's
//! resources of the definition's `details.type` as ARM lists them (complete properties), whether it complies
//! (`provisioningState notEquals Failed` makes a Failed configuration non-compliant, as in Azure).
//!
//! A state is written only when it changed, in one change conditional on the cluster's version as read: an
//! evaluation of a cluster that moved on meanwhile is discarded and done again. A re-evaluation that finds
//! nothing new writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::ClusterId;
use clusterconfig_policy::{Effect, EvaluationDelay};
use clusterconfig_store::{Change, Expect, Partition, PolicyStateRecord, ResourceKind, StoreError, Write};

use super::super::{App, store_error};
use super::assignments::ActiveAssignment;
use super::deployments::{DeploymentRecord, DeploymentStatus};
use super::inventory::cluster_resource;
use super::{EvaluationQueue, Trigger};

pub const COMPLIANT: &str = "Compliant";
pub const NON_COMPLIANT: &str = "NonCompliant";

/// What is kept of one cluster's evaluation against one assignment (the policy state's body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateBody {
    pub compliance_state: String,
    /// When the compliance last changed.
    pub timestamp: DateTime<Utc>,
    pub policy_definition_id: String,
    /// The effect, lowercase (`deployifnotexists`), as Azure's policy states name it.
    pub policy_definition_action: String,
    pub resource_type: String,
    #[serde(default)]
    pub resource_location: Option<String>,
    #[serde(default)]
    pub resource_tags: Value,
    /// The last deployment of the assignment to the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

impl StateBody {
    pub fn is_compliant(&self) -> bool {
        self.compliance_state == COMPLIANT
    }

    /// The same evaluation, apart from its time.
    fn same_as(&self, other: &StateBody) -> bool {
        self.compliance_state == other.compliance_state
            && self.policy_definition_id == other.policy_definition_id
            && self.policy_definition_action == other.policy_definition_action
            && self.resource_location == other.resource_location
            && self.resource_tags == other.resource_tags
            && self.deployment == other.deployment
    }
}

pub fn read_state(record: &PolicyStateRecord) -> Option<StateBody> {
    serde_json::from_str(&record.body).ok()
}

/// What evaluating one cluster did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EvaluationOutcome {
    pub assignments: usize,
    pub states_written: usize,
    pub deployments: usize,
    /// Deployments that failed at once (refused by validation, a secret not found, Flux v1).
    pub failed_deployments: usize,
}

/// A cluster's evaluation against one assignment.
struct Verdict {
    compliant: bool,
    effect: Effect,
}

/// Policy-level knobs (from configuration).
#[derive(Debug, Clone)]
pub struct PolicySettings {
    /// The least time between two deployments of one assignment to one cluster under continuous remediation,
    /// so that a configuration that fails on its cluster is not re-applied in a tight loop.
    pub redeploy_backoff: Duration,
    /// Clusters evaluated at once by the evaluation task.
    pub evaluation_concurrency: usize,
    /// How long a remediation task stays with the instance running it without a renewal: how soon another
    /// instance takes over when that one dies.
    pub remediation_lease: Duration,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            redeploy_backoff: Duration::from_secs(30),
            evaluation_concurrency: 16,
            remediation_lease: Duration::from_secs(30),
        }
    }
}

impl App {
    /// Evaluates one cluster (lowercase id) against every assignment covering it, records what changed, and
    /// deploys where the trigger and the assignment call for it.
    pub async fn evaluate_cluster(
        &self,
        cluster_key: &str,
        trigger: Trigger,
    ) -> Result<EvaluationOutcome, ArmError> {
        self.evaluate_cluster_for(cluster_key, trigger, None).await
    }

    /// As `evaluate_cluster`; with `remediation`, the one assignment it remediates deploys if the cluster does
    /// not comply, as that remediation's deployment.
    pub(crate) async fn evaluate_cluster_for(
        &self,
        cluster_key: &str,
        trigger: Trigger,
        remediation: Option<(&str, &str)>,
    ) -> Result<EvaluationOutcome, ArmError> {
        let Ok(cluster) = ClusterId::parse(cluster_key) else {
            return Ok(EvaluationOutcome::default());
        };
        let mut delays = clusterconfig_retry::CONTENTION.delays();
        loop {
            match self.evaluate_once(&cluster, trigger, remediation).await {
                Err(Raced) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => {
                        // The cluster keeps changing: its next change queues it again.
                        self.policy.queue.push(cluster_key, trigger);
                        return Ok(EvaluationOutcome::default());
                    }
                },
                Ok(result) => return result,
            }
        }
    }

    async fn evaluate_once(
        &self,
        cluster: &ClusterId,
        trigger: Trigger,
        remediation: Option<(&str, &str)>,
    ) -> Result<Result<EvaluationOutcome, ArmError>, Raced> {
        let key = cluster.key();
        let assignments = self.policy.assignments.covering(&key);
        let partition = match self.partition(cluster).await {
            Ok(p) => p,
            Err(err) => return Ok(Err(err)),
        };
        let Some(record) = partition.cluster.as_ref() else {
            // Forgotten (or never known): nothing to evaluate.
            return Ok(Ok(EvaluationOutcome::default()));
        };
        let Some(resource) = cluster_resource(&key, Some(record)) else {
            return Ok(Ok(EvaluationOutcome::default()));
        };
        let views = match self.cluster_views(cluster, &partition) {
            Ok(v) => v,
            Err(err) => return Ok(Err(err)),
        };
        let now = self.now();
        let mut outcome = EvaluationOutcome {
            assignments: assignments.len(),
            ..Default::default()
        };
        let mut writes = Vec::new();
        let mut deploy: Vec<(&ActiveAssignment, Option<StateBody>)> = Vec::new();
        for assignment in &assignments {
            let current = partition.policy_state(&assignment.key);
            let current_body = current.and_then(read_state);
            let verdict = match self.judge(assignment, &resource, &views) {
                Ok(v) => v,
                Err(err) => {
                    tracing::warn!(assignment = %assignment.key, cluster = %key, error = %err, "policy evaluation failed");
                    continue;
                }
            };
            let Some(verdict) = verdict else {
                if current.is_some() {
                    writes.push(Write::DeletePolicyState {
                        assignment: assignment.key.clone(),
                    });
                }
                continue;
            };
            let mut deployment = current_body.as_ref().and_then(|b| b.deployment.clone());
            if let Some(deployment) = deployment.as_mut() {
                deployment.settle(&views, now);
            }
            let compliance = if verdict.compliant {
                COMPLIANT
            } else {
                NON_COMPLIANT
            };
            let body = StateBody {
                compliance_state: compliance.to_owned(),
                timestamp: match &current_body {
                    Some(b) if b.compliance_state == compliance => b.timestamp,
                    _ => now,
                },
                policy_definition_id: assignment.definition_id.clone(),
                policy_definition_action: effect_name(verdict.effect).to_ascii_lowercase(),
                resource_type: resource["type"].as_str().unwrap_or_default().to_owned(),
                resource_location: resource["location"].as_str().map(str::to_owned),
                resource_tags: resource["tags"].clone(),
                deployment,
            };
            // A remediation deploys to each cluster once: one that already did here (before a restart, or on
            // another instance) does not again.
            let remediating = remediation.is_some_and(|(a, r)| {
                a == assignment.key
                    && body.deployment.as_ref().and_then(|d| d.remediation.as_deref()) != Some(r)
            });
            if !verdict.compliant
                && verdict.effect == Effect::DeployIfNotExists
                && (remediating || self.deploys_on(&key, assignment, trigger, body.deployment.as_ref(), now))
            {
                deploy.push((assignment, Some(body.clone())));
            }
            if current_body.as_ref().is_none_or(|c| !c.same_as(&body)) {
                writes.push(state_write(&key, &assignment.key, current, &body, now));
            }
        }
        // States of assignments that no longer cover the cluster (its tags or the notScopes changed).
        for state in &partition.policy_states {
            if let Some(assignment) = self.policy.assignments.get(&state.assignment)
                && !assignment.covers(&key)
            {
                writes.push(Write::DeletePolicyState {
                    assignment: state.assignment.clone(),
                });
            }
        }
        if !writes.is_empty() {
            outcome.states_written = writes.len();
            let change = Change::new(key.clone(), cluster.subscription_key(), now)
                .expecting_version(partition.version());
            let change = writes.into_iter().fold(change, Change::with);
            match self.store.commit(change).await {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => return Err(Raced),
                Err(err) => return Ok(Err(store_error(err))),
            }
        }
        for (assignment, body) in deploy {
            let remediation_key = remediation
                .filter(|(a, _)| *a == assignment.key)
                .map(|(_, r)| r.to_owned());
            let record = self.deploy(assignment, cluster, &resource, remediation_key).await;
            outcome.deployments += 1;
            if record.status == DeploymentStatus::Failed {
                outcome.failed_deployments += 1;
            }
            if let Err(err) = self.record_deployment(cluster, assignment, body, record).await {
                return Ok(Err(err));
            }
        }
        Ok(Ok(outcome))
    }

    /// Whether a DeployIfNotExists that found nothing deploys now (outside a remediation).
    fn deploys_on(
        &self,
        cluster_key: &str,
        assignment: &ActiveAssignment,
        trigger: Trigger,
        last: Option<&DeploymentRecord>,
        now: DateTime<Utc>,
    ) -> bool {
        if !assignment.enforce {
            return false;
        }
        if last.is_some_and(|d| d.status == DeploymentStatus::Running) {
            return false;
        }
        let allowed = match trigger {
            Trigger::ClusterChanged => match evaluation_delay(assignment) {
                Some(delay) => {
                    EvaluationQueue::push_later(
                        &self.policy.queue,
                        cluster_key,
                        Trigger::DelayElapsed,
                        delay,
                    );
                    return false;
                }
                None => true,
            },
            Trigger::DelayElapsed => true,
            Trigger::Scan | Trigger::ResourcesChanged => assignment.continuous,
        };
        if !allowed {
            return false;
        }
        let since_last = last.map(|d| (now - d.created_on).to_std().unwrap_or_default());
        match since_last {
            Some(elapsed) if elapsed < self.policy.settings.redeploy_backoff => {
                // Not now: once the backoff has passed, the cluster is looked at again.
                let wait = self.policy.settings.redeploy_backoff - elapsed;
                EvaluationQueue::push_later(&self.policy.queue, cluster_key, Trigger::Scan, wait);
                false
            }
            _ => true,
        }
    }

    /// Records a deployment in the cluster's state for the assignment (after the deployment's own writes, which
    /// moved the cluster on: so this write expects the state, not the version).
    async fn record_deployment(
        &self,
        cluster: &ClusterId,
        assignment: &ActiveAssignment,
        body: Option<StateBody>,
        deployment: DeploymentRecord,
    ) -> Result<(), ArmError> {
        let key = cluster.key();
        let now = self.now();
        for _ in 0..5 {
            let partition = self.store.partition(&key).await.map_err(store_error)?;
            let current = partition.policy_state(&assignment.key);
            let Some(mut state) = current.and_then(read_state).or_else(|| body.clone()) else {
                return Ok(());
            };
            state.deployment = Some(deployment.clone());
            let change = Change::new(key.clone(), cluster.subscription_key(), now).with(state_write(
                &key,
                &assignment.key,
                current,
                &state,
                now,
            ));
            match self.store.commit(change).await {
                Ok(_) => {
                    // Its resources' progress is seen on the cluster's next change; one already done settles now.
                    self.policy.queue.push(&key, Trigger::ResourcesChanged);
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(store_error(err)),
            }
        }
        Err(ArmError::conflict(
            "The cluster's policy state kept changing; the deployment is recorded later.",
        ))
    }

    /// The assignment's verdict on the cluster: `None` when the rule does not apply to it or is Disabled.
    fn judge(
        &self,
        assignment: &ActiveAssignment,
        resource: &Value,
        views: &[(ResourceKind, Value)],
    ) -> Result<Option<Verdict>, clusterconfig_policy::EvalError> {
        let rule = &assignment.definition.rule;
        if !rule.applies(&assignment.parameters, resource)? {
            return Ok(None);
        }
        let effect = rule.effect(&assignment.parameters)?;
        let Some(details) = &rule.details else {
            return Ok(None);
        };
        match effect {
            Effect::DeployIfNotExists | Effect::AuditIfNotExists => {
                let kind = related_kind(&details.resource_type);
                let related = views.iter().filter(|(k, _)| Some(*k) == kind).map(|(_, v)| v);
                let compliant = details.is_compliant(&assignment.parameters, resource, related)?;
                Ok(Some(Verdict { compliant, effect }))
            }
            _ => Ok(None),
        }
    }

    /// The cluster's resources as ARM lists them (a damaged record is left out, as lists do).
    fn cluster_views(
        &self,
        cluster: &ClusterId,
        partition: &Partition,
    ) -> Result<Vec<(ResourceKind, Value)>, ArmError> {
        let mut views = Vec::with_capacity(partition.resources.len());
        for record in &partition.resources {
            match self.render(cluster, record) {
                Ok(view) => views.push((record.kind, view.body)),
                Err(err) if super::super::documents::is_unreadable(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(views)
    }
}

/// An evaluation that met a concurrent change of the cluster: it is done again from a fresh read.
struct Raced;

fn state_write(
    cluster: &str,
    assignment: &str,
    current: Option<&PolicyStateRecord>,
    body: &StateBody,
    now: DateTime<Utc>,
) -> Write {
    Write::PutPolicyState {
        record: PolicyStateRecord {
            cluster: cluster.to_owned(),
            assignment: assignment.to_owned(),
            compliance: body.compliance_state.clone(),
            evaluated_at: now,
            body: serde_json::to_string(body).expect("state bodies serialize"),
            etag: Default::default(),
        },
        expect: match current {
            Some(c) => Expect::Etag(c.etag.clone()),
            None => Expect::Absent,
        },
    }
}

/// The kind of this provider's resources a `details.type` names (none for other types).
fn related_kind(resource_type: &str) -> Option<ResourceKind> {
    let (namespace, segment) = resource_type.split_once('/')?;
    if !namespace.eq_ignore_ascii_case(clusterconfig_model::ids::PROVIDER_NAMESPACE) {
        return None;
    }
    clusterconfig_model::ids::ResourceType::ALL
        .iter()
        .find(|t| t.segment().eq_ignore_ascii_case(segment))
        .map(|t| super::super::kind_of(*t))
}

/// How long after a cluster changed its deployment waits: the definition's `evaluationDelay` when it gives a
/// duration. The `AfterProvisioning*` forms need no wait here: a cluster the service sees (an agent's contact,
/// an import) is provisioned.
fn evaluation_delay(assignment: &ActiveAssignment) -> Option<Duration> {
    match assignment.definition.details()?.evaluation_delay? {
        EvaluationDelay::After(delay) if !delay.is_zero() => Some(delay),
        _ => None,
    }
}

pub fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::DeployIfNotExists => "DeployIfNotExists",
        Effect::AuditIfNotExists => "AuditIfNotExists",
        Effect::Disabled => "Disabled",
        _ => "Unsupported",
    }
}
