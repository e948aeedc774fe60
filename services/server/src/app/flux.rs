//! fluxConfigurations: PUT and PATCH, with the rules that involve the rest of the cluster:
//! - the first configuration on a cluster without `microsoft.flux` installs it (extension `flux`, newest Stable
//!   version, minor upgrades on), and its operation completes only after the extension is installed;
//! - where Flux v1 configurations remain, `microsoft.flux` cannot be installed;
//! - a namespace-scoped configuration under multi-tenancy needs Kubernetes 1.20.6 or later.

use serde_json::{Value, json};

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::extension::{ExtensionContext, ExtensionSpec};
use clusterconfig_model::flux::{FluxConfigSpec, FluxWrite};
use clusterconfig_model::ids::{ResourceName, ResourceType};
use clusterconfig_model::secrets::SecretGroup;
use clusterconfig_store::{Change, Expect, Partition, ResourceKind, Write};

use super::documents::{ExtensionStatusDoc, FluxStatus};
use super::writes::{Existing, Preconditions, WriteOutcome};
use super::{App, ArmCaller, Attempt, Target, agent_facts, views};

/// Multi-tenancy (the `flux-applier` service account) needs this Kubernetes version for namespace scope.
const MULTI_TENANCY_MIN_KUBERNETES: (u64, u64, u64) = (1, 20, 6);
pub const FLUX_EXTENSION_NAME: &str = "flux";

type FluxExisting = Existing<FluxConfigSpec, FluxStatus>;
pub(super) type ExtensionExisting = Existing<ExtensionSpec, ExtensionStatusDoc>;

impl App {
    pub async fn put_flux(
        &self,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        let properties = &body.get("properties").cloned().unwrap_or_else(|| json!({}));
        self.with_retries("The Flux configuration", || async move {
            // Checked on every attempt: a subscription deleted meanwhile is not written to again.
            self.check_writable(&target.cluster).await?;
            let partition = self.partition(&target.cluster).await?;
            let existing: Option<FluxExisting> =
                self.existing(&partition, ResourceKind::FluxConfiguration, target.name.key())?;
            preconditions.check(existing.as_ref().map(|e| &e.record))?;
            let write =
                FluxConfigSpec::from_put(&target.name, properties, existing.as_ref().map(|e| &e.doc.spec))?;
            self.write_flux(target, &partition, existing, write, caller).await
        })
        .await
    }

    pub async fn patch_flux(
        &self,
        target: &Target,
        patch: &Value,
        caller: &ArmCaller,
        preconditions: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        let properties = &patch.get("properties").cloned().unwrap_or_else(|| json!({}));
        self.with_retries("The Flux configuration", || async move {
            // Checked on every attempt: a subscription deleted meanwhile is not written to again.
            self.check_writable(&target.cluster).await?;
            let partition = self.partition(&target.cluster).await?;
            let existing: FluxExisting = self
                .existing(&partition, ResourceKind::FluxConfiguration, target.name.key())?
                .ok_or_else(|| target.not_found())?;
            preconditions.check(Some(&existing.record))?;
            let write = existing.doc.spec.apply_patch(&target.name, properties)?;
            self.write_flux(target, &partition, Some(existing), write, caller)
                .await
        })
        .await
    }

    async fn write_flux(
        &self,
        target: &Target,
        partition: &Partition,
        existing: Option<FluxExisting>,
        write: FluxWrite,
        caller: &ArmCaller,
    ) -> Result<WriteOutcome, Attempt> {
        let flux_extension = self.flux_extension(partition)?;
        if let Some(extension) = flux_extension.as_ref().filter(|e| e.record.deleting) {
            return Err(ArmError::conflict(format!(
                "microsoft.flux (extension '{}') is being deleted from this cluster; wait for the deletion to finish, then create the configuration (microsoft.flux is installed again).",
                extension.doc.name
            ))
            .into());
        }
        if flux_extension.is_none() {
            self.refuse_flux_install_over_flux_v1(partition)?;
        }
        self.check_multi_tenancy(partition, &write.spec, flux_extension.as_ref())?;

        let mut changes = self.secret_changes(target, partition, existing.as_ref(), &write.secrets);
        if let Some(change) = changes
            .iter_mut()
            .find(|c| c.group == SecretGroup::SourceCredentials)
        {
            change.keep = write
                .spec
                .source_secrets
                .iter()
                .map(|s| s.key())
                .filter(|k| !change.values.contains_key(k))
                .collect();
        }
        let installed = flux_extension.map(|e| e.doc.provisioning_state == ProvisioningState::Succeeded);
        self.apply_write(
            target,
            partition,
            existing,
            write.spec,
            changes,
            caller,
            views::flux,
            |doc, change| {
                doc.awaiting_extension = installed != Some(true);
                if installed.is_none() {
                    self.install_flux_extension(target, partition, caller, change)?;
                }
                Ok(())
            },
        )
        .await
    }

