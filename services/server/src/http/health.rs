//! Liveness and readiness, for load balancers and Kubernetes probes. No authentication; no data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.app.store().cluster("/readiness-probe").await {
        Ok(_) => Json(json!({"status": "ok", "store": state.app.store().backend()})).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness probe: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "store": state.app.store().backend()})),
            )
                .into_response()
        }
    }
}

/// The background tasks: when each last ran and what came of it.
pub async fn tasks(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({"tasks": state.tasks.statuses()})).into_response()
}
