//! What agents report: the outcome of a generation (which completes its ARM operation and fills the resource's
//! read-only status), and the cluster's facts. A report for an older generation never overwrites newer state.
//! Whatever a report acknowledges, the cluster now holds: the service deletes the secret groups it carried.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, de::DeserializeOwned};

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::dataplane::{AgentFacts, ExtensionStatusReport, FluxStatusReport, ReportedState};
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::extension::ExtensionSpec;
use clusterconfig_model::flux::FluxConfigSpec;
use clusterconfig_model::ids::{ClusterId, ResourceName, ResourceType};
use clusterconfig_store::{Change, ClusterRecord, Expect, Partition, ResourceKind, Write};

use super::documents::{ExtensionStatusDoc, FluxStatus};
use super::writes::Existing;
use super::{App, Attempt, Target, store_error};

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportOutcome {
    /// The generation's operation finished with this report.
    pub operation_completed: bool,
}

impl App {
    pub async fn report_flux(
        &self,
        cluster: &ClusterId,
        name: &str,
        report: &FluxStatusReport,
        issued_at: DateTime<Utc>,
    ) -> Result<ReportOutcome, ArmError> {
        let target = report_target(cluster, ResourceType::FluxConfigurations, name)?;
        let target = &target;
        self.with_retries("The Flux configuration", || async move {
            let partition = self.partition(cluster).await?;
            refuse_revoked(partition.cluster.as_ref(), issued_at)?;
            let report = &self.scrubbed(&partition, ResourceKind::FluxConfiguration, target, report)?;
            let existing: Existing<FluxConfigSpec, FluxStatus> = self
                .existing(&partition, ResourceKind::FluxConfiguration, target.name.key())?
                .ok_or_else(|| target.not_found())?;
            let state = check_report(
                &existing.record,
                report.generation,
                existing.doc.status.generation,
                report.provisioning_state,
            )?;
            let now = self.now();
            let status = FluxStatus {
                generation: report.generation,
                result: Some(state),
                compliance_state: report.compliance_state,
                statuses: report.statuses.clone().unwrap_or_default(),
                source_synced_commit_id: report.source_synced_commit_id.clone(),
                source_updated_at: report.source_updated_at,
                repository_public_key: report.repository_public_key.clone(),
                status_updated_at: Some(now),
            };
            // A configuration waiting for microsoft.flux completes only once it is installed; the extension
            // is read (and decrypted) only for those.
            let may_complete = !existing.doc.awaiting_extension
                || self
                    .flux_extension(&partition)?
                    .is_some_and(|e| e.doc.provisioning_state == ProvisioningState::Succeeded);
            let outcome = self.apply_report(
                target,
                &partition,
                existing,
                report.generation,
                state,
                report.message.as_deref(),
                "FluxConfigurationOperationFailed",
                |doc| doc.status = status,
                |_| may_complete,
            )?;
            self.commit_report(cluster, outcome).await
        })
        .await
    }

    pub async fn report_extension(
        &self,
        cluster: &ClusterId,
        name: &str,
        report: &ExtensionStatusReport,
        issued_at: DateTime<Utc>,
    ) -> Result<ReportOutcome, ArmError> {
        let target = report_target(cluster, ResourceType::Extensions, name)?;
        let target = &target;
        self.with_retries("The extension", || async move {
            let partition = self.partition(cluster).await?;
            refuse_revoked(partition.cluster.as_ref(), issued_at)?;
            let report = &self.scrubbed(&partition, ResourceKind::Extension, target, report)?;
            let existing: Existing<ExtensionSpec, ExtensionStatusDoc> = self
                .existing(&partition, ResourceKind::Extension, target.name.key())?
                .ok_or_else(|| target.not_found())?;
            let state = check_report(
                &existing.record,
                report.generation,
                existing.doc.status.generation,
                report.provisioning_state,
            )?;
            let is_flux = existing.doc.spec.is_flux();
            let current = report.generation == existing.record.generation && !existing.record.deleting;
            let status = ExtensionStatusDoc {
                generation: report.generation,
                result: Some(state),
                current_version: report
                    .installed_version
                    .clone()
                    .or_else(|| existing.doc.status.current_version.clone()),
                statuses: report.statuses.clone().unwrap_or_default(),
                status_updated_at: Some(self.now()),
            };
            let mut outcome = self.apply_report(
                target,
                &partition,
                existing,
                report.generation,
                state,
                report.message.as_deref(),
                "ExtensionOperationFailed",
                |doc| doc.status = status,
                |_| true,
            )?;
            if is_flux && current {
                // Flux configurations whose operations waited for this installation finish with it.
                self.settle_awaiting_flux(
                    cluster,
                    &partition,
                    state,
                    report.message.as_deref(),
                    &mut outcome.change,
                )?;
            }
            self.commit_report(cluster, outcome).await
        })
        .await
    }

