//! Liveness and readiness, for load balancers and Kubernetes probes. No authentication; no data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "Health_Live",
    summary = "Liveness: the process serves requests.",
    responses((status = 200, description = "Healthy.")),
)]
pub async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when the process is not shutting down, the store answers and the key provider can unwrap data keys.
/// Not ready answers 503 with what is wrong, so a load balancer sends the traffic elsewhere.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "Health_Ready",
    summary = "Readiness: the store answers and the data keys are at hand.",
    responses(
        (status = 200, description = "Ready."),
        (status = 503, description = "Draining (shutting down), or the store or the key provider does not answer."),
    ),
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let backend = state.app.store().backend();
    let draining = state.app.hub().is_draining();
    let store = match state.app.store().cluster("/readiness-probe").await {
        Ok(_) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "readiness probe: store unavailable");
            "unavailable"
        }
    };
    let keys = if state.keyring.is_ready() {
        "ok"
    } else {
        "unavailable"
    };
    let ready = !draining && store == "ok" && keys == "ok";
    let body = json!({
        "status": if ready { "ok" } else if draining { "draining" } else { "unavailable" },
        "store": backend,
        "storeStatus": store,
        "keys": keys,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The background tasks: when each last ran and what came of it.
#[utoipa::path(
    get,
    path = "/status/tasks",
    operation_id = "Tasks_Status",
    summary = "The background tasks: when each last ran and what came of it.",
    responses((status = 200, description = "Each task's period, runs, failures, last run and outcome.")),
)]
pub async fn tasks(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({"tasks": state.tasks.statuses()})).into_response()
}

/// The service's metrics in Prometheus' text format, for a scrape (`prometheus.io/scrape` on the pod).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "Metrics_Scrape",
    summary = "Metrics in Prometheus' text exposition format (0.0.4).",
    responses((status = 200, description = "The metrics.", content_type = "text/plain")),
)]
pub async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::prometheus_text(),
    )
        .into_response()
}
