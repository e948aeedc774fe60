//! A Key Vault simulator for tests: an `HttpClient` that answers the real `KeyClient` (its 401 challenge, then
//! `GET /keys/{name}/`, `POST /keys/{name}/{version}/wrapkey` and `/unwrapkey`, `POST /keys/{name}/create`,
//! `DELETE /keys/{name}` and `DELETE /deletedkeys/{name}`) with real RSA-OAEP-256 keys (aws-lc-rs), and the real
//! `SecretClient` (`GET /secrets/{name}/{version}`, by vault host), so the provider is tested against the SDK's own requests and responses. No emulator of Key Vault
//! exists; this is never a provider the service can be configured with.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::{AUTHORIZATION, Headers, WWW_AUTHENTICATE};
use azure_core::http::{
    AsyncRawResponse, Body, ClientOptions, HttpClient, Method, Request, RetryOptions, StatusCode, Transport,
};
use azure_core::time::{Duration, OffsetDateTime};
use azure_security_keyvault_keys::KeyClientOptions;
use serde_json::{Value, json};

pub const VAULT_URL: &str = "https://clusterconfig-test.vault.azure.net";
const TOKEN: &str = "simulated-entra-token";

struct Version {
    version: String,
    public: OaepPublicEncryptingKey,
    private: OaepPrivateDecryptingKey,
    enabled: bool,
}

#[derive(Default)]
struct State {
    keys: Vec<(String, Vec<Version>)>,
    /// Deleted keys, kept (unusable) until purged, as soft-delete does.
    deleted: Vec<(String, Vec<Version>)>,
    requests: Vec<String>,
    unavailable: bool,
    /// Secrets by (vault name, secret name): what `SecretClient::get_secret` reads.
    secrets: Vec<((String, String), String)>,
}

/// The simulated vault. Clone it to keep a handle after handing it to a client.
#[derive(Clone, Default)]
pub struct KeyVaultSimulator {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for KeyVaultSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyVaultSimulator")
    }
}

