//! extensions: cluster extensions such as `microsoft.flux`, as ARM's JSON has them (api-version 2025-03-01, the
//! newest) and as a valid spec.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::arm::{ProvisioningState, SystemData};
use crate::catalog::{Catalog, ExtensionType, ExtensionVersion, FLUX_EXTENSION_TYPE};
use crate::dataplane::AgentFacts;
use crate::error::{ArmError, ErrorDetail, codes};
use crate::flux::spec::strip_nulls;
use crate::ids::{ResourceName, check_dns_name, printable};
use crate::merge_patch::{self, Mention};
use crate::secrets::SecretGroups;
use crate::validate::{self, Field};

mod upgrades;

pub use upgrades::VERSION_OUT_OF_SUPPORT;
use upgrades::resolve_target;

pub const DEFAULT_RELEASE_TRAIN: &str = "Stable";
pub const DEFAULT_RELEASE_NAMESPACE: &str = "default";
/// `microsoft.flux` below this version has no arm64 images.
pub const FLUX_MIN_ARM64_VERSION: &str = "1.7.0";
/// `configurationSettings` of `microsoft.flux` that take "true" or "false".
pub const FLUX_BOOLEAN_SETTINGS: &[&str] = &[
    "multiTenancy.enforce",
    "source-controller.enabled",
    "kustomize-controller.enabled",
    "helm-controller.enabled",
    "notification-controller.enabled",
    "image-automation-controller.enabled",
    "image-reflector-controller.enabled",
    "workloadIdentity.enable",
    "helm-controller.detectDrift",
];

crate::arm_enum! {
    pub enum AutoUpgradeMode { None = "none", Patch = "patch", Compatible = "compatible" }
}

crate::arm_enum! {
    /// The extension's own identity: ARM allows a system-assigned one.
    pub enum ResourceIdentityType { SystemAssigned = "SystemAssigned" }
}

crate::arm_enum! {
    pub enum AksIdentityType { SystemAssigned = "SystemAssigned", UserAssigned = "UserAssigned", Workload = "Workload" }
}

crate::arm_enum! {
    pub enum LevelType { Error = "Error", Warning = "Warning", Information = "Information" }
}

/// An extension resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub system_data: Option<SystemData>,
    pub identity: Option<Identity>,
    pub plan: Option<Plan>,
    /// Fixed at creation.
    pub managed_by: Option<String>,
    pub properties: Option<ExtensionProperties>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    #[schema(read_only)]
    pub principal_id: Option<String>,
    #[schema(read_only)]
    pub tenant_id: Option<String>,
    #[serde(rename = "type")]
    pub identity_type: Option<ResourceIdentityType>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub name: Option<String>,
    pub publisher: Option<String>,
    pub product: Option<String>,
    pub promotion_code: Option<String>,
    pub version: Option<String>,
}

