//! `Microsoft.PolicyInsights/remediations`: remediation tasks, as in Azure. One deploys the assignment's
//! DeployIfNotExists to the clusters in its scope that do not comply (`ExistingNonCompliant`: those the last
//! evaluation found so; `ReEvaluateCompliance`: every cluster, evaluated afresh), `parallelDeployments` at a
//! time, at most `resourceCount`, and stops once the failed share of its deployments passes
//! `failureThreshold.percentage` (a safe rollout), or when cancelled.
//!
//! Tasks run on any instance: the one holding a task's lease (a conditional write of the record) runs it, and a
//! dead instance's lease runs out so another picks the task up where it stopped. Each cluster's deployment is
//! recorded in its policy state with the task's id, so no cluster is deployed to twice by one task.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_policy::Effect;

use super::EvaluationOutcome;
use clusterconfig_store::{Expect, PolicyKind, PolicyRecord, StoreError};

use super::super::{App, ArmCaller, Page, store_error};
use super::deployments::DeploymentStatus;
use super::evaluation::{NON_COMPLIANT, read_state};
use super::inventory::cluster_resource;
use super::{
    PolicyScope, REMEDIATION_TYPE, Trigger, check_object_name, codes, name_of, object_id, properties_of,
    within,
};

/// A task's progress, kept beside its ARM view (never shown).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    /// The last cluster looked at.
    cursor: Option<String>,
    /// Every candidate was looked at.
    discovered: bool,
    cancel: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    view: Value,
    #[serde(default)]
    run: Run,
}

const TERMINAL: &[&str] = &["Succeeded", "Failed", "Canceled", "Complete"];

fn is_terminal(view: &Value) -> bool {
    view["properties"]["provisioningState"]
        .as_str()
        .is_some_and(|s| TERMINAL.contains(&s))
}

pub fn not_found(id: &str) -> ArmError {
    ArmError::new(
        404,
        codes::REMEDIATION_NOT_FOUND,
        format!("The remediation '{}' could not be found.", name_of(id)),
    )
}

fn invalid(target: &str, message: impl Into<String>) -> ArmError {
    ArmError::new(400, codes::INVALID_REMEDIATION, message).with_target(target)
}

/// What one run of the remediation task did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationRunOutcome {
    pub tasks: usize,
    pub deployments: usize,
    pub finished: usize,
}

/// The settings of a task, checked.
struct Settings {
    assignment: String,
    parallel: usize,
    resource_count: u64,
    threshold: f64,
    locations: Option<Vec<String>>,
    reevaluate: bool,
}

fn settings_of(view: &Value) -> Settings {
    let p = &view["properties"];
    Settings {
        assignment: p["policyAssignmentId"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        parallel: p["parallelDeployments"].as_u64().unwrap_or(10) as usize,
        resource_count: p["resourceCount"].as_u64().unwrap_or(500),
        threshold: p["failureThreshold"]["percentage"].as_f64().unwrap_or(1.0),
        locations: p["filters"]["locations"]
            .as_array()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.to_ascii_lowercase().replace(' ', ""))
                    .collect()
            }),
        reevaluate: p["resourceDiscoveryMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("ReEvaluateCompliance")),
    }
}

