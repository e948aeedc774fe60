//! `POST /dataplane/v1{cluster}/fluxConfigurations/{name}/status` and `.../extensions/{name}/status`: an agent's
//! report on one generation. `POST /dataplane/v1{cluster}/agent`: the cluster's facts.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use clusterconfig_model::dataplane::{AgentFacts, ExtensionStatusReport, FluxStatusReport};

use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{AgentOf, RawBody};

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

pub async fn agent(
    State(state): State<Arc<AppState>>,
    AgentOf(cluster, issued_at): AgentOf,
    body: RawBody,
) -> HttpResult {
    let facts: AgentFacts = body.typed()?;
    state.app.report_agent(&cluster, &facts, issued_at).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
