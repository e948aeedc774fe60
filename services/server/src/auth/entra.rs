//! Entra ID (Azure AD) access tokens, checked as a resource provider behind ARM checks them: RS256 signatures
//! by the keys the configured authority publishes (OpenID Connect discovery, then its JWKS; cached, fetched
//! again when they age past `keys_max_age` or a token names a key not among them), the issuer the discovery
//! document names (`{tenantid}` filled from the token for multi-tenant authorities), the audience, the tenant,
//! and `exp` / `nbf` against the service's clock with `clock_skew` of slack.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::EntraConfig;

/// The claims this service reads from an Entra ID access token.
#[derive(Debug, Clone, Deserialize)]
pub struct EntraClaims {
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    /// Tenant.
    pub tid: Option<String>,
    /// Object id of the caller.
    pub oid: Option<String>,
    pub sub: Option<String>,
    /// Client id of the caller's application (v1 tokens).
    pub appid: Option<String>,
    /// The same in v2 tokens.
    pub azp: Option<String>,
    /// `app` for app-only tokens (an optional claim).
    pub idtyp: Option<String>,
    pub upn: Option<String>,
    pub preferred_username: Option<String>,
    /// Delegated scopes: present in tokens acting for a user.
    pub scp: Option<String>,
    /// Managed-identity tokens: the resource id the identity belongs to.
    pub xms_mirid: Option<String>,
}

impl EntraClaims {
    pub fn client_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.appid.as_deref())
    }

    pub fn issued_at(&self) -> DateTime<Utc> {
        self.iat
            .and_then(|iat| DateTime::from_timestamp(iat, 0))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum EntraError {
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token is signed by a key its issuer does not publish")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not the configured authority")]
    WrongIssuer,
    #[error("the token's audience is not this service")]
    WrongAudience,
    #[error("the token's tenant is not accepted here")]
    WrongTenant,
    #[error("the authority's signing keys cannot be fetched now")]
    KeysUnavailable,
}

/// Which API a token is presented to: each has its own audiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Arm,
    Agent,
}

#[derive(Default)]
struct KeySet {
    issuer: String,
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

pub struct EntraVerifier {
    settings: EntraConfig,
    authority: String,
    http: reqwest::Client,
    keys: tokio::sync::RwLock<KeySet>,
    /// One fetch of the keys at a time; the others wait for its result.
    fetching: tokio::sync::Mutex<()>,
}

impl EntraVerifier {
    /// A verifier for the configured authority; none when there is none.
    pub fn new(settings: &EntraConfig) -> Option<Self> {
        let authority = settings.authority.clone()?;
        Some(Self {
            settings: settings.clone(),
            authority: authority.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("an HTTP client builds"),
            keys: Default::default(),
            fetching: Default::default(),
        })
    }

    /// Whether the data plane takes managed-identity tokens.
    pub fn accepts_agents(&self) -> bool {
        !self.settings.agent_audiences.is_empty()
    }

    pub fn is_arm(&self, claims: &EntraClaims) -> bool {
        claims.client_id().is_some_and(|id| {
            self.settings
                .arm_app_ids
                .iter()
                .any(|arm| arm.eq_ignore_ascii_case(id))
        })
    }

    pub async fn verify(
        &self,
        token: &str,
        audience: Audience,
        now: DateTime<Utc>,
    ) -> Result<EntraClaims, EntraError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| EntraError::Invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(EntraError::Invalid);
        }
        let kid = header.kid.ok_or(EntraError::Invalid)?;
        let (key, issuer) = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Time is the service's clock's, checked below; audience and issuer too, with their own errors.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<EntraClaims>(token, &key, &validation)
            .map_err(|_| EntraError::Invalid)?
            .claims;
        let expected_issuer = issuer.replace("{tenantid}", claims.tid.as_deref().unwrap_or_default());
        if claims.iss != expected_issuer {
            return Err(EntraError::WrongIssuer);
        }
        let audiences = match audience {
            Audience::Arm => &self.settings.audiences,
            Audience::Agent => &self.settings.agent_audiences,
        };
        if !audiences.contains(&claims.aud) {
            return Err(EntraError::WrongAudience);
        }
        let tenants = &self.settings.tenants;
        if !tenants.is_empty()
            && !claims
                .tid
                .as_deref()
                .is_some_and(|tid| tenants.iter().any(|t| t.eq_ignore_ascii_case(tid)))
        {
            return Err(EntraError::WrongTenant);
        }
        let skew = chrono::Duration::from_std(self.settings.clock_skew).unwrap_or_default();
        if now - skew >= DateTime::from_timestamp(claims.exp, 0).unwrap_or_default() {
            return Err(EntraError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now + skew < DateTime::from_timestamp(nbf, 0).unwrap_or_default()
        {
            return Err(EntraError::NotYetValid);
        }
        Ok(claims)
    }

    /// The key `kid` and the issuer, fetching the keys again when they are old or `kid` is new to them.
    async fn key(&self, kid: &str) -> Result<(Arc<DecodingKey>, String), EntraError> {
        let lookup = |set: &KeySet| set.keys.get(kid).map(|k| (k.clone(), set.issuer.clone()));
        let fresh = |set: &KeySet| {
            set.fetched
                .is_some_and(|at| at.elapsed() < self.settings.keys_max_age)
        };
        {
            let set = self.keys.read().await;
            if fresh(&set)
                && let Some(found) = lookup(&set)
            {
                return Ok(found);
            }
        }
        let _fetching = self.fetching.lock().await;
        {
            // Another request may have fetched them meanwhile; an unknown key fetches at most once per interval.
            let set = self.keys.read().await;
            if fresh(&set)
                && let Some(found) = lookup(&set)
            {
                return Ok(found);
            }
            let recent = set
                .fetched
                .is_some_and(|at| at.elapsed() < self.settings.unknown_key_refresh_interval);
            if recent {
                return lookup(&set).ok_or(EntraError::UnknownKey);
            }
        }
        match self.fetch().await {
            Ok(fetched) => {
                let mut set = self.keys.write().await;
                *set = fetched;
                lookup(&set).ok_or(EntraError::UnknownKey)
            }
            Err(err) => {
                tracing::warn!(authority = %self.authority, error = %err, "cannot fetch the Entra ID signing keys");
                // While the authority is out of reach, the keys fetched before still verify.
                let set = self.keys.read().await;
                match set.fetched {
                    Some(_) => lookup(&set).ok_or(EntraError::UnknownKey),
                    None => Err(EntraError::KeysUnavailable),
                }
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let discovery: Discovery = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.authority))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let jwks: JwkSet = self
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Arc::new(key)))
            })
            .collect::<HashMap<_, _>>();
        tracing::info!(authority = %self.authority, keys = keys.len(), "fetched the Entra ID signing keys");
        Ok(KeySet {
            issuer: discovery.issuer,
            keys,
            fetched: Some(Instant::now()),
        })
    }
}
