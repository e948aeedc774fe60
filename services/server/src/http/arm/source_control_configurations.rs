//! `{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations`: the Flux v1 configurations that remain on a cluster (retired: GET, LIST and DELETE serve them until they are migrated; PUT is refused with a pointer to fluxConfigurations). Thin handlers over the generic
//! ones in `resources`; each one's `#[utoipa::path]` is its OpenAPI description (route, responses, the headers
//! each answer carries), and `routes` registers the handler and its description together.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};

use clusterconfig_model::arm::ListPage;
use clusterconfig_model::scc::SourceControlConfiguration;

use super::resources::{self, SourceControlConfigurations};
use crate::http::AppState;
use crate::http::error::HttpError;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, ClusterPath, ResourcePath};
use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::error::ErrorResponse;
use clusterconfig_model::ids::ResourceType;

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"),
    operation_id = "SourceControlConfigurations_List",
    summary = "Lists the Flux v1 configurations that remain on a cluster.",
    responses((status = 200, body = ListPage<SourceControlConfiguration>, description = "One page of Flux v1 configurations.")),
)]
pub async fn list(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    cluster: ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    resources::list::<SourceControlConfigurations>(state, caller, query, cluster, uri, headers).await
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}"),
    operation_id = "SourceControlConfigurations_Get",
    summary = "Gets a Flux v1 configuration.",
    responses((status = 200, body = SourceControlConfiguration, description = "The Flux v1 configuration.", headers(("ETag")))),
)]
pub async fn get(
    state: State<Arc<AppState>>,
    caller: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    resources::get::<SourceControlConfigurations>(state, caller, query, path).await
}

#[utoipa::path(
    put,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}"),
    operation_id = "SourceControlConfigurations_CreateOrUpdate",
    summary = "Refused: Flux v1 is retired; create a fluxConfiguration instead.",
    request_body(content = SourceControlConfiguration, example = json!({"properties": {
        "repositoryUrl": "https://github.com/Azure/arc-k8s-demo",
        "operatorNamespace": "flux",
        "operatorInstanceName": "demo",
        "operatorScope": "namespace"
    }})),
    responses((status = 400, body = ErrorResponse, description = "Always: FluxV1ConfigurationsRetired.")),
)]
pub async fn create_or_update(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    query.api_version(ApiSurface::Resource(ResourceType::SourceControlConfigurations))?;
    Err(HttpError(state.app.put_source_control(
        &path.target(ResourceType::SourceControlConfigurations)?,
    )))
}

#[utoipa::path(
    delete,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}"),
    operation_id = "SourceControlConfigurations_Delete",
    summary = "Deletes a Flux v1 configuration.",
    responses(
        (status = 200, description = "Deleted."),
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
    resources::delete::<SourceControlConfigurations>(state, caller, query, path, headers).await
}
