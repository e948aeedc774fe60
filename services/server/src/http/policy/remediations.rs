//! `{scope}/providers/Microsoft.PolicyInsights/remediations` at subscription and resource-group scope: create,
//! read, list, delete, `cancel` and `listDeployments`. Each operation has a handler per scope (the OpenAPI
//! description names each route, `scoped_routes!`), both calling one function here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;

use crate::app::ArmCaller;
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, RawBody};

use super::{REMEDIATION_VERSIONS, api_version, deleted, list, scope_of, written};

async fn list_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, REMEDIATION_VERSIONS)?;
    let page = state
        .app
        .list_remediations(
            &scope_of(&params)?,
            query.skip_token()?.as_deref(),
            query.top(state.http.page_size)?,
        )
        .await?;
    Ok(list(&state, &headers, uri.path(), version, page))
}

async fn get_any(state: Arc<AppState>, query: ArmQuery, params: HashMap<String, String>) -> HttpResult {
    api_version(&query, REMEDIATION_VERSIONS)?;
    let view = state
        .app
        .remediation(&scope_of(&params)?, &params["remediationName"])
        .await?;
    Ok(Json(view).into_response())
}

async fn put_any(
    state: Arc<AppState>,
    caller: ArmCaller,
    query: ArmQuery,
    params: HashMap<String, String>,
    body: RawBody,
) -> HttpResult {
    api_version(&query, REMEDIATION_VERSIONS)?;
    let (view, created) = state
        .app
        .put_remediation(
            &scope_of(&params)?,
            &params["remediationName"],
            &body.json_object()?,
            &caller,
        )
        .await?;
    Ok(written(view, created))
}

async fn delete_any(state: Arc<AppState>, query: ArmQuery, params: HashMap<String, String>) -> HttpResult {
    api_version(&query, REMEDIATION_VERSIONS)?;
    Ok(deleted(
        state
            .app
            .delete_remediation(&scope_of(&params)?, &params["remediationName"])
            .await?,
    ))
}

async fn cancel_any(state: Arc<AppState>, query: ArmQuery, params: HashMap<String, String>) -> HttpResult {
    api_version(&query, REMEDIATION_VERSIONS)?;
    let view = state
        .app
        .cancel_remediation(&scope_of(&params)?, &params["remediationName"])
        .await?;
    Ok(Json(view).into_response())
}

async fn deployments_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, REMEDIATION_VERSIONS)?;
    let page = state
        .app
        .remediation_deployments(
            &scope_of(&params)?,
            &params["remediationName"],
            query.skip_token()?.as_deref(),
            query.top(state.http.page_size)?,
        )
        .await?;
    Ok(list(&state, &headers, uri.path(), version, page))
}

scoped_routes!(
    get,
    "Microsoft.PolicyInsights/remediations",
    "",
    list_at_subscription = ("Remediations_ListAtSubscription", "Lists remediation tasks."),
    list_at_resource_group = ("Remediations_ListAtResourceGroup", "Lists remediation tasks."),
    |state, caller, query, params, uri, headers, body| list_any(state, query, params, uri, headers).await,
    responses((
        status = 200,
        body = Object,
        description = "One page of remediations."
    ))
);

scoped_routes!(
    get,
    "Microsoft.PolicyInsights/remediations",
    "/{remediationName}",
    get_at_subscription = (
        "Remediations_GetAtSubscription",
        "Gets a remediation task with its progress."
    ),
    get_at_resource_group = (
        "Remediations_GetAtResourceGroup",
        "Gets a remediation task with its progress."
    ),
    |state, caller, query, params, uri, headers, body| get_any(state, query, params).await,
    responses((status = 200, body = Object, description = "The remediation."))
);

scoped_routes!(
    put,
    "Microsoft.PolicyInsights/remediations",
    "/{remediationName}",
    create_at_subscription = (
        "Remediations_CreateOrUpdateAtSubscription",
        "Creates a remediation task; it starts at once."
    ),
    create_at_resource_group = (
        "Remediations_CreateOrUpdateAtResourceGroup",
        "Creates a remediation task; it starts at once."
    ),
    |state, caller, query, params, uri, headers, body| put_any(state, caller, query, params, body).await,
    responses(
        (
            status = 200,
            body = Object,
            description = "The task exists as asked."
        ),
        (status = 201, body = Object, description = "Created."),
    ),
    request_body(
        content = Object,
        example = json!({"properties": {"policyAssignmentId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyAssignments/example", "parallelDeployments": 10}})
    )
);

scoped_routes!(
    delete,
    "Microsoft.PolicyInsights/remediations",
    "/{remediationName}",
    delete_at_subscription = (
        "Remediations_DeleteAtSubscription",
        "Deletes a remediation task (a running one stops)."
    ),
    delete_at_resource_group = (
        "Remediations_DeleteAtResourceGroup",
        "Deletes a remediation task (a running one stops)."
    ),
    |state, caller, query, params, uri, headers, body| delete_any(state, query, params).await,
    responses(
        (
            status = 200,
            body = Object,
            description = "Deleted; the task as it was."
        ),
        (status = 204, description = "There was no such task."),
    )
);

scoped_routes!(
    post,
    "Microsoft.PolicyInsights/remediations",
    "/{remediationName}/cancel",
    cancel_at_subscription = (
        "Remediations_CancelAtSubscription",
        "Cancels a running remediation task."
    ),
    cancel_at_resource_group = (
        "Remediations_CancelAtResourceGroup",
        "Cancels a running remediation task."
    ),
    |state, caller, query, params, uri, headers, body| cancel_any(state, query, params).await,
    responses((status = 200, body = Object, description = "The task, Cancelling."))
);

scoped_routes!(
    post,
    "Microsoft.PolicyInsights/remediations",
    "/{remediationName}/listDeployments",
    deployments_at_subscription = (
        "Remediations_ListDeploymentsAtSubscription",
        "Lists a remediation task's deployments."
    ),
    deployments_at_resource_group = (
        "Remediations_ListDeploymentsAtResourceGroup",
        "Lists a remediation task's deployments."
    ),
    |state, caller, query, params, uri, headers, body| deployments_any(state, query, params, uri, headers)
        .await,
    responses((
        status = 200,
        body = Object,
        description = "One page of deployments."
    ))
);
