//! Resource identifiers: the clusters this provider extends and the names of its resources.
//!
//! ARM matches every segment of a resource id case-insensitively but echoes the casing it was last given.
//! So each id keeps the caller's text for display and offers a lowercase `key()` for lookups.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ArmError, codes};

pub const PROVIDER_NAMESPACE: &str = "Microsoft.KubernetesConfiguration";

crate::arm_enum! {
    /// The kinds of cluster a `Microsoft.KubernetesConfiguration` resource can extend.
    pub enum ClusterKind {
        ManagedCluster = "Microsoft.ContainerService/managedClusters",
        ConnectedCluster = "Microsoft.Kubernetes/connectedClusters",
        ProvisionedCluster = "Microsoft.HybridContainerService/provisionedClusters",
        Appliance = "Microsoft.ResourceConnector/appliances",
    }
}

impl ClusterKind {
    /// Parses the `{clusterRp}/{clusterResourceName}` pair of a path, case-insensitively.
    pub fn from_segments(provider: &str, resource_type: &str) -> Option<Self> {
        let (want_provider, want_type) = (provider.len(), resource_type.len());
        ClusterKind::ALL.iter().copied().find(|kind| {
            let (p, t) = kind.as_str().split_once('/').expect("kind text is provider/type");
            p.len() == want_provider
                && t.len() == want_type
                && p.eq_ignore_ascii_case(provider)
                && t.eq_ignore_ascii_case(resource_type)
        })
    }
}

/// A cluster resource id, e.g. `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Kubernetes/connectedClusters/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterId {
    subscription: String,
    resource_group: String,
    kind: ClusterKind,
    name: String,
}

impl ClusterId {
    /// Builds a cluster id from the path segments of a request, checking each the way ARM does.
    pub fn from_parts(
        subscription: &str,
        resource_group: &str,
        provider: &str,
        resource_type: &str,
        name: &str,
    ) -> Result<Self, ArmError> {
        let subscription = SubscriptionId::parse(subscription)?;
        check_resource_group(resource_group)?;
        let kind = ClusterKind::from_segments(provider, resource_type).ok_or_else(|| {
            ArmError::new(
                400,
                codes::CLUSTER_NOT_SUPPORTED,
                format!(
                    "'{provider}/{resource_type}' is not a cluster type that {PROVIDER_NAMESPACE} extends; supported are {}.",
                    ClusterKind::expected()
                ),
            )
        })?;
        check_arm_name(name, "clusterName")?;
        Ok(Self {
            subscription: subscription.0,
            resource_group: resource_group.to_owned(),
            kind,
            name: name.to_owned(),
        })
    }

    /// Parses a full cluster resource id such as the one given to `clusterconfig token agent --cluster`.
    pub fn parse(id: &str) -> Result<Self, ArmError> {
        let invalid = || {
            ArmError::new(
                400,
                codes::INVALID_RESOURCE_ID,
                format!(
                    "'{id}' is not a cluster resource id; expected /subscriptions/{{subscriptionId}}/resourceGroups/{{resourceGroupName}}/providers/{{clusterRp}}/{{clusterResourceName}}/{{clusterName}}"
                ),
            )
        };
        let segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
        match segments.as_slice() {
            [
                "",
                subs,
                subscription,
                rgs,
                resource_group,
                providers,
                provider,
                resource_type,
                name,
            ] if subs.eq_ignore_ascii_case("subscriptions")
                && rgs.eq_ignore_ascii_case("resourceGroups")
                && providers.eq_ignore_ascii_case("providers") =>
            {
                Self::from_parts(subscription, resource_group, provider, resource_type, name)
            }
            _ => Err(invalid()),
        }
    }

    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }

    pub fn kind(&self) -> ClusterKind {
        self.kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lowercase form under which this cluster is stored and compared.
    pub fn key(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    /// The subscription in the lowercase form the store uses.
    pub fn subscription_key(&self) -> String {
        self.subscription.to_ascii_lowercase()
    }

    /// `{cluster}/providers/Microsoft.KubernetesConfiguration`
    pub fn provider_scope(&self) -> String {
        format!("{self}/providers/{PROVIDER_NAMESPACE}")
    }

    /// The id of a resource of this provider under this cluster.
    pub fn resource_id(&self, resource_type: ResourceType, name: &str) -> String {
        format!("{}/{}/{}", self.provider_scope(), resource_type.segment(), name)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}",
            self.subscription,
            self.resource_group,
            self.kind.as_str(),
            self.name
        )
    }
}

