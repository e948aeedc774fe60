//! What each api-version has: one row per property path, with the first (and, if removed, last) version that has
//! it. Requests are checked against the requested version (a property it lacks is refused) and responses are
//! cut down to it. Facts from the Azure REST API specs of Microsoft.KubernetesConfiguration
//! (see ../shared/reference/arm-api.md).
//!
//! Path syntax: `.` between members, `*` for any key of a map, `[]` for the items of an array. A path with no
//! rows below it accepts any content (maps of strings, free-form objects).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde_json::Value;

use crate::api_version::ApiVersion::{self, *};
use crate::error::{ArmError, codes};
use crate::ids::{ResourceType, printable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Written by PUT and PATCH.
    ReadWrite,
    /// Written by PUT only (`x-ms-mutability: create, read`): fixed at creation, absent from the PATCH body.
    CreateOnly,
    /// Written by PUT; the PATCH body does not have it.
    PutOnly,
    /// Set by the service; ignored when a client sends it back.
    ReadOnly,
}
use Access::*;

impl Access {
    fn rank(self) -> u8 {
        match self {
            ReadOnly => 0,
            CreateOnly => 1,
            PutOnly => 2,
            ReadWrite => 3,
        }
    }
}

struct Row {
    path: &'static str,
    access: Access,
    since: ApiVersion,
    until: Option<ApiVersion>,
}

const fn row(path: &'static str, access: Access, since: ApiVersion) -> Row {
    Row {
        path,
        access,
        since,
        until: None,
    }
}

const fn until(path: &'static str, access: Access, since: ApiVersion, last: ApiVersion) -> Row {
    Row {
        path,
        access,
        since,
        until: Some(last),
    }
}

const ENVELOPE: &[Row] = &[
    row("id", ReadOnly, V2022_03_01),
    row("name", ReadOnly, V2022_03_01),
    row("type", ReadOnly, V2022_03_01),
    row("systemData", ReadOnly, V2022_03_01),
];

