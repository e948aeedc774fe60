//! `{scope}/providers/Microsoft.PolicyInsights/remediations` at subscription and resource-group scope: create,
//! read, list, delete, `cancel` and `listDeployments`. Each operation has a handler per scope (the OpenAPI
//! description names each route), both calling one function here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;

use crate::app::ArmCaller;
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, RawBody};

use super::{REMEDIATION_VERSIONS, api_version, deleted, list, scope_of, written};

type Params = Path<HashMap<String, String>>;

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

/// Two handlers of one operation: at a subscription (`$sub`) and at a resource group (`$rg`).
macro_rules! scoped {
    (
        $method:ident, $suffix:literal, $op:literal, $summary:literal,
        $sub:ident, $rg:ident, |$state:ident, $caller:ident, $query:ident, $params:ident, $uri:ident, $headers:ident, $body:ident| $call:expr,
        responses($($responses:tt)*) $(, request_body($($request:tt)*))?
    ) => {
        #[utoipa::path(
            $method,
            path = concat!("/subscriptions/{subscriptionId}/providers/Microsoft.PolicyInsights/remediations", $suffix),
            operation_id = concat!("Remediations_", $op, "AtSubscription"),
            summary = $summary,
            $(request_body($($request)*),)?
            responses($($responses)*),
        )]
        #[allow(unused_variables)]
        pub async fn $sub(
            State($state): State<Arc<AppState>>,
            Caller($caller): Caller,
            $query: ArmQuery,
            Path($params): Params,
            $uri: Uri,
            $headers: HeaderMap,
            $body: RawBody,
        ) -> HttpResult {
            $call
        }

        #[utoipa::path(
            $method,
            path = concat!("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.PolicyInsights/remediations", $suffix),
            operation_id = concat!("Remediations_", $op, "AtResourceGroup"),
            summary = $summary,
            $(request_body($($request)*),)?
            responses($($responses)*),
        )]
        #[allow(unused_variables)]
        pub async fn $rg(
            State($state): State<Arc<AppState>>,
            Caller($caller): Caller,
            $query: ArmQuery,
            Path($params): Params,
            $uri: Uri,
            $headers: HeaderMap,
            $body: RawBody,
        ) -> HttpResult {
            $call
        }
    };
}

scoped!(
    get,
    "",
    "List",
    "Lists remediation tasks.",
    list_at_subscription,
    list_at_resource_group,
    |state, caller, query, params, uri, headers, body| list_any(state, query, params, uri, headers).await,
    responses((
        status = 200,
        body = Object,
        description = "One page of remediations."
    ))
);

scoped!(
    get,
    "/{remediationName}",
    "Get",
    "Gets a remediation task with its progress.",
    get_at_subscription,
    get_at_resource_group,
    |state, caller, query, params, uri, headers, body| get_any(state, query, params).await,
    responses((status = 200, body = Object, description = "The remediation."))
);

scoped!(
    put,
    "/{remediationName}",
    "CreateOrUpdate",
    "Creates a remediation task; it starts at once.",
    create_at_subscription,
    create_at_resource_group,
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

scoped!(
    delete,
    "/{remediationName}",
    "Delete",
    "Deletes a remediation task (a running one stops).",
    delete_at_subscription,
    delete_at_resource_group,
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

scoped!(
    post,
    "/{remediationName}/cancel",
    "Cancel",
    "Cancels a running remediation task.",
    cancel_at_subscription,
    cancel_at_resource_group,
    |state, caller, query, params, uri, headers, body| cancel_any(state, query, params).await,
    responses((status = 200, body = Object, description = "The task, Cancelling."))
);

scoped!(
    post,
    "/{remediationName}/listDeployments",
    "ListDeployments",
    "Lists a remediation task's deployments.",
    deployments_at_subscription,
    deployments_at_resource_group,
    |state, caller, query, params, uri, headers, body| deployments_any(state, query, params, uri, headers)
        .await,
    responses((
        status = 200,
        body = Object,
        description = "One page of deployments."
    ))
);
