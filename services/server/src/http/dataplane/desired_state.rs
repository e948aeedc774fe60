//! `GET /dataplane/v1{cluster}/desiredState`: the cluster's desired state; its ETag is the cluster's version.
//! Long-poll: with `If-None-Match: "<version>"` and `Prefer: wait=<seconds>` the answer comes as soon as the
//! version moves, or as 304 when the wait ends.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use clusterconfig_model::dataplane::DesiredState;
use clusterconfig_model::error::ArmError;

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::AgentOf;

#[utoipa::path(
    get,
    path = dataplane_path!("/desiredState"),
    operation_id = "DesiredState_Get",
    summary = "The cluster's desired state; long-poll with If-None-Match and Prefer: wait.",
    responses(
        (status = 200, body = DesiredState,
            description = "The desired state; the ETag header is its version. Cache-Control: no-store (it may carry secret values).",
            headers(("ETag"), ("Cache-Control"))),
        (status = 304, description = "With If-None-Match: the version did not move (within the Prefer: wait time).",
            headers(("ETag"))),
    ),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    AgentOf(cluster, issued_at): AgentOf,
    headers: HeaderMap,
) -> HttpResult {
    let known = match headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(text) => Some(parse_version(text)?),
    };
    let wait = requested_wait(&headers).map(|w| w.min(state.http.max_wait_seconds));
    let Some(known) = known else {
        return Ok(desired(&state.app.desired_state(&cluster, issued_at).await?));
    };
    let wait = Duration::from_secs(wait.unwrap_or(0));
    match state
        .app
        .desired_state_after(&cluster, known, wait, issued_at)
        .await?
    {
        Some(desired_state) => Ok(desired(&desired_state)),
        None => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(ETAG, etag(known));
            if !wait.is_zero() {
                response.headers_mut().insert(
                    "preference-applied",
                    HeaderValue::from_str(&format!("wait={}", wait.as_secs())).expect("ascii"),
                );
            }
            Ok(response)
        }
    }
}

fn desired(state: &DesiredState) -> Response {
    let version = state.version;
    let mut body = serde_json::to_value(state).expect("documents serialize");
    clusterconfig_model::flux::spec::strip_nulls(&mut body);
    let mut response = Json(body).into_response();
    response.headers_mut().insert(ETAG, etag(version));
    // The body may carry secret values: nothing on the way may keep a copy.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits")
}

/// `"12"`, `W/"12"` or `12`.
fn parse_version(text: &str) -> Result<u64, ArmError> {
    text.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| {
            ArmError::invalid_content("If-None-Match must be the ETag of a desired state (its version).")
                .with_target("If-None-Match")
        })
}

/// `Prefer: wait=<seconds>` (RFC 7240).
fn requested_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|preference| {
            let (name, value) = preference.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
}
