//! sourceControlConfigurations: Flux v1 configurations. Flux v1 is retired: none can be created, but those that
//! remain (imported when a cluster moves to this service) can be read, listed and deleted until they are migrated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::arm::SystemData;
use crate::error::{ArmError, codes};
use crate::ids::ResourceName;
use crate::validate;

/// A sourceControlConfiguration resource (all api-versions have the same shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceControlConfiguration {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub system_data: Option<SystemData>,
    pub properties: Option<SourceControlConfigurationProperties>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceControlConfigurationProperties {
    pub repository_url: Option<String>,
    pub operator_namespace: Option<String>,
    pub operator_instance_name: Option<String>,
    pub operator_type: Option<String>,
    pub operator_params: Option<String>,
    pub operator_scope: Option<String>,
    pub ssh_known_hosts_contents: Option<String>,
    pub enable_helm_operator: Option<bool>,
    pub helm_operator_properties: Option<BTreeMap<String, String>>,
    #[schema(read_only)]
    pub repository_public_key: Option<String>,
    #[schema(read_only)]
    pub provisioning_state: Option<String>,
    #[schema(read_only)]
    pub compliance_status: Option<Value>,
}

/// A Flux v1 configuration kept for migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceControlSpec {
    pub properties: SourceControlConfigurationProperties,
}

impl SourceControlSpec {
    /// Reads a record being imported. Protected settings are dropped: nothing in this service delivers them.
    pub fn import(name: &str, properties: &Value) -> Result<(ResourceName, Self), ArmError> {
        let name = ResourceName::source_control_configuration(name)?;
        let mut properties = properties.clone();
        if let Some(map) = properties.as_object_mut() {
            map.remove("configurationProtectedSettings");
        }
        let properties: SourceControlConfigurationProperties =
            validate::deserialize(&properties, "properties")?;
        if properties.repository_url.as_deref().is_none_or(str::is_empty) {
            return Err(ArmError::validation(
                "properties.repositoryUrl",
                "'repositoryUrl' is required.",
            ));
        }
        Ok((name, Self { properties }))
    }
}

/// The answer to any PUT of a sourceControlConfiguration.
pub fn retired_error(cluster_scope: &str, name: &str) -> ArmError {
    ArmError::new(
        400,
        codes::FLUX_V1_RETIRED,
        format!(
            "Flux v1 (sourceControlConfigurations) is retired and new Flux v1 configurations cannot be created. Create a Flux v2 configuration instead: PUT {cluster_scope}/fluxConfigurations/{name} (see https://learn.microsoft.com/azure/azure-arc/kubernetes/conceptual-gitops-flux2)."
        ),
    )
}
