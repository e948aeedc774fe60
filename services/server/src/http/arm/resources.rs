//! fluxConfigurations and extensions: GET, LIST, PUT, PATCH, DELETE and operation status. The handlers are
//! generic over the resource type; its own rules live in the application layer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

use clusterconfig_model::api_version::ApiSurface;
use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::ResourceType;
use clusterconfig_model::validate::check_envelope;
use clusterconfig_model::versioning::{Body, check_request};

use crate::app::{App, ArmCaller, OperationResult, Preconditions, Target, WriteOutcome};
use crate::http::AppState;
use crate::http::error::HttpResult;
use crate::http::extract::{ArmQuery, Caller, ClusterPath, RawBody, ResourcePath, preconditions};
use crate::http::respond::{self, Verb};

/// A resource type served by the generic GET, LIST and DELETE.
pub trait Typed: Send + Sync + 'static {
    const TYPE: ResourceType;
}

/// A resource type with PUT and PATCH.
pub trait Writable: Typed {
    fn put(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> impl Future<Output = Result<WriteOutcome, ArmError>> + Send;

    fn patch(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> impl Future<Output = Result<WriteOutcome, ArmError>> + Send;
}

pub struct FluxConfigurations;
pub struct Extensions;
/// Flux v1: read, listed and deleted until migrated; its PUT is refused (`source_control`).
pub struct SourceControlConfigurations;

impl Typed for FluxConfigurations {
    const TYPE: ResourceType = ResourceType::FluxConfigurations;
}

impl Typed for Extensions {
    const TYPE: ResourceType = ResourceType::Extensions;
}

impl Typed for SourceControlConfigurations {
    const TYPE: ResourceType = ResourceType::SourceControlConfigurations;
}

impl Writable for FluxConfigurations {
    async fn put(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        app.put_flux(target, body, caller, pre).await
    }

    async fn patch(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        app.patch_flux(target, body, caller, pre).await
    }
}

impl Writable for Extensions {
    async fn put(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        app.put_extension(target, body, caller, pre).await
    }

    async fn patch(
        app: &App,
        target: &Target,
        body: &Value,
        caller: &ArmCaller,
        pre: &Preconditions,
    ) -> Result<WriteOutcome, ArmError> {
        app.patch_extension(target, body, caller, pre).await
    }
}

pub async fn get<R: Typed>(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let view = state.app.get(&target).await?;
    Ok(respond::resource(R::TYPE, version, view, StatusCode::OK))
}

pub async fn list<R: Typed>(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    uri: Uri,
    headers: HeaderMap,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let page_size = query.top(state.http.page_size)?;
    let after = query.skip_token()?;
    let page = state
        .app
        .list(&cluster, R::TYPE, after.as_deref(), page_size)
        .await?;
    Ok(respond::resource_list(
        &state,
        &headers,
        uri.path(),
        R::TYPE,
        version,
        page,
    ))
}

pub async fn put<R: Writable>(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
    body: RawBody,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let body = body.json_object()?;
    check_envelope(&body, &target.id(), target.name.as_given(), R::TYPE.arm_type())?;
    check_request(R::TYPE, version, Body::Put, &body)?;
    let outcome = R::put(&state.app, &target, &body, &caller, &preconditions(&headers)).await?;
    Ok(respond::write(
        &state,
        &headers,
        &target,
        version,
        Verb::Put,
        outcome,
    ))
}

pub async fn patch<R: Writable>(
    State(state): State<Arc<AppState>>,
    Caller(caller): Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
    body: RawBody,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let body = body.json_object()?;
    check_envelope(&body, &target.id(), target.name.as_given(), R::TYPE.arm_type())?;
    check_request(R::TYPE, version, Body::Patch, &body)?;
    let outcome = R::patch(&state.app, &target, &body, &caller, &preconditions(&headers)).await?;
    Ok(respond::write(
        &state,
        &headers,
        &target,
        version,
        Verb::Patch,
        outcome,
    ))
}

pub async fn delete<R: Typed>(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let force = query.force_delete()?;
    let outcome = state.app.delete(&target, force, &preconditions(&headers)).await?;
    Ok(respond::write(
        &state,
        &headers,
        &target,
        version,
        Verb::Delete,
        outcome,
    ))
}

/// The Azure-AsyncOperation URL: always 200 with the status document, answered once the operation ends or
/// after `arm.status_wait`. While it runs the answer carries `Retry-After`, which Microsoft's clients take as
/// the time to their next poll (without it they wait 30 s).
pub async fn operation<R: Writable>(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
) -> HttpResult {
    query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let view = state
        .app
        .operation_settled(
            &target,
            path.operation_id.as_deref().unwrap_or_default(),
            state.http.status_wait,
        )
        .await?;
    let running = view.0.end_time.is_none();
    let mut response = axum::Json(view.0).into_response();
    if running {
        respond::add_retry_after(&state, &mut response);
    }
    Ok(response)
}

/// The Location URL: 202 (with Location and Retry-After) while the operation runs, then what the request
/// would have answered had it been synchronous: the resource (200), nothing (204, a deletion), or the error.
pub async fn operation_result<R: Writable>(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    path: ResourcePath,
    headers: HeaderMap,
) -> HttpResult {
    let version = query.api_version(ApiSurface::Resource(R::TYPE))?;
    let target = path.target(R::TYPE)?;
    let operation_id = path.operation_id.as_deref().unwrap_or_default();
    Ok(match state.app.operation_result(&target, operation_id).await? {
        OperationResult::Running => {
            let mut response = StatusCode::ACCEPTED.into_response();
            respond::add_location(&state, &headers, &target, version, operation_id, &mut response);
            respond::add_retry_after(&state, &mut response);
            response
        }
        OperationResult::Succeeded(view) => respond::resource(R::TYPE, version, view, StatusCode::OK),
        OperationResult::Deleted => StatusCode::NO_CONTENT.into_response(),
        OperationResult::Failed(detail) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": detail })),
        )
            .into_response(),
    })
}
