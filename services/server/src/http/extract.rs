//! The edges of a request, parsed into typed values: the caller, the cluster and resource of the path, query
//! parameters (ARM matches their names case-insensitively) and the JSON body. Each failure is an ARM error.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use clusterconfig_model::api_version::{ApiSurface, ApiVersion};
use clusterconfig_model::arm::{CreatedByType, SystemData};
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::{ClusterId, ResourceType};

use super::error::{HttpError, forbidden, token_refused, unauthorized};
use super::{AppState, links};
use crate::app::{App, ArmCaller, Preconditions, Target};
use crate::auth::entra::{Audience, EntraVerifier};
use crate::auth::{AGENT_AUDIENCE, ARM_AUDIENCE, SigningKey, TokenError};

fn bearer(parts: &Parts) -> Result<&str, HttpError> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| unauthorized("Authentication is required: send 'Authorization: Bearer <token>'."))
}

fn verify(
    key: &SigningKey,
    app: &App,
    token: &str,
    audience: &str,
) -> Result<crate::auth::Claims, HttpError> {
    key.verify(token, audience, app.now()).map_err(|err| match err {
        TokenError::WrongAudience => forbidden(format!(
            "The token is not valid for this API ({audience} token required)."
        )),
        other => unauthorized(format!("The access token is invalid: {other}.")),
    })
}

/// The ARM caller: a valid ARM token, and ARM's systemData header when present.
pub struct Caller(pub ArmCaller);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, HttpError> {
        let token = bearer(parts)?;
        if signed_by_entra(token) {
            return entra_caller(parts, state, token).await;
        }
        let claims = verify(&state.key, &state.app, token, ARM_AUDIENCE)?;
        // Only ARM knows who made a change through it: from anyone else the header would be a forged record.
        let from_arm = state.http.arm_identities.contains(&claims.sub);
        let system_data = parts
            .headers
            .get("x-ms-arm-resource-system-data")
            .filter(|_| from_arm)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<SystemData>(v).ok());
        Ok(Caller(ArmCaller {
            subject: claims.sub,
            subject_type: claims.idtyp.unwrap_or(CreatedByType::Application),
            system_data,
        }))
    }
}

/// Entra ID signs with RS256; the service's own tokens are HS256.
fn signed_by_entra(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|header| header.alg == jsonwebtoken::Algorithm::RS256)
}

fn entra_of(state: &AppState) -> Result<&EntraVerifier, HttpError> {
    state.entra.as_deref().ok_or_else(|| {
        unauthorized("Entra ID tokens are not accepted here (auth.entra.authority is not configured).")
    })
}

/// The ARM caller of an Entra ID token. ARM's own token (its client id is in `auth.entra.arm_app_ids`) says
/// who called ARM in its `x-ms-client-*` headers and the change's systemData in
/// `x-ms-arm-resource-system-data`; anyone else's token speaks for itself and its headers are not believed.
async fn entra_caller(parts: &Parts, state: &AppState, token: &str) -> Result<Caller, HttpError> {
    let entra = entra_of(state)?;
    let claims = entra
        .verify(token, Audience::Arm, state.app.now())
        .await
        .map_err(token_refused)?;
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if entra.is_arm(&claims) {
        let system_data =
            header("x-ms-arm-resource-system-data").and_then(|v| serde_json::from_str::<SystemData>(&v).ok());
        let subject = header("x-ms-client-principal-name")
            .or_else(|| header("x-ms-client-principal-id"))
            .or(claims.oid.clone())
            .unwrap_or_default();
        let subject_type = system_data
            .as_ref()
            .and_then(|d| d.last_modified_by_type)
            .unwrap_or(if subject.contains('@') {
                CreatedByType::User
            } else {
                CreatedByType::Application
            });
        return Ok(Caller(ArmCaller {
            subject,
            subject_type,
            system_data,
        }));
    }
    let subject_type = if claims.xms_mirid.is_some() {
        CreatedByType::ManagedIdentity
    } else if claims.idtyp.as_deref() == Some("app") || claims.scp.is_none() {
        CreatedByType::Application
    } else {
        CreatedByType::User
    };
    let subject = claims
        .upn
        .or(claims.preferred_username)
        .or(claims.oid)
        .or(claims.sub)
        .unwrap_or_default();
    Ok(Caller(ArmCaller {
        subject,
        subject_type,
        system_data: None,
    }))
}

