//! The operator's cluster inventory (`/operator/v1/...`, ARM tokens): import the clusters `az graph query`
//! lists, so a fleet can be assigned before its agents connect; list them as policy sees them; forget one,
//! which purges everything of it (the parent-cluster cleanup ARM leaves to the resource provider).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use clusterconfig_model::ids::ClusterId;

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{Caller, RawBody};

#[utoipa::path(
    post,
    path = "/operator/v1/clusters/import",
    operation_id = "ClusterInventory_Import",
    summary = "Imports clusters: the JSON az graph query prints for connectedClusters and managedClusters (id, name, type, location, tags).",
    request_body(content = Object, example = json!({"data": [{"id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/examples/providers/Microsoft.Kubernetes/connectedClusters/example-cluster", "name": "example-cluster", "type": "microsoft.kubernetes/connectedclusters", "location": "westeurope", "tags": {"env": "prod"}}]})),
    responses((status = 200, body = Object, description = "{\"added\", \"updated\", \"unchanged\"}")),
)]
pub async fn import(State(state): State<Arc<AppState>>, _: Caller, body: RawBody) -> HttpResult {
    let outcome = state.app.import_clusters(&body.json()?).await?;
    Ok(Json(outcome).into_response())
}

#[utoipa::path(
    get,
    path = "/operator/v1/subscriptions/{subscriptionId}/clusters",
    operation_id = "ClusterInventory_List",
    summary = "The clusters of a subscription as policy sees them, with their agent's last contact.",
    responses((status = 200, body = Object, description = "{\"value\": [...]}")),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    let subscription = clusterconfig_model::ids::SubscriptionId::parse(&params["subscriptionId"])?;
    let clusters = state.app.inventory(subscription.as_str(), None).await?;
    Ok(Json(json!({"value": clusters})).into_response())
}

#[utoipa::path(
    delete,
    path = "/operator/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}",
    operation_id = "ClusterInventory_Forget",
    summary = "Forgets a cluster: every record of it is purged, secrets included.",
    responses(
        (status = 200, description = "Forgotten."),
        (status = 204, description = "The cluster was not known."),
    ),
)]
pub async fn forget(
    State(state): State<Arc<AppState>>,
    _: Caller,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    let cluster = ClusterId::from_parts(
        &params["subscriptionId"],
        &params["resourceGroupName"],
        &params["clusterRp"],
        &params["clusterResourceName"],
        &params["clusterName"],
    )?;
    Ok(if state.app.forget_cluster(&cluster).await? {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}
