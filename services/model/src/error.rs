//! ARM errors: `{"error":{"code","message","target"}}` with an HTTP status.
//!
//! Every failure a caller can cause is one of these, built through the helpers below so that the right
//! status and code are the easy ones to write. Messages never contain secret values.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error as ARM returns it, with the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ArmError>,
}

impl ArmError {
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            target: None,
            details: Vec::new(),
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn with_details(mut self, details: Vec<ArmError>) -> Self {
        self.details = details;
        self
    }

    /// 400 `InvalidRequestContent`: the body is not JSON, or a value has the wrong type.
    pub fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_REQUEST_CONTENT, message)
    }

    /// 400 `ValidationFailed`: the body is well formed but breaks a rule of the resource.
    pub fn validation(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, codes::VALIDATION_FAILED, message).with_target(target)
    }

    /// 400 `InvalidResourceName`.
    pub fn invalid_name(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, codes::INVALID_RESOURCE_NAME, message).with_target(target)
    }

    /// 404 `ResourceNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, codes::RESOURCE_NOT_FOUND, message)
    }

    /// 409 `Conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, codes::CONFLICT, message)
    }

    /// 412 `PreconditionFailed`.
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(412, codes::PRECONDITION_FAILED, message)
    }

    /// 500 with a code naming what failed; the message must not carry internal details or data.
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(500, code, message)
    }

    pub fn to_detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.to_string(),
            message: self.message.clone(),
            target: self.target.clone(),
            details: self.details.iter().map(ArmError::to_detail).collect(),
        }
    }

    pub fn to_response(&self) -> ErrorResponse {
        ErrorResponse {
            error: self.to_detail(),
        }
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)?;
        if let Some(target) = &self.target {
            write!(f, " (target {target})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ArmError {}

/// The ARM error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

/// ARM `ErrorDetail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub details: Vec<ErrorDetail>,
}

/// Error codes this service returns; search for a code's name to find the rule that raises it.
pub mod codes {
    pub const MISSING_API_VERSION: &str = "MissingApiVersionParameter";
    pub const INVALID_API_VERSION: &str = "InvalidApiVersionParameter";
    pub const INVALID_REQUEST_CONTENT: &str = "InvalidRequestContent";
    pub const PROPERTY_NOT_SUPPORTED: &str = "PropertyNotSupportedInApiVersion";
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    pub const INVALID_RESOURCE_NAME: &str = "InvalidResourceName";
    pub const INVALID_RESOURCE_ID: &str = "InvalidResourceId";
    pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFound";
    pub const NOT_FOUND: &str = "NotFound";
    pub const METHOD_NOT_ALLOWED: &str = "MethodNotAllowed";
    pub const CONFLICT: &str = "Conflict";
    pub const PRECONDITION_FAILED: &str = "PreconditionFailed";
    pub const REQUEST_TOO_LARGE: &str = "RequestEntityTooLarge";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaType";
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    pub const AUTHORIZATION_FAILED: &str = "AuthorizationFailed";
    pub const INVALID_AUTHENTICATION_TOKEN: &str = "InvalidAuthenticationToken";
    pub const EXPIRED_AUTHENTICATION_TOKEN: &str = "ExpiredAuthenticationToken";
    pub const INVALID_AUTHENTICATION_TOKEN_AUDIENCE: &str = "InvalidAuthenticationTokenAudience";
    pub const INVALID_AUTHENTICATION_TOKEN_TENANT: &str = "InvalidAuthenticationTokenTenant";
    pub const AUTHENTICATION_UNAVAILABLE: &str = "AuthenticationUnavailable";
    pub const INVALID_SKIP_TOKEN: &str = "InvalidSkipToken";
    pub const READ_ONLY_DISABLED_SUBSCRIPTION: &str = "ReadOnlyDisabledSubscription";
    pub const SUBSCRIPTION_NOT_REGISTERED: &str = "SubscriptionNotRegistered";
    pub const FLUX_V1_RETIRED: &str = "FluxV1ConfigurationsRetired";
    pub const FLUX_V1_CONFIGURATIONS_PRESENT: &str = "FluxV1ConfigurationsPresent";
    pub const FLUX_CONFIGURATIONS_PRESENT: &str = "FluxConfigurationsPresent";
    pub const EXTENSION_TYPE_NOT_FOUND: &str = "ExtensionTypeNotFound";
    pub const EXTENSION_VERSION_NOT_SUPPORTED: &str = "ExtensionVersionNotSupported";
    pub const CLUSTER_NOT_SUPPORTED: &str = "ClusterNotSupported";
    pub const OPERATION_NOT_FOUND: &str = "OperationNotFound";
    pub const STALE_GENERATION: &str = "StaleGeneration";
    pub const RESOURCE_OPERATION_FAILURE: &str = "ResourceOperationFailure";
    pub const STORE_UNAVAILABLE: &str = "StoreUnavailable";
    pub const KEY_PROVIDER_UNAVAILABLE: &str = "KeyProviderUnavailable";
    pub const STORED_RESOURCE_UNREADABLE: &str = "StoredResourceUnreadable";
    pub const INTERNAL_ERROR: &str = "InternalServerError";
    pub const TOO_MANY_WAITERS: &str = "TooManyWaiters";
    pub const TOO_MANY_CONNECTIONS: &str = "TooManyConnections";
    /// The request's body did not arrive in time (408).
    pub const REQUEST_TIMEOUT: &str = "RequestTimeout";
    /// The service could not answer within its request deadline (503).
    pub const OPERATION_TIMED_OUT: &str = "OperationTimedOut";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_arm_envelope() {
        let err = ArmError::validation("properties.gitRepository.url", "bad url");
        let json = serde_json::to_value(err.to_response()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "ValidationFailed", "message": "bad url", "target": "properties.gitRepository.url"}})
        );
    }
}
