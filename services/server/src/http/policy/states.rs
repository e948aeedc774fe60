//! `Microsoft.PolicyInsights/policyStates`: `queryResults` and `summarize` at a subscription, a resource group,
//! and one assignment (made at either); `triggerEvaluation` with its async result. `policyStatesResource` is
//! `latest` (or `default`: the service keeps the latest state only).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;

use clusterconfig_model::error::{ArmError, codes};

use crate::app::policy::{ASSIGNMENT_TYPE, StatesQuery, SummaryScope, object_id};
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller};
use crate::http::links::{Links, encode_skip_token};

use super::{POLICY_STATES_VERSIONS, api_version, scope_of};

type Params = Path<HashMap<String, String>>;

/// What a path's parameters address: an assignment when it names one, else its subscription or group.
fn summary_scope(params: &HashMap<String, String>) -> Result<SummaryScope, crate::http::error::HttpError> {
    let resource = params
        .get("policyStatesResource")
        .or_else(|| params.get("policyStatesSummaryResource"))
        .map(String::as_str)
        .unwrap_or("latest");
    if !resource.eq_ignore_ascii_case("latest") && !resource.eq_ignore_ascii_case("default") {
        return Err(ArmError::new(
            400,
            codes::INVALID_REQUEST_CONTENT,
            "The policy states resource must be 'latest' (or 'default').",
        )
        .with_target("policyStatesResource")
        .into());
    }
    let scope = scope_of(params)?;
    Ok(match params.get("policyAssignmentName") {
        Some(name) => SummaryScope::Assignment(object_id(&scope, ASSIGNMENT_TYPE, name).to_ascii_lowercase()),
        None => SummaryScope::Scope(scope),
    })
}

fn states_query(query: &ArmQuery) -> Result<StatesQuery, crate::http::error::HttpError> {
    let top = match query.get("$top") {
        None => None,
        Some(_) => Some(query.top(1000)?),
    };
    Ok(StatesQuery {
        filter: query.get("$filter").map(str::to_owned),
        top,
        skip_token: query.skip_token()?,
    })
}

async fn query_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, POLICY_STATES_VERSIONS)?;
    let scope = summary_scope(&params)?;
    let links = Links::from_headers(&headers, &state.http.public_scheme, &state.http.link_hosts);
    let context = format!(
        "{}#latest",
        links
            .absolute(&metadata_path(uri.path()), version)
            .split('?')
            .next()
            .unwrap_or_default()
    );
    let page = state
        .app
        .query_policy_states(&scope, &states_query(&query)?, &context)
        .await?;
    let mut body = json!({
        "@odata.context": context,
        "@odata.count": page.items.len(),
        "value": page.items,
    });
    if let Some(next) = page.next {
        body["@odata.nextLink"] = json!(links.next_page(uri.path(), version, &encode_skip_token(&next)));
    }
    Ok(Json(body).into_response())
}

async fn summarize_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, POLICY_STATES_VERSIONS)?;
    let scope = summary_scope(&params)?;
    let links = Links::from_headers(&headers, &state.http.public_scheme, &state.http.link_hosts);
    let context = format!(
        "{}#summary",
        links
            .absolute(&metadata_path(uri.path()), version)
            .split('?')
            .next()
            .unwrap_or_default()
    );
    let query_results = links.absolute(&uri.path().replace("/summarize", "/queryResults"), version);
    let body = state
        .app
        .summarize_policy_states(&scope, &states_query(&query)?, &context, &query_results)
        .await?;
    Ok(Json(body).into_response())
}

/// `…/policyStates/$metadata`, the OData context of a states path.
fn metadata_path(path: &str) -> String {
    match path.find("/policyStates/") {
        Some(at) => format!("{}/policyStates/$metadata", &path[..at]),
        None => path.to_owned(),
    }
}

