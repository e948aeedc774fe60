//! `{cluster}/providers/Microsoft.KubernetesConfiguration/extensions`: the extensions of a cluster (microsoft.flux among them). Thin handlers over the generic
//! ones in `resources`; each one's `#[utoipa::path]` is its OpenAPI description (route, responses, the headers
//! each answer carries), and `routes` registers the handler and its description together.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};

use clusterconfig_model::arm::ListPage;
use clusterconfig_model::arm::OperationStatusResult;
use clusterconfig_model::extension::Extension;

use super::resources::{self, Extensions};
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, ClusterPath, RawBody, ResourcePath};
use crate::http::openapi::ACCEPTED;

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions"),
    operation_id = "Extensions_List",
    summary = "Lists the extensions of a cluster.",
    responses((status = 200, body = ListPage<Extension>, description = "One page of extensions.")),
)]
pub async fn list(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    cluster: ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    resources::list::<Extensions>(state, caller, query, cluster, uri, headers).await
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}"),
    operation_id = "Extensions_Get",
    summary = "Gets an extension.",
    responses((status = 200, body = Extension, description = "The extension.", headers(("ETag")))),
)]
pub async fn get(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    resources::get::<Extensions>(state, caller, query, path).await
}

#[utoipa::path(
    put,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}"),
    operation_id = "Extensions_Create",
    summary = "Creates or replaces an extension (long-running).",
    request_body(content = Extension, example = json!({"properties": {
        "extensionType": "microsoft.flux",
        "autoUpgradeMinorVersion": true,
        "releaseTrain": "Stable",
        "scope": {"cluster": {"releaseNamespace": "flux-system"}}
    }})),
    responses(
        (status = 200, body = Extension, description = "Updated (with Azure-AsyncOperation), or unchanged (without).",
            headers(("ETag"), ("Azure-AsyncOperation"), ("Retry-After" = u32), ("x-ms-async-operation-timeout"))),
        (status = 201, body = Extension, description = "Created; poll the Azure-AsyncOperation URL.",
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
    resources::put::<Extensions>(state, caller, query, path, headers, body).await
}

#[utoipa::path(
    patch,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}"),
    operation_id = "Extensions_Update",
    summary = "Updates an extension with a JSON merge patch (long-running).",
    request_body(content = Extension, example = json!({"properties": {"autoUpgradeMinorVersion": false}})),
    responses(
        (status = 200, body = Extension, description = "Nothing changed.", headers(("ETag"))),
        (status = 202, body = Extension, description = ACCEPTED,
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
    resources::patch::<Extensions>(state, caller, query, path, headers, body).await
}

#[utoipa::path(
    delete,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}"),
    operation_id = "Extensions_Delete",
    summary = "Deletes an extension (long-running; forceDelete=true deletes at once).",
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
    resources::delete::<Extensions>(state, caller, query, path, headers).await
}

/// The Azure-AsyncOperation URL.
#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}/operations/{operationId}"),
    operation_id = "OperationStatus_Get",
    summary = "Gets the status of an asynchronous operation on an extension.",
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
    resources::operation::<Extensions>(state, caller, query, path).await
}

/// The Location URL.
#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensions/{name}/operationResults/{operationId}"),
    operation_id = "ExtensionOperationResults_Get",
    summary = "The Location URL of an asynchronous operation on an extension: 202 while it runs, then its outcome.",
    responses(
        (status = 200, body = Extension, description = "Succeeded: the resource as a GET returns it (PUT and PATCH).",
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
    resources::operation_result::<Extensions>(state, caller, query, path, headers).await
}