/// Query parameters, looked up case-insensitively.
pub struct ArmQuery(Vec<(String, String)>);

impl ArmQuery {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn api_version(&self, surface: ApiSurface) -> Result<ApiVersion, HttpError> {
        Ok(surface.parse(self.get("api-version"))?)
    }

    /// `forceDelete=true|false`.
    pub fn force_delete(&self) -> Result<bool, HttpError> {
        match self.get("forceDelete") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(
                ArmError::invalid_content("'forceDelete' must be 'true' or 'false'.")
                    .with_target("forceDelete")
                    .into(),
            ),
        }
    }

    /// `$top` (at most 1000), or the configured page size.
    pub fn top(&self, default: usize) -> Result<usize, HttpError> {
        match self.get("$top") {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(
                    ArmError::invalid_content("'$top' must be a number from 1 to 1000.")
                        .with_target("$top")
                        .into(),
                ),
            },
        }
    }

    pub fn skip_token(&self) -> Result<Option<String>, HttpError> {
        Ok(self.get("$skipToken").map(links::decode_skip_token).transpose()?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ArmQuery {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map_err(|_| ArmError::invalid_content("The query string is malformed."))?;
        Ok(ArmQuery(pairs))
    }
}

async fn path_params(parts: &mut Parts) -> Result<HashMap<String, String>, HttpError> {
    Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map(|Path(params)| params)
        .map_err(|_| ArmError::invalid_content("The request path is malformed.").into())
}

fn cluster_of(params: &HashMap<String, String>) -> Result<ClusterId, HttpError> {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    Ok(ClusterId::from_parts(
        param("subscriptionId"),
        param("resourceGroupName"),
        param("clusterRp"),
        param("clusterResourceName"),
        param("clusterName"),
    )?)
}

/// The cluster named by the path.
pub struct ClusterPath(pub ClusterId);

impl<S: Send + Sync> FromRequestParts<S> for ClusterPath {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        Ok(ClusterPath(cluster_of(&path_params(parts).await?)?))
    }
}

/// A cluster and the raw resource name of the path (checked against its type by `target`), plus an operation
/// id where the path has one.
pub struct ResourcePath {
    pub cluster: ClusterId,
    pub name: String,
    pub operation_id: Option<String>,
}

