//! The HTTP edge: routing, request ids and logs, limits, and ARM-shaped errors for every failure.
//! Handlers are thin: they parse the request's edges and call one method of `crate::app::App`.

/// An ARM path under a cluster: `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/
/// {clusterRp}/{clusterResourceName}/{clusterName}` and then `$rest` (a literal, for `#[utoipa::path]`).
macro_rules! cluster_path {
    ($rest:literal) => {
        concat!(
            "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}",
            $rest
        )
    };
}

/// A data-plane path of a cluster: `/dataplane/v1` and then the cluster's ARM path and `$rest`.
macro_rules! dataplane_path {
    ($rest:literal) => {
        concat!(
            "/dataplane/v1/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}",
            $rest
        )
    };
}

pub mod arm;
pub mod dataplane;
pub mod error;
pub mod extract;
pub mod fleet;
pub mod health;
pub mod links;
pub mod listener;
pub mod openapi;
pub mod policy;
pub mod respond;
pub mod routes;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::app::App;
use crate::auth::SigningKey;
pub use routes::Api;

/// What the HTTP edge needs beyond the application.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub public_scheme: String,
    pub retry_after_seconds: u32,
    pub page_size: usize,
    pub max_body_bytes: usize,
    pub max_wait_seconds: u64,
    /// `x-ms-async-operation-timeout` (ISO 8601), the pending-change timeout.
    pub async_timeout: String,
    pub body_read_timeout: std::time::Duration,
    pub arm_request_timeout: std::time::Duration,
    /// How long an operation status request waits for a running operation to end.
    pub status_wait: std::time::Duration,
    pub link_hosts: links::LinkHosts,
    /// Token subjects that are ARM itself (`arm.identities`).
    pub arm_identities: Vec<String>,
}

pub struct AppState {
    pub app: Arc<App>,
    pub key: Arc<SigningKey>,
    pub keyring: Arc<crate::keyring::Keyring>,
    pub tasks: Arc<crate::tasks::TaskBoard>,
    pub http: HttpSettings,
    /// Entra ID tokens, when `auth.entra` names an authority.
    pub entra: Option<Arc<crate::auth::entra::EntraVerifier>>,
}

/// The service for the given APIs, ready to serve: path canonicalisation runs before routing.
pub fn service(
    state: Arc<AppState>,
    apis: &[Api],
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send>
+ Clone
+ Send
+ 'static {
    let max_body = state.http.max_body_bytes;
    let router: Router = routes::router(apis, state.http.arm_request_timeout)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(middleware::from_fn(request_context))
        .with_state(state);
    tower::util::MapRequestLayer::new(canonicalize).layer(router)
}

/// Answers 503 `OperationTimedOut` when the handler has not answered within `limit`. A write cut short this
/// way may or may not have committed; ARM's clients repeat the request, and writes are idempotent.
async fn deadline(limit: std::time::Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            use axum::response::IntoResponse as _;
            error::HttpError(clusterconfig_model::error::ArmError::new(
                503,
                clusterconfig_model::error::codes::OPERATION_TIMED_OUT,
                format!(
                    "The service did not answer within {} (arm.request_timeout); retry the request.",
                    humantime::format_duration(limit)
                ),
            ))
            .into_response()
        }
    }
}

fn canonicalize(mut request: Request) -> Request {
    if let Some(path) = routes::canonical_path(request.uri().path()) {
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Gives every response an `x-ms-request-id`, echoes `x-ms-client-request-id` when asked, and logs each
/// request with ARM's correlation ids (never its body).
async fn request_context(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    // Owned copies, in a block: a borrow of the request (whose body is not Sync) must not live across an await.
    let (correlation, client_request_id, return_client_id) = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (
            header("x-ms-correlation-request-id"),
            header("x-ms-client-request-id"),
            header("x-ms-return-client-request-id"),
        )
    };
    let echo_client_id = return_client_id.is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |matched| matched.as_str())
        .to_owned();
    let span = tracing::info_span!("request", method = %method, path = %request.uri().path(),
        request_id = %request_id, correlation_id = correlation.as_deref().unwrap_or(""),
        client_request_id = client_request_id.as_deref().unwrap_or(""),
        otel.name = %format!("{method} {route}"), otel.kind = "server", http.route = %route,
        http.request.method = %method, http.response.status_code = tracing::field::Empty,
        arm.operation_id = tracing::field::Empty, otel.status_code = tracing::field::Empty);
    // The caller's W3C trace context (`traceparent`): this request's span continues its trace.
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
    });
    let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
    let started = Instant::now();
    async move {
        let mut response = next.run(request).await;
        let status = response.status();
        let current = tracing::Span::current();
        current.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            current.record("otel.status_code", "ERROR");
        }
        // A long-running operation's id, from the status URL the answer gives.
        if let Some(operation) = response
            .headers()
            .get("azure-asyncoperation")
            .and_then(|v| v.to_str().ok())
            .and_then(|url| url.split('?').next())
            .and_then(|url| url.rsplit('/').next())
        {
            current.record("arm.operation_id", operation);
        }
        crate::telemetry::metrics().request(&route, &method, status.as_u16(), started.elapsed());
        let headers = response.headers_mut();
        headers.insert(
            "x-ms-request-id",
            HeaderValue::from_str(&request_id).expect("uuid"),
        );
        if echo_client_id && let Some(id) = client_request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert("x-ms-client-request-id", id);
        }
        if let Some(id) = correlation.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert("x-ms-correlation-request-id", id);
        }
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        response
    }
    .instrument(span)
    .await
}