    /// The cluster's `microsoft.flux` extension, whatever its name.
    pub(super) fn flux_extension(
        &self,
        partition: &Partition,
    ) -> Result<Option<ExtensionExisting>, ArmError> {
        Ok(self
            .readable::<ExtensionSpec, ExtensionStatusDoc>(partition, ResourceKind::Extension)?
            .into_iter()
            .find(|existing| existing.doc.spec.is_flux()))
    }

    /// Installing `microsoft.flux` is refused while Flux v1 configurations remain on the cluster.
    pub(super) fn refuse_flux_install_over_flux_v1(&self, partition: &Partition) -> Result<(), ArmError> {
        let v1: Vec<&str> = partition
            .resources
            .iter()
            .filter(|r| r.kind == ResourceKind::SourceControlConfiguration)
            .map(|r| r.name.as_str())
            .collect();
        if v1.is_empty() {
            return Ok(());
        }
        Err(ArmError::new(
            409,
            codes::FLUX_V1_CONFIGURATIONS_PRESENT,
            format!(
                "The microsoft.flux extension cannot be installed while Flux v1 configurations remain on this cluster: {}. Delete them (sourceControlConfigurations) first, then create Flux v2 configurations.",
                v1.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    fn check_multi_tenancy(
        &self,
        partition: &Partition,
        spec: &FluxConfigSpec,
        flux_extension: Option<&ExtensionExisting>,
    ) -> Result<(), ArmError> {
        let enforced = flux_extension.is_none_or(|e| e.doc.spec.flux_multi_tenancy());
        if !spec.is_namespace_scoped() || !enforced {
            return Ok(());
        }
        let facts = agent_facts(partition);
        let Some(version) = facts.as_ref().and_then(|f| f.kubernetes_version()) else {
            return Ok(());
        };
        if version < MULTI_TENANCY_MIN_KUBERNETES {
            let (a, b, c) = MULTI_TENANCY_MIN_KUBERNETES;
            return Err(ArmError::new(
                400,
                codes::CLUSTER_NOT_SUPPORTED,
                format!(
                    "Namespace-scoped Flux configurations under multi-tenancy need Kubernetes {a}.{b}.{c} or later; this cluster reports {}. Upgrade the cluster, or set the microsoft.flux setting 'multiTenancy.enforce' to 'false'.",
                    facts.and_then(|f| f.kubernetes_version).unwrap_or_default()
                ),
            )
            .with_target("properties.scope"));
        }
        Ok(())
    }

    /// Adds the `flux` extension (microsoft.flux, newest Stable version) to `change`.
    fn install_flux_extension(
        &self,
        target: &Target,
        partition: &Partition,
        caller: &ArmCaller,
        change: &mut Change,
    ) -> Result<(), ArmError> {
        let facts = agent_facts(partition);
        let write = ExtensionSpec::flux_default(ExtensionContext {
            catalog: &self.catalog.current(),
            cluster: facts.as_ref(),
        })?;
        let extension = Target {
            cluster: target.cluster.clone(),
            resource_type: ResourceType::Extensions,
            name: ResourceName::extension(FLUX_EXTENSION_NAME).expect("valid name"),
        };
        if partition
            .resource(ResourceKind::Extension, FLUX_EXTENSION_NAME)
            .is_some()
        {
            return Err(ArmError::conflict(
                "microsoft.flux must be installed for Flux configurations, but another extension is named 'flux'. Install microsoft.flux under another name first.",
            ));
        }
        let (doc, _operation) = self.new_generation::<ExtensionSpec, ExtensionStatusDoc>(
            &extension,
            None,
            write.spec,
            &[],
            None,
            caller,
            partition,
            change,
        )?;
        let record = self.document_record(&extension, None, 1, false, &doc)?;
        change.push(Write::PutResource {
            record,
            expect: Expect::Absent,
        });
        tracing::info!(cluster = %target.cluster, "installing microsoft.flux for the cluster's first Flux configuration");
        Ok(())
    }
}
