//! extensions: PUT and PATCH. One `microsoft.flux` per cluster, and not where Flux v1 configurations remain.

use serde_json::{Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_model::extension::{ExtensionContext, ExtensionSpec, ExtensionWrite};
use clusterconfig_store::{Partition, ResourceKind};

use super::documents::ExtensionStatusDoc;
use super::flux::ExtensionExisting;
use super::writes::{Preconditions, WriteOutcome};
use super::{App, ArmCaller, Attempt, Target, agent_facts, views};

impl App {
    pub async fn put_extension(
        &self,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        self.with_retries("The extension", || async move {
            // Checked on every attempt: a subscription deleted meanwhile is not written to again.
            self.check_writable(&target.cluster).await?;
            let partition = self.partition(&target.cluster).await?;
            let existing: Option<ExtensionExisting> =
                self.existing(&partition, ResourceKind::Extension, target.name.key())?;
            preconditions.check(existing.as_ref().map(|e| &e.record))?;
            let facts = agent_facts(&partition);
            let context = ExtensionContext {
                catalog: &self.catalog.current(),
                cluster: facts.as_ref(),
            };
            let write = ExtensionSpec::from_put(
                &target.name,
                body,
                existing.as_ref().map(|e| &e.doc.spec),
                context,
            )?;
            self.write_extension(target, &partition, existing, write, caller)
                .await
        })
        .await
    }

    pub async fn patch_extension(
        &self,
        target: &Target,
        patch: &Value,
        caller: &ArmCaller,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        let properties = &patch.get("properties").cloned().unwrap_or_else(|| json!({}));
        self.with_retries("The extension", || async move {
            // Checked on every attempt: a subscription deleted meanwhile is not written to again.
            self.check_writable(&target.cluster).await?;
            let partition = self.partition(&target.cluster).await?;
            let existing: ExtensionExisting = self
                .existing(&partition, ResourceKind::Extension, target.name.key())?
                .ok_or_else(|| target.not_found())?;
            preconditions.check(Some(&existing.record))?;
            let facts = agent_facts(&partition);
            let context = ExtensionContext {
                catalog: &self.catalog.current(),
                cluster: facts.as_ref(),
            };
            let write = existing.doc.spec.apply_patch(&target.name, properties, context)?;
            self.write_extension(target, &partition, Some(existing), write, caller)
                .await
        })
        .await
    }

    async fn write_extension(
        &self,
        target: &Target,
        partition: &Partition,
        existing: Option<ExtensionExisting>,
        write: ExtensionWrite,
        caller: &ArmCaller,
    ) -> Result<WriteOutcome, Attempt> {
        if existing.is_none() {
            let catalog = self.catalog.current();
            let single = catalog
                .extension_type(&write.spec.extension_type)
                .is_ok_and(|t| !t.allow_multiple_instances);
            if single
                && let Some(other) = self
                    .readable::<ExtensionSpec, ExtensionStatusDoc>(partition, ResourceKind::Extension)?
                    .into_iter()
                    .find(|e| e.doc.spec.extension_type == write.spec.extension_type)
            {
                return Err(ArmError::conflict(format!(
                    "{} is already installed on this cluster as extension '{}'; the type allows one instance per cluster.",
                    write.spec.extension_type, other.doc.name
                ))
                .into());
            }
            if write.spec.is_flux() {
                self.refuse_flux_install_over_flux_v1(partition)?;
            }
        }
        let changes = self.secret_changes(target, partition, existing.as_ref(), &write.secrets);
        let catalog = self.catalog.current();
        self.apply_write(
            target,
            partition,
            existing,
            write.spec,
            changes,
            caller,
            |cluster, record, doc| views::extension(cluster, record, doc, &catalog),
            |_, _| Ok(()),
        )
        .await
    }
}
