//! sourceControlConfigurations (Flux v1, retired): PUT is refused with a pointer to fluxConfigurations;
//! GET, LIST and DELETE serve the configurations that remain, until they are migrated.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::ids::ResourceType;

use crate::http::AppState;
use crate::http::error::{HttpError, HttpResult};
use crate::http::extract::{ArmQuery, Caller, ClusterPath, ResourcePath};
use crate::http::respond;

const TYPE: ResourceType = ResourceType::SourceControlConfigurations;

pub async fn get(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(TYPE))?;
    let view = state.app.get(&path.target(TYPE)?).await?;
    Ok(respond::resource(TYPE, version, view, StatusCode::OK))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(TYPE))?;
    let page = state
        .app
        .list(
            &cluster,
            TYPE,
            query.skip_token()?.as_deref(),
            query.top(state.http.page_size)?,
        )
        .await?;
    Ok(respond::resource_list(
        &state,
        &headers,
        uri.path(),
        TYPE,
        version,
        page,
    ))
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    query.api_version(ApiSurface::Resource(TYPE))?;
    Err(HttpError(state.app.put_source_control(&path.target(TYPE)?)))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
) -> HttpResult {
    super::resources::delete_resource(&state, TYPE, query, path, headers).await
}
