//! The Azure Policy surface the service serves itself, in ARM's own shapes so that Microsoft's clients
//! (`azure-mgmt-resource-policy`'s PolicyClient, `azure-mgmt-policyinsights`'s PolicyInsightsClient, Azure CLI)
//! work against it unmodified: `Microsoft.Authorization` definitions and assignments, `Microsoft.PolicyInsights`
//! remediations and policy states; and the operator's cluster inventory. One file per resource; handlers stay
//! thin over `app::policy`.

/// Two handlers of one operation on `{scope}/providers/$collection$suffix`: at a subscription (`$sub`) and at a
/// resource group (`$rg`), each with its own OpenAPI operation, both evaluating `$call`. The route's handler
/// arguments are bound to the closure's names; an operation uses the ones it needs.
macro_rules! scoped_routes {
    (
        $method:ident, $collection:literal, $suffix:literal,
        $sub:ident = ($sub_op:literal, $sub_summary:literal),
        $rg:ident = ($rg_op:literal, $rg_summary:literal),
        |$state:ident, $caller:ident, $query:ident, $params:ident, $uri:ident, $headers:ident, $body:ident| $call:expr,
        responses($($responses:tt)*) $(, request_body($($request:tt)*))?
    ) => {
        scoped_routes!(@one $method,
            concat!("/subscriptions/{subscriptionId}/providers/", $collection, $suffix),
            $sub, $sub_op, $sub_summary,
            |$state, $caller, $query, $params, $uri, $headers, $body| $call,
            responses($($responses)*) $(, request_body($($request)*))?);
        scoped_routes!(@one $method,
            concat!("/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/", $collection, $suffix),
            $rg, $rg_op, $rg_summary,
            |$state, $caller, $query, $params, $uri, $headers, $body| $call,
            responses($($responses)*) $(, request_body($($request)*))?);
    };
    (
        @one $method:ident, $path:expr, $name:ident, $op:literal, $summary:literal,
        |$state:ident, $caller:ident, $query:ident, $params:ident, $uri:ident, $headers:ident, $body:ident| $call:expr,
        responses($($responses:tt)*) $(, request_body($($request:tt)*))?
    ) => {
        #[utoipa::path(
            $method,
            path = $path,
            operation_id = $op,
            summary = $summary,
            $(request_body($($request)*),)?
            responses($($responses)*),
        )]
        #[allow(unused_variables)]
        pub async fn $name(
            axum::extract::State($state): axum::extract::State<std::sync::Arc<$crate::http::AppState>>,
            $crate::http::extract::Caller($caller): $crate::http::extract::Caller,
            $query: $crate::http::extract::ArmQuery,
            axum::extract::Path($params): axum::extract::Path<std::collections::HashMap<String, String>>,
            $uri: axum::http::Uri,
            $headers: axum::http::HeaderMap,
            $body: $crate::http::extract::RawBody,
        ) -> $crate::http::error::HttpResult {
            $call
        }
    };
}

pub mod assignments;
pub mod definitions;
pub mod inventory;
pub mod remediations;
pub mod states;

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use clusterconfig_model::api_version::check_listed;

use super::AppState;
use super::error::HttpError;
use super::extract::ArmQuery;
use super::links::{Links, encode_skip_token};
use crate::app::Page;
use crate::app::policy::PolicyScope;

/// `Microsoft.Authorization` policy definitions and assignments: the stable api-versions from 2021-06-01 to
/// 2026-06-01 (azure-mgmt-resource-policy 1.0.0's default).
pub const AUTHORIZATION_VERSIONS: &[&str] = &[
    "2021-06-01",
    "2022-06-01",
    "2023-04-01",
    "2024-04-01",
    "2024-05-01",
    "2025-01-01",
    "2025-03-01",
    "2025-11-01",
    "2026-06-01",
];
/// `Microsoft.PolicyInsights/remediations` (azure-mgmt-policyinsights 1.0.1 sends 2019-07-01).
pub const REMEDIATION_VERSIONS: &[&str] = &["2019-07-01", "2021-10-01"];
/// `Microsoft.PolicyInsights/policyStates`.
pub const POLICY_STATES_VERSIONS: &[&str] = &["2019-10-01"];

pub fn api_version(query: &ArmQuery, supported: &[&'static str]) -> Result<&'static str, HttpError> {
    Ok(check_listed(query.get("api-version"), supported)?)
}

/// The scope named by a route's `subscriptionId` and (if present) `resourceGroupName`.
pub fn scope_of(params: &HashMap<String, String>) -> Result<PolicyScope, HttpError> {
    let subscription = params
        .get("subscriptionId")
        .map(String::as_str)
        .unwrap_or_default();
    Ok(match params.get("resourceGroupName") {
        Some(rg) => PolicyScope::resource_group(subscription, rg)?,
        None => PolicyScope::subscription(subscription)?,
    })
}

/// A written object: 201 when created, 200 when replaced.
pub fn written(view: Value, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(view)).into_response()
}

/// A page of objects as ARM lists them, with `nextLink` when there is more.
pub fn list(state: &AppState, headers: &HeaderMap, path: &str, version: &str, page: Page<Value>) -> Response {
    let mut body = json!({"value": page.items});
    if let Some(next) = page.next {
        let links = Links::from_headers(headers, &state.http.public_scheme, &state.http.link_hosts);
        body["nextLink"] = json!(links.next_page(path, version, &encode_skip_token(&next)));
    }
    Json(body).into_response()
}

/// A DELETE: 200 with what was deleted, 204 when there was nothing.
pub fn deleted(view: Option<Value>) -> Response {
    match view {
        Some(view) => Json(view).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}