impl KeyVaultSimulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a new current version of key `name` (what creating or rotating the key does); returns it.
    pub fn add_version(&self, name: &str) -> String {
        Self::new_version(&mut self.state.lock().expect("simulator lock"), name)
    }

    fn new_version(state: &mut State, name: &str) -> String {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("RSA key generation");
        let public = OaepPublicEncryptingKey::new(private.public_key()).expect("OAEP public key");
        let private = OaepPrivateDecryptingKey::new(private).expect("OAEP private key");
        let version = format!("{:032x}", rand_u128());
        let entry = match state.keys.iter().position(|(n, _)| n == name) {
            Some(i) => &mut state.keys[i].1,
            None => {
                state.keys.push((name.to_owned(), Vec::new()));
                &mut state.keys.last_mut().expect("pushed").1
            }
        };
        entry.push(Version {
            version: version.clone(),
            public,
            private,
            enabled: true,
        });
        version
    }

    /// The names of the keys that exist (not deleted), and of those deleted but not purged.
    pub fn key_names(&self) -> (Vec<String>, Vec<String>) {
        let state = self.state.lock().expect("simulator lock");
        let names = |keys: &[(String, Vec<Version>)]| keys.iter().map(|(n, _)| n.clone()).collect();
        (names(&state.keys), names(&state.deleted))
    }

    pub fn disable_version(&self, name: &str, version: &str) {
        let mut state = self.state.lock().expect("simulator lock");
        if let Some((_, versions)) = state.keys.iter_mut().find(|(n, _)| n == name)
            && let Some(v) = versions.iter_mut().find(|v| v.version == version)
        {
            v.enabled = false;
        }
    }

    /// Sets the value of a secret in the vault named `vault` (the first label of its host).
    pub fn set_secret(&self, vault: &str, name: &str, value: &str) {
        let mut state = self.state.lock().expect("simulator lock");
        let key = (vault.to_ascii_lowercase(), name.to_owned());
        state.secrets.retain(|(k, _)| *k != key);
        state.secrets.push((key, value.to_owned()));
    }

    /// Client options for the real `SecretClient` whose transport is this simulator.
    pub fn secret_client_options(&self) -> azure_security_keyvault_secrets::SecretClientOptions {
        azure_security_keyvault_secrets::SecretClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(self.clone()))),
                retry: RetryOptions::none(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Makes every request fail with 503 (an outage), or ends the outage.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state.lock().expect("simulator lock").unavailable = unavailable;
    }

    /// `METHOD /path` of every request received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("simulator lock").requests.clone()
    }

    /// Client options whose transport is this simulator (no retries, so failures show at once).
    pub fn client_options(&self) -> KeyClientOptions {
        KeyClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(self.clone()))),
                retry: RetryOptions::none(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The credential the simulator accepts.
    pub fn credential() -> Arc<dyn TokenCredential> {
        Arc::new(StaticCredential)
    }

    fn handle(&self, request: &Request) -> AsyncRawResponse {
        let mut state = self.state.lock().expect("simulator lock");
        self.handle_locked(&mut state, request)
    }

    fn handle_locked(&self, state: &mut State, request: &Request) -> AsyncRawResponse {
        state
            .requests
            .push(format!("{} {}", request.method(), request.url().path()));
        if state.unavailable {
            return error(
                StatusCode::ServiceUnavailable,
                "ServiceUnavailable",
                "The vault is unavailable.",
            );
        }
        // Each new client's first request comes without a token and without its body: answer the challenge.
        match request.headers().get_optional_str(&AUTHORIZATION) {
            None => {
                let mut headers = Headers::new();
                headers.insert(
                    WWW_AUTHENTICATE,
                    r#"Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net""#,
                );
                return AsyncRawResponse::from_bytes(StatusCode::Unauthorized, headers, Vec::new());
            }
            Some(value) if value != format!("Bearer {TOKEN}") => {
                return error(
                    StatusCode::Unauthorized,
                    "Unauthorized",
                    "The token is not valid.",
                );
            }
            Some(_) => {}
        }
        let segments: Vec<String> = request
            .url()
            .path_segments()
            .map(|s| s.map(str::to_owned).collect())
            .unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method(), segments.as_slice()) {
            (Method::Get, ["secrets", name] | ["secrets", name, _]) => {
                let vault = request
                    .url()
                    .host_str()
                    .and_then(|h| h.split('.').next())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let key = (vault, (*name).to_owned());
                match state.secrets.iter().find(|(k, _)| *k == key) {
                    Some((_, value)) => json_response(json!({
                        "value": value,
                        "id": format!("https://{}.vault.azure.net/secrets/{name}/{:032x}", key.0, 1),
                        "attributes": {"enabled": true, "recoveryLevel": "Recoverable+Purgeable"},
                    })),
                    None => error(
                        StatusCode::NotFound,
                        "SecretNotFound",
                        &format!("A secret with (name/id) {name} was not found in this key vault."),
                    ),
                }
            }
            (Method::Get, ["keys", name] | ["keys", name, ""]) => self.get(state, name, None),
            (Method::Post, ["keys", name, "create"]) => {
                if state.deleted.iter().any(|(n, _)| n == name) {
                    return error(
                        StatusCode::Conflict,
                        "Conflict",
                        "A key with this name is deleted but not purged.",
                    );
                }
                Self::new_version(state, name);
                self.get(state, name, None)
            }
            (Method::Get, ["keys", name, version]) => self.get(state, name, Some(version)),
            (Method::Post, ["keys", name, version, "wrapkey"]) => self.wrap(state, name, version, request),
            (Method::Post, ["keys", name, version, "unwrapkey"]) => {
                self.unwrap(state, name, version, request)
            }
            (Method::Delete, ["keys", name]) => {
                let Some(position) = state.keys.iter().position(|(n, _)| n == name) else {
                    return not_found(name);
                };
                let removed = state.keys.remove(position);
                let response = json_response(json!({
                    "recoveryId": format!("{VAULT_URL}/deletedkeys/{name}"),
                    "key": {"kid": Self::kid(name, &removed.1.last().map(|v| v.version.clone()).unwrap_or_default()), "kty": "RSA"},
                    "attributes": {"enabled": false, "recoveryLevel": "Recoverable+Purgeable"},
                }));
                state.deleted.push(removed);
                response
            }
            (Method::Delete, ["deletedkeys", name]) => {
                let Some(position) = state.deleted.iter().position(|(n, _)| n == name) else {
                    return not_found(name);
                };
                state.deleted.remove(position);
                AsyncRawResponse::from_bytes(StatusCode::NoContent, Headers::new(), Vec::new())
            }
            _ => error(
                StatusCode::NotFound,
                "NotFound",
                "No such route in the Key Vault simulator.",
            ),
        }
    }

    fn find<'a>(state: &'a State, name: &str, version: Option<&str>) -> Option<&'a Version> {
        let (_, versions) = state.keys.iter().find(|(n, _)| n == name)?;
        match version.filter(|v| !v.is_empty()) {
            None => versions.last(),
            Some(version) => versions.iter().find(|v| v.version == version),
        }
    }

    fn kid(name: &str, version: &str) -> String {
        format!("{VAULT_URL}/keys/{name}/{version}")
    }

    fn get(&self, state: &State, name: &str, version: Option<&str>) -> AsyncRawResponse {
        let Some(v) = Self::find(state, name, version) else {
            return not_found(name);
        };
        json_response(json!({
            "key": {"kid": Self::kid(name, &v.version), "kty": "RSA", "key_ops": ["wrapKey", "unwrapKey"], "e": "AQAB"},
            "attributes": {"enabled": v.enabled, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90, "exportable": false},
            "tags": {}
        }))
    }

    fn wrap(&self, state: &State, name: &str, version: &str, request: &Request) -> AsyncRawResponse {
        let Some(value) = operation_value(request) else {
            return bad_request();
        };
        let Some(v) = Self::find(state, name, Some(version)) else {
            return not_found(name);
        };
        if !v.enabled {
            return error(
                StatusCode::Forbidden,
                "Forbidden",
                "Operation wrapKey is not allowed on a disabled key.",
            );
        }
        let mut buffer = vec![0u8; v.public.ciphertext_size()];
        let Ok(wrapped) = v
            .public
            .encrypt(&OAEP_SHA256_MGF1SHA256, &value, &mut buffer, None)
        else {
            return bad_request();
        };
        json_response(
            json!({"kid": Self::kid(name, &v.version), "value": azure_core::base64::encode_url_safe(wrapped)}),
        )
    }

    fn unwrap(&self, state: &State, name: &str, version: &str, request: &Request) -> AsyncRawResponse {
        let Some(value) = operation_value(request) else {
            return bad_request();
        };
        let Some(v) = Self::find(state, name, Some(version)) else {
            return not_found(name);
        };
        if !v.enabled {
            return error(
                StatusCode::Forbidden,
                "Forbidden",
                "Operation unwrapKey is not allowed on a disabled key.",
            );
        }
        let mut buffer = vec![0u8; v.private.min_output_size()];
        match v
            .private
            .decrypt(&OAEP_SHA256_MGF1SHA256, &value, &mut buffer, None)
        {
            Ok(plain) => json_response(
                json!({"kid": Self::kid(name, &v.version), "value": azure_core::base64::encode_url_safe(plain)}),
            ),
            Err(_) => bad_request(),
        }
    }
}