    /// The report with every value the resource holds in secret replaced by `<redacted>`, wherever it appears
    /// (messages, statuses): Flux and Helm errors can echo a value, and a report becomes what ARM readers see.
    /// Values are matched as stored and, when they are base64 text, decoded.
    fn scrubbed<R: Serialize + DeserializeOwned + Clone>(
        &self,
        partition: &Partition,
        kind: ResourceKind,
        target: &Target,
        report: &R,
    ) -> Result<R, ArmError> {
        let mut values = Vec::new();
        for secret in partition
            .secrets
            .iter()
            .filter(|s| s.kind == kind && s.name == target.name.key())
        {
            for value in self.codec.decode_secret(secret)?.0.into_values() {
                if let Some(decoded) = base64::engine::general_purpose::STANDARD
                    .decode(&value)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                {
                    values.push(decoded);
                }
                values.push(value);
            }
        }
        // Shorter values would turn ordinary words of a message into `<redacted>` and hide little.
        values.retain(|v| v.len() >= MIN_REDACTED_LEN);
        if values.is_empty() {
            return Ok(report.clone());
        }
        let mut json = serde_json::to_value(report).expect("reports serialize");
        redact_strings(&mut json, &values);
        serde_json::from_value(json).map_err(|_| ArmError::invalid_content("The report could not be read."))
    }

    /// Records what the cluster's agent says about the cluster (once per agent run: the one data-plane call
    /// that reads nothing else, so it checks the token's revocation with a read of its own).
    pub async fn report_agent(
        &self,
        cluster: &ClusterId,
        facts: &AgentFacts,
        issued_at: DateTime<Utc>,
    ) -> Result<(), ArmError> {
        let record = self.store.cluster(&cluster.key()).await.map_err(store_error)?;
        refuse_revoked(record.as_ref(), issued_at)?;
        let change =
            Change::new(cluster.key(), cluster.subscription_key(), self.now()).with(Write::PutAgent {
                agent: Some(serde_json::to_string(facts).expect("facts serialize")),
                last_contact: self.now(),
            });
        self.commit(change).await.map_err(store_error)?;
        if record.is_none() {
            // An agent's first contact makes the cluster known: as a created resource, to Azure Policy.
            self.policy
                .cluster_changed(&cluster.key(), super::policy::Trigger::ClusterChanged);
        }
        tracing::info!(%cluster, kubernetes = facts.kubernetes_version.as_deref().unwrap_or("?"),
            architecture = facts.cpu_architecture.as_deref().unwrap_or("?"), "agent facts");
        Ok(())
    }

    /// Revokes every agent token of a cluster issued until now: the cluster's agent needs a new one. The
    /// version moves too, so that long-polls already waiting (on any instance) wake and are refused.
    pub async fn revoke_agent_tokens(&self, cluster: &ClusterId) -> Result<DateTime<Utc>, ArmError> {
        let now = self.now();
        let change = Change::new(cluster.key(), cluster.subscription_key(), now)
            .bump()
            .with(Write::RevokeAgentTokens { before: now });
        let committed = self.commit(change).await.map_err(store_error)?;
        self.hub.publish(&cluster.key(), committed.version);
        tracing::info!(%cluster, "agent tokens revoked");
        Ok(now)
    }

    /// Notes that the cluster's agent was heard from, at most once per `contact_write_interval`.
    pub(super) async fn note_contact(&self, cluster: &ClusterId, record: Option<&ClusterRecord>) {
        let now = self.now();
        let interval =
            Duration::from_std(self.settings.contact_write_interval).unwrap_or(Duration::minutes(5));
        let last = record.and_then(|c| c.last_contact);
        if last.is_some_and(|last| now - last < interval) {
            return;
        }
        // Only the time: the agent's facts stay as the store has them (a report may have just changed them).
        let change =
            Change::new(cluster.key(), cluster.subscription_key(), now).with(Write::Contact { at: now });
        if let Err(err) = self.commit(change).await {
            tracing::warn!(%cluster, error = %err, "could not record the agent's contact");
        }
    }