/// A subscription id as it appears in a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubscriptionId(String);

impl SubscriptionId {
    pub fn parse(text: &str) -> Result<Self, ArmError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ArmError::new(
                400,
                "InvalidSubscriptionId",
                format!(
                    "The provided subscription identifier '{}' is malformed or invalid.",
                    printable(text)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

pub fn check_resource_group(name: &str) -> Result<(), ArmError> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if (1..=90).contains(&name.chars().count()) && chars_ok && !name.ends_with('.') {
        Ok(())
    } else {
        Err(ArmError::new(
            400,
            "InvalidResourceGroupName",
            format!(
                "Resource group name '{}' is invalid: it must be 1-90 letters, digits, '-', '_', '.', '(' or ')', and must not end with '.'.",
                printable(name)
            ),
        )
        .with_target("resourceGroupName"))
    }
}

/// ARM's rule for any resource name segment: at most 260 characters, none of `<>%&:\?/` or control characters.
pub fn check_arm_name(name: &str, target: &str) -> Result<(), ArmError> {
    let bad = name.chars().find(|c| c.is_control() || "<>%&:\\?/".contains(*c));
    if name.is_empty() || name.chars().count() > 260 || bad.is_some() {
        return Err(ArmError::invalid_name(
            target,
            format!(
                "The resource name '{}' is invalid: it must be 1-260 characters and contain none of <>%&:\\?/ or control characters.",
                printable(name)
            ),
        ));
    }
    Ok(())
}

/// Text safe to quote in an error message: control characters replaced, length capped.
pub fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

crate::arm_enum! {
    /// The resource types of this provider that live under a cluster.
    pub enum ResourceType {
        FluxConfigurations = "fluxConfigurations",
        Extensions = "extensions",
        SourceControlConfigurations = "sourceControlConfigurations",
    }
}

impl ResourceType {
    /// The collection segment of the path.
    pub fn segment(self) -> &'static str {
        self.as_str()
    }

    /// The `type` property of the resource.
    pub fn arm_type(self) -> &'static str {
        match self {
            ResourceType::FluxConfigurations => "Microsoft.KubernetesConfiguration/fluxConfigurations",
            ResourceType::Extensions => "Microsoft.KubernetesConfiguration/extensions",
            ResourceType::SourceControlConfigurations => {
                "Microsoft.KubernetesConfiguration/sourceControlConfigurations"
            }
        }
    }

    /// Parses the validated name of a resource of this type from a path segment.
    pub fn parse_name(self, name: &str) -> Result<ResourceName, ArmError> {
        match self {
            ResourceType::FluxConfigurations => ResourceName::flux_configuration(name),
            ResourceType::Extensions => ResourceName::extension(name),
            ResourceType::SourceControlConfigurations => ResourceName::source_control_configuration(name),
        }
    }
}

/// The name of a resource under a cluster, valid for its type. `as_given()` is the caller's casing;
/// `key()` the lowercase form it is stored and matched under (and the name of its Kubernetes objects).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceName {
    given: String,
    key: String,
}

impl ResourceName {
    /// fluxConfigurations: as the Azure CLI checks them, a lowercase RFC 1123 subdomain-like name of at most 63 characters
    /// (matched case-insensitively, so `MyConfig` names the configuration `myconfig`).
    pub fn flux_configuration(name: &str) -> Result<Self, ArmError> {
        let key = name.to_ascii_lowercase();
        check_dns_name(&key, 63, true).map_err(|why| {
            ArmError::invalid_name(
                "name",
                format!("Invalid flux configuration name '{}': {why}", printable(name)),
            )
        })?;
        Ok(Self {
            given: name.to_owned(),
            key,
        })
    }

