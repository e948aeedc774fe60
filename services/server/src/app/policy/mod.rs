//! Azure Policy at scale: definitions, assignments, compliance and remediation, as the service runs them itself
//! for operators without Azure Policy (and as tests and benchmarks drive them).
//!
//! The language (rules, template expressions, deployments) is the pure `clusterconfig-policy` crate; this module
//! feeds it and acts on its answers:
//! - `definitions`, `assignments`: `Microsoft.Authorization` objects, checked at write time (parameters bound
//!   against the definition, a clear 400 otherwise); assignments are held in memory (`ActiveAssignments`);
//! - `inventory`: which clusters exist (agent contact, any resource, or an import from Resource Graph) and
//!   forgetting one (everything of it purged);
//! - `evaluation`: one cluster against the assignments that cover it, on an event (`EvaluationQueue`): its state
//!   is written only when it changed, and a DeployIfNotExists that finds nothing deploys where it should;
//! - `deployments`: a definition's deployment rendered for one cluster and applied through the same
//!   application path an ARM PUT takes;
//! - `remediations`, `states`: `Microsoft.PolicyInsights` objects and views.

mod assignments;
mod definitions;
mod deployments;
mod evaluation;
mod inventory;
mod queue;
mod remediations;
mod states;

use std::sync::Arc;

use serde_json::Value;

use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::{SubscriptionId, check_arm_name};

pub use assignments::{ActiveAssignment, ActiveAssignments, CONTINUOUS_REMEDIATION_KEY};
pub use clusterconfig_crypto::vault_secrets::{DeploymentSecrets, SecretValue};
pub use evaluation::{EvaluationOutcome, PolicySettings};
pub use inventory::ImportOutcome;
pub use queue::{EvaluationQueue, Trigger};
pub use remediations::RemediationRunOutcome;
pub use states::{StatesQuery, SummaryScope};

/// What the application holds for policy: the assignments in force, the clusters waiting to be evaluated,
/// where Key Vault references are resolved, and the knobs.
pub struct PolicyRuntime {
    pub assignments: ActiveAssignments,
    pub queue: Arc<EvaluationQueue>,
    pub secrets: Arc<dyn DeploymentSecrets>,
    pub settings: PolicySettings,
    /// Wakes the remediation task when a task is created or cancelled.
    pub remediation_created: Arc<tokio::sync::Notify>,
    /// Names this instance in the leases of the remediation tasks it runs.
    pub instance: String,
}

impl Default for PolicyRuntime {
    fn default() -> Self {
        Self {
            assignments: ActiveAssignments::default(),
            queue: Arc::default(),
            secrets: Arc::new(clusterconfig_crypto::vault_secrets::NoSecrets),
            settings: PolicySettings::default(),
            remediation_created: Arc::default(),
            instance: uuid::Uuid::new_v4().to_string(),
        }
    }
}

impl PolicyRuntime {
    /// Queues a cluster for evaluation, if any assignment is in force (otherwise there is nothing to do, and the
    /// write paths stay as they were).
    pub fn cluster_changed(&self, cluster_key: &str, trigger: Trigger) {
        if !self.assignments.is_empty() {
            self.queue.push(cluster_key, trigger);
        }
    }
}

pub const AUTHORIZATION_NAMESPACE: &str = "Microsoft.Authorization";
pub const INSIGHTS_NAMESPACE: &str = "Microsoft.PolicyInsights";
pub const DEFINITION_TYPE: &str = "Microsoft.Authorization/policyDefinitions";
pub const ASSIGNMENT_TYPE: &str = "Microsoft.Authorization/policyAssignments";
pub const REMEDIATION_TYPE: &str = "Microsoft.PolicyInsights/remediations";

