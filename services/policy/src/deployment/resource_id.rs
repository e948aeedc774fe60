//! Where a template resource lands: its ARM id, the scope it is created under, and its type and name as the
//! resource provider sees them.
//!
//! - `scope` (an extension resource's parent) is a full id (`/subscriptions/…`) or relative to the deployment's
//!   resource group (`Microsoft.Kubernetes/connectedClusters/c1` →
//!   `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Kubernetes/connectedClusters/c1`), as ARM resolves
//!   it (<https://learn.microsoft.com/azure/azure-resource-manager/templates/scope-extension-resources>).
//! - The id is `{scope}/providers/{namespace}/{type1}/{name1}/{type2}/{name2}…`, one name per type segment.
//! - The legacy extension form without `scope` — type `Microsoft.Kubernetes/connectedClusters/providers/
//!   sourceControlConfigurations`, name `c1/Microsoft.KubernetesConfiguration/cfg`, used by the Flux v1
//!   built-ins — interleaves the same way; the resource is then the part after the last `providers` segment
//!   (`Microsoft.KubernetesConfiguration/sourceControlConfigurations`, `cfg`) and its scope the part before.

use crate::deployment::DeploymentContext;

/// A resource's place in ARM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePlace {
    pub(crate) id: String,
    pub(crate) scope: String,
    pub(crate) resource_type: String,
    pub(crate) name: String,
}

/// Places a resource of `resource_type` named `name` under `scope` (or the deployment's resource group).
pub(crate) fn place(
    scope: Option<&str>,
    resource_type: &str,
    name: &str,
    deployment: &DeploymentContext,
) -> Result<ResourcePlace, String> {
    let group_id = format!(
        "/subscriptions/{}/resourceGroups/{}",
        deployment.subscription_id, deployment.resource_group
    );
    let scope_id = match scope {
        None => group_id,
        Some(full) if full.starts_with('/') => full.trim_end_matches('/').to_owned(),
        Some(relative) => {
            let segments: Vec<&str> = relative.split('/').collect();
            if segments.len() < 3 || segments.len().is_multiple_of(2) || segments.iter().any(|s| s.is_empty())
            {
                return Err(
                    "the scope must be a resource id or 'Namespace/type/name' relative to the resource group"
                        .to_owned(),
                );
            }
            format!("{group_id}/providers/{relative}")
        }
    };
    let types: Vec<&str> = resource_type.split('/').collect();
    let names: Vec<&str> = name.split('/').collect();
    if types.len() < 2 || types.iter().any(|t| t.is_empty()) {
        return Err("the resource type must be 'Namespace/type'".to_owned());
    }
    if names.len() != types.len() - 1 || names.iter().any(|n| n.is_empty()) {
        return Err(format!(
            "the resource name must have one segment per type segment: {} expected, {} given",
            types.len() - 1,
            names.len()
        ));
    }
    let mut id = format!("{scope_id}/providers/{}", types[0]);
    let mut resource_scope = scope_id;
    let mut namespace = types[0];
    let mut own_types: Vec<&str> = Vec::new();
    let mut own_names: Vec<&str> = Vec::new();
    for (segment, segment_name) in types[1..].iter().zip(&names) {
        if segment.eq_ignore_ascii_case("providers") {
            // An extension resource in the legacy form: what follows belongs to the provider `segment_name`.
            resource_scope = id.clone();
            id.push_str(&format!("/providers/{segment_name}"));
            namespace = segment_name;
            own_types.clear();
            own_names.clear();
        } else {
            id.push_str(&format!("/{segment}/{segment_name}"));
            own_types.push(segment);
            own_names.push(segment_name);
        }
    }
    if own_types.is_empty() {
        return Err("the resource type ends with a 'providers' segment".to_owned());
    }
    Ok(ResourcePlace {
        id,
        scope: resource_scope,
        resource_type: format!("{namespace}/{}", own_types.join("/")),
        name: own_names.join("/"),
    })
}

#[cfg(test)]
mod tests {
    use super::place;
    use crate::deployment::DeploymentContext;

    fn deployment() -> DeploymentContext {
        DeploymentContext::new("s", "rg")
    }

    #[test]
    fn places_scoped_extension_resources() {
        let flux = "Microsoft.KubernetesConfiguration/fluxConfigurations";
        let placed = place(
            Some("Microsoft.Kubernetes/connectedClusters/c1"),
            flux,
            "cfg",
            &deployment(),
        )
        .unwrap();
        assert_eq!(
            placed.scope,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c1"
        );
        assert_eq!(placed.id, format!("{}/providers/{flux}/cfg", placed.scope));
        let full =
            "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerService/managedClusters/aks/";
        let placed = place(Some(full), flux, "cfg", &deployment()).unwrap();
        assert_eq!(placed.scope, full.trim_end_matches('/'));
        assert!(
            place(
                Some("Microsoft.Kubernetes/connectedClusters"),
                flux,
                "cfg",
                &deployment()
            )
            .is_err()
        );
    }

    #[test]
    fn places_legacy_extension_and_nested_resources() {
        let placed = place(
            None,
            "Microsoft.Kubernetes/connectedClusters/providers/sourceControlConfigurations",
            "c1/Microsoft.KubernetesConfiguration/cfg",
            &deployment(),
        )
        .unwrap();
        assert_eq!(
            placed.resource_type,
            "Microsoft.KubernetesConfiguration/sourceControlConfigurations"
        );
        assert_eq!(placed.name, "cfg");
        assert_eq!(
            placed.scope,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c1"
        );
        assert_eq!(
            placed.id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c1/providers/\
             Microsoft.KubernetesConfiguration/sourceControlConfigurations/cfg"
        );
        let nested = place(None, "Microsoft.Sql/servers/databases", "srv/db", &deployment()).unwrap();
        assert_eq!(
            nested.id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/srv/databases/db"
        );
        assert_eq!(nested.name, "srv/db");
        assert!(place(None, "Microsoft.Sql/servers/databases", "db", &deployment()).is_err());
    }
}
