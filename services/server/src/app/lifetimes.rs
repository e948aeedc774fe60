//! The 48-hour promises: secret values are deleted when their lifetime ends (and reads never serve them after),
//! and a change no agent acknowledges within the pending timeout fails, taking its secrets with it.

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::error::ArmError;
use clusterconfig_store::{Change, Expect, OperationRecord, Write};
use serde_json::Value;

use super::writes::Existing;
use super::{App, Attempt, Target, store_error, type_of};

/// How many records one run of a sweep handles.
const SWEEP_BATCH: usize = 500;
/// Finished operations are removed in larger runs: each is one small delete, with no decision to make.
const OPERATION_SWEEP_BATCH: usize = 10_000;

impl App {
    /// Deletes expired secret groups; returns how many.
    pub async fn expire_secrets(&self) -> Result<usize, ArmError> {
        let now = self.now();
        let mut deleted = 0;
        for key in self
            .store
            .expired_secrets(now, SWEEP_BATCH)
            .await
            .map_err(store_error)?
        {
            if self
                .store
                .delete_expired_secret(&key, now)
                .await
                .map_err(store_error)?
            {
                deleted += 1;
                tracing::info!(cluster = %key.cluster, kind = key.kind.as_str(), name = %key.name, group = %key.group,
                    "secret values expired and deleted");
            }
        }
        if deleted > 0 {
            self.compaction_due
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(deleted)
    }

    /// Destroys the keys of secret periods that ended (after `expire_secrets` deleted what they sealed): from
    /// then on no copy of those values a store keeps opens. Returns how many.
    pub async fn destroy_ended_secret_keys(&self) -> Result<usize, ArmError> {
        let destroyed = self.codec.destroy_ended_secret_keys().await?;
        if destroyed > 0 {
            self.compaction_due
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(destroyed)
    }

    /// Removes finished operation records whose retention ended; returns how many.
    pub async fn remove_expired_operations(&self) -> Result<u64, ArmError> {
        self.store
            .delete_expired_operations(self.now(), OPERATION_SWEEP_BATCH)
            .await
            .map_err(store_error)
    }

    /// Fails the operations whose deadline passed; returns how many.
    pub async fn time_out_pending(&self) -> Result<usize, ArmError> {
        let due = self
            .store
            .operations_past_deadline(self.now(), SWEEP_BATCH)
            .await
            .map_err(store_error)?;
        let mut failed = 0;
        for operation in due {
            if self.time_out(&operation).await? {
                failed += 1;
            }
        }
        Ok(failed)
    }

    async fn time_out(&self, operation: &OperationRecord) -> Result<bool, ArmError> {
        let cluster = clusterconfig_model::ids::ClusterId::parse(&operation.cluster)
            .map_err(|_| super::documents::unreadable())?;
        let target = Target {
            cluster,
            resource_type: type_of(operation.kind),
            name: clusterconfig_model::ids::ResourceName::from_stored(operation.name.clone()),
        };
        let target = &target;
        let message = format!(
            "The cluster's agent did not acknowledge this change within {} (the cluster did not connect in time). Re-apply the configuration, including its protected settings, to try again.",
            humantime::format_duration(self.settings.pending_timeout)
        );
        let error = self.operation_failure("PendingChangeTimedOut", &message);
        let error = &error;
        self.with_retries("The resource", || async move {
            let partition = self.partition(&target.cluster).await?;
            let Some(running) = partition.operations.iter().find(|op| op.id == operation.id) else {
                return Ok(false);
            };
            let mut change = Change::new(
                target.cluster.key(),
                target.cluster.subscription_key(),
                self.now(),
            );
            change.push(Write::PutOperation {
                record: self.finished(running, ProvisioningState::Failed, Some(error)),
                expect: Expect::Etag(running.etag.clone()),
            });
            if let Some(Existing { record, mut doc, .. }) =
                self.existing::<Value, Value>(&partition, operation.kind, &operation.name)?
                && doc.operation == Some(operation.id)
            {
                doc.provisioning_state = ProvisioningState::Failed;
                doc.error = Some(error.clone());
                doc.operation = None;
                doc.awaiting_extension = false;
                for group in doc.secrets.keys() {
                    change.push(Write::DeleteSecret {
                        kind: operation.kind,
                        name: operation.name.clone(),
                        group: group.clone(),
                    });
                }
                // A deletion that timed out leaves the resource in place, Failed; DELETE again or forceDelete.
                let updated = self.document_record(target, Some(&record), record.generation, false, &doc)?;
                change.push(Write::PutResource {
                    record: updated,
                    expect: Expect::Etag(record.etag.clone()),
                });
                change = change.bump();
            }
            let committed = self.commit(change).await?;
            self.hub.publish(&target.cluster.key(), committed.version);
            self.hub.operations_moved(&target.cluster.key());
            tracing::warn!(cluster = %target.cluster, kind = operation.kind.as_str(), name = %operation.name,
                operation = %operation.id, "pending change timed out");
            Ok::<bool, Attempt>(true)
        })
        .await
    }
}
