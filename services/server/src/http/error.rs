//! Every error leaves as ARM's `{"error":{"code","message","target"}}` with its status. Errors never carry
//! `Retry-After` (clients retry any 4xx that does).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use clusterconfig_model::error::{ArmError, codes};

/// An `ArmError` on its way out.
#[derive(Debug)]
pub struct HttpError(pub ArmError);

impl From<ArmError> for HttpError {
    fn from(err: ArmError) -> Self {
        HttpError(err)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = %self.0.code, message = %self.0.message, "request failed");
        } else {
            tracing::debug!(code = %self.0.code, message = %self.0.message, "request refused");
        }
        let mut response = (status, Json(self.0.to_response())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, www_authenticate(&self.0));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
            // The rest of an oversized (or stalled) body is never read, so the connection cannot carry another request: say
            // so, or the client may send its next request on a connection the server is about to close.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

pub type HttpResult<T = Response> = Result<T, HttpError>;

/// RFC 6750's challenge: a token that was presented and refused is an `invalid_token`, with why.
fn www_authenticate(err: &ArmError) -> HeaderValue {
    let token_refused = [
        codes::INVALID_AUTHENTICATION_TOKEN,
        codes::EXPIRED_AUTHENTICATION_TOKEN,
        codes::INVALID_AUTHENTICATION_TOKEN_AUDIENCE,
        codes::INVALID_AUTHENTICATION_TOKEN_TENANT,
    ]
    .contains(&err.code.as_ref());
    if !token_refused {
        return HeaderValue::from_static("Bearer");
    }
    let description: String = err
        .message
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect();
    HeaderValue::from_str(&format!(
        "Bearer error=\"invalid_token\", error_description=\"{description}\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

/// An Entra ID token refused, as ARM words it.
pub fn token_refused(err: crate::auth::entra::EntraError) -> HttpError {
    use crate::auth::entra::EntraError;
    let code = match err {
        EntraError::Expired => codes::EXPIRED_AUTHENTICATION_TOKEN,
        EntraError::WrongAudience => codes::INVALID_AUTHENTICATION_TOKEN_AUDIENCE,
        EntraError::WrongTenant => codes::INVALID_AUTHENTICATION_TOKEN_TENANT,
        EntraError::KeysUnavailable => {
            return HttpError(ArmError::new(
                503,
                codes::AUTHENTICATION_UNAVAILABLE,
                "The token cannot be verified now: the authority's signing keys are out of reach. Retry the request later.",
            ));
        }
        _ => codes::INVALID_AUTHENTICATION_TOKEN,
    };
    HttpError(ArmError::new(
        401,
        code,
        format!("The access token is invalid: {err}."),
    ))
}

pub fn unauthorized(message: impl Into<String>) -> HttpError {
    HttpError(ArmError::new(401, codes::AUTHENTICATION_FAILED, message))
}

pub fn forbidden(message: impl Into<String>) -> HttpError {
    HttpError(ArmError::new(403, codes::AUTHORIZATION_FAILED, message))
}

/// Unmatched paths.
pub async fn not_found() -> HttpError {
    HttpError(ArmError::new(
        404,
        codes::NOT_FOUND,
        "No route matches this path. Resources of Microsoft.KubernetesConfiguration live under a cluster: /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/{clusterRp}/{clusterResourceName}/{clusterName}/providers/Microsoft.KubernetesConfiguration/...",
    ))
}

/// Matched paths with a method they do not take.
pub async fn method_not_allowed() -> HttpError {
    HttpError(ArmError::new(
        405,
        codes::METHOD_NOT_ALLOWED,
        "The HTTP method is not supported on this path.",
    ))
}

/// A handler panicked: the request fails alone, as a 500 that names no internals.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    HttpError(ArmError::internal(
        codes::INTERNAL_ERROR,
        "The service failed to handle the request; retry it later.",
    ))
    .into_response()
}