impl ResourcePath {
    pub fn target(&self, resource_type: ResourceType) -> Result<Target, HttpError> {
        Ok(Target {
            cluster: self.cluster.clone(),
            resource_type,
            name: resource_type.parse_name(&self.name)?,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ResourcePath {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let params = path_params(parts).await?;
        Ok(ResourcePath {
            cluster: cluster_of(&params)?,
            name: params.get("name").cloned().unwrap_or_default(),
            operation_id: params.get("operationId").cloned(),
        })
    }
}

/// The agent of the path's cluster: an agent token issued for that cluster, and when it was issued.
pub struct AgentOf(pub ClusterId, pub chrono::DateTime<chrono::Utc>);

impl FromRequestParts<Arc<AppState>> for AgentOf {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, HttpError> {
        let token = bearer(parts)?.to_owned();
        if signed_by_entra(&token) {
            return managed_identity_agent(parts, state, &token).await;
        }
        let claims = verify(&state.key, &state.app, &token, AGENT_AUDIENCE)?;
        let ClusterPath(cluster) = ClusterPath::from_request_parts(parts, state).await?;
        if claims.cluster.as_deref() != Some(cluster.key().as_str()) {
            return Err(forbidden("The agent token was issued for another cluster."));
        }
        // Whether the cluster's tokens were revoked since is checked by the application, on the cluster record
        // each data-plane call reads anyway.
        Ok(AgentOf(cluster, claims.issued_at()))
    }
}

/// An agent presenting its cluster's managed-identity token: the identity's resource (`xms_mirid`) must be the
/// path's cluster.
async fn managed_identity_agent(
    parts: &mut Parts,
    state: &Arc<AppState>,
    token: &str,
) -> Result<AgentOf, HttpError> {
    let entra = entra_of(state)?;
    if !entra.accepts_agents() {
        return Err(unauthorized(
            "Managed-identity tokens are not accepted here (auth.entra.agent_audiences is not configured).",
        ));
    }
    let claims = entra
        .verify(token, Audience::Agent, state.app.now())
        .await
        .map_err(token_refused)?;
    let ClusterPath(cluster) = ClusterPath::from_request_parts(parts, state).await?;
    let own = claims
        .xms_mirid
        .as_deref()
        .and_then(|id| ClusterId::parse(id).ok())
        .ok_or_else(|| forbidden("The managed-identity token's identity (xms_mirid) is not a cluster's."))?;
    if own.key() != cluster.key() {
        return Err(forbidden("The managed-identity token is for another cluster."));
    }
    Ok(AgentOf(cluster, claims.issued_at()))
}

/// A request body, read within the size limit; parsed only after the api-version is checked.
pub struct RawBody(pub Bytes);

impl FromRequest<Arc<AppState>> for RawBody {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, HttpError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if let Some(content_type) = content_type
            && !(content_type.starts_with("application/json") || content_type.contains("+json"))
        {
            return Err(ArmError::new(
                415,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "The request body must be JSON (Content-Type: application/json).",
            )
            .into());
        }
        // A client that announces a body and sends it slowly (or never) holds a connection and a task: it
        // gets `http.body_read_timeout` for the whole body.
        let limit = state.http.body_read_timeout;
        let read = tokio::time::timeout(limit, Bytes::from_request(request, state)).await;
        let Ok(read) = read else {
            return Err(ArmError::new(
                408,
                codes::REQUEST_TIMEOUT,
                format!(
                    "The request body did not arrive within {} (http.body_read_timeout).",
                    humantime::format_duration(limit)
                ),
            )
            .into());
        };
        let bytes = read.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                HttpError(ArmError::new(
                    413,
                    codes::REQUEST_TOO_LARGE,
                    "The request body is larger than this service accepts.",
                ))
            } else {
                HttpError(ArmError::invalid_content("The request body could not be read."))
            }
        })?;
        Ok(RawBody(bytes))
    }
}

impl RawBody {
    /// The body as a JSON object.
    pub fn json_object(&self) -> Result<Value, HttpError> {
        let value = self.json()?;
        if !value.is_object() {
            return Err(ArmError::invalid_content("The request body must be a JSON object.").into());
        }
        Ok(value)
    }

    /// The body as any JSON value (an import takes an array).
    pub fn json(&self) -> Result<Value, HttpError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Err(
                ArmError::invalid_content("The request body is empty; a JSON object is required.").into(),
            );
        }
        let value: Value = clusterconfig_model::json::parse_strict(&self.0).map_err(|err| {
            ArmError::invalid_content(format!(
                "The request content was invalid and could not be deserialized: {} at line {} column {}.",
                describe_json_error(&err),
                err.line(),
                err.column()
            ))
        })?;
        Ok(value)
    }

    /// The body as a typed document (the data plane's reports).
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        let value = self.json_object()?;
        Ok(clusterconfig_model::validate::deserialize(&value, "body")?)
    }
}

/// serde_json's syntax errors carry no input text; its data errors can, so those are summarised, except a
/// duplicate member, whose (capped, printable) name is what the caller needs to hear.
fn describe_json_error(err: &serde_json::Error) -> String {
    if clusterconfig_model::json::is_duplicate_member(err) {
        let message = err.to_string();
        let member = message.split(" at line ").next().unwrap_or(&message);
        return format!("{member} (each member may appear once)");
    }
    match err.classify() {
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Eof => "unexpected end of the body",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "unreadable body",
    }
    .to_owned()
}

pub fn preconditions(headers: &HeaderMap) -> Preconditions {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Preconditions {
        if_match: header(IF_MATCH),
        if_none_match: header(IF_NONE_MATCH),
    }
}
