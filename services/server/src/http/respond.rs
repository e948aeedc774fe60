//! Responses of the ARM API: resources cut to the requested api-version, and the long-running-operation
//! headers of writes (`Azure-AsyncOperation` with the api-version, `Retry-After`, `x-ms-async-operation-timeout`).

use axum::Json;
use axum::http::header::{ETAG, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use clusterconfig_model::api_version::ApiVersion;
use clusterconfig_model::arm::ListPage;
use clusterconfig_model::ids::ResourceType;
use clusterconfig_model::versioning::filter_response;
use clusterconfig_store::OperationRecord;

use super::AppState;
use super::links::{Links, encode_skip_token};
use crate::app::{Page, ResourceView, Target, WriteOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Put,
    Patch,
    Delete,
}

/// A resource in the requested api-version, with its ETag.
pub fn resource(
    resource_type: ResourceType,
    version: ApiVersion,
    view: ResourceView,
    status: StatusCode,
) -> Response {
    let mut body = view.body;
    filter_response(resource_type, version, &mut body);
    let mut response = (status, Json(body)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&view.etag) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

pub fn write(
    state: &AppState,
    headers: &HeaderMap,
    target: &Target,
    version: ApiVersion,
    verb: Verb,
    outcome: WriteOutcome,
) -> Response {
    match outcome {
        WriteOutcome::Started {
            resource: view,
            operation,
            created,
        }
        | WriteOutcome::InFlight {
            resource: view,
            operation,
            created,
        } => {
            let status = match verb {
                Verb::Put if created => StatusCode::CREATED,
                Verb::Put => StatusCode::OK,
                Verb::Patch | Verb::Delete => StatusCode::ACCEPTED,
            };
            let mut response = if verb == Verb::Delete {
                status.into_response()
            } else {
                resource(target.resource_type, version, view, status)
            };
            add_operation_headers(state, headers, target, version, &operation, &mut response);
            response
        }
        WriteOutcome::Unchanged { resource: view } => {
            resource(target.resource_type, version, view, StatusCode::OK)
        }
        WriteOutcome::Removed => StatusCode::OK.into_response(),
        WriteOutcome::Absent => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The headers of a write that started (or repeats) an operation: `Azure-AsyncOperation` (the status
/// document), `Location` (the result; ARM's contract requires it on every 202), `Retry-After` and
/// `x-ms-async-operation-timeout`.
fn add_operation_headers(
    state: &AppState,
    headers: &HeaderMap,
    target: &Target,
    version: ApiVersion,
    operation: &OperationRecord,
    response: &mut Response,
) {
    let links = links(state, headers);
    let url = links.absolute(&format!("{}/operations/{}", target.id(), operation.id), version);
    if let Ok(value) = HeaderValue::from_str(&url) {
        response.headers_mut().insert("azure-asyncoperation", value);
    }
    if response.status() == StatusCode::ACCEPTED {
        add_location(
            state,
            headers,
            target,
            version,
            &operation.id.to_string(),
            response,
        );
    }
    add_retry_after(state, response);
    if let Ok(value) = HeaderValue::from_str(&state.http.async_timeout) {
        response
            .headers_mut()
            .insert("x-ms-async-operation-timeout", value);
    }
}

/// `Location`: the operation's result URL.
pub fn add_location(
    state: &AppState,
    headers: &HeaderMap,
    target: &Target,
    version: ApiVersion,
    operation_id: &str,
    response: &mut Response,
) {
    let url = links(state, headers).absolute(
        &format!("{}/operationResults/{operation_id}", target.id()),
        version,
    );
    if let Ok(value) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(LOCATION, value);
    }
}

/// `Retry-After`: when a client should look at a running operation again.
pub fn add_retry_after(state: &AppState, response: &mut Response) {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(state.http.retry_after_seconds));
}

fn links(state: &AppState, headers: &HeaderMap) -> Links {
    Links::from_headers(headers, &state.http.public_scheme, &state.http.link_hosts)
}

/// `{"value": [...], "nextLink": ...}`; `nextLink` only when there is a next page.
pub fn list<T: serde::Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    api_version: &str,
    page: Page<T>,
) -> Response {
    let links = links(state, headers);
    let next_link = page
        .next
        .map(|position| links.next_page(path, api_version, &encode_skip_token(&position)));
    Json(ListPage {
        value: page.items,
        next_link,
    })
    .into_response()
}

/// A list of resources, each cut to the requested version.
pub fn resource_list(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
    resource_type: ResourceType,
    version: ApiVersion,
    mut page: Page<Value>,
) -> Response {
    for item in &mut page.items {
        filter_response(resource_type, version, item);
    }
    list(state, headers, path, version.as_str(), page)
}
