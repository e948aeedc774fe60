//! `{scope}/providers/Microsoft.Authorization/policyAssignments` at subscription and resource-group scope.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, RawBody};

use super::{AUTHORIZATION_VERSIONS, api_version, deleted, list, scope_of, written};

async fn list_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, AUTHORIZATION_VERSIONS)?;
    let page = state
        .app
        .list_policy_assignments(
            &scope_of(&params)?,
            query.skip_token()?.as_deref(),
            query.top(state.http.page_size)?,
        )
        .await?;
    Ok(list(&state, &headers, uri.path(), version, page))
}

async fn get_any(state: Arc<AppState>, query: ArmQuery, params: HashMap<String, String>) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let view = state
        .app
        .policy_assignment(&scope_of(&params)?, &params["policyAssignmentName"])
        .await?;
    Ok(Json(view).into_response())
}

async fn put_any(
    state: Arc<AppState>,
    caller: crate::app::ArmCaller,
    query: ArmQuery,
    params: HashMap<String, String>,
    body: RawBody,
) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let (view, created) = state
        .app
        .put_policy_assignment(
            &scope_of(&params)?,
            &params["policyAssignmentName"],
            &body.json_object()?,
            &caller,
        )
        .await?;
    Ok(written(view, created))
}

async fn delete_any(state: Arc<AppState>, query: ArmQuery, params: HashMap<String, String>) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let view = state
        .app
        .delete_policy_assignment(&scope_of(&params)?, &params["policyAssignmentName"])
        .await?;
    Ok(deleted(view))
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyAssignments",
    operation_id = "PolicyAssignments_List",
    summary = "Lists the policy assignments of a subscription (at it and at its resource groups).",
    responses((status = 200, body = Object, description = "One page of assignments.")),
)]
pub async fn list_at_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    list_any(state, query, params, uri, headers).await
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/policyAssignments",
    operation_id = "PolicyAssignments_ListForResourceGroup",
    summary = "Lists the policy assignments that apply to a resource group (at it and at its subscription).",
    responses((status = 200, body = Object, description = "One page of assignments.")),
)]
pub async fn list_at_resource_group(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    list_any(state, query, params, uri, headers).await
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_Get",
    summary = "Gets a policy assignment made at a subscription.",
    responses((status = 200, body = Object, description = "The assignment.")),
)]
pub async fn get_at_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    get_any(state, query, params).await
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_GetAtResourceGroup",
    summary = "Gets a policy assignment made at a resource group.",
    responses((status = 200, body = Object, description = "The assignment.")),
)]
pub async fn get_at_resource_group(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    get_any(state, query, params).await
}

#[utoipa::path(
    put,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_Create",
    summary = "Creates or replaces a policy assignment at a subscription; every cluster it covers is evaluated.",
    request_body(content = Object, example = json!({"properties": {"policyDefinitionId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyDefinitions/example"}})),
    responses(
        (status = 200, body = Object, description = "Replaced."),
        (status = 201, body = Object, description = "Created."),
    ),
)]
pub async fn create_at_subscription(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    body: RawBody,
) -> HttpResult {
    put_any(state, caller, query, params, body).await
}

#[utoipa::path(
    put,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_CreateAtResourceGroup",
    summary = "Creates or replaces a policy assignment at a resource group; every cluster it covers is evaluated.",
    request_body(content = Object, example = json!({"properties": {"policyDefinitionId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyDefinitions/example"}})),
    responses(
        (status = 200, body = Object, description = "Replaced."),
        (status = 201, body = Object, description = "Created."),
    ),
)]
pub async fn create_at_resource_group(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    body: RawBody,
) -> HttpResult {
    put_any(state, caller, query, params, body).await
}

#[utoipa::path(
    delete,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_Delete",
    summary = "Deletes a policy assignment made at a subscription, with every cluster's state for it.",
    responses(
        (status = 200, body = Object, description = "Deleted; the assignment as it was."),
        (status = 204, description = "There was no such assignment."),
    ),
)]
pub async fn delete_at_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    delete_any(state, query, params).await
}

#[utoipa::path(
    delete,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    operation_id = "PolicyAssignments_DeleteAtResourceGroup",
    summary = "Deletes a policy assignment made at a resource group, with every cluster's state for it.",
    responses(
        (status = 200, body = Object, description = "Deleted; the assignment as it was."),
        (status = 204, description = "There was no such assignment."),
    ),
)]
pub async fn delete_at_resource_group(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    delete_any(state, query, params).await
}