const FLUX: &[Row] = &[
    row("properties.scope", CreateOnly, V2022_03_01),
    row("properties.namespace", CreateOnly, V2022_03_01),
    row("properties.sourceKind", ReadWrite, V2022_03_01),
    row("properties.suspend", ReadWrite, V2022_03_01),
    row("properties.gitRepository.url", ReadWrite, V2022_03_01),
    row(
        "properties.gitRepository.timeoutInSeconds",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.gitRepository.syncIntervalInSeconds",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.gitRepository.repositoryRef.branch",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.gitRepository.repositoryRef.tag",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.gitRepository.repositoryRef.semver",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.gitRepository.repositoryRef.commit",
        ReadWrite,
        V2022_03_01,
    ),
    row("properties.gitRepository.sshKnownHosts", ReadWrite, V2022_03_01),
    row("properties.gitRepository.httpsUser", ReadWrite, V2022_03_01),
    row("properties.gitRepository.httpsCACert", ReadWrite, V2022_03_01),
    row("properties.gitRepository.localAuthRef", ReadWrite, V2022_03_01),
    row("properties.gitRepository.provider", ReadWrite, V2024_11_01),
    row("properties.bucket.url", ReadWrite, V2022_03_01),
    row("properties.bucket.bucketName", ReadWrite, V2022_03_01),
    row("properties.bucket.insecure", ReadWrite, V2022_03_01),
    row("properties.bucket.timeoutInSeconds", ReadWrite, V2022_03_01),
    row("properties.bucket.syncIntervalInSeconds", ReadWrite, V2022_03_01),
    row("properties.bucket.accessKey", ReadWrite, V2022_03_01),
    row("properties.bucket.localAuthRef", ReadWrite, V2022_03_01),
    row("properties.azureBlob.url", ReadWrite, V2022_07_01),
    row("properties.azureBlob.containerName", ReadWrite, V2022_07_01),
    row("properties.azureBlob.timeoutInSeconds", ReadWrite, V2022_07_01),
    row(
        "properties.azureBlob.syncIntervalInSeconds",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.clientId",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.tenantId",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.clientSecret",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.clientCertificate",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.clientCertificatePassword",
        ReadWrite,
        V2022_07_01,
    ),
    row(
        "properties.azureBlob.servicePrincipal.clientCertificateSendChain",
        ReadWrite,
        V2022_07_01,
    ),
    row("properties.azureBlob.accountKey", ReadWrite, V2022_07_01),
    row("properties.azureBlob.sasToken", ReadWrite, V2022_07_01),
    row(
        "properties.azureBlob.managedIdentity.clientId",
        ReadWrite,
        V2022_07_01,
    ),
    row("properties.azureBlob.localAuthRef", ReadWrite, V2022_07_01),
    row("properties.ociRepository.url", ReadWrite, V2024_11_01),
    row(
        "properties.ociRepository.timeoutInSeconds",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.syncIntervalInSeconds",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.repositoryRef.tag",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.repositoryRef.semver",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.repositoryRef.digest",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.layerSelector.mediaType",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.layerSelector.operation",
        ReadWrite,
        V2024_11_01,
    ),
    row("properties.ociRepository.verify.provider", ReadWrite, V2024_11_01),
    row(
        "properties.ociRepository.verify.verificationConfig",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.verify.matchOidcIdentity[].issuer",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.verify.matchOidcIdentity[].subject",
        ReadWrite,
        V2024_11_01,
    ),
    row("properties.ociRepository.insecure", ReadWrite, V2024_11_01),
    row(
        "properties.ociRepository.useWorkloadIdentity",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.serviceAccountName",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.tlsConfig.clientCertificate",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.tlsConfig.privateKey",
        ReadWrite,
        V2024_11_01,
    ),
    row(
        "properties.ociRepository.tlsConfig.caCertificate",
        ReadWrite,
        V2024_11_01,
    ),
    row("properties.ociRepository.localAuthRef", ReadWrite, V2024_11_01),
    row("properties.kustomizations.*.name", ReadOnly, V2022_03_01),
    row("properties.kustomizations.*.path", ReadWrite, V2022_03_01),
    row("properties.kustomizations.*.dependsOn", ReadWrite, V2022_03_01),
    row(
        "properties.kustomizations.*.timeoutInSeconds",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.kustomizations.*.syncIntervalInSeconds",
        ReadWrite,
        V2022_03_01,
    ),
    row(
        "properties.kustomizations.*.retryIntervalInSeconds",
        ReadWrite,
        V2022_03_01,
    ),
    row("properties.kustomizations.*.prune", ReadWrite, V2022_03_01),
    row("properties.kustomizations.*.force", ReadWrite, V2022_03_01),
    row("properties.kustomizations.*.wait", ReadWrite, V2023_05_01),
    row(
        "properties.kustomizations.*.postBuild.substitute",
        ReadWrite,
        V2023_05_01,
    ),
    row(
        "properties.kustomizations.*.postBuild.substituteFrom[].kind",
        ReadWrite,
        V2023_05_01,
    ),
    row(
        "properties.kustomizations.*.postBuild.substituteFrom[].name",
        ReadWrite,
        V2023_05_01,
    ),
    row(
        "properties.kustomizations.*.postBuild.substituteFrom[].optional",
        ReadWrite,
        V2023_05_01,
    ),
    row(
        "properties.configurationProtectedSettings",
        ReadWrite,
        V2022_03_01,
    ),
    row("properties.waitForReconciliation", PutOnly, V2023_05_01),
    row("properties.reconciliationWaitDuration", PutOnly, V2023_05_01),
    row("properties.statuses[].name", ReadOnly, V2022_03_01),
    row("properties.statuses[].namespace", ReadOnly, V2022_03_01),
    row("properties.statuses[].kind", ReadOnly, V2022_03_01),
    row("properties.statuses[].complianceState", ReadOnly, V2022_03_01),
    row("properties.statuses[].appliedBy.name", ReadOnly, V2022_03_01),
    row("properties.statuses[].appliedBy.namespace", ReadOnly, V2022_03_01),
    row(
        "properties.statuses[].statusConditions[].lastTransitionTime",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].statusConditions[].message",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].statusConditions[].reason",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].statusConditions[].status",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].statusConditions[].type",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.lastRevisionApplied",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.helmChartRef.name",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.helmChartRef.namespace",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.failureCount",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.installFailureCount",
        ReadOnly,
        V2022_03_01,
    ),
    row(
        "properties.statuses[].helmReleaseProperties.upgradeFailureCount",
        ReadOnly,
        V2022_03_01,
    ),
    row("properties.repositoryPublicKey", ReadOnly, V2022_03_01),
    row("properties.sourceSyncedCommitId", ReadOnly, V2022_03_01),
    row("properties.sourceUpdatedAt", ReadOnly, V2022_03_01),
    row("properties.statusUpdatedAt", ReadOnly, V2022_03_01),
    row("properties.complianceState", ReadOnly, V2022_03_01),
    row("properties.provisioningState", ReadOnly, V2022_03_01),
    row("properties.errorMessage", ReadOnly, V2022_03_01),
];

