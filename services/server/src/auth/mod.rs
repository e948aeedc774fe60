//! Bearer tokens signed by the service's own key: ARM tokens for the resource-provider API, and agent tokens
//! bound to one cluster for the data plane. Entra ID tokens, as ARM and managed identities present them, are
//! checked by `entra`.

pub mod entra;

use std::io::Write as _;
use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use clusterconfig_model::arm::CreatedByType;

const ISSUER: &str = "clusterconfig";
pub const ARM_AUDIENCE: &str = "arm";
pub const AGENT_AUDIENCE: &str = "agent";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// Who the caller is: a user or application for ARM tokens, the cluster for agent tokens.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// The cluster (lowercase resource id) an agent token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// How systemData records the caller of an ARM token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<CreatedByType>,
    /// When the token was issued, in milliseconds (`iat` has seconds): what a per-cluster revocation of agent
    /// tokens compares with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

impl Claims {
    /// When the token was issued, to the millisecond when it says so (tokens of older versions: to the second).
    pub fn issued_at(&self) -> DateTime<Utc> {
        let millis = self.iat_ms.unwrap_or(self.iat.saturating_mul(1000));
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not for this API")]
    WrongAudience,
}

/// The key that signs and verifies tokens (HMAC-SHA256).
#[derive(Clone)]
pub struct SigningKey {
    secret: Vec<u8>,
}

impl SigningKey {
    /// Reads the key file, or makes one (32 random bytes, base64, mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::load(path);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut secret = vec![0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let mut file = private_file(path)?;
        writeln!(
            file,
            "{}",
            base64::engine::general_purpose::STANDARD.encode(&secret)
        )?;
        file.sync_all()?;
        Ok(Self { secret })
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read signing key {}: {e}", path.display()))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| anyhow::anyhow!("signing key {} is not base64", path.display()))?;
        anyhow::ensure!(
            secret.len() >= 32,
            "signing key {} is shorter than 32 bytes",
            path.display()
        );
        Ok(Self { secret })
    }

    pub fn from_bytes(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// A key for another purpose, derived from this one (HMAC of a label), so one secret file serves all.
    pub fn derive(&self, label: &str) -> Vec<u8> {
        use hmac::{Mac, SimpleHmac};
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn issue(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .expect("HS256 signing does not fail")
    }

    pub fn issue_arm(
        &self,
        subject: &str,
        subject_type: CreatedByType,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> String {
        self.issue(&Claims {
            iss: ISSUER.into(),
            aud: ARM_AUDIENCE.into(),
            sub: subject.into(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            cluster: None,
            idtyp: Some(subject_type),
            iat_ms: Some(now.timestamp_millis()),
        })
    }

    pub fn issue_agent(&self, cluster_key: &str, now: DateTime<Utc>, ttl: Duration) -> String {
        self.issue(&Claims {
            iss: ISSUER.into(),
            aud: AGENT_AUDIENCE.into(),
            sub: cluster_key.into(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            cluster: Some(cluster_key.into()),
            idtyp: None,
            iat_ms: Some(now.timestamp_millis()),
        })
    }

    /// Checks the signature, issuer and audience, and expiry against `now` (the service's clock).
    pub fn verify(&self, token: &str, audience: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&self.secret), &validation)
                .map_err(|_| TokenError::Invalid)?
                .claims;
        if claims.aud != audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Creates a file only its owner can read.
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_for_their_audience_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-key");
        let key = SigningKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let now = Utc::now();
        let arm = key.issue_arm("alice", CreatedByType::User, now, Duration::hours(1));
        assert_eq!(key.verify(&arm, ARM_AUDIENCE, now).unwrap().sub, "alice");
        assert_eq!(
            key.verify(&arm, AGENT_AUDIENCE, now),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            key.verify(&arm, ARM_AUDIENCE, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
        let again = SigningKey::load_or_create(&path).unwrap();
        assert!(
            again.verify(&arm, ARM_AUDIENCE, now).is_ok(),
            "the key survives a restart"
        );
        let other = SigningKey::from_bytes(vec![7; 32]);
        assert_eq!(other.verify(&arm, ARM_AUDIENCE, now), Err(TokenError::Invalid));
        assert_eq!(
            key.verify("not a token", ARM_AUDIENCE, now),
            Err(TokenError::Invalid)
        );
    }
}
