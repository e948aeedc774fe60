//! `{scope}/providers/Microsoft.Authorization/policyAssignments` at subscription and resource-group scope: one
//! function per operation, and a handler per scope for each (`scoped_routes!`), as the OpenAPI description names
//! each route.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, RawBody};

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

scoped_routes!(
    get,
    "Microsoft.Authorization/policyAssignments",
    "",
    list_at_subscription = (
        "PolicyAssignments_List",
        "Lists the policy assignments of a subscription (at it and at its resource groups)."
    ),
    list_at_resource_group = (
        "PolicyAssignments_ListForResourceGroup",
        "Lists the policy assignments that apply to a resource group (at it and at its subscription)."
    ),
    |state, caller, query, params, uri, headers, body| list_any(state, query, params, uri, headers).await,
    responses((
        status = 200,
        body = Object,
        description = "One page of assignments."
    ))
);

scoped_routes!(
    get,
    "Microsoft.Authorization/policyAssignments",
    "/{policyAssignmentName}",
    get_at_subscription = (
        "PolicyAssignments_Get",
        "Gets a policy assignment made at a subscription."
    ),
    get_at_resource_group = (
        "PolicyAssignments_GetAtResourceGroup",
        "Gets a policy assignment made at a resource group."
    ),
    |state, caller, query, params, uri, headers, body| get_any(state, query, params).await,
    responses((status = 200, body = Object, description = "The assignment."))
);

scoped_routes!(
    put,
    "Microsoft.Authorization/policyAssignments",
    "/{policyAssignmentName}",
    create_at_subscription = (
        "PolicyAssignments_Create",
        "Creates or replaces a policy assignment at a subscription; every cluster it covers is evaluated."
    ),
    create_at_resource_group = (
        "PolicyAssignments_CreateAtResourceGroup",
        "Creates or replaces a policy assignment at a resource group; every cluster it covers is evaluated."
    ),
    |state, caller, query, params, uri, headers, body| put_any(state, caller, query, params, body).await,
    responses(
        (status = 200, body = Object, description = "Replaced."),
        (status = 201, body = Object, description = "Created."),
    ),
    request_body(
        content = Object,
        example = json!({"properties": {"policyDefinitionId": "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/policyDefinitions/example"}})
    )
);

scoped_routes!(
    delete,
    "Microsoft.Authorization/policyAssignments",
    "/{policyAssignmentName}",
    delete_at_subscription = (
        "PolicyAssignments_Delete",
        "Deletes a policy assignment made at a subscription, with every cluster's state for it."
    ),
    delete_at_resource_group = (
        "PolicyAssignments_DeleteAtResourceGroup",
        "Deletes a policy assignment made at a resource group, with every cluster's state for it."
    ),
    |state, caller, query, params, uri, headers, body| delete_any(state, query, params).await,
    responses(
        (
            status = 200,
            body = Object,
            description = "Deleted; the assignment as it was."
        ),
        (status = 204, description = "There was no such assignment."),
    )
);