const EXTENSIONS: &[Row] = &[
    row("identity.type", PutOnly, V2022_03_01),
    row("identity.principalId", ReadOnly, V2022_03_01),
    row("identity.tenantId", ReadOnly, V2022_03_01),
    row("plan.name", PutOnly, V2022_11_01),
    row("plan.publisher", PutOnly, V2022_11_01),
    row("plan.product", PutOnly, V2022_11_01),
    row("plan.promotionCode", PutOnly, V2022_11_01),
    row("plan.version", PutOnly, V2022_11_01),
    row("managedBy", CreateOnly, V2025_03_01),
    row("properties.extensionType", PutOnly, V2022_03_01),
    row("properties.autoUpgradeMode", ReadWrite, V2025_03_01),
    row("properties.autoUpgradeMinorVersion", ReadWrite, V2022_03_01),
    row("properties.releaseTrain", ReadWrite, V2022_03_01),
    row("properties.version", ReadWrite, V2022_03_01),
    row("properties.scope.cluster.releaseNamespace", PutOnly, V2022_03_01),
    row("properties.scope.namespace.targetNamespace", PutOnly, V2022_03_01),
    row("properties.configurationSettings", ReadWrite, V2022_03_01),
    row(
        "properties.configurationProtectedSettings",
        ReadWrite,
        V2022_03_01,
    ),
    until("properties.installedVersion", ReadOnly, V2022_03_01, V2022_07_01),
    row("properties.currentVersion", ReadOnly, V2022_11_01),
    row("properties.provisioningState", ReadOnly, V2022_03_01),
    // `statuses` is writable in the spec, but only the cluster's agent fills it here.
    row("properties.statuses[].code", ReadOnly, V2022_03_01),
    row("properties.statuses[].displayStatus", ReadOnly, V2022_03_01),
    row("properties.statuses[].level", ReadOnly, V2022_03_01),
    row("properties.statuses[].message", ReadOnly, V2022_03_01),
    row("properties.statuses[].time", ReadOnly, V2022_03_01),
    row("properties.errorInfo", ReadOnly, V2022_03_01),
    row("properties.customLocationSettings", ReadOnly, V2022_03_01),
    row("properties.packageUri", ReadOnly, V2022_03_01),
    row("properties.isSystemExtension", ReadOnly, V2022_11_01),
    row("properties.aksAssignedIdentity.type", PutOnly, V2022_03_01),
    row(
        "properties.aksAssignedIdentity.principalId",
        ReadOnly,
        V2022_03_01,
    ),
    row("properties.aksAssignedIdentity.tenantId", ReadOnly, V2022_03_01),
    row("properties.aksAssignedIdentity.objectId", PutOnly, V2025_03_01),
    row("properties.aksAssignedIdentity.clientId", PutOnly, V2025_03_01),
    row("properties.aksAssignedIdentity.resourceId", PutOnly, V2025_03_01),
    row("properties.managementDetails", ReadOnly, V2025_03_01),
    row("properties.additionalDetails", ReadOnly, V2025_03_01),
    row("properties.extensionState", ReadOnly, V2025_03_01),
];

