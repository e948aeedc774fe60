//! Reading and deleting resources of any type.
//!
//! DELETE (ARM contract and this provider's): nothing there gives 204; `forceDelete=true` removes the resource at
//! once without its agent (200); otherwise a new generation marks it Deleting, its agent removes its objects and
//! reports them gone, which completes the operation (202). `microsoft.flux` cannot be deleted while
//! fluxConfigurations exist on the cluster.

use serde_json::Value;

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::error::{ArmError, ErrorDetail, codes};
use clusterconfig_model::extension::ExtensionSpec;
use clusterconfig_model::ids::{ClusterId, ResourceType};
use clusterconfig_store::{Expect, ResourceKind, ResourceRecord, Write};
use serde::Deserialize as _;

use super::documents::{Document, ExtensionDocument, FluxDocument, SourceControlDocument, is_unreadable};
use super::writes::{Existing, Preconditions, WriteOutcome};
use super::{App, Page, ResourceView, Target, kind_of, store_error, views};

/// Documents read without knowing their type: enough to change provisioning fields and write them back intact.
type AnyDocument = Document<Value, Value>;

impl App {
    pub async fn get(&self, target: &Target) -> Result<ResourceView, ArmError> {
        let record = self
            .store
            .resource(&target.cluster.key(), target.kind(), target.name.key())
            .await
            .map_err(store_error)?
            .ok_or_else(|| target.not_found())?;
        self.codec.prepare([record.body.as_slice()]).await?;
        self.render(&target.cluster, &record)
    }

    pub(super) fn render(
        &self,
        cluster: &ClusterId,
        record: &ResourceRecord,
    ) -> Result<ResourceView, ArmError> {
        Ok(match record.kind {
            ResourceKind::FluxConfiguration => {
                views::flux(cluster, record, &self.codec.decode::<FluxDocument>(record)?)
            }
            ResourceKind::Extension => {
                let doc = self.codec.decode::<ExtensionDocument>(record)?;
                views::extension(cluster, record, &doc, &self.catalog.current())
            }
            ResourceKind::SourceControlConfiguration => views::source_control(
                cluster,
                record,
                &self.codec.decode::<SourceControlDocument>(record)?,
            ),
        })
    }

    /// One page of a cluster's resources of a type, in name order. `after` is where the previous page ended.
    pub async fn list(
        &self,
        cluster: &ClusterId,
        resource_type: ResourceType,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        let mut records = self
            .store
            .list_resources(&cluster.key(), kind_of(resource_type), after, limit + 1)
            .await
            .map_err(store_error)?;
        let next = (records.len() > limit).then(|| records[limit - 1].name.clone());
        records.truncate(limit);
        self.codec
            .prepare(records.iter().map(|r| r.body.as_slice()))
            .await?;
        let mut items = Vec::with_capacity(records.len());
        for record in &records {
            // A damaged record is left out of lists (and logged); reading it names the problem.
            match self.render(cluster, record) {
                Ok(view) => items.push(view.body),
                Err(err) if is_unreadable(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(Page { items, next })
    }

    pub async fn delete(
        &self,
        target: &Target,
        force: bool,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        self.with_retries("The resource", || async move {
            // Checked on every attempt: a subscription deleted meanwhile is not written to again.
            self.check_deletable(&target.cluster).await?;
            let partition = self.partition(&target.cluster).await?;
            let Some(existing) = self.existing::<Value, Value>(&partition, target.kind(), target.name.key())? else {
                return Ok(WriteOutcome::Absent);
            };
            preconditions.check(Some(&existing.record))?;
            if target.kind() == ResourceKind::Extension && is_flux_extension(&existing.doc) {
                let configurations: Vec<&str> = partition
                    .resources
                    .iter()
                    .filter(|r| r.kind == ResourceKind::FluxConfiguration)
                    .map(|r| r.name.as_str())
                    .collect();
                if !configurations.is_empty() {
                    return Err(ArmError::new(
                        409,
                        codes::FLUX_CONFIGURATIONS_PRESENT,
                        format!(
                            "The microsoft.flux extension cannot be deleted while Flux configurations exist on the cluster: {}. Delete them first.",
                            configurations.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .into());
                }
            }
            let mut change = self.desired_state_change(target, &partition);
            for group in existing.doc.secrets.keys() {
                change.push(Write::DeleteSecret { kind: target.kind(), name: target.name.key().to_owned(), group: group.clone() });
            }
            if force || target.kind() == ResourceKind::SourceControlConfiguration {
                // At once, without the cluster: a running operation ends as Canceled.
                if let Some(running) = &existing.running {
                    let error = ErrorDetail {
                        code: "ResourceDeleted".into(),
                        message: "The resource was deleted with forceDelete before this operation completed.".into(),
                        target: None,
                        details: vec![],
                    };
                    change.push(Write::PutOperation {
                        record: self.finished(running, ProvisioningState::Canceled, Some(&error)),
                        expect: Expect::Etag(running.etag.clone()),
                    });
                }
                change.push(Write::DeleteResource {
                    kind: target.kind(),
                    name: target.name.key().to_owned(),
                    expect: Expect::Etag(existing.record.etag.clone()),
                });
                let committed = self.commit(change).await?;
                self.hub.publish(&target.cluster.key(), committed.version);
                tracing::info!(cluster = %target.cluster, name = %target.name, "resource removed at once");
                return Ok(WriteOutcome::Removed);
            }
            match &existing.running {
                Some(op) if op.action == "delete" => {
                    let resource = self.render(&target.cluster, &existing.record)?;
                    return Ok(WriteOutcome::InFlight { resource, operation: op.clone(), created: false });
                }
                Some(op) => {
                    return Err(ArmError::conflict(format!(
                        "Operation '{}' is still in progress on {} '{}'; wait until it finishes, or delete with forceDelete=true.",
                        op.id,
                        target.resource_type.as_str(),
                        target.name.as_given()
                    ))
                    .into());
                }
                None => {}
            }
            let Existing { record, mut doc, .. } = existing;
            let generation = record.generation + 1;
            let operation = self.new_operation(target, "delete", generation);
            doc.provisioning_state = ProvisioningState::Deleting;
            doc.operation = Some(operation.id);
            doc.error = None;
            doc.secrets.clear();
            let mut updated = self.document_record(target, Some(&record), generation, true, &doc)?;
            let index = change.writes.len();
            change.push(Write::PutResource { record: updated.clone(), expect: Expect::Etag(record.etag.clone()) });
            change.push(Write::PutOperation { record: operation.clone(), expect: Expect::Absent });
            let committed = self.commit(change).await?;
            self.hub.publish(&target.cluster.key(), committed.version);
            updated.etag = committed.etags[index].clone().expect("a put returns its etag");
            tracing::info!(cluster = %target.cluster, name = %target.name, operation = %operation.id, "deletion started");
            let resource = self.render(&target.cluster, &updated)?;
            Ok(WriteOutcome::Started { resource, operation, created: false })
        })
        .await
    }
}

/// Whether a stored extension is microsoft.flux, by the extension spec's own rule.
fn is_flux_extension(doc: &AnyDocument) -> bool {
    ExtensionSpec::deserialize(&doc.spec).is_ok_and(|spec| spec.is_flux())
}
