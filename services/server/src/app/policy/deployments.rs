//! A definition's deployment, rendered for one cluster and applied through the same application path an ARM PUT
//! takes (validation for the template's api-version, idempotent re-PUTs, operations, the auto-install of
//! microsoft.flux, the 48-hour rules), as the assignment's managed identity. Key Vault references are resolved
//! here and reach the resource only as its protected settings: values never enter an error, a log line or a
//! state record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::arm::CreatedByType;
use clusterconfig_model::error::{ArmError, ErrorDetail};
use clusterconfig_model::ids::{ClusterId, PROVIDER_NAMESPACE, ResourceType};
use clusterconfig_model::versioning::{Body, check_request};
use clusterconfig_policy::{DeploymentContext, PlannedResource};
use clusterconfig_store::ResourceKind;

use super::super::writes::{Preconditions, WriteOutcome};
use super::super::{App, ArmCaller, Target};
use super::assignments::ActiveAssignment;
use super::codes;

/// The state of one deployment to one cluster, kept in the cluster's policy state for the assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Running,
    Succeeded,
    Failed,
}

/// One deployment of an assignment to a cluster (what `listDeployments` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}`, as Azure names
    /// policy deployments.
    pub deployment_id: String,
    pub status: DeploymentStatus,
    /// The remediation that made it (lowercase id), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// The resources it wrote: (kind, lowercase name).
    #[serde(default)]
    pub resources: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    pub created_on: DateTime<Utc>,
    pub last_updated_on: DateTime<Utc>,
}

impl DeploymentRecord {
    fn failed(id: String, remediation: Option<String>, error: &ArmError, now: DateTime<Utc>) -> Self {
        Self {
            deployment_id: id,
            status: DeploymentStatus::Failed,
            remediation,
            resources: Vec::new(),
            error: Some(error.to_detail()),
            created_on: now,
            last_updated_on: now,
        }
    }