    /// Applies a report to its resource: status, acknowledged secrets, and the operation of the generation.
    #[allow(clippy::too_many_arguments)]
    fn apply_report<
        S: Serialize + DeserializeOwned + Clone,
        T: Serialize + DeserializeOwned + Clone + Default,
    >(
        &self,
        target: &Target,
        partition: &Partition,
        existing: Existing<S, T>,
        generation: u64,
        state: ReportedState,
        message: Option<&str>,
        failure_code: &str,
        set_status: impl FnOnce(&mut super::Document<S, T>),
        may_complete: impl FnOnce(&super::Document<S, T>) -> bool,
    ) -> Result<PendingReport, ArmError> {
        let Existing {
            record,
            mut doc,
            running,
        } = existing;
        let mut change = Change::new(
            target.cluster.key(),
            target.cluster.subscription_key(),
            self.now(),
        );
        let mut completed = false;
        doc.acked_generation = doc.acked_generation.max(generation);
        for (group, meta) in &doc.secrets {
            if meta.generation <= generation
                && partition
                    .secrets
                    .iter()
                    .any(|s| s.kind == target.kind() && s.name == target.name.key() && &s.group == group)
            {
                change.push(Write::DeleteSecret {
                    kind: target.kind(),
                    name: target.name.key().to_owned(),
                    group: group.clone(),
                });
            }
        }
        let op = running.filter(|op| op.generation == generation);
        let failure = |message: Option<&str>| {
            self.operation_failure(
                failure_code,
                message.unwrap_or("The cluster's agent reported a failure without a message."),
            )
        };

        if record.deleting {
            match (state, generation == record.generation) {
                (ReportedState::Removed, true) => {
                    change.push(Write::DeleteResource {
                        kind: target.kind(),
                        name: target.name.key().to_owned(),
                        expect: Expect::Etag(record.etag.clone()),
                    });
                    if let Some(op) = &op {
                        change.push(finish(self.finished(op, ProvisioningState::Succeeded, None), op));
                        completed = true;
                    }
                    tracing::info!(cluster = %target.cluster, name = %target.name, "deleted by its agent");
                    return Ok(PendingReport {
                        change: change.bump(),
                        outcome: ReportOutcome {
                            operation_completed: completed,
                        },
                    });
                }
                (ReportedState::Failed, true) => {
                    let error = failure(message);
                    doc.provisioning_state = ProvisioningState::Failed;
                    doc.error = Some(error.clone());
                    doc.operation = None;
                    if let Some(op) = &op {
                        change.push(finish(
                            self.finished(op, ProvisioningState::Failed, Some(&error)),
                            op,
                        ));
                        completed = true;
                    }
                    // No longer being deleted: the resource stays, Failed, and its objects stay in the cluster.
                    let updated =
                        self.document_record(target, Some(&record), record.generation, false, &doc)?;
                    change.push(Write::PutResource {
                        record: updated,
                        expect: Expect::Etag(record.etag.clone()),
                    });
                    return Ok(PendingReport {
                        change: change.bump(),
                        outcome: ReportOutcome {
                            operation_completed: completed,
                        },
                    });
                }
                (ReportedState::Succeeded, true) => {
                    return Err(ArmError::validation(
                        "provisioningState",
                        "This resource is being deleted: report 'Removed' once its objects are gone from the cluster.",
                    ));
                }
                _ => {}
            }
        } else if state == ReportedState::Removed {
            return Err(ArmError::validation(
                "provisioningState",
                "'Removed' is reported only for resources being deleted.",
            ));
        } else {
            set_status(&mut doc);
            if let Some(op) = &op {
                match state {
                    ReportedState::Succeeded if may_complete(&doc) => {
                        doc.provisioning_state = ProvisioningState::Succeeded;
                        doc.error = None;
                        doc.operation = None;
                        doc.awaiting_extension = false;
                        change.push(finish(self.finished(op, ProvisioningState::Succeeded, None), op));
                        completed = true;
                    }
                    ReportedState::Failed => {
                        let error = failure(message);
                        doc.provisioning_state = ProvisioningState::Failed;
                        doc.error = Some(error.clone());
                        doc.operation = None;
                        doc.awaiting_extension = false;
                        change.push(finish(
                            self.finished(op, ProvisioningState::Failed, Some(&error)),
                            op,
                        ));
                        completed = true;
                    }
                    _ => {}
                }
            }
        }
        let updated =
            self.document_record(target, Some(&record), record.generation, record.deleting, &doc)?;
        change.push(Write::PutResource {
            record: updated,
            expect: Expect::Etag(record.etag.clone()),
        });
        Ok(PendingReport {
            change,
            outcome: ReportOutcome {
                operation_completed: completed,
            },
        })
    }