/// Two handlers of one operation: at a subscription and at a resource group; `$assignment` adds the path of
/// an assignment made there.
macro_rules! states_route {
    ($op:literal, $summary:literal, $segment:literal, $resource:literal, $prefix:literal, $sub:ident, $rg:ident, $call:ident) => {
        #[utoipa::path(
            post,
            path = concat!("/subscriptions/{subscriptionId}", $prefix, "/providers/Microsoft.PolicyInsights/policyStates/{", $resource, "}/", $segment),
            operation_id = concat!("PolicyStates_", $op, "Subscription"),
            summary = $summary,
            responses((status = 200, body = Object, description = "The states.")),
        )]
        pub async fn $sub(State(state): State<Arc<AppState>>, _: Caller, query: ArmQuery, Path(params): Params, uri: Uri, headers: HeaderMap) -> HttpResult {
            $call(state, query, params, uri, headers).await
        }

        #[utoipa::path(
            post,
            path = concat!("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}", $prefix, "/providers/Microsoft.PolicyInsights/policyStates/{", $resource, "}/", $segment),
            operation_id = concat!("PolicyStates_", $op, "ResourceGroup"),
            summary = $summary,
            responses((status = 200, body = Object, description = "The states.")),
        )]
        pub async fn $rg(State(state): State<Arc<AppState>>, _: Caller, query: ArmQuery, Path(params): Params, uri: Uri, headers: HeaderMap) -> HttpResult {
            $call(state, query, params, uri, headers).await
        }
    };
}

states_route!(
    "ListQueryResultsFor",
    "The clusters' compliance states in a scope ($filter, $top).",
    "queryResults",
    "policyStatesResource",
    "",
    query_at_subscription,
    query_at_resource_group,
    query_any
);
states_route!(
    "SummarizeFor",
    "Compliant and non-compliant clusters per assignment in a scope.",
    "summarize",
    "policyStatesSummaryResource",
    "",
    summarize_at_subscription,
    summarize_at_resource_group,
    summarize_any
);
states_route!(
    "ListQueryResultsForSubscriptionLevelPolicyAssignment_",
    "The clusters' compliance states for one assignment.",
    "queryResults",
    "policyStatesResource",
    "/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    query_for_assignment_at_subscription,
    query_for_assignment_at_resource_group,
    query_any
);
states_route!(
    "SummarizeForPolicyAssignment_",
    "Compliant and non-compliant clusters for one assignment.",
    "summarize",
    "policyStatesSummaryResource",
    "/providers/Microsoft.Authorization/policyAssignments/{policyAssignmentName}",
    summarize_for_assignment_at_subscription,
    summarize_for_assignment_at_resource_group,
    summarize_any
);

async fn trigger_any(
    state: Arc<AppState>,
    query: ArmQuery,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, POLICY_STATES_VERSIONS)?;
    let scope = scope_of(&params)?;
    let queued = state.app.trigger_policy_evaluation(&scope).await?;
    tracing::info!(scope = %scope.id(), queued, "policy evaluation triggered");
    let links = Links::from_headers(&headers, &state.http.public_scheme, &state.http.link_hosts);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let location = links.absolute(
        &format!(
            "/subscriptions/{}/providers/Microsoft.PolicyInsights/asyncOperationResults/{token}",
            scope.subscription_id()
        ),
        version,
    );
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(state.http.retry_after_seconds));
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation",
    operation_id = "PolicyStates_TriggerSubscriptionEvaluation",
    summary = "Evaluates every cluster of a subscription again (long-running: poll the Location URL).",
    responses((status = 202, description = "Accepted.", headers(("Location"), ("Retry-After" = u32)))),
)]
pub async fn trigger_at_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Params,
    headers: HeaderMap,
) -> HttpResult {
    trigger_any(state, query, params, headers).await
}

#[utoipa::path(
    post,
    path = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation",
    operation_id = "PolicyStates_TriggerResourceGroupEvaluation",
    summary = "Evaluates every cluster of a resource group again (long-running: poll the Location URL).",
    responses((status = 202, description = "Accepted.", headers(("Location"), ("Retry-After" = u32)))),
)]
pub async fn trigger_at_resource_group(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Params,
    headers: HeaderMap,
) -> HttpResult {
    trigger_any(state, query, params, headers).await
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.PolicyInsights/asyncOperationResults/{operationId}",
    operation_id = "PolicyStates_EvaluationResult",
    summary = "The outcome of a triggered evaluation: 202 while clusters wait to be evaluated, then 200.",
    responses(
        (status = 200, body = Object, description = "{\"status\": \"Succeeded\"}"),
        (status = 202, description = "Still evaluating.", headers(("Location"), ("Retry-After" = u32))),
    ),
)]
pub async fn evaluation_result(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = api_version(&query, POLICY_STATES_VERSIONS)?;
    if state.app.policy().queue.is_empty() {
        return Ok(Json(json!({"status": "Succeeded"})).into_response());
    }
    let links = Links::from_headers(&headers, &state.http.public_scheme, &state.http.link_hosts);
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(value) = HeaderValue::from_str(&links.absolute(uri.path(), version)) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(state.http.retry_after_seconds));
    Ok(response)
}