    /// extensions: letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters.
    pub fn extension(name: &str) -> Result<Self, ArmError> {
        let key = name.to_ascii_lowercase();
        check_dns_name(&key, 253, true).map_err(|why| {
            ArmError::invalid_name(
                "name",
                format!("Invalid extension name '{}': {why}", printable(name)),
            )
        })?;
        Ok(Self {
            given: name.to_owned(),
            key,
        })
    }

    /// sourceControlConfigurations (Flux v1): a DNS label of at most 63 characters.
    pub fn source_control_configuration(name: &str) -> Result<Self, ArmError> {
        let key = name.to_ascii_lowercase();
        check_dns_name(&key, 63, false).map_err(|why| {
            ArmError::invalid_name(
                "name",
                format!(
                    "Invalid source control configuration name '{}': {why}",
                    printable(name)
                ),
            )
        })?;
        Ok(Self {
            given: name.to_owned(),
            key,
        })
    }

    /// A name read back from the store, where it was validated when written.
    pub fn from_stored(given: String) -> Self {
        let key = given.to_ascii_lowercase();
        Self { given, key }
    }

    pub fn as_given(&self) -> &str {
        &self.given
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

/// Checks a lowercase Kubernetes-style name: `[a-z0-9]` at both ends, `[a-z0-9-]` (and `.` if `dots`) between.
/// Returns why it is invalid, in the words the Azure CLI uses.
pub fn check_dns_name(name: &str, max_len: usize, dots: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err("it must not be empty.".into());
    }
    if name.len() > max_len {
        return Err(format!("it must be at most {max_len} characters long."));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        let what = if dots {
            "lowercase letters, digits, '-' and '.'"
        } else {
            "lowercase letters, digits and '-'"
        };
        return Err(format!(
            "it may only contain {what}; found '{}'.",
            c.escape_default()
        ));
    }
    if name.starts_with(['-', '.']) {
        return Err("it must start with a lowercase letter or a digit, not '-' or '.'.".into());
    }
    if name.ends_with(['-', '.']) {
        return Err("it must end with a lowercase letter or a digit, not '-' or '.'.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_parse_case_insensitively_and_keep_casing() {
        let id = ClusterId::parse(
            "/subscriptions/SUB1/resourcegroups/Rg1/providers/microsoft.kubernetes/CONNECTEDCLUSTERS/Cluster1",
        )
        .unwrap();
        assert_eq!(id.kind(), ClusterKind::ConnectedCluster);
        assert_eq!(
            id.to_string(),
            "/subscriptions/SUB1/resourceGroups/Rg1/providers/Microsoft.Kubernetes/connectedClusters/Cluster1"
        );
        assert_eq!(
            id.key(),
            "/subscriptions/sub1/resourcegroups/rg1/providers/microsoft.kubernetes/connectedclusters/cluster1"
        );
    }

    #[test]
    fn unknown_cluster_types_are_refused() {
        let err = ClusterId::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        )
        .unwrap_err();
        assert_eq!(err.code, codes::CLUSTER_NOT_SUPPORTED);
        assert_eq!(err.status, 400);
    }

    #[test]
    fn flux_names_follow_the_cli_rules() {
        assert!(ResourceName::flux_configuration("my-config.v1").is_ok());
        assert_eq!(
            ResourceName::flux_configuration("MyConfig").unwrap().key(),
            "myconfig"
        );
        for bad in ["-a", "a-", ".a", "a.", "a_b", "", &"a".repeat(64)] {
            let err = ResourceName::flux_configuration(bad).unwrap_err();
            assert_eq!(err.code, codes::INVALID_RESOURCE_NAME, "{bad}");
        }
        assert!(
            ResourceName::flux_configuration("-a")
                .unwrap_err()
                .message
                .contains("must start")
        );
        assert!(
            ResourceName::flux_configuration("a-")
                .unwrap_err()
                .message
                .contains("must end")
        );
    }
}