    /// The `microsoft.flux` installation finished: complete (or fail) the configurations that waited for it.
    fn settle_awaiting_flux(
        &self,
        cluster: &ClusterId,
        partition: &Partition,
        state: ReportedState,
        message: Option<&str>,
        change: &mut Change,
    ) -> Result<(), ArmError> {
        for existing in
            self.readable::<FluxConfigSpec, FluxStatus>(partition, ResourceKind::FluxConfiguration)?
        {
            let Existing {
                record,
                mut doc,
                running,
            } = existing;
            if !doc.awaiting_extension {
                continue;
            }
            let target = Target {
                cluster: cluster.clone(),
                resource_type: ResourceType::FluxConfigurations,
                name: ResourceName::from_stored(record.name.clone()),
            };
            doc.awaiting_extension = false;
            if let Some(op) = running {
                match state {
                    ReportedState::Succeeded => {
                        let acknowledged = doc.acked_generation >= op.generation
                            && doc.status.generation == op.generation
                            && doc.status.result == Some(ReportedState::Succeeded);
                        if acknowledged {
                            doc.provisioning_state = ProvisioningState::Succeeded;
                            doc.operation = None;
                            change.push(finish(
                                self.finished(&op, ProvisioningState::Succeeded, None),
                                &op,
                            ));
                        }
                    }
                    ReportedState::Failed => {
                        let error = self.operation_failure(
                            "FluxExtensionInstallationFailed",
                            &format!(
                                "The microsoft.flux extension this configuration needs could not be installed: {}",
                                message.unwrap_or("no message")
                            ),
                        );
                        doc.provisioning_state = ProvisioningState::Failed;
                        doc.error = Some(error.clone());
                        doc.operation = None;
                        change.push(finish(
                            self.finished(&op, ProvisioningState::Failed, Some(&error)),
                            &op,
                        ));
                    }
                    ReportedState::Removed => {}
                }
            }
            let updated =
                self.document_record(&target, Some(&record), record.generation, record.deleting, &doc)?;
            change.push(Write::PutResource {
                record: updated,
                expect: Expect::Etag(record.etag.clone()),
            });
        }
        Ok(())
    }

    async fn commit_report(
        &self,
        cluster: &ClusterId,
        pending: PendingReport,
    ) -> Result<ReportOutcome, Attempt> {
        let committed = self.commit(pending.change).await?;
        self.hub.publish(&cluster.key(), committed.version);
        self.hub.operations_moved(&cluster.key());
        Ok(pending.outcome)
    }
}

struct PendingReport {
    change: Change,
    outcome: ReportOutcome,
}

fn finish(
    record: clusterconfig_store::OperationRecord,
    running: &clusterconfig_store::OperationRecord,
) -> Write {
    Write::PutOperation {
        record,
        expect: Expect::Etag(running.etag.clone()),
    }
}

fn report_target(cluster: &ClusterId, resource_type: ResourceType, name: &str) -> Result<Target, ArmError> {
    Ok(Target {
        cluster: cluster.clone(),
        resource_type,
        name: resource_type.parse_name(name)?,
    })
}

/// A report names a generation the resource has had, not older than the last one accepted, and an outcome.
fn check_report(
    record: &clusterconfig_store::ResourceRecord,
    generation: u64,
    last_reported: u64,
    state: Option<ReportedState>,
) -> Result<ReportedState, ArmError> {
    let state = state.ok_or_else(|| {
        ArmError::validation(
            "provisioningState",
            "'provisioningState' is required: 'Succeeded', 'Failed' or 'Removed'.",
        )
    })?;
    if generation == 0 || generation > record.generation {
        return Err(ArmError::validation(
            "generation",
            format!(
                "Generation {generation} is not a generation of this resource (the newest is {}).",
                record.generation
            ),
        ));
    }
    if generation < last_reported {
        return Err(ArmError::new(
            409,
            codes::STALE_GENERATION,
            format!(
                "Generation {generation} is older than generation {last_reported}, already reported; the report is ignored."
            ),
        ));
    }
    Ok(state)
}

/// Secret values shorter than this are not searched for in reports.
const MIN_REDACTED_LEN: usize = 4;

fn redact_strings(value: &mut serde_json::Value, secrets: &[String]) {
    match value {
        serde_json::Value::String(text) => {
            for secret in secrets {
                if text.contains(secret.as_str()) {
                    *text = text.replace(secret.as_str(), "<redacted>");
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(v, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| redact_strings(v, secrets)),
        _ => {}
    }
}

/// A token issued before its cluster's agent tokens were revoked is refused (401).
pub(super) fn refuse_revoked(
    record: Option<&ClusterRecord>,
    issued_at: DateTime<Utc>,
) -> Result<(), ArmError> {
    match record.and_then(|r| r.agent_tokens_not_before) {
        Some(not_before) if issued_at < not_before => Err(ArmError::new(
            401,
            codes::AUTHENTICATION_FAILED,
            "The agent token was revoked for this cluster; the cluster needs a token issued after the revocation.",
        )),
        _ => Ok(()),
    }
}
