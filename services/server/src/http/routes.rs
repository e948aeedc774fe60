//! Every route the service serves, once. The router is built from this table and the OpenAPI documents in
//! `api-specs/` are generated from it, so neither can drift from the other.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::arm::resources::{self, Extensions, FluxConfigurations, SourceControlConfigurations};
use super::arm::{operations, source_control, subscriptions};
use super::dataplane::{desired_state, status};
use super::{AppState, health};

/// Which API a route belongs to (each can listen on its own address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Arm,
    DataPlane,
    Health,
}

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub api: Api,
    pub summary: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    api: Api,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        operation_id,
        api,
        summary,
    }
}

use Api::*;

pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/providers/Microsoft.KubernetesConfiguration/operations",
        "Operations_List",
        Arm,
        "Lists the operations of the resource provider.",
    ),
    route(
        "PUT",
        "/subscriptions/{subscriptionId}",
        "Subscriptions_Notify",
        Arm,
        "ARM's subscription lifecycle notification (api-version 2.0).",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/operations",
        "OperationStatus_List",
        Arm,
        "Lists the running asynchronous operations of a cluster.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations",
        "FluxConfigurations_List",
        Arm,
        "Lists the Flux configurations of a cluster.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}",
        "FluxConfigurations_Get",
        Arm,
        "Gets a Flux configuration.",
    ),
    route(
        "PUT",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}",
        "FluxConfigurations_CreateOrUpdate",
        Arm,
        "Creates or replaces a Flux configuration (long-running).",
    ),
    route(
        "PATCH",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}",
        "FluxConfigurations_Update",
        Arm,
        "Updates a Flux configuration with a JSON merge patch (long-running).",
    ),
    route(
        "DELETE",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}",
        "FluxConfigurations_Delete",
        Arm,
        "Deletes a Flux configuration (long-running; forceDelete=true deletes at once).",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}/operations/{operationId}",
        "FluxConfigOperationStatus_Get",
        Arm,
        "Gets the status of an asynchronous operation on a Flux configuration.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}/operationResults/{operationId}",
        "FluxConfigOperationResults_Get",
        Arm,
        "The Location URL of an asynchronous operation on a Flux configuration: 202 while it runs, then its outcome.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions",
        "Extensions_List",
        Arm,
        "Lists the extensions of a cluster.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}",
        "Extensions_Get",
        Arm,
        "Gets an extension.",
    ),
    route(
        "PUT",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}",
        "Extensions_Create",
        Arm,
        "Creates or replaces an extension (long-running).",
    ),
    route(
        "PATCH",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}",
        "Extensions_Update",
        Arm,
        "Updates an extension with a JSON merge patch (long-running).",
    ),
    route(
        "DELETE",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}",
        "Extensions_Delete",
        Arm,
        "Deletes an extension (long-running; forceDelete=true deletes at once).",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}/operations/{operationId}",
        "OperationStatus_Get",
        Arm,
        "Gets the status of an asynchronous operation on an extension.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/extensions/{name}/operationResults/{operationId}",
        "ExtensionOperationResults_Get",
        Arm,
        "The Location URL of an asynchronous operation on an extension: 202 while it runs, then its outcome.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations",
        "SourceControlConfigurations_List",
        Arm,
        "Lists the Flux v1 configurations that remain on a cluster.",
    ),
    route(
        "GET",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}",
        "SourceControlConfigurations_Get",
        Arm,
        "Gets a Flux v1 configuration.",
    ),
    route(
        "PUT",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}",
        "SourceControlConfigurations_CreateOrUpdate",
        Arm,
        "Refused: Flux v1 is retired; create a fluxConfiguration instead.",
    ),
    route(
        "DELETE",
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}",
        "SourceControlConfigurations_Delete",
        Arm,
        "Deletes a Flux v1 configuration.",
    ),
    route(
        "GET",
        "/dataplane/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/desiredState",
        "DesiredState_Get",
        DataPlane,
        "The cluster's desired state; long-poll with If-None-Match and Prefer: wait.",
    ),
    route(
        "POST",
        "/dataplane/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/fluxConfigurations/{name}/status",
        "FluxConfigurationStatus_Report",
        DataPlane,
        "Reports the outcome of one generation of a Flux configuration.",
    ),
    route(
        "POST",
        "/dataplane/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/extensions/{name}/status",
        "ExtensionStatus_Report",
        DataPlane,
        "Reports the outcome of one generation of an extension.",
    ),
    route(
        "POST",
        "/dataplane/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/agent",
        "Agent_Report",
        DataPlane,
        "Reports the cluster's facts (Kubernetes version, CPU architecture, agent version).",
    ),
    route(
        "GET",
        "/healthz",
        "Health_Live",
        Health,
        "Liveness: the process serves requests.",
    ),
    route(
        "GET",
        "/readyz",
        "Health_Ready",
        Health,
        "Readiness: the store answers.",
    ),
    route(
        "GET",
        "/status/tasks",
        "Tasks_Status",
        Health,
        "The background tasks: when each last ran and what came of it.",
    ),
];