const SOURCE_CONTROL: &[Row] = &[
    row("properties.repositoryUrl", PutOnly, V2022_03_01),
    row("properties.operatorNamespace", PutOnly, V2022_03_01),
    row("properties.operatorInstanceName", PutOnly, V2022_03_01),
    row("properties.operatorType", PutOnly, V2022_03_01),
    row("properties.operatorParams", PutOnly, V2022_03_01),
    row("properties.configurationProtectedSettings", PutOnly, V2022_03_01),
    row("properties.operatorScope", PutOnly, V2022_03_01),
    row("properties.repositoryPublicKey", ReadOnly, V2022_03_01),
    row("properties.sshKnownHostsContents", PutOnly, V2022_03_01),
    row("properties.enableHelmOperator", PutOnly, V2022_03_01),
    row(
        "properties.helmOperatorProperties.chartVersion",
        PutOnly,
        V2022_03_01,
    ),
    row(
        "properties.helmOperatorProperties.chartValues",
        PutOnly,
        V2022_03_01,
    ),
    row("properties.provisioningState", ReadOnly, V2022_03_01),
    row("properties.complianceStatus", ReadOnly, V2022_03_01),
];

/// Enum values that arrived after the property itself.
const ENUM_VALUES: &[(ResourceType, &str, &str, ApiVersion)] = &[
    (
        ResourceType::FluxConfigurations,
        "properties.sourceKind",
        "AzureBlob",
        V2022_07_01,
    ),
    (
        ResourceType::FluxConfigurations,
        "properties.sourceKind",
        "OCIRepository",
        V2024_11_01,
    ),
    (
        ResourceType::FluxConfigurations,
        "properties.gitRepository.provider",
        "GitHub",
        V2025_04_01,
    ),
    (
        ResourceType::Extensions,
        "properties.aksAssignedIdentity.type",
        "Workload",
        V2025_03_01,
    ),
];

fn rows(resource_type: ResourceType) -> impl Iterator<Item = &'static Row> {
    let specific = match resource_type {
        ResourceType::FluxConfigurations => FLUX,
        ResourceType::Extensions => EXTENSIONS,
        ResourceType::SourceControlConfigurations => SOURCE_CONTROL,
    };
    ENVELOPE.iter().chain(specific)
}

/// Which body a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    Put,
    Patch,
}

#[derive(Debug, Default)]
struct Node {
    children: BTreeMap<&'static str, Node>,
    access: Option<Access>,
}

impl Node {
    fn child(&self, key: &str) -> Option<&Node> {
        self.children.get(key).or_else(|| self.children.get("*"))
    }