/// Setting values as Helm takes them: strings. ARM's own clients send strings, but template deployments (Azure
/// Policy's built-in `microsoft.flux` definition) send booleans and numbers, which Azure accepts and keeps as
/// their text (`true`, `30`); objects and arrays are refused.
fn settings_as_strings<'de, D>(deserializer: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Flag(bool),
        Number(serde_json::Number),
    }
    let given: Option<BTreeMap<String, Scalar>> = Option::deserialize(deserializer)?;
    Ok(given.map(|settings| {
        settings
            .into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Scalar::Text(text) => text,
                    Scalar::Flag(flag) => flag.to_string(),
                    Scalar::Number(number) => number.to_string(),
                };
                (key, text)
            })
            .collect()
    }))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProperties {
    pub extension_type: Option<String>,
    pub auto_upgrade_mode: Option<AutoUpgradeMode>,
    pub auto_upgrade_minor_version: Option<bool>,
    pub release_train: Option<String>,
    /// A pinned version; needs `autoUpgradeMinorVersion: false`.
    pub version: Option<String>,
    pub scope: Option<ScopeDefinition>,
    #[serde(default, deserialize_with = "settings_as_strings")]
    pub configuration_settings: Option<BTreeMap<String, String>>,
    /// Write-only: never returned.
    #[serde(default, deserialize_with = "settings_as_strings")]
    pub configuration_protected_settings: Option<BTreeMap<String, String>>,
    /// Read-only; api-versions up to 2022-07-01 name `currentVersion` so.
    #[schema(read_only)]
    pub installed_version: Option<String>,
    #[schema(read_only)]
    pub current_version: Option<String>,
    #[schema(read_only)]
    pub provisioning_state: Option<ProvisioningState>,
    #[schema(read_only)]
    pub statuses: Option<Vec<ExtensionStatus>>,
    #[schema(read_only)]
    pub error_info: Option<ErrorDetail>,
    #[schema(read_only)]
    pub custom_location_settings: Option<BTreeMap<String, String>>,
    #[schema(read_only)]
    pub package_uri: Option<String>,
    #[schema(read_only)]
    pub is_system_extension: Option<bool>,
    pub aks_assigned_identity: Option<AksAssignedIdentity>,
    #[schema(read_only)]
    pub management_details: Option<Value>,
    #[schema(read_only)]
    pub additional_details: Option<Value>,
    #[schema(read_only)]
    pub extension_state: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeDefinition {
    pub cluster: Option<ScopeClusterDefinition>,
    pub namespace: Option<ScopeNamespaceDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeClusterDefinition {
    pub release_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeNamespaceDefinition {
    pub target_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AksAssignedIdentity {
    #[schema(read_only)]
    pub principal_id: Option<String>,
    #[schema(read_only)]
    pub tenant_id: Option<String>,
    #[serde(rename = "type")]
    pub identity_type: Option<AksIdentityType>,
    pub object_id: Option<String>,
    pub client_id: Option<String>,
    pub resource_id: Option<String>,
}

/// A status line of an extension, as the agent reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionStatus {
    pub code: Option<String>,
    pub display_status: Option<String>,
    pub level: Option<LevelType>,
    pub message: Option<String>,
    pub time: Option<String>,
}

/// A valid extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionSpec {
    pub extension_type: String,
    pub auto_upgrade_mode: AutoUpgradeMode,
    pub auto_upgrade_minor_version: bool,
    pub release_train: String,
    /// The version the user pinned, if any.
    pub version: Option<String>,
    /// The version the cluster is to run.
    pub target_version: String,
    pub scope: ExtensionScope,
    pub configuration_settings: BTreeMap<String, String>,
    /// Names, never values, of the `configurationProtectedSettings` last written.
    pub protected_setting_keys: BTreeSet<String>,
    pub identity: Option<ResourceIdentityType>,
    pub plan: Option<PlanSpec>,
    pub managed_by: Option<String>,
    pub aks_assigned_identity: Option<AksIdentitySpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtensionScope {
    Cluster { release_namespace: String },
    Namespace { target_namespace: String },
}

impl ExtensionScope {
    /// The namespace the extension is installed into.
    pub fn namespace(&self) -> &str {
        match self {
            ExtensionScope::Cluster { release_namespace } => release_namespace,
            ExtensionScope::Namespace { target_namespace } => target_namespace,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSpec {
    pub name: String,
    pub publisher: String,
    pub product: String,
    pub promotion_code: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AksIdentitySpec {
    pub identity_type: Option<AksIdentityType>,
    pub object_id: Option<String>,
    pub client_id: Option<String>,
    pub resource_id: Option<String>,
}

/// What the service knows when it checks an extension: the catalog and the cluster's reported facts.
#[derive(Clone, Copy)]
pub struct ExtensionContext<'a> {
    pub catalog: &'a Catalog,
    pub cluster: Option<&'a AgentFacts>,
}

/// What a write made of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionWrite {
    pub spec: ExtensionSpec,
    pub secrets: SecretGroups,
}

impl ExtensionSpec {
    pub fn is_flux(&self) -> bool {
        self.extension_type == FLUX_EXTENSION_TYPE
    }

    /// `multiTenancy.enforce` of `microsoft.flux` (on unless set to "false").
    pub fn flux_multi_tenancy(&self) -> bool {
        self.configuration_settings
            .get("multiTenancy.enforce")
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
    }

    /// The `microsoft.flux` extension a first fluxConfiguration installs: named `flux`, newest Stable version,
    /// minor versions upgraded automatically.
    pub fn flux_default(ctx: ExtensionContext<'_>) -> Result<ExtensionWrite, ArmError> {
        let body = serde_json::json!({"properties": {
            "extensionType": FLUX_EXTENSION_TYPE,
            "autoUpgradeMinorVersion": true,
            "releaseTrain": DEFAULT_RELEASE_TRAIN,
        }});
        Self::from_put(&ResourceName::from_stored("flux".into()), &body, None, ctx)
    }

    /// Parses a PUT body (the whole envelope: `identity`, `plan` and `managedBy` sit beside `properties`).
    pub fn from_put(
        name: &ResourceName,
        body: &Value,
        previous: Option<&ExtensionSpec>,
        ctx: ExtensionContext<'_>,
    ) -> Result<ExtensionWrite, ArmError> {
        let wire: Extension = validate::deserialize(body, "body").map_err(|e| retarget(e, "body.", ""))?;
        let mentions = body.get("properties").cloned().unwrap_or(Value::Null);
        build(name, &wire, previous, &mentions, ctx)
    }

    /// Applies the `properties` of a PATCH (JSON merge patch).
    pub fn apply_patch(
        &self,
        name: &ResourceName,
        patch: &Value,
        ctx: ExtensionContext<'_>,
    ) -> Result<ExtensionWrite, ArmError> {
        if !patch.is_object() {
            return Err(
                ArmError::invalid_content("'properties' must be a JSON object.").with_target("properties")
            );
        }
        let mut merged = serde_json::to_value(self.render_envelope(true)).expect("wire types serialize");
        strip_nulls(&mut merged);
        merge_patch::apply(merged.get_mut("properties").expect("rendered"), patch);
        let wire: Extension = validate::deserialize(&merged, "body").map_err(|e| retarget(e, "body.", ""))?;
        build(name, &wire, Some(self), patch, ctx)
    }

    /// The spec as the newest api-version shows it, without read-only fields (the caller adds them).
    pub fn render_envelope(&self, for_merge: bool) -> Extension {
        let _ = for_merge;
        Extension {
            identity: self.identity.map(|t| Identity {
                identity_type: Some(t),
                ..Default::default()
            }),
            plan: self.plan.as_ref().map(|p| Plan {
                name: Some(p.name.clone()),
                publisher: Some(p.publisher.clone()),
                product: Some(p.product.clone()),
                promotion_code: p.promotion_code.clone(),
                version: p.version.clone(),
            }),
            managed_by: self.managed_by.clone(),
            properties: Some(ExtensionProperties {
                extension_type: Some(self.extension_type.clone()),
                auto_upgrade_mode: Some(self.auto_upgrade_mode),
                auto_upgrade_minor_version: Some(self.auto_upgrade_minor_version),
                release_train: Some(self.release_train.clone()),
                version: self.version.clone(),
                scope: Some(match &self.scope {
                    ExtensionScope::Cluster { release_namespace } => ScopeDefinition {
                        cluster: Some(ScopeClusterDefinition {
                            release_namespace: Some(release_namespace.clone()),
                        }),
                        namespace: None,
                    },
                    ExtensionScope::Namespace { target_namespace } => ScopeDefinition {
                        cluster: None,
                        namespace: Some(ScopeNamespaceDefinition {
                            target_namespace: Some(target_namespace.clone()),
                        }),
                    },
                }),
                configuration_settings: Some(self.configuration_settings.clone()),
                aks_assigned_identity: self.aks_assigned_identity.as_ref().map(|a| AksAssignedIdentity {
                    identity_type: a.identity_type,
                    object_id: a.object_id.clone(),
                    client_id: a.client_id.clone(),
                    resource_id: a.resource_id.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `validate::deserialize` names paths from the envelope; ARM targets start at the member itself.
fn retarget(mut err: ArmError, from: &str, to: &str) -> ArmError {
    if let Some(target) = &err.target {
        let fixed = target
            .strip_prefix(from)
            .map(|rest| format!("{to}{rest}"))
            .unwrap_or_else(|| target.clone());
        err.message = err.message.replace(target.as_str(), &fixed);
        err.target = Some(fixed);
    }
    err
}

fn build(
    name: &ResourceName,
    wire: &Extension,
    previous: Option<&ExtensionSpec>,
    properties_mentions: &Value,
    ctx: ExtensionContext<'_>,
) -> Result<ExtensionWrite, ArmError> {
    let props = wire.properties.clone().unwrap_or_default();
    let given_type = match (&props.extension_type, previous) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => p.extension_type.clone(),
        (None, None) => {
            return Err(ArmError::validation(
                "properties.extensionType",
                "'properties.extensionType' is required.",
            ));
        }
    };
    let extension_type = ctx.catalog.extension_type(&given_type)?;
    if let Some(previous) = previous
        && !previous.extension_type.eq_ignore_ascii_case(&extension_type.name)
    {
        return Err(ArmError::validation(
            "properties.extensionType",
            format!(
                "The extension type cannot be changed after creation (it is '{}').",
                previous.extension_type
            ),
        ));
    }
    let is_flux = extension_type.name == FLUX_EXTENSION_TYPE;

    let train = extension_type.train(props.release_train.as_deref().unwrap_or(DEFAULT_RELEASE_TRAIN))?;
    let auto_upgrade_minor_version = props.auto_upgrade_minor_version.unwrap_or(true);
    let auto_upgrade_mode = props.auto_upgrade_mode.unwrap_or(AutoUpgradeMode::Compatible);
    let version = props.version.clone().filter(|v| !v.is_empty());
    if version.is_some() && auto_upgrade_minor_version {
        return Err(ArmError::validation(
            "properties.version",
            "A version can be pinned only when 'autoUpgradeMinorVersion' is false.",
        ));
    }
    let previous_target = previous
        .filter(|p| p.release_train == train.name)
        .and_then(|p| ExtensionVersion::parse(&p.target_version));
    // A pin the instance already has stays valid after its version falls out of support: rewriting other
    // members does not break it (it carries a warning status instead, `support_warning`).
    let kept_pin = previous_target
        .clone()
        .filter(|_| version.is_some() && previous.is_some_and(|p| p.version == version));
    let target = match (&version, kept_pin) {
        (Some(_), Some(kept)) => kept,
        (Some(pinned), None) => extension_type.installable(train, pinned)?.clone(),
        (None, _) => resolve_target(
            train,
            auto_upgrade_minor_version,
            auto_upgrade_mode,
            previous_target.as_ref(),
        ),
    };

    let scope = build_scope(name, extension_type, props.scope.as_ref())?;
    if let Some(previous) = previous
        && previous.scope != scope
    {
        return Err(ArmError::validation(
            "properties.scope",
            "The scope of an extension cannot be changed after creation.",
        ));
    }

    let configuration_settings = props.configuration_settings.clone().unwrap_or_default();
    if is_flux {
        for (key, value) in &configuration_settings {
            if FLUX_BOOLEAN_SETTINGS.contains(&key.as_str())
                && !value.eq_ignore_ascii_case("true")
                && !value.eq_ignore_ascii_case("false")
            {
                return Err(ArmError::validation(
                    format!("properties.configurationSettings.{key}"),
                    format!("'{key}' must be 'true' or 'false'."),
                ));
            }
        }
    }

    let (protected_values, protected_setting_keys) =
        match merge_patch::mention(properties_mentions, &["configurationProtectedSettings"]) {
            Mention::Value(_) => {
                let values = props.configuration_protected_settings.clone().unwrap_or_default();
                let keys = values.keys().cloned().collect();
                (Some(values), keys)
            }
            Mention::Null => (Some(BTreeMap::new()), BTreeSet::new()),
            Mention::Absent => (
                None,
                previous
                    .map(|p| p.protected_setting_keys.clone())
                    .unwrap_or_default(),
            ),
        };

    let plan = match &wire.plan {
        None => None,
        Some(p) => Some(PlanSpec {
            name: Field::new("plan.name").required(p.name.as_deref())?.to_owned(),
            publisher: Field::new("plan.publisher")
                .required(p.publisher.as_deref())?
                .to_owned(),
            product: Field::new("plan.product")
                .required(p.product.as_deref())?
                .to_owned(),
            promotion_code: p.promotion_code.clone(),
            version: p.version.clone(),
        }),
    };
    let managed_by = wire.managed_by.clone();
    if let Some(previous) = previous
        && previous.managed_by.is_some()
        && previous.managed_by != managed_by
        && managed_by.is_some()
    {
        return Err(ArmError::validation(
            "managedBy",
            "'managedBy' is set at creation and cannot be changed.",
        ));
    }

    if is_flux
        && let Some(facts) = ctx.cluster
        && facts.is_arm64()
        && target < ExtensionVersion::parse(FLUX_MIN_ARM64_VERSION).expect("constant parses")
    {
        return Err(ArmError::new(
            400,
            codes::CLUSTER_NOT_SUPPORTED,
            format!(
                "microsoft.flux {target} has no arm64 images and this cluster reports CPU architecture '{}'; use version {FLUX_MIN_ARM64_VERSION} or later.",
                facts.cpu_architecture.as_deref().unwrap_or_default()
            ),
        )
        .with_target("properties.version"));
    }

    Ok(ExtensionWrite {
        spec: ExtensionSpec {
            extension_type: extension_type.name.clone(),
            auto_upgrade_mode,
            auto_upgrade_minor_version,
            release_train: train.name.clone(),
            version,
            target_version: target.to_string(),
            scope,
            configuration_settings,
            protected_setting_keys,
            identity: wire.identity.as_ref().and_then(|i| i.identity_type),
            plan,
            managed_by: previous.and_then(|p| p.managed_by.clone()).or(managed_by),
            aks_assigned_identity: props.aks_assigned_identity.as_ref().map(|a| AksIdentitySpec {
                identity_type: a.identity_type,
                object_id: a.object_id.clone(),
                client_id: a.client_id.clone(),
                resource_id: a.resource_id.clone(),
            }),
        },
        secrets: SecretGroups {
            protected_settings: protected_values,
            source_credentials: None,
        },
    })
}

fn build_scope(
    name: &ResourceName,
    extension_type: &ExtensionType,
    scope: Option<&ScopeDefinition>,
) -> Result<ExtensionScope, ArmError> {
    let namespace_name = |text: &str, target: &str| -> Result<String, ArmError> {
        check_dns_name(text, 63, false).map_err(|why| {
            ArmError::validation(target, format!("Invalid namespace '{}': {why}", printable(text)))
        })?;
        Ok(text.to_owned())
    };
    let (cluster, namespace) = match scope {
        Some(s) => (s.cluster.as_ref(), s.namespace.as_ref()),
        None => (None, None),
    };
    match (cluster, namespace) {
        (Some(_), Some(_)) => Err(ArmError::validation(
            "properties.scope",
            "The scope is either 'cluster' or 'namespace', not both.",
        )),
        (None, Some(ns)) => {
            if !extension_type.namespace_scope {
                return Err(ArmError::validation(
                    "properties.scope.namespace",
                    format!(
                        "Extension type '{}' can only be installed with cluster scope.",
                        extension_type.name
                    ),
                ));
            }
            let target = Field::new("properties.scope.namespace.targetNamespace")
                .required(ns.target_namespace.as_deref())?;
            Ok(ExtensionScope::Namespace {
                target_namespace: namespace_name(target, "properties.scope.namespace.targetNamespace")?,
            })
        }
        (cluster, None) => {
            if !extension_type.cluster_scope {
                return Err(ArmError::validation(
                    "properties.scope",
                    format!(
                        "Extension type '{}' can only be installed with namespace scope.",
                        extension_type.name
                    ),
                ));
            }
            let default = extension_type
                .default_release_namespace
                .as_deref()
                .unwrap_or(DEFAULT_RELEASE_NAMESPACE);
            let given = cluster
                .and_then(|c| c.release_namespace.as_deref())
                .filter(|n| !n.is_empty());
            let release_namespace = given.unwrap_or(default);
            if extension_type.fixed_release_namespace && release_namespace != default {
                return Err(ArmError::validation(
                    "properties.scope.cluster.releaseNamespace",
                    format!(
                        "Extension type '{}' is installed in namespace '{default}' only.",
                        extension_type.name
                    ),
                ));
            }
            let _ = name;
            Ok(ExtensionScope::Cluster {
                release_namespace: namespace_name(
                    release_namespace,
                    "properties.scope.cluster.releaseNamespace",
                )?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog::from_toml(
            r#"
            [[extension_type]]
            name = "microsoft.flux"
            scopes = ["cluster"]
            default_release_namespace = "flux-system"
            fixed_release_namespace = true
            [[extension_type.release_train]]
            name = "Stable"
            versions = ["1.6.0", "1.6.1", "1.7.0", "1.8.0"]

            [[extension_type]]
            name = "example.app"
            scopes = ["cluster", "namespace"]
            [[extension_type.release_train]]
            name = "Stable"
            versions = ["2.0.0", "2.1.0", "2.1.3", "2.2.0", "2.3.0"]
            [[extension_type.release_train]]
            name = "Preview"
            versions = ["2.4.0-beta"]
            "#,
        )
        .unwrap()
    }

    fn put(body: Value, facts: Option<&AgentFacts>) -> Result<ExtensionWrite, ArmError> {
        let catalog = catalog();
        ExtensionSpec::from_put(
            &ResourceName::extension("ext").unwrap(),
            &body,
            None,
            ExtensionContext {
                catalog: &catalog,
                cluster: facts,
            },
        )
    }

    #[test]
    fn defaults_and_newest_version() {
        let spec = put(json!({"properties": {"extensionType": "Example.App"}}), None)
            .unwrap()
            .spec;
        assert_eq!(spec.extension_type, "example.app");
        assert_eq!(spec.release_train, "Stable");
        assert_eq!(spec.target_version, "2.3.0");
        assert!(spec.auto_upgrade_minor_version);
        assert_eq!(
            spec.scope,
            ExtensionScope::Cluster {
                release_namespace: "default".into()
            }
        );
    }

    #[test]
    fn pinning_needs_auto_upgrade_off_and_a_supported_version() {
        let pinned = json!({"properties": {"extensionType": "example.app", "version": "2.1.3"}});
        assert!(
            put(pinned, None)
                .unwrap_err()
                .message
                .contains("autoUpgradeMinorVersion")
        );
        let ok = json!({"properties": {"extensionType": "example.app", "version": "2.1.3", "autoUpgradeMinorVersion": false}});
        assert_eq!(put(ok, None).unwrap().spec.target_version, "2.1.3");
        let old = json!({"properties": {"extensionType": "example.app", "version": "2.0.0", "autoUpgradeMinorVersion": false}});
        let err = put(old, None).unwrap_err();
        assert_eq!(err.code, codes::EXTENSION_VERSION_NOT_SUPPORTED);
        assert!(
            err.message.contains("2.3.0, 2.2.0, 2.1.3, 2.1.0"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_types_and_trains_are_refused() {
        assert_eq!(
            put(json!({"properties": {"extensionType": "nope"}}), None)
                .unwrap_err()
                .code,
            codes::EXTENSION_TYPE_NOT_FOUND
        );
        let err = put(
            json!({"properties": {"extensionType": "example.app", "releaseTrain": "nightly"}}),
            None,
        )
        .unwrap_err();
        assert!(err.message.contains("'Stable', 'Preview'"));
    }

    #[test]
    fn flux_is_cluster_scoped_in_flux_system() {
        let ns = json!({"properties": {"extensionType": "microsoft.flux", "scope": {"namespace": {"targetNamespace": "x"}}}});
        assert!(put(ns, None).is_err());
        let other = json!({"properties": {"extensionType": "microsoft.flux", "scope": {"cluster": {"releaseNamespace": "kube-system"}}}});
        assert!(put(other, None).is_err());
        let spec = put(json!({"properties": {"extensionType": "microsoft.flux"}}), None)
            .unwrap()
            .spec;
        assert_eq!(spec.scope.namespace(), "flux-system");
        assert!(spec.flux_multi_tenancy());
        let bad = json!({"properties": {"extensionType": "microsoft.flux", "configurationSettings": {"multiTenancy.enforce": "yes"}}});
        assert!(put(bad, None).is_err());
    }

    #[test]
    fn old_flux_is_refused_on_arm64() {
        let arm = AgentFacts {
            cpu_architecture: Some("arm64".into()),
            ..Default::default()
        };
        let old = json!({"properties": {"extensionType": "microsoft.flux", "version": "1.6.1", "autoUpgradeMinorVersion": false}});
        assert_eq!(
            put(old.clone(), Some(&arm)).unwrap_err().code,
            codes::CLUSTER_NOT_SUPPORTED
        );
        assert!(put(old, None).is_ok());
    }

    #[test]
    fn patch_and_immutable_members() {
        let catalog = catalog();
        let ctx = ExtensionContext {
            catalog: &catalog,
            cluster: None,
        };
        let name = ResourceName::extension("ext").unwrap();
        let spec = put(json!({"properties": {"extensionType": "example.app", "configurationSettings": {"a": "1", "b": "2"}}}), None).unwrap().spec;
        let patched = spec
            .apply_patch(
                &name,
                &json!({"configurationSettings": {"a": null, "c": "3"}}),
                ctx,
            )
            .unwrap()
            .spec;
        assert_eq!(
            patched.configuration_settings,
            BTreeMap::from([("b".into(), "2".into()), ("c".into(), "3".into())])
        );
        let round_trip = serde_json::to_value(spec.render_envelope(false)).unwrap();
        assert_eq!(
            ExtensionSpec::from_put(&name, &round_trip, Some(&spec), ctx)
                .unwrap()
                .spec,
            spec
        );
        let retyped = ExtensionSpec::from_put(
            &name,
            &json!({"properties": {"extensionType": "microsoft.flux"}}),
            Some(&spec),
            ctx,
        );
        assert_eq!(
            retyped.unwrap_err().target.as_deref(),
            Some("properties.extensionType")
        );
    }
}