fn handler(operation_id: &str) -> MethodRouter<Arc<AppState>> {
    match operation_id {
        "Operations_List" => get(operations::provider),
        "Subscriptions_Notify" => put(subscriptions::notify),
        "OperationStatus_List" => get(operations::cluster),
        "FluxConfigurations_List" => get(resources::list::<FluxConfigurations>),
        "FluxConfigurations_Get" => get(resources::get::<FluxConfigurations>),
        "FluxConfigurations_CreateOrUpdate" => put(resources::put::<FluxConfigurations>),
        "FluxConfigurations_Update" => patch(resources::patch::<FluxConfigurations>),
        "FluxConfigurations_Delete" => delete(resources::delete::<FluxConfigurations>),
        "FluxConfigOperationStatus_Get" => get(resources::operation::<FluxConfigurations>),
        "FluxConfigOperationResults_Get" => get(resources::operation_result::<FluxConfigurations>),
        "Extensions_List" => get(resources::list::<Extensions>),
        "Extensions_Get" => get(resources::get::<Extensions>),
        "Extensions_Create" => put(resources::put::<Extensions>),
        "Extensions_Update" => patch(resources::patch::<Extensions>),
        "Extensions_Delete" => delete(resources::delete::<Extensions>),
        "OperationStatus_Get" => get(resources::operation::<Extensions>),
        "ExtensionOperationResults_Get" => get(resources::operation_result::<Extensions>),
        "SourceControlConfigurations_List" => get(resources::list::<SourceControlConfigurations>),
        "SourceControlConfigurations_Get" => get(resources::get::<SourceControlConfigurations>),
        "SourceControlConfigurations_CreateOrUpdate" => put(source_control::put),
        "SourceControlConfigurations_Delete" => delete(resources::delete::<SourceControlConfigurations>),
        "DesiredState_Get" => get(desired_state::get),
        "FluxConfigurationStatus_Report" => post(status::flux),
        "ExtensionStatus_Report" => post(status::extension),
        "Agent_Report" => post(status::agent),
        "Health_Live" => get(health::live),
        "Health_Ready" => get(health::ready),
        "Tasks_Status" => get(health::tasks),
        other => unreachable!("route table names an unknown operation '{other}'"),
    }
}

/// The routes of the given APIs. ARM routes answer within `arm_deadline` (ARM waits 60 s for a resource
/// provider, then fails the request itself); the data plane's long-polls wait longer by design.
pub fn router(apis: &[Api], arm_deadline: Duration) -> Router<Arc<AppState>> {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for route in ROUTES.iter().filter(|r| apis.contains(&r.api)) {
        let methods = by_path.remove(route.path).unwrap_or_default();
        let mut handler = handler(route.operation_id);
        if route.api == Api::Arm {
            handler = handler.layer(axum::middleware::from_fn(move |request, next| {
                super::deadline(arm_deadline, request, next)
            }));
        }
        by_path.insert(route.path, methods.merge(handler));
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
}

/// ARM matches the literal segments of a path case-insensitively; routes use their canonical spelling.
/// Only literal positions are rewritten, so names keep the caller's casing.
pub fn canonical_path(path: &str) -> Option<String> {
    const NS: &str = "Microsoft.KubernetesConfiguration";
    let mut segments: Vec<&str> = path.split('/').collect();
    let mut changed = false;
    let mut fix = |segments: &mut Vec<&str>, index: usize, choices: &[&'static str]| {
        if let Some(segment) = segments.get(index).copied()
            && let Some(canonical) = choices.iter().find(|c| c.eq_ignore_ascii_case(segment))
            && *canonical != segment
        {
            segments[index] = canonical;
            changed = true;
        }
    };
    // ["", "providers", NS, "operations"]
    if segments
        .get(1)
        .is_some_and(|s| s.eq_ignore_ascii_case("providers"))
    {
        fix(&mut segments, 1, &["providers"]);
        fix(&mut segments, 2, &[NS]);
        fix(&mut segments, 3, &["operations"]);
    } else {
        let dataplane = segments
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case("dataplane"));
        let base = if dataplane { 3 } else { 1 };
        fix(&mut segments, 1, &["dataplane"]);
        fix(&mut segments, base, &["subscriptions"]);
        fix(&mut segments, base + 2, &["resourceGroups"]);
        fix(&mut segments, base + 4, &["providers"]);
        if dataplane {
            fix(
                &mut segments,
                base + 8,
                &["desiredState", "agent", "fluxConfigurations", "extensions"],
            );
            fix(&mut segments, base + 10, &["status"]);
        } else {
            fix(&mut segments, base + 8, &["providers"]);
            fix(&mut segments, base + 9, &[NS]);
            fix(
                &mut segments,
                base + 10,
                &[
                    "fluxConfigurations",
                    "extensions",
                    "sourceControlConfigurations",
                    "operations",
                ],
            );
            fix(&mut segments, base + 12, &["operations", "operationResults"]);
        }
    }
    changed.then(|| segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_canonicalised_and_names_kept() {
        let given = "/SUBSCRIPTIONS/Sub/resourcegroups/RG/providers/microsoft.kubernetes/ConnectedClusters/Providers/PROVIDERS/microsoft.kubernetesconfiguration/FLUXCONFIGURATIONS/Operations/operations/x";
        assert_eq!(
            canonical_path(given).unwrap(),
            "/subscriptions/Sub/resourceGroups/RG/providers/microsoft.kubernetes/ConnectedClusters/Providers/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/Operations/operations/x"
        );
        assert_eq!(
            canonical_path("/providers/MICROSOFT.KUBERNETESCONFIGURATION/Operations").unwrap(),
            "/providers/Microsoft.KubernetesConfiguration/operations"
        );
        assert_eq!(
            canonical_path("/dataplane/v1/subscriptions/s/resourcegroups/rg/providers/a/b/c/DesiredState")
                .unwrap(),
            "/dataplane/v1/subscriptions/s/resourceGroups/rg/providers/a/b/c/desiredState"
        );
        assert!(canonical_path("/healthz").is_none());
    }

    #[test]
    fn every_route_has_a_handler() {
        for route in ROUTES {
            let _ = handler(route.operation_id);
        }
        let _ = router(&[Api::Arm, Api::DataPlane, Api::Health], Duration::from_secs(55));
    }
}
