//! `{cluster}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations`: the Flux (v2) configurations of a cluster. Thin handlers over the generic
//! ones in `resources`; each one's `#[utoipa::path]` is its OpenAPI description (route, responses, the headers
//! each answer carries), and `routes` registers the handler and its description together.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};

use clusterconfig_model::arm::ListPage;
use clusterconfig_model::arm::OperationStatusResult;
use clusterconfig_model::flux::wire::FluxConfiguration;

use super::resources::{self, FluxConfigurations};
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, ClusterPath, RawBody, ResourcePath};
use crate::http::openapi::ACCEPTED;

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations"),
    operation_id = "FluxConfigurations_List",
    summary = "Lists the Flux configurations of a cluster.",
    responses((status = 200, body = ListPage<FluxConfiguration>, description = "One page of Flux configurations.")),
)]
pub async fn list(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    cluster: ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    resources::list::<FluxConfigurations>(state, caller, query, cluster, uri, headers).await
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}"),
    operation_id = "FluxConfigurations_Get",
    summary = "Gets a Flux configuration.",
    responses((status = 200, body = FluxConfiguration, description = "The Flux configuration.", headers(("ETag")))),
)]
pub async fn get(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    resources::get::<FluxConfigurations>(state, caller, query, path).await
}

#[utoipa::path(
    put,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}"),
    operation_id = "FluxConfigurations_CreateOrUpdate",
    summary = "Creates or replaces a Flux configuration (long-running).",
    request_body(content = FluxConfiguration, example = json!({"properties": {
        "scope": "cluster",
        "namespace": "cluster-config",
        "sourceKind": "GitRepository",
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
        "kustomizations": {"infra": {"path": "./infrastructure", "prune": true}}
    }})),
    responses(
        (status = 200, body = FluxConfiguration, description = "Updated (with Azure-AsyncOperation), or unchanged (without).",
            headers(("ETag"), ("Azure-AsyncOperation"), ("Retry-After" = u32), ("x-ms-async-operation-timeout"))),
        (status = 201, body = FluxConfiguration, description = "Created; poll the Azure-AsyncOperation URL.",
            headers(("ETag"), ("Azure-AsyncOperation"), ("Retry-After" = u32), ("x-ms-async-operation-timeout"))),
    ),
)]
pub async fn create_or_update(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
    body: RawBody,
) -> HttpResult {
    resources::put::<FluxConfigurations>(state, caller, query, path, headers, body).await
}

#[utoipa::path(
    patch,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}"),
    operation_id = "FluxConfigurations_Update",
    summary = "Updates a Flux configuration with a JSON merge patch (long-running).",
    request_body(content = FluxConfiguration, example = json!({"properties": {"suspend": true}})),
    responses(
        (status = 200, body = FluxConfiguration, description = "Nothing changed.", headers(("ETag"))),
        (status = 202, body = FluxConfiguration, description = ACCEPTED,
            headers(("ETag"), ("Azure-AsyncOperation"), ("Location"), ("Retry-After" = u32), ("x-ms-async-operation-timeout"))),
    ),
)]
pub async fn update(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
    body: RawBody,
) -> HttpResult {
    resources::patch::<FluxConfigurations>(state, caller, query, path, headers, body).await
}

#[utoipa::path(
    delete,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}"),
    operation_id = "FluxConfigurations_Delete",
    summary = "Deletes a Flux configuration (long-running; forceDelete=true deletes at once).",
    responses(
        (status = 200, description = "Deleted at once (forceDelete=true)."),
        (status = 202, description = ACCEPTED,
            headers(("Azure-AsyncOperation"), ("Location"), ("Retry-After" = u32), ("x-ms-async-operation-timeout"))),
        (status = 204, description = "There was nothing to delete."),
    ),
)]
pub async fn delete(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
) -> HttpResult {
    resources::delete::<FluxConfigurations>(state, caller, query, path, headers).await
}

/// The Azure-AsyncOperation URL.
#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}/operations/{operationId}"),
    operation_id = "FluxConfigOperationStatus_Get",
    summary = "Gets the status of an asynchronous operation on a Flux configuration.",
    responses((status = 200, body = OperationStatusResult,
        description = "The operation's status; while it runs, answered once it ends or after arm.status_wait.",
        headers(("Retry-After" = u32)))),
)]
pub async fn operation_status(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    resources::operation::<FluxConfigurations>(state, caller, query, path).await
}

/// The Location URL.
#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}/operationResults/{operationId}"),
    operation_id = "FluxConfigOperationResults_Get",
    summary = "The Location URL of an asynchronous operation on a Flux configuration: 202 while it runs, then its outcome.",
    responses(
        (status = 200, body = FluxConfiguration, description = "Succeeded: the resource as a GET returns it (PUT and PATCH).",
            headers(("ETag"))),
        (status = 202, description = "Still running: poll again after Retry-After.", headers(("Location"), ("Retry-After" = u32))),
        (status = 204, description = "Succeeded: the resource was deleted."),
    ),
)]
pub async fn operation_result(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
) -> HttpResult {
    resources::operation_result::<FluxConfigurations>(state, caller, query, path, headers).await
}
