//! `/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions`: definitions as Azure
//! publishes them (the built-in GitOps ones unmodified).

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

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions",
    operation_id = "PolicyDefinitions_List",
    summary = "Lists the policy definitions of a subscription.",
    responses((status = 200, body = Object, description = "One page of definitions.")),
)]
pub async fn list_at_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, AUTHORIZATION_VERSIONS)?;
    let scope = scope_of(&params)?;
    let page = state
        .app
        .list_policy_definitions(
            &scope,
            query.skip_token()?.as_deref(),
            query.top(state.http.page_size)?,
        )
        .await?;
    Ok(list(&state, &headers, uri.path(), version, page))
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions/{policyDefinitionName}",
    operation_id = "PolicyDefinitions_Get",
    summary = "Gets a policy definition.",
    responses((status = 200, body = Object, description = "The definition.")),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let view = state
        .app
        .policy_definition(&scope_of(&params)?, &params["policyDefinitionName"])
        .await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(
    put,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions/{policyDefinitionName}",
    operation_id = "PolicyDefinitions_CreateOrUpdate",
    summary = "Creates or replaces a policy definition (a definition as Azure publishes it).",
    request_body(content = Object, example = json!({"properties": {"mode": "Indexed", "policyRule": {
        "if": {"field": "type", "equals": "Microsoft.Kubernetes/connectedClusters"},
        "then": {"effect": "audit"}}}})),
    responses(
        (status = 200, body = Object, description = "Replaced."),
        (status = 201, body = Object, description = "Created."),
    ),
)]
pub async fn create_or_update(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
    body: RawBody,
) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let (view, created) = state
        .app
        .put_policy_definition(
            &scope_of(&params)?,
            &params["policyDefinitionName"],
            &body.json_object()?,
            &caller,
        )
        .await?;
    Ok(written(view, created))
}

#[utoipa::path(
    delete,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/policyDefinitions/{policyDefinitionName}",
    operation_id = "PolicyDefinitions_Delete",
    summary = "Deletes a policy definition (not while it is assigned).",
    responses(
        (status = 200, description = "Deleted."),
        (status = 204, description = "There was no such definition."),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    api_version(&query, AUTHORIZATION_VERSIONS)?;
    let existed = state
        .app
        .delete_policy_definition(&scope_of(&params)?, &params["policyDefinitionName"])
        .await?;
    Ok(if existed {
        axum::http::StatusCode::OK.into_response()
    } else {
        deleted(None)
    })
}