#[async_trait]
impl HttpClient for KeyVaultSimulator {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        Ok(self.handle(request))
    }
}

/// `{"alg":"RSA-OAEP-256","value":"<base64url>"}` of a wrapkey/unwrapkey request.
fn operation_value(request: &Request) -> Option<Vec<u8>> {
    let Body::Bytes(bytes) = request.body() else {
        return None;
    };
    let body: Value = serde_json::from_slice(bytes).ok()?;
    if body["alg"] != "RSA-OAEP-256" {
        return None;
    }
    azure_core::base64::decode_url_safe(body["value"].as_str()?).ok()
}

fn json_response(body: Value) -> AsyncRawResponse {
    let mut headers = Headers::new();
    headers.insert("content-type", "application/json; charset=utf-8");
    AsyncRawResponse::from_bytes(
        StatusCode::Ok,
        headers,
        serde_json::to_vec(&body).expect("serializes"),
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> AsyncRawResponse {
    let mut headers = Headers::new();
    headers.insert("content-type", "application/json; charset=utf-8");
    let body = json!({"error": {"code": code, "message": message}});
    AsyncRawResponse::from_bytes(status, headers, serde_json::to_vec(&body).expect("serializes"))
}

fn not_found(name: &str) -> AsyncRawResponse {
    error(
        StatusCode::NotFound,
        "KeyNotFound",
        &format!("A key with (name/id) {name} was not found in this key vault."),
    )
}

fn bad_request() -> AsyncRawResponse {
    error(
        StatusCode::BadRequest,
        "BadParameter",
        "The parameter is incorrect.",
    )
}

fn rand_u128() -> u128 {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    u128::from_be_bytes(bytes)
}

#[derive(Debug)]
struct StaticCredential;

#[async_trait]
impl TokenCredential for StaticCredential {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            TOKEN,
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}