    /// Leaves take any content; inner nodes list their members.
    fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

fn segments(path: &'static str) -> impl Iterator<Item = &'static str> {
    path.split('.')
        .flat_map(|segment| match segment.strip_suffix("[]") {
            Some(array) => vec![array, "[]"],
            None => vec![segment],
        })
}

fn build(resource_type: ResourceType, version: ApiVersion) -> Node {
    let mut root = Node::default();
    for row in rows(resource_type) {
        if version < row.since || row.until.is_some_and(|last| version > last) {
            continue;
        }
        let mut node = &mut root;
        for segment in segments(row.path) {
            node = node.children.entry(segment).or_default();
            // An inner node is as writable as its most writable member.
            node.access = Some(match node.access {
                Some(current) if current.rank() >= row.access.rank() => current,
                _ => row.access,
            });
        }
        node.access = Some(row.access);
    }
    root
}

static TREES: LazyLock<HashMap<(ResourceType, ApiVersion), Node>> = LazyLock::new(|| {
    let mut trees = HashMap::new();
    for resource_type in ResourceType::ALL {
        for version in ApiVersion::ALL {
            trees.insert((*resource_type, *version), build(*resource_type, *version));
        }
    }
    trees
});

fn tree(resource_type: ResourceType, version: ApiVersion) -> &'static Node {
    &TREES[&(resource_type, version)]
}

/// The first version that has `path` (dotted, array items transparent), if any.
fn first_version_with(resource_type: ResourceType, path: &[String]) -> Option<ApiVersion> {
    ApiVersion::ALL.iter().copied().find(|version| {
        let mut node = tree(resource_type, *version);
        for segment in path {
            if segment == "[]" {
                continue;
            }
            match node.child(segment) {
                Some(next) => node = next,
                None => return node.is_leaf() && !std::ptr::eq(node, tree(resource_type, *version)),
            }
        }
        true
    })
}

/// Refuses members the requested version does not have, and (for PATCH) members a PATCH cannot change.
/// Read-only members a client sends back are accepted here and ignored later.
pub fn check_request(
    resource_type: ResourceType,
    version: ApiVersion,
    body: Body,
    document: &Value,
) -> Result<(), ArmError> {
    let Value::Object(map) = document else {
        return Err(ArmError::invalid_content(
            "The request body must be a JSON object.",
        ));
    };
    let mut path = Vec::new();
    for (key, value) in map {
        if body == Body::Patch && key != "properties" {
            // ARM PATCH bodies of these resources carry `properties` only; the rest of the envelope is ignored.
            continue;
        }
        if key == "location" && value.is_string() {
            // ARM's template engine sends a template resource's `location` in the PUT body (Azure Policy's
            // built-in HTTPS GitOps definition sets one on a fluxConfiguration). These are proxy resources with
            // no location of their own: accepted, ignored, never returned.
            continue;
        }
        check_member(
            resource_type,
            version,
            body,
            tree(resource_type, version),
            key,
            value,
            &mut path,
        )?;
    }
    Ok(())
}

fn check_member(
    resource_type: ResourceType,
    version: ApiVersion,
    body: Body,
    parent: &Node,
    key: &str,
    value: &Value,
    path: &mut Vec<String>,
) -> Result<(), ArmError> {
    path.push(key.to_owned());
    let dotted = || {
        path.iter()
            .filter(|s| *s != "[]")
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(".")
    };
    let Some(node) = parent.child(key) else {
        let target = dotted();
        let message = match first_version_with(resource_type, path) {
            Some(since) if since > version => format!(
                "The property '{}' is not supported in api-version '{version}'; it is available from api-version '{since}'.",
                printable(&target)
            ),
            _ => format!(
                "'{}' is not a property of {}.",
                printable(&target),
                resource_type.arm_type()
            ),
        };
        return Err(ArmError::new(400, codes::PROPERTY_NOT_SUPPORTED, message).with_target(target));
    };
    if body == Body::Patch && matches!(node.access, Some(CreateOnly) | Some(PutOnly)) && !value.is_null() {
        let target = dotted();
        return Err(ArmError::validation(
            &target,
            format!(
                "'{target}' cannot be changed with PATCH; it is set when the resource is created or replaced with PUT."
            ),
        ));
    }
    if let Value::String(text) = value {
        let target = dotted();
        if let Some((_, _, enum_value, since)) = ENUM_VALUES.iter().find(|(rt, p, v, since)| {
            *rt == resource_type && *p == target && v.eq_ignore_ascii_case(text) && version < *since
        }) {
            return Err(ArmError::new(
                400,
                codes::PROPERTY_NOT_SUPPORTED,
                format!("The value '{enum_value}' of '{target}' is not supported in api-version '{version}'; it is available from api-version '{since}'."),
            )
            .with_target(target));
        }
    }
    if !node.is_leaf() {
        match value {
            Value::Object(members) => {
                for (k, v) in members {
                    check_member(resource_type, version, body, node, k, v, path)?;
                }
            }
            Value::Array(items) if node.children.contains_key("[]") => {
                let item_node = &node.children["[]"];
                path.push("[]".to_owned());
                for item in items {
                    if let Value::Object(members) = item {
                        for (k, v) in members {
                            check_member(resource_type, version, body, item_node, k, v, path)?;
                        }
                    }
                }
                path.pop();
            }
            // Wrong types are reported by deserialization, with the expected type.
            _ => {}
        }
    }
    path.pop();
    Ok(())
}

/// Cuts a rendered resource down to what `version` has.
pub fn filter_response(resource_type: ResourceType, version: ApiVersion, document: &mut Value) {
    filter_node(tree(resource_type, version), document);
}

fn filter_node(node: &Node, value: &mut Value) {
    if node.is_leaf() {
        return;
    }
    match value {
        Value::Object(members) => {
            members.retain(|k, _| node.child(k).is_some());
            for (k, v) in members.iter_mut() {
                filter_node(node.child(k).expect("retained"), v);
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.children.get("[]") {
                items.iter_mut().for_each(|item| filter_node(item_node, item));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FLUX: ResourceType = ResourceType::FluxConfigurations;

    #[test]
    fn a_property_of_a_newer_version_is_refused_with_its_version() {
        let body =
            json!({"properties": {"sourceKind": "GitRepository", "ociRepository": {"url": "oci://x"}}});
        let err = check_request(FLUX, V2023_05_01, Body::Put, &body).unwrap_err();
        assert_eq!(err.code, codes::PROPERTY_NOT_SUPPORTED);
        assert_eq!(err.target.as_deref(), Some("properties.ociRepository"));
        assert!(err.message.contains("2024-11-01"), "{}", err.message);
        assert!(check_request(FLUX, V2024_11_01, Body::Put, &body).is_ok());
    }

    #[test]
    fn nested_and_map_members_are_checked() {
        let ok = json!({"properties": {"kustomizations": {"k1": {"path": "./", "postBuild": {"substitute": {"ANY": "x"}}}}}});
        assert!(check_request(FLUX, V2025_04_01, Body::Put, &ok).is_ok());
        let old = check_request(FLUX, V2022_11_01, Body::Put, &ok).unwrap_err();
        assert_eq!(
            old.target.as_deref(),
            Some("properties.kustomizations.k1.postBuild")
        );
        let unknown = json!({"properties": {"gitRepository": {"repositoryRef": {"brnach": "main"}}}});
        let err = check_request(FLUX, V2025_04_01, Body::Put, &unknown).unwrap_err();
        assert_eq!(
            err.target.as_deref(),
            Some("properties.gitRepository.repositoryRef.brnach")
        );
    }

    #[test]
    fn enum_values_have_versions_too() {
        let body = json!({"properties": {"gitRepository": {"provider": "github"}}});
        assert!(check_request(FLUX, V2024_11_01, Body::Put, &body).is_err());
        assert!(check_request(FLUX, V2025_04_01, Body::Put, &body).is_ok());
    }

    #[test]
    fn patch_cannot_change_create_only_members() {
        let body = json!({"properties": {"namespace": "other"}});
        let err = check_request(FLUX, V2025_04_01, Body::Patch, &body).unwrap_err();
        assert_eq!(err.target.as_deref(), Some("properties.namespace"));
        let ok = json!({"properties": {"suspend": true, "kustomizations": {"k": null}}});
        assert!(check_request(FLUX, V2025_04_01, Body::Patch, &ok).is_ok());
    }

    #[test]
    fn responses_keep_only_the_version_s_members() {
        let mut doc = json!({"id": "x", "properties": {"sourceKind": "GitRepository", "waitForReconciliation": true,
            "kustomizations": {"k": {"path": "", "wait": true}}, "statuses": [{"name": "s", "extra": 1}]}});
        filter_response(FLUX, V2022_03_01, &mut doc);
        assert_eq!(
            doc,
            json!({"id": "x", "properties": {"sourceKind": "GitRepository", "kustomizations": {"k": {"path": ""}}, "statuses": [{"name": "s"}]}})
        );
    }

    #[test]
    fn extension_versions() {
        let ext = ResourceType::Extensions;
        let body = json!({"plan": {"name": "p"}, "properties": {"extensionType": "x"}});
        assert!(check_request(ext, V2022_07_01, Body::Put, &body).is_err());
        assert!(check_request(ext, V2022_11_01, Body::Put, &body).is_ok());
        let mut doc = json!({"properties": {"installedVersion": "1", "currentVersion": "1"}});
        filter_response(ext, V2022_03_01, &mut doc);
        assert_eq!(doc, json!({"properties": {"installedVersion": "1"}}));
    }
}
