//! Automatic extension upgrades: an extension with `autoUpgradeMinorVersion: true` (and no pinned version)
//! moves to the newest version of its release train that its `autoUpgradeMode` allows, once the catalog
//! offers one. The upgrade is an ordinary write made by the service (an empty PATCH, whose version rules
//! pick the new target): a new generation and operation the cluster's agent completes, then `currentVersion`
//! shows what it installed.

use serde_json::json;

use clusterconfig_model::arm::CreatedByType;
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::extension::ExtensionContext;
use clusterconfig_model::ids::{ClusterId, ResourceName, ResourceType};
use clusterconfig_store::ResourceKind;

use super::documents::ExtensionDocument;
use super::writes::{Preconditions, WriteOutcome};
use super::{App, ArmCaller, Target, agent_facts};

/// Who the upgrade writes say made them (`systemData.lastModifiedBy`).
pub const AUTO_UPGRADE_SUBJECT: &str = "Microsoft.KubernetesConfiguration/extensionAutoUpgrade";

/// What one cluster's upgrade check did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeOutcome {
    /// Extensions given a new version.
    pub upgraded: usize,
    /// Extensions due an upgrade that could not take it now (another write of theirs is running): the
    /// task comes back to their cluster.
    pub deferred: usize,
    /// Extensions due an upgrade in a subscription that takes no writes (disabled, or not registered).
    pub skipped: usize,
}

impl App {
    /// Moves the cluster's auto-upgrading extensions to the versions the catalog in force allows.
    pub async fn upgrade_cluster_extensions(&self, cluster_key: &str) -> Result<UpgradeOutcome, ArmError> {
        let Ok(cluster) = ClusterId::parse(cluster_key) else {
            return Ok(UpgradeOutcome::default());
        };
        let partition = self.partition(&cluster).await?;
        let facts = agent_facts(&partition);
        let catalog = self.catalog.current();
        let context = ExtensionContext {
            catalog: &catalog,
            cluster: facts.as_ref(),
        };
        let mut outcome = UpgradeOutcome::default();
        for record in partition
            .resources
            .iter()
            .filter(|r| r.kind == ResourceKind::Extension)
        {
            let doc = self.codec.decode::<ExtensionDocument>(record)?;
            if !doc.spec.auto_upgrade_minor_version || doc.spec.version.is_some() {
                continue;
            }
            let name = ResourceName::from_stored(doc.name.clone());
            let due = match doc.spec.apply_patch(&name, &json!({}), context) {
                Ok(write) => write.spec.target_version != doc.spec.target_version,
                // The spec no longer fits the catalog (its type or train left it): nothing to move it to.
                Err(_) => false,
            };
            if !due {
                continue;
            }
            let target = Target {
                cluster: cluster.clone(),
                resource_type: ResourceType::Extensions,
                name,
            };
            match self
                .patch_extension(
                    &target,
                    &json!({"properties": {}}),
                    &upgrader(),
                    &Preconditions::default(),
                )
                .await
            {
                Ok(WriteOutcome::Started { .. }) => {
                    tracing::info!(%cluster, extension = %doc.name, from = %doc.spec.target_version, "extension upgrade started");
                    outcome.upgraded += 1;
                }
                Ok(_) => {}
                Err(err)
                    if err.code == codes::READ_ONLY_DISABLED_SUBSCRIPTION
                        || err.code == codes::SUBSCRIPTION_NOT_REGISTERED =>
                {
                    outcome.skipped += 1
                }
                // Another write of the extension is running, or it was deleted meanwhile.
                Err(err) if err.status == 409 => outcome.deferred += 1,
                Err(err) if err.status == 404 => {}
                Err(err) => return Err(err),
            }
        }
        Ok(outcome)
    }
}

fn upgrader() -> ArmCaller {
    ArmCaller {
        subject: AUTO_UPGRADE_SUBJECT.to_owned(),
        subject_type: CreatedByType::Application,
        system_data: None,
    }
}