impl App {
    /// PUT: creates a task (it starts at once). A task is immutable: a PUT of one that exists answers it as it
    /// is if the request asks for the same, and 409 otherwise.
    pub async fn put_remediation(
        &self,
        scope: &PolicyScope,
        name: &str,
        body: &Value,
        caller: &ArmCaller,
    ) -> Result<(Value, bool), ArmError> {
        check_object_name(name, "remediationName")?;
        let p = properties_of(body)?;
        let assignment_id = match p.get("policyAssignmentId") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                return Err(invalid(
                    "properties.policyAssignmentId",
                    "The remediation needs 'properties.policyAssignmentId'.",
                ));
            }
        };
        let assignment = self
            .policy
            .assignments
            .get(&assignment_id.to_ascii_lowercase())
            .ok_or_else(|| {
                super::assignments::not_found(&assignment_id).with_target("properties.policyAssignmentId")
            })?;
        // The task remediates where both it and the assignment reach.
        if !within(&scope.key(), &assignment.scope.key()) && !within(&assignment.scope.key(), &scope.key()) {
            return Err(invalid(
                "properties.policyAssignmentId",
                "The policy assignment does not apply at the remediation's scope.",
            ));
        }
        let effect = assignment.definition.rule.effect(&assignment.parameters);
        if !matches!(effect, Ok(Effect::DeployIfNotExists)) {
            return Err(invalid(
                "properties.policyAssignmentId",
                "Only assignments with the deployIfNotExists effect can be remediated.",
            ));
        }
        let mode = match p.get("resourceDiscoveryMode") {
            None | Some(Value::Null) => "ExistingNonCompliant",
            Some(Value::String(m)) if m.eq_ignore_ascii_case("ExistingNonCompliant") => {
                "ExistingNonCompliant"
            }
            Some(Value::String(m)) if m.eq_ignore_ascii_case("ReEvaluateCompliance") => {
                "ReEvaluateCompliance"
            }
            Some(_) => {
                return Err(invalid(
                    "properties.resourceDiscoveryMode",
                    "'resourceDiscoveryMode' must be ExistingNonCompliant or ReEvaluateCompliance.",
                ));
            }
        };
        let number = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| match p.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
                invalid(
                    &format!("properties.{key}"),
                    format!(
                        "'{key}' must be a whole number from {} to {}.",
                        range.start(),
                        range.end()
                    ),
                )
            }),
        };
        let parallel = number("parallelDeployments", 10, 1..=30)?;
        let resource_count = number("resourceCount", 500, 1..=50_000)?;
        let threshold = match p.get("failureThreshold").and_then(|t| t.get("percentage")) {
            None | Some(Value::Null) => 1.0,
            Some(v) => v.as_f64().filter(|x| (0.0..=1.0).contains(x)).ok_or_else(|| {
                invalid(
                    "properties.failureThreshold.percentage",
                    "'failureThreshold.percentage' must be a number from 0 to 1.",
                )
            })?,
        };
        let locations = match p.get("filters").and_then(|f| f.get("locations")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(l)) if l.iter().all(Value::is_string) => l.clone(),
            Some(_) => {
                return Err(invalid(
                    "properties.filters.locations",
                    "'filters.locations' must be an array of strings.",
                ));
            }
        };
        let id = object_id(scope, REMEDIATION_TYPE, name);
        let key = id.to_ascii_lowercase();
        let mut requested = Map::new();
        requested.insert("policyAssignmentId".into(), json!(assignment.id()));
        requested.insert(
            "policyDefinitionReferenceId".into(),
            p.get("policyDefinitionReferenceId").cloned().unwrap_or(json!("")),
        );
        requested.insert("resourceDiscoveryMode".into(), json!(mode));
        requested.insert("filters".into(), json!({"locations": locations}));
        requested.insert("parallelDeployments".into(), json!(parallel));
        requested.insert("resourceCount".into(), json!(resource_count));
        requested.insert("failureThreshold".into(), json!({"percentage": threshold}));
        if let Some(existing) = self.stored_remediation(&key).await? {
            let (stored, _) = existing;
            let same = requested.iter().all(|(k, v)| {
                stored.view["properties"]
                    .get(k)
                    .is_some_and(|s| s.to_string().eq_ignore_ascii_case(&v.to_string()))
            });
            return if same {
                Ok((public_view(&stored.view), false))
            } else {
                Err(ArmError::conflict(format!(
                    "The remediation '{name}' exists and cannot be changed; create another one."
                )))
            };
        }
        let now = self.now();
        let mut properties = requested;
        properties.insert("provisioningState".into(), json!("Accepted"));
        properties.insert("createdOn".into(), json!(now));
        properties.insert("lastUpdatedOn".into(), json!(now));
        properties.insert(
            "deploymentStatus".into(),
            json!({"totalDeployments": 0, "successfulDeployments": 0, "failedDeployments": 0}),
        );
        properties.insert("statusMessage".into(), json!(""));
        properties.insert("correlationId".into(), json!(uuid::Uuid::new_v4().to_string()));
        let view = json!({
            "properties": properties,
            "id": id,
            "type": REMEDIATION_TYPE,
            "name": name,
            "systemData": caller.change_data(now),
        });
        let stored = Stored {
            view: view.clone(),
            run: Run::default(),
        };
        self.store
            .put_policy_record(
                PolicyRecord {
                    kind: PolicyKind::Remediation,
                    id: key.clone(),
                    scope: scope.key(),
                    body: serde_json::to_string(&stored).expect("serializes"),
                    updated_at: now,
                    etag: Default::default(),
                },
                Expect::Absent,
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ArmError::conflict(format!(
                    "The remediation '{name}' is being created by another request."
                )),
                other => store_error(other),
            })?;
        tracing::info!(remediation = %id, assignment = %assignment.key, parallel, resource_count, "remediation created");
        self.policy.remediation_created.notify_one();
        Ok((public_view(&view), true))
    }

    async fn stored_remediation(&self, key: &str) -> Result<Option<(Stored, PolicyRecord)>, ArmError> {
        let Some(record) = self
            .store
            .policy_record(PolicyKind::Remediation, key)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_str(&record.body).map_err(|_| not_found(key))?;
        Ok(Some((stored, record)))
    }

    pub async fn remediation(&self, scope: &PolicyScope, name: &str) -> Result<Value, ArmError> {
        let id = object_id(scope, REMEDIATION_TYPE, name);
        let (stored, _) = self
            .stored_remediation(&id.to_ascii_lowercase())
            .await?
            .ok_or_else(|| not_found(&id))?;
        Ok(public_view(&stored.view))
    }

    pub async fn list_remediations(
        &self,
        scope: &PolicyScope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        let page = self
            .list_policy_views(PolicyKind::Remediation, &scope.key(), after, limit)
            .await?;
        Ok(Page {
            items: page.items.iter().map(|s| public_view(&s["view"])).collect(),
            next: page.next,
        })
    }

    /// DELETE: a running task is stopped first (no new deployments start); answers what was deleted.
    pub async fn delete_remediation(
        &self,
        scope: &PolicyScope,
        name: &str,
    ) -> Result<Option<Value>, ArmError> {
        let key = object_id(scope, REMEDIATION_TYPE, name).to_ascii_lowercase();
        let Some((stored, _)) = self.stored_remediation(&key).await? else {
            return Ok(None);
        };
        self.store
            .delete_policy_record(PolicyKind::Remediation, &key)
            .await
            .map_err(store_error)?;
        Ok(Some(public_view(&stored.view)))
    }

    /// `cancel`: no new deployments start; the task ends Canceled once its runner sees it.
    pub async fn cancel_remediation(&self, scope: &PolicyScope, name: &str) -> Result<Value, ArmError> {
        let id = object_id(scope, REMEDIATION_TYPE, name);
        let key = id.to_ascii_lowercase();
        for _ in 0..10 {
            let (mut stored, record) = self
                .stored_remediation(&key)
                .await?
                .ok_or_else(|| not_found(&id))?;
            if is_terminal(&stored.view) {
                return Err(ArmError::new(
                    400,
                    codes::REMEDIATION_NOT_CANCELABLE,
                    format!("The remediation '{name}' has ended and cannot be canceled."),
                ));
            }
            stored.run.cancel = true;
            stored.view["properties"]["provisioningState"] = json!("Cancelling");
            stored.view["properties"]["lastUpdatedOn"] = json!(self.now());
            match self.put_stored(&record, &stored).await {
                Ok(()) => {
                    self.policy.remediation_created.notify_one();
                    return Ok(public_view(&stored.view));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(store_error(err)),
            }
        }
        Err(ArmError::conflict(
            "The remediation is changing; retry the request.",
        ))
    }

    /// `listDeployments`: the task's deployments, in cluster order, `limit` at most after `after`.
    pub async fn remediation_deployments(
        &self,
        scope: &PolicyScope,
        name: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        let id = object_id(scope, REMEDIATION_TYPE, name);
        let key = id.to_ascii_lowercase();
        let (stored, _) = self
            .stored_remediation(&key)
            .await?
            .ok_or_else(|| not_found(&id))?;
        let assignment = settings_of(&stored.view).assignment;
        let mut items = Vec::new();
        let mut last: Option<String> = None;
        let mut cursor = after.map(str::to_owned);
        loop {
            let records = self
                .store
                .policy_states(&assignment, cursor.as_deref(), 500)
                .await
                .map_err(store_error)?;
            let done = records.len() < 500;
            for record in &records {
                cursor = Some(record.cluster.clone());
                let Some(body) = read_state(record) else { continue };
                let Some(deployment) = body
                    .deployment
                    .filter(|d| d.remediation.as_deref() == Some(key.as_str()))
                else {
                    continue;
                };
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next: last.clone(),
                    });
                }
                last = Some(record.cluster.clone());
                let resource_id = cluster_resource(&record.cluster, None)
                    .and_then(|r| r["id"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| record.cluster.clone());
                items.push(json!({
                    "remediatedResourceId": resource_id,
                    "deploymentId": deployment.deployment_id,
                    "status": match deployment.status {
                        DeploymentStatus::Running => "Running",
                        DeploymentStatus::Succeeded => "Succeeded",
                        DeploymentStatus::Failed => "Failed",
                    },
                    "resourceLocation": body.resource_location.unwrap_or_default(),
                    "error": deployment.error,
                    "createdOn": deployment.created_on,
                    "lastUpdatedOn": deployment.last_updated_on,
                }));
            }
            if done {
                return Ok(Page { items, next: None });
            }
        }
    }

    async fn put_stored(&self, record: &PolicyRecord, stored: &Stored) -> Result<(), StoreError> {
        let mut next = record.clone();
        next.body = serde_json::to_string(stored).expect("serializes");
        next.updated_at = self.now();
        self.store
            .put_policy_record(next, Expect::Etag(record.etag.clone()))
            .await
            .map(|_| ())
    }

    /// Runs every task that is not finished and whose lease this instance holds or can take: each one until
    /// it has looked at all its candidates and its deployments have settled, or for about `budget`.
    pub async fn run_remediations(
        &self,
        instance: &str,
        budget: std::time::Duration,
    ) -> Result<RemediationRunOutcome, ArmError> {
        let mut outcome = RemediationRunOutcome::default();
        for record in self.all_policy_records(PolicyKind::Remediation).await? {
            let Ok(stored) = serde_json::from_str::<Stored>(&record.body) else {
                continue;
            };
            if is_terminal(&stored.view) {
                continue;
            }
            outcome.tasks += 1;
            let (deployments, finished) = self.run_remediation(instance, record, stored, budget).await?;
            outcome.deployments += deployments;
            outcome.finished += usize::from(finished);
        }
        Ok(outcome)
    }

    /// Runs one task while this instance holds its lease; returns the deployments it made and whether it ended.
    async fn run_remediation(
        &self,
        instance: &str,
        mut record: PolicyRecord,
        mut stored: Stored,
        budget: std::time::Duration,
    ) -> Result<(usize, bool), ArmError> {
        let started = tokio::time::Instant::now();
        let mut deployments = 0;
        loop {
            let now = self.now();
            let held_by_other = stored.run.lease_owner.as_deref().is_some_and(|o| o != instance)
                && stored.run.lease_until.is_some_and(|until| until > now);
            if held_by_other {
                return Ok((deployments, false));
            }
            stored.run.lease_owner = Some(instance.to_owned());
            stored.run.lease_until = Some(
                now + ChronoDuration::from_std(self.policy.settings.remediation_lease)
                    .unwrap_or(ChronoDuration::seconds(30)),
            );
            let settings = settings_of(&stored.view);
            let finished = if stored.run.cancel {
                set_state(&mut stored.view, "Canceled", "The remediation was canceled.", now);
                true
            } else {
                match self.policy.assignments.get(&settings.assignment) {
                    None => {
                        set_state(
                            &mut stored.view,
                            "Failed",
                            "The policy assignment no longer exists.",
                            now,
                        );
                        true
                    }
                    Some(assignment) => {
                        let made = self
                            .remediation_step(&record.id, &record.scope, &settings, &assignment, &mut stored)
                            .await?;
                        deployments += made;
                        self.settle_remediation(&settings, &record.id, &mut stored, now)
                            .await?
                    }
                }
            };
            if finished {
                stored.run.lease_owner = None;
                stored.run.lease_until = None;
            }
            let mut next = record.clone();
            next.body = serde_json::to_string(&stored).expect("serializes");
            next.updated_at = now;
            match self
                .store
                .put_policy_record(next.clone(), Expect::Etag(record.etag.clone()))
                .await
            {
                Ok(etag) => {
                    next.etag = etag;
                    record = next;
                }
                // Cancelled or deleted meanwhile, or taken over: look again on the next run.
                Err(StoreError::Conflict(_)) => return Ok((deployments, false)),
                Err(err) => return Err(store_error(err)),
            }
            if finished {
                tracing::info!(remediation = %record.id, state = %stored.view["properties"]["provisioningState"],
                    deployments = %stored.view["properties"]["deploymentStatus"], "remediation ended");
                return Ok((deployments, true));
            }
            if started.elapsed() >= budget {
                return Ok((deployments, false));
            }
            if stored.run.discovered {
                // Waiting for deployments to settle on their clusters.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            // Cancelled or deleted by a request since: the conditional write above would have failed.
            if let Some((fresh, fresh_record)) = self.stored_remediation(&record.id).await? {
                stored = fresh;
                record = fresh_record;
            } else {
                return Ok((deployments, true));
            }
        }
    }

    /// Deploys to the next candidates, `parallel` at a time; returns how many deployments it made.
    async fn remediation_step(
        &self,
        remediation: &str,
        remediation_scope: &str,
        settings: &Settings,
        assignment: &super::ActiveAssignment,
        stored: &mut Stored,
    ) -> Result<usize, ArmError> {
        if stored.run.discovered {
            return Ok(0);
        }
        let dispatched = stored.view["properties"]["deploymentStatus"]["totalDeployments"]
            .as_u64()
            .unwrap_or(0);
        let room = settings.resource_count.saturating_sub(dispatched) as usize;
        let batch = (settings.parallel * 20).min(room);
        if batch == 0 {
            stored.run.discovered = true;
            return Ok(0);
        }
        let mut candidates = Vec::with_capacity(batch);
        let mut cursor = stored.run.cursor.clone();
        // Every candidate was looked at: the last page was short and read to its end.
        let mut discovered = false;
        'pages: while candidates.len() < batch {
            let page: Vec<(String, bool)> = if settings.reevaluate {
                let clusters = self
                    .store
                    .clusters_in_subscription(&assignment.scope.subscription_id().to_ascii_lowercase())
                    .await
                    .map_err(store_error)?;
                let after = cursor.clone().unwrap_or_default();
                clusters
                    .into_iter()
                    .filter(|c| *c > after)
                    .take(500)
                    .map(|c| (c, true))
                    .collect()
            } else {
                let records = self
                    .store
                    .policy_states(&assignment.key, cursor.as_deref(), 500)
                    .await
                    .map_err(store_error)?;
                records
                    .into_iter()
                    .map(|r| {
                        let wanted = r.compliance == NON_COMPLIANT;
                        (r.cluster, wanted)
                    })
                    .collect()
            };
            let short = page.len() < 500;
            let count = page.len();
            for (index, (cluster, wanted)) in page.into_iter().enumerate() {
                cursor = Some(cluster.clone());
                if wanted
                    && self
                        .remediates(settings, assignment, remediation_scope, &cluster)
                        .await?
                {
                    candidates.push(cluster);
                }
                if candidates.len() == batch {
                    discovered = short && index + 1 == count;
                    break 'pages;
                }
            }
            if short {
                discovered = true;
                break;
            }
        }
        stored.run.discovered = discovered;
        stored.run.cursor = cursor;
        // `parallel` at a time, and no further once the failed share passes the threshold: a safe rollout stops
        // after the first failing group, not after the whole batch.
        let status = &stored.view["properties"]["deploymentStatus"];
        let mut total = status["totalDeployments"].as_u64().unwrap_or(0) as usize;
        let mut failed = status["failedDeployments"].as_u64().unwrap_or(0) as usize;
        let mut made = 0;
        for group in candidates.chunks(settings.parallel.max(1)) {
            let outcomes: Vec<EvaluationOutcome> = futures::stream::iter(group.iter().cloned())
                .map(|cluster: String| async move {
                    self.evaluate_cluster_for(&cluster, Trigger::Scan, Some((&assignment.key, remediation)))
                        .await
                        .unwrap_or_else(|err| {
                            tracing::warn!(%cluster, error = %err, "remediation could not evaluate a cluster");
                            EvaluationOutcome::default()
                        })
                })
                .buffer_unordered(settings.parallel)
                .collect()
                .await;
            for outcome in outcomes {
                made += outcome.deployments;
                total += outcome.deployments;
                failed += outcome.failed_deployments;
            }
            if total > 0 && failed as f64 / total as f64 > settings.threshold {
                // Settling records the stop; the rest are never dispatched.
                stored.run.discovered = true;
                break;
            }
        }
        Ok(made)
    }

    /// Whether a cluster the assignment found non-compliant (or, re-evaluating, any cluster) is the task's to
    /// remediate: covered by the assignment, inside the task's scope, in one of its locations.
    async fn remediates(
        &self,
        settings: &Settings,
        assignment: &super::ActiveAssignment,
        remediation_scope: &str,
        cluster: &str,
    ) -> Result<bool, ArmError> {
        if !assignment.covers(cluster) || !within(cluster, remediation_scope) {
            return Ok(false);
        }
        let Some(locations) = &settings.locations else {
            return Ok(true);
        };
        let record = self.store.cluster(cluster).await.map_err(store_error)?;
        let location = cluster_resource(cluster, record.as_ref())
            .and_then(|r| r["location"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(locations.contains(&location))
    }

    /// Counts the task's deployments; ends it when the failed share passes the threshold, or when every
    /// candidate was looked at and no deployment is still running. Returns whether it ended.
    async fn settle_remediation(
        &self,
        settings: &Settings,
        remediation: &str,
        stored: &mut Stored,
        now: DateTime<Utc>,
    ) -> Result<bool, ArmError> {
        let (mut total, mut succeeded, mut failed, mut running) = (0u64, 0u64, 0u64, 0u64);
        let mut after: Option<String> = None;
        loop {
            let records = self
                .store
                .policy_states(&settings.assignment, after.as_deref(), 1000)
                .await
                .map_err(store_error)?;
            let done = records.len() < 1000;
            for record in &records {
                after = Some(record.cluster.clone());
                let Some(deployment) = read_state(record).and_then(|b| b.deployment) else {
                    continue;
                };
                if deployment.remediation.as_deref() != Some(remediation) {
                    continue;
                }
                total += 1;
                match deployment.status {
                    DeploymentStatus::Succeeded => succeeded += 1,
                    DeploymentStatus::Failed => failed += 1,
                    DeploymentStatus::Running => running += 1,
                }
            }
            if done {
                break;
            }
        }
        let properties = &mut stored.view["properties"];
        properties["deploymentStatus"] = json!({
            "totalDeployments": total,
            "successfulDeployments": succeeded,
            "failedDeployments": failed,
        });
        properties["lastUpdatedOn"] = json!(now);
        if total > 0 && failed as f64 / total as f64 > settings.threshold {
            set_state(
                &mut stored.view,
                "Failed",
                &format!(
                    "The remediation stopped: {failed} of {total} deployments failed, more than the failure threshold of {}%.",
                    settings.threshold * 100.0
                ),
                now,
            );
            return Ok(true);
        }
        if stored.run.discovered && running == 0 {
            if failed == 0 {
                set_state(&mut stored.view, "Succeeded", "", now);
            } else {
                set_state(
                    &mut stored.view,
                    "Failed",
                    &format!("{failed} of {total} deployments failed."),
                    now,
                );
            }
            return Ok(true);
        }
        stored.view["properties"]["provisioningState"] = json!("Evaluating");
        Ok(false)
    }
}

fn set_state(view: &mut Value, state: &str, message: &str, now: DateTime<Utc>) {
    view["properties"]["provisioningState"] = json!(state);
    view["properties"]["statusMessage"] = json!(message);
    view["properties"]["lastUpdatedOn"] = json!(now);
}

/// The task as ARM shows it: one shape serves 2019-07-01 and 2021-10-01 (clients ignore members they do not
/// know).
fn public_view(view: &Value) -> Value {
    view.clone()
}