    /// The status its resources' provisioning states say (`views`: the cluster's resources as ARM shows them).
    pub fn settle(&mut self, views: &[(ResourceKind, Value)], now: DateTime<Utc>) {
        if self.status != DeploymentStatus::Running {
            return;
        }
        let mut all_succeeded = true;
        for (kind, name) in &self.resources {
            let state = views
                .iter()
                .find(|(k, v)| {
                    k.as_str() == kind && v["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .and_then(|(_, v)| v["properties"]["provisioningState"].as_str().map(str::to_owned));
            match state.as_deref() {
                Some("Succeeded") => {}
                Some("Failed") | Some("Canceled") => {
                    self.status = DeploymentStatus::Failed;
                    self.error = Some(
                        ArmError::new(
                            400,
                            codes::DEPLOYMENT_FAILED,
                            format!("The deployed {kind} '{name}' failed on the cluster."),
                        )
                        .to_detail(),
                    );
                    self.last_updated_on = now;
                    return;
                }
                // Deleted before it was seen applied: the deployment is over (else a Running deployment
                // would hold off continuous remediation of the very drift that deleted it, for good).
                None => {
                    self.status = DeploymentStatus::Failed;
                    self.error = Some(
                        ArmError::new(
                            400,
                            codes::DEPLOYMENT_FAILED,
                            format!("The deployed {kind} '{name}' was deleted before the cluster was seen applying it."),
                        )
                        .to_detail(),
                    );
                    self.last_updated_on = now;
                    return;
                }
                // Still being applied.
                _ => all_succeeded = false,
            }
        }
        if all_succeeded {
            self.status = DeploymentStatus::Succeeded;
            self.last_updated_on = now;
        }
    }
}

impl App {
    /// Deploys what the assignment's definition deploys to one cluster (`resource`: the cluster as policy sees
    /// it). Never fails: what goes wrong is the deployment's error, listed with the remediation.
    pub(crate) async fn deploy(
        &self,
        assignment: &ActiveAssignment,
        cluster: &ClusterId,
        resource: &Value,
        remediation: Option<String>,
    ) -> DeploymentRecord {
        let now = self.now();
        let deployment_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Resources/deployments/PolicyDeployment_{}",
            cluster.subscription(),
            cluster.resource_group(),
            uuid::Uuid::new_v4().simple()
        );
        match self.apply_deployment(assignment, cluster, resource).await {
            Ok((resources, done)) => DeploymentRecord {
                deployment_id,
                status: if done {
                    DeploymentStatus::Succeeded
                } else {
                    DeploymentStatus::Running
                },
                remediation,
                resources,
                error: None,
                created_on: now,
                last_updated_on: now,
            },
            Err(err) => {
                tracing::warn!(assignment = %assignment.key, %cluster, code = %err.code, "policy deployment failed");
                DeploymentRecord::failed(deployment_id, remediation, &err, now)
            }
        }
    }

    /// Renders and applies the deployment; returns the resources written and whether all are done already
    /// (unchanged and Succeeded).
    async fn apply_deployment(
        &self,
        assignment: &ActiveAssignment,
        cluster: &ClusterId,
        resource: &Value,
    ) -> Result<(Vec<(String, String)>, bool), ArmError> {
        let failed = |message: String| ArmError::new(400, codes::DEPLOYMENT_FAILED, message);
        let details = assignment
            .definition
            .details()
            .ok_or_else(|| failed("The policy definition has no deployment.".into()))?;
        let deployment = details
            .deployment
            .as_ref()
            .ok_or_else(|| failed("The policy definition has no deployment.".into()))?;
        let context = DeploymentContext {
            subscription_id: cluster.subscription().to_owned(),
            resource_group: cluster.resource_group().to_owned(),
            location: resource["location"].as_str().map(str::to_owned),
        };
        let prepared = deployment
            .plan(&assignment.parameters, resource, &context)
            .map_err(|e| failed(format!("The deployment could not be prepared: {e}")))?;
        let mut resolved = HashMap::new();
        for reference in prepared.key_vault_references() {
            let value = self
                .policy
                .secrets
                .secret(
                    &reference.vault_id,
                    &reference.secret_name,
                    reference.secret_version.as_deref(),
                )
                .await
                .map_err(|e| {
                    ArmError::new(
                        400,
                        codes::KEY_VAULT_REFERENCE_FAILED,
                        format!("A Key Vault reference of the deployment could not be resolved: {e}."),
                    )
                })?;
            resolved.insert(
                reference.clone(),
                clusterconfig_policy::SecretValue::new(value.expose()),
            );
        }
        let planned = prepared
            .render(&resolved)
            .map_err(|e| failed(format!("The deployment template could not be evaluated: {e}")))?;
        let caller = ArmCaller {
            subject: assignment.principal_id.clone(),
            subject_type: CreatedByType::ManagedIdentity,
            system_data: None,
        };
        let mut written = Vec::new();
        let mut done = true;
        for planned in planned {
            let (target, version) = self.deployment_target(cluster, &planned)?;
            check_request(target.resource_type, version, Body::Put, &planned.body)?;
            let outcome = match target.resource_type {
                ResourceType::FluxConfigurations => {
                    self.put_flux(&target, &planned.body, &caller, &Preconditions::default())
                        .await?
                }
                ResourceType::Extensions => {
                    self.put_extension(&target, &planned.body, &caller, &Preconditions::default())
                        .await?
                }
                // Flux v1 is retired: the same answer an ARM PUT gets, nothing written.
                ResourceType::SourceControlConfigurations => return Err(self.put_source_control(&target)),
            };
            let settled = match &outcome {
                WriteOutcome::Unchanged { resource } => {
                    resource.body["properties"]["provisioningState"] == "Succeeded"
                }
                _ => false,
            };
            done &= settled;
            written.push((target.kind().as_str().to_owned(), target.name.key().to_owned()));
        }
        Ok((written, done))
    }

    /// Where a planned resource goes: it must be of this provider and under the cluster being remediated.
    fn deployment_target(
        &self,
        cluster: &ClusterId,
        planned: &PlannedResource,
    ) -> Result<(Target, clusterconfig_model::api_version::ApiVersion), ArmError> {
        let outside = || {
            ArmError::new(
                400,
                codes::DEPLOYMENT_FAILED,
                format!(
                    "The deployment writes '{}', which is not a {PROVIDER_NAMESPACE} resource of the cluster it remediates.",
                    clusterconfig_model::ids::printable(&planned.id)
                ),
            )
        };
        let prefix = format!("{}/", cluster.provider_scope()).to_ascii_lowercase();
        let id = planned.id.to_ascii_lowercase();
        let rest = id.strip_prefix(&prefix).ok_or_else(outside)?;
        let segment = rest.split('/').next().unwrap_or_default();
        let resource_type = ResourceType::ALL
            .iter()
            .copied()
            .find(|t| t.segment().eq_ignore_ascii_case(segment))
            .ok_or_else(outside)?;
        let name = resource_type.parse_name(&planned.name)?;
        if resource_type == ResourceType::SourceControlConfigurations {
            // Flux v1 is retired whatever api-version the deployment names (the built-ins name 2021-03-01, which
            // no longer exists): the retirement error, as an ARM PUT gets it, and nothing written.
            let target = Target {
                cluster: cluster.clone(),
                resource_type,
                name,
            };
            return Err(self.put_source_control(&target));
        }
        let version = ApiSurface::Resource(resource_type).parse(Some(&planned.api_version))?;
        Ok((
            Target {
                cluster: cluster.clone(),
                resource_type,
                name,
            },
            version,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> DeploymentRecord {
        let now = Utc::now();
        DeploymentRecord {
            deployment_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d"
                .into(),
            status: DeploymentStatus::Running,
            remediation: None,
            resources: vec![("flux".into(), "public-git".into())],
            error: None,
            created_on: now,
            last_updated_on: now,
        }
    }

    fn view(state: &str) -> Vec<(ResourceKind, Value)> {
        vec![(
            ResourceKind::FluxConfiguration,
            serde_json::json!({"name": "Public-Git", "properties": {"provisioningState": state}}),
        )]
    }

    #[test]
    fn a_deployment_settles_by_its_resources_states() {
        let now = Utc::now();
        let mut applying = running();
        applying.settle(&view("Creating"), now);
        assert_eq!(applying.status, DeploymentStatus::Running);
        applying.settle(&view("Succeeded"), now);
        assert_eq!(applying.status, DeploymentStatus::Succeeded);
        let mut failing = running();
        failing.settle(&view("Failed"), now);
        assert_eq!(failing.status, DeploymentStatus::Failed);
    }

    #[test]
    fn a_resource_deleted_before_it_was_seen_applied_ends_the_deployment() {
        // A Running deployment holds off continuous remediation: one whose resource is gone must end, or the
        // drift that deleted it would never be remediated.
        let mut deleted = running();
        deleted.settle(&[], Utc::now());
        assert_eq!(deleted.status, DeploymentStatus::Failed);
        assert!(deleted.error.unwrap().message.contains("deleted"));
    }
}
