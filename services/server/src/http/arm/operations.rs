//! `GET /providers/Microsoft.KubernetesConfiguration/operations` (the provider's RBAC operations) and
//! `GET {cluster}/providers/Microsoft.KubernetesConfiguration/operations` (the cluster's running operations).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;

use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::arm::{ListPage, OperationStatusResult, ProviderOperation, provider_operations};
use clusterconfig_model::error::ArmError;

use crate::app::Page;
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, ClusterPath};
use crate::http::respond;

#[utoipa::path(
    get,
    path = "/providers/Microsoft.KubernetesConfiguration/operations",
    operation_id = "Operations_List",
    summary = "Lists the operations of the resource provider.",
    responses((status = 200, body = ListPage<ProviderOperation>, description = "The provider's operations.")),
)]
pub async fn provider(_: Caller, query: ArmQuery) -> HttpResult {
    query.api_version(ApiSurface::ProviderOperations)?;
    Ok(Json(ListPage {
        value: provider_operations(),
        next_link: None,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/operations"),
    operation_id = "OperationStatus_List",
    summary = "Lists the running asynchronous operations of a cluster.",
    responses((status = 200, body = ListPage<OperationStatusResult>, description = "The cluster's running operations.")),
)]
pub async fn cluster(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = query.api_version(ApiSurface::ClusterOperations)?;
    let after = query
        .skip_token()?
        .map(|position| {
            position
                .parse()
                .map_err(|_| ArmError::invalid_content("The $skipToken is not valid."))
        })
        .transpose()?;
    let page = state
        .app
        .cluster_operations(&cluster, after, query.top(state.http.page_size)?)
        .await?;
    let page = Page {
        items: page.items.into_iter().map(|view| view.0).collect(),
        next: page.next,
    };
    Ok(respond::list(
        &state,
        &headers,
        uri.path(),
        version.as_str(),
        page,
    ))
}