/// Codes of the errors of this surface (Azure Policy's own where it has one).
pub mod codes {
    pub const POLICY_DEFINITION_NOT_FOUND: &str = "PolicyDefinitionNotFound";
    pub const POLICY_ASSIGNMENT_NOT_FOUND: &str = "PolicyAssignmentNotFound";
    pub const REMEDIATION_NOT_FOUND: &str = "RemediationNotFound";
    pub const POLICY_DEFINITION_IN_USE: &str = "PolicyDefinitionInUse";
    pub const INVALID_POLICY_DEFINITION: &str = "InvalidPolicyDefinition";
    pub const INVALID_POLICY_ASSIGNMENT: &str = "InvalidPolicyAssignment";
    pub const INVALID_REMEDIATION: &str = "InvalidRemediation";
    pub const REMEDIATION_NOT_CANCELABLE: &str = "RemediationNotCancelable";
    pub const INVALID_FILTER: &str = "InvalidFilter";
    pub const DEPLOYMENT_FAILED: &str = "DeploymentFailed";
    pub const KEY_VAULT_REFERENCE_FAILED: &str = "KeyVaultParameterReferenceSecretRetrieveFailed";
}

/// Where a policy object is made: a subscription, or a resource group of one. Keeps the caller's casing for
/// display; `key()` is the lowercase form the store compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyScope {
    subscription: SubscriptionId,
    resource_group: Option<String>,
}

impl PolicyScope {
    pub fn subscription(subscription: &str) -> Result<Self, ArmError> {
        Ok(Self {
            subscription: SubscriptionId::parse(subscription)?,
            resource_group: None,
        })
    }

    pub fn resource_group(subscription: &str, resource_group: &str) -> Result<Self, ArmError> {
        clusterconfig_model::ids::check_resource_group(resource_group)?;
        Ok(Self {
            subscription: SubscriptionId::parse(subscription)?,
            resource_group: Some(resource_group.to_owned()),
        })
    }

    /// Parses a scope id (`/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}`), case-insensitively.
    pub fn parse(id: &str) -> Option<Self> {
        let segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
        match segments.as_slice() {
            ["", subs, s] if subs.eq_ignore_ascii_case("subscriptions") => Self::subscription(s).ok(),
            ["", subs, s, rgs, rg]
                if subs.eq_ignore_ascii_case("subscriptions")
                    && rgs.eq_ignore_ascii_case("resourceGroups") =>
            {
                Self::resource_group(s, rg).ok()
            }
            _ => None,
        }
    }

    pub fn subscription_id(&self) -> &str {
        self.subscription.as_str()
    }

    pub fn resource_group_name(&self) -> Option<&str> {
        self.resource_group.as_deref()
    }

    /// The scope's id as given: `/subscriptions/{s}[/resourceGroups/{rg}]`.
    pub fn id(&self) -> String {
        match &self.resource_group {
            None => format!("/subscriptions/{}", self.subscription.as_str()),
            Some(rg) => format!(
                "/subscriptions/{}/resourceGroups/{rg}",
                self.subscription.as_str()
            ),
        }
    }

    pub fn key(&self) -> String {
        self.id().to_ascii_lowercase()
    }

    /// Whether a lowercase resource id lies in this scope.
    pub fn covers(&self, resource_key: &str) -> bool {
        within(resource_key, &self.key())
    }
}

/// Whether the lowercase id `resource` is `scope` or lies under it.
pub fn within(resource: &str, scope: &str) -> bool {
    resource == scope
        || (resource.len() > scope.len()
            && resource.starts_with(scope)
            && resource.as_bytes()[scope.len()] == b'/')
}

/// The id of a policy object: `{scope}/providers/{type}/{name}`.
pub fn object_id(scope: &PolicyScope, arm_type: &str, name: &str) -> String {
    let (namespace, segment) = arm_type.split_once('/').expect("types are namespace/type");
    format!("{}/providers/{namespace}/{segment}/{name}", scope.id())
}

/// The last segment of an id: the object's name.
pub fn name_of(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Names of policy objects: what ARM allows in a name, at most 128 characters (assignments: 64 at
/// subscription scope in Azure; the service takes up to 128 for all).
pub fn check_object_name(name: &str, what: &str) -> Result<(), ArmError> {
    if name.is_empty() || name.len() > 128 {
        return Err(ArmError::invalid_name(
            what,
            format!("The {what} name must be 1 to 128 characters long."),
        ));
    }
    check_arm_name(name, what)
}

/// `properties` of a request body, as an object (an absent one is empty).
pub fn properties_of(body: &Value) -> Result<serde_json::Map<String, Value>, ArmError> {
    match body.get("properties") {
        None | Some(Value::Null) => Ok(serde_json::Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => {
            Err(ArmError::invalid_content("'properties' must be an object.").with_target("properties"))
        }
    }
}
