//! sourceControlConfigurations (Flux v1): retired. PUT is refused; records imported for migration can be read,
//! listed and deleted (see `resources.rs`).

use serde_json::Value;

use clusterconfig_model::arm::{ProvisioningState, SystemData};
use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::{ClusterId, ResourceType};
use clusterconfig_model::scc::{self, SourceControlSpec};
use clusterconfig_store::{Change, Expect, ResourceKind, Write};

use super::documents::{Document, SourceControlDocument};
use super::{App, Target, store_error};

impl App {
    /// Every PUT of a Flux v1 configuration gets the same answer: create a Flux v2 configuration instead.
    pub fn put_source_control(&self, target: &Target) -> ArmError {
        scc::retired_error(&target.cluster.provider_scope(), target.name.as_given())
    }

    /// Imports a Flux v1 configuration (moving a cluster's records to this service). Replaces one of the same name.
    pub async fn import_source_control(
        &self,
        cluster: &ClusterId,
        name: &str,
        properties: &Value,
        system_data: Option<SystemData>,
    ) -> Result<(), ArmError> {
        let (name, spec) = SourceControlSpec::import(name, properties)?;
        let target = Target {
            cluster: cluster.clone(),
            resource_type: ResourceType::SourceControlConfigurations,
            name,
        };
        let now = self.now();
        let doc: SourceControlDocument = Document {
            name: target.name.as_given().to_owned(),
            spec,
            status: (),
            system_data: system_data.unwrap_or(SystemData {
                created_at: Some(now),
                last_modified_at: Some(now),
                ..Default::default()
            }),
            provisioning_state: ProvisioningState::Succeeded,
            error: None,
            operation: None,
            acked_generation: 1,
            secrets: Default::default(),
            awaiting_extension: false,
        };
        let record = self.document_record(&target, None, 1, false, &doc)?;
        let change = Change::new(cluster.key(), cluster.subscription_key(), now).with(Write::PutResource {
            record,
            expect: Expect::Anything,
        });
        self.commit(change).await.map_err(store_error)?;
        debug_assert_eq!(target.kind(), ResourceKind::SourceControlConfiguration);
        Ok(())
    }
}
