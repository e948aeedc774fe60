//! `POST /dataplane/v1{cluster}/fluxConfigurations/{name}/status` and `.../extensions/{name}/status`: an agent's
//! report on one generation. `POST /dataplane/v1{cluster}/agent`: the cluster's facts.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use clusterconfig_model::dataplane::{AgentFacts, ExtensionStatusReport, FluxStatusReport};
use clusterconfig_model::error::ErrorResponse;

use crate::app::ReportOutcome;

const STALE_GENERATION: &str =
    "StaleGeneration: a newer generation was already reported; this one is ignored.";

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{AgentOf, RawBody};

#[utoipa::path(
    post,
    path = dataplane_path!("/fluxConfigurations/{name}/status"),
    operation_id = "FluxConfigurationStatus_Report",
    summary = "Reports the outcome of one generation of a Flux configuration.",
    request_body(content = FluxStatusReport),
    responses(
        (status = 200, body = ReportOutcome, description = "Recorded."),
        (status = 404, body = ErrorResponse, description = "The configuration no longer exists: remove its objects."),
        (status = 409, body = ErrorResponse, description = STALE_GENERATION),
    ),
)]
pub async fn flux(
    State(state): State<Arc<AppState>>,
    AgentOf(cluster, issued_at): AgentOf,
    Path(params): Path<std::collections::HashMap<String, String>>,
    body: RawBody,
) -> HttpResult {
    let report: FluxStatusReport = body.typed()?;
    let name = params.get("name").map(String::as_str).unwrap_or_default();
    let outcome = state.app.report_flux(&cluster, name, &report, issued_at).await?;
    Ok(Json(outcome).into_response())
}

#[utoipa::path(
    post,
    path = dataplane_path!("/extensions/{name}/status"),
    operation_id = "ExtensionStatus_Report",
    summary = "Reports the outcome of one generation of an extension.",
    request_body(content = ExtensionStatusReport),
    responses(
        (status = 200, body = ReportOutcome, description = "Recorded."),
        (status = 404, body = ErrorResponse, description = "The extension no longer exists."),
        (status = 409, body = ErrorResponse, description = STALE_GENERATION),
    ),
)]
pub async fn extension(
    State(state): State<Arc<AppState>>,
    AgentOf(cluster, issued_at): AgentOf,
    Path(params): Path<std::collections::HashMap<String, String>>,
    body: RawBody,
) -> HttpResult {
    let report: ExtensionStatusReport = body.typed()?;
    let name = params.get("name").map(String::as_str).unwrap_or_default();
    let outcome = state
        .app
        .report_extension(&cluster, name, &report, issued_at)
        .await?;
    Ok(Json(outcome).into_response())
}

#[utoipa::path(
    post,
    path = dataplane_path!("/agent"),
    operation_id = "Agent_Report",
    summary = "Reports the cluster's facts (Kubernetes version, CPU architecture, agent version).",
    request_body(content = AgentFacts),
    responses((status = 204, description = "Recorded.")),
)]
pub async fn agent(
    State(state): State<Arc<AppState>>,
    AgentOf(cluster, issued_at): AgentOf,
    body: RawBody,
) -> HttpResult {
    let facts: AgentFacts = body.typed()?;
    state.app.report_agent(&cluster, &facts, issued_at).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
