//! sourceControlConfigurations (Flux v1, retired): PUT is refused with a pointer to fluxConfigurations.
//! GET, LIST and DELETE serve the configurations that remain, until they are migrated, through the generic
//! handlers (`resources::{get, list, delete}::<SourceControlConfigurations>`).

use std::sync::Arc;

use axum::extract::State;

use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::ids::ResourceType;

use crate::http::AppState;
use crate::http::error::{HttpError, HttpResult};
use crate::http::extract::{ArmQuery, Caller, ResourcePath};

const TYPE: ResourceType = ResourceType::SourceControlConfigurations;

pub async fn put(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    query.api_version(ApiSurface::Resource(TYPE))?;
    Err(HttpError(state.app.put_source_control(&path.target(TYPE)?)))
}
