//! Entra ID access tokens, as ARM and managed identities present them: a local OpenID Connect issuer (its
//! discovery document and JWKS over HTTP, keys it rotates) signs real RS256 tokens, and the service checks
//! signature, issuer, audience, tenant and time against its own clock, and maps a managed identity to its
//! cluster by `xms_mirid`.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_server::clock::Clock;
use clusterconfig_testkit::{Arm, Response};
use support::Service;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
const AUDIENCE: &str = "https://clusterconfig.example.com";
const AGENT_AUDIENCE: &str = "api://clusterconfig-agents";
const ARM_APP_ID: &str = "00000003-0000-0000-c000-000000000000-arm";

/// A test issuer: publishes the keys it is told to, and counts how often its keys were fetched.
#[derive(Clone)]
struct Issuer {
    url: String,
    state: Arc<Mutex<IssuerState>>,
}

struct IssuerState {
    published: Vec<u8>,
    key_fetches: usize,
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/entra/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn discovery(State(issuer): State<Issuer>) -> Json<Value> {
    // As Entra's multi-tenant endpoints do: the issuer names the token's tenant.
    Json(
        json!({"issuer": format!("{}/{{tenantid}}/v2.0", issuer.url), "jwks_uri": format!("{}/keys", issuer.url)}),
    )
}

async fn keys(State(issuer): State<Issuer>) -> Json<Value> {
    let mut state = issuer.state.lock().unwrap();
    state.key_fetches += 1;
    let keys: Vec<Value> = state
        .published
        .iter()
        .map(|n| {
            json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": format!("key-{n}"),
                   "n": fixture(&format!("key-{n}.n")).trim(), "e": "AQAB"})
        })
        .collect();
    Json(json!({ "keys": keys }))
}

impl Issuer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = Issuer {
            url: format!("http://{addr}"),
            state: Arc::new(Mutex::new(IssuerState {
                published: vec![1],
                key_fetches: 0,
            })),
        };
        let app = axum::Router::new()
            .route("/common/v2.0/.well-known/openid-configuration", get(discovery))
            .route("/keys", get(keys))
            .with_state(issuer.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        issuer
    }

    fn authority(&self) -> String {
        format!("{}/common/v2.0", self.url)
    }

    fn publish(&self, keys: &[u8]) {
        self.state.lock().unwrap().published = keys.to_vec();
    }

    fn key_fetches(&self) -> usize {
        self.state.lock().unwrap().key_fetches
    }

    /// A token signed by fixture key `key`, with `claims` over the defaults (valid for an hour from `now`).
    fn token(&self, key: u8, now: chrono::DateTime<Utc>, claims: Value) -> String {
        let mut body = json!({
            "iss": format!("{}/{TENANT}/v2.0", self.url),
            "aud": AUDIENCE,
            "tid": TENANT,
            "oid": "5c3a0ee5-5e26-4b3f-8e2e-6a39c6a1e0a1",
            "sub": "subject-1",
            "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "upn": "alice@contoso.example",
            "scp": "user_impersonation",
            "iat": now.timestamp(),
            "nbf": now.timestamp(),
            "exp": now.timestamp() + 3600,
        });
        body.as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("key-{key}"));
        // PKCS#1 PEM: the base64 between its armour lines is the DER `from_rsa_der` takes.
        let pem = fixture(&format!("key-{key}.pem"));
        let der: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der).unwrap();
        jsonwebtoken::encode(&header, &body, &EncodingKey::from_rsa_der(&der)).unwrap()
    }
}

async fn start() -> (Service, Issuer) {
    let issuer = Issuer::start().await;
    let authority = issuer.authority();
    let service = Service::start_with(
        move |config| {
            let entra = &mut config.auth.entra;
            entra.authority = Some(authority);
            entra.audiences = vec![AUDIENCE.into()];
            entra.tenants = vec![TENANT.into()];
            entra.arm_app_ids = vec![ARM_APP_ID.into()];
            entra.agent_audiences = vec![AGENT_AUDIENCE.into()];
            entra.unknown_key_refresh_interval = std::time::Duration::ZERO;
        },
        None,
    )
    .await;
    (service, issuer)
}

fn now(service: &Service) -> chrono::DateTime<Utc> {
    service.clock.now()
}

async fn list_with(service: &Service, token: &str, headers: &[(&str, &str)]) -> Response {
    let url = format!(
        "{}{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2025-04-01",
        service.url, service.cluster
    );
    Arm::new(&service.url, token)
        .send(Method::GET, &url, None, headers)
        .await
}

fn assert_refused(response: &Response, code: &str) {
    assert_eq!(response.status, 401, "{}", response.text);
    assert_eq!(response.body["error"]["code"], code, "{}", response.text);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_tokens_are_checked_as_arm_would_present_them() {
    let (service, issuer) = start().await;
    let t0 = now(&service);

    // A user's own token: accepted, and it speaks for itself.
    let user = issuer.token(1, t0, json!({}));
    let response = list_with(&service, &user, &[]).await;
    assert_eq!(response.status, 200, "{}", response.text);
    let forged =
        json!({"createdBy": "mallory", "createdByType": "User", "lastModifiedBy": "mallory"}).to_string();
    let created = Arm::new(&service.url, &user)
        .send(
            Method::PUT,
            &format!("{}{}", service.url, service.flux("by-alice")),
            Some(&support::with_token("token-1")),
            &[
                ("x-ms-arm-resource-system-data", &forged),
                ("x-ms-client-principal-name", "mallory@contoso.example"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        created.body["systemData"]["createdBy"], "alice@contoso.example",
        "headers of a non-ARM caller are not believed"
    );
    assert_eq!(created.body["systemData"]["createdByType"], "User");

    // ARM's token: its headers say who called ARM and what the change's systemData is.
    let arm = issuer.token(
        1,
        t0,
        json!({"azp": ARM_APP_ID, "upn": null, "scp": null, "idtyp": "app"}),
    );
    let system_data = json!({"createdBy": "bob@contoso.example", "createdByType": "User", "createdAt": "2026-11-26T07:59:00Z",
        "lastModifiedBy": "bob@contoso.example", "lastModifiedByType": "User", "lastModifiedAt": "2026-11-26T07:59:00Z"});
    let created = Arm::new(&service.url, &arm)
        .send(
            Method::PUT,
            &format!("{}{}", service.url, service.flux("by-bob")),
            Some(&support::with_token("token-2")),
            &[
                ("x-ms-arm-resource-system-data", &system_data.to_string()),
                ("x-ms-client-principal-name", "bob@contoso.example"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["systemData"]["createdBy"], "bob@contoso.example");
    assert_eq!(created.body["systemData"]["createdAt"], "2026-11-26T07:59:00Z");
    let app_only = issuer.token(1, t0, json!({"upn": null, "scp": null, "idtyp": "app"}));
    let created = Arm::new(&service.url, &app_only)
        .put(
            &format!("{}{}", service.url, service.flux("by-app")),
            &support::with_token("token-3"),
        )
        .await;
    assert_eq!(
        created.body["systemData"]["createdByType"], "Application",
        "{}",
        created.text
    );

    // Time, with five minutes of slack, against the service's clock.
    let stale = issuer.token(1, t0, json!({"exp": t0.timestamp() - 240}));
    assert_eq!(
        list_with(&service, &stale, &[]).await.status,
        200,
        "within the clock skew"
    );
    let expired = issuer.token(1, t0, json!({"exp": t0.timestamp() - 360}));
    assert_refused(
        &list_with(&service, &expired, &[]).await,
        "ExpiredAuthenticationToken",
    );
    let early = issuer.token(1, t0, json!({"nbf": t0.timestamp() + 600}));
    assert_refused(
        &list_with(&service, &early, &[]).await,
        "InvalidAuthenticationToken",
    );
    service.advance(3600 + 301);
    assert_refused(
        &list_with(&service, &user, &[]).await,
        "ExpiredAuthenticationToken",
    );
    let t1 = now(&service);

    // Audience, tenant, issuer.
    let elsewhere = issuer.token(1, t1, json!({"aud": "https://management.azure.com"}));
    assert_refused(
        &list_with(&service, &elsewhere, &[]).await,
        "InvalidAuthenticationTokenAudience",
    );
    let other_tenant = issuer.token(
        1,
        t1,
        json!({"tid": OTHER_TENANT, "iss": format!("{}/{OTHER_TENANT}/v2.0", issuer.url)}),
    );
    assert_refused(
        &list_with(&service, &other_tenant, &[]).await,
        "InvalidAuthenticationTokenTenant",
    );
    let wrong_issuer = issuer.token(1, t1, json!({"iss": "https://login.example.com/evil/v2.0"}));
    assert_refused(
        &list_with(&service, &wrong_issuer, &[]).await,
        "InvalidAuthenticationToken",
    );

    // A key the issuer does not publish: the keys are fetched again, and still it is refused.
    let fetches = issuer.key_fetches();
    let forged = issuer.token(3, t1, json!({}));
    let refused = list_with(&service, &forged, &[]).await;
    assert_refused(&refused, "InvalidAuthenticationToken");
    assert!(
        refused.text.contains("key its issuer does not publish"),
        "{}",
        refused.text
    );
    assert_eq!(
        issuer.key_fetches(),
        fetches + 1,
        "an unknown key fetches the keys again"
    );
    let tampered = {
        let token = issuer.token(1, t1, json!({}));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[2] = issuer
            .token(1, t1, json!({"upn": "mallory@contoso.example"}))
            .split('.')
            .nth(2)
            .unwrap()
            .to_owned();
        parts.join(".")
    };
    assert_refused(
        &list_with(&service, &tampered, &[]).await,
        "InvalidAuthenticationToken",
    );

    // Rollover: the issuer moves to key 2; its tokens verify after one fetch, key 1's no longer.
    issuer.publish(&[2]);
    let rotated = issuer.token(2, t1, json!({}));
    assert_eq!(list_with(&service, &rotated, &[]).await.status, 200);
    let old_key = issuer.token(1, t1, json!({}));
    assert_refused(
        &list_with(&service, &old_key, &[]).await,
        "InvalidAuthenticationToken",
    );

    // The service's own tokens still work beside them.
    assert_eq!(service.arm.get(&service.flux("by-alice")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clusters_managed_identity_token_reaches_its_own_cluster_only() {
    let (service, issuer) = start().await;
    let t0 = now(&service);
    let desired = |token: String, cluster: String| {
        let url = format!("{}/dataplane/v1{cluster}/desiredState", service.url);
        let arm = Arm::new(&service.url, &token);
        async move { arm.get(&url).await }
    };
    let identity = |mirid: &str| {
        issuer.token(
            1,
            t0,
            json!({"aud": AGENT_AUDIENCE, "xms_mirid": mirid, "upn": null, "scp": null, "idtyp": "app"}),
        )
    };

    let own = desired(identity(&service.cluster), service.cluster.clone()).await;
    assert_eq!(own.status, 200, "{}", own.text);
    let other_cluster = service
        .cluster
        .replace("connectedClusters/", "connectedClusters/other-");
    let elsewhere = desired(identity(&other_cluster), service.cluster.clone()).await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text);
    assert!(elsewhere.text.contains("another cluster"));
    let not_a_cluster = desired(
        identity(&format!("/subscriptions/{TENANT}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id")),
        service.cluster.clone(),
    )
    .await;
    assert_eq!(not_a_cluster.status, 403, "{}", not_a_cluster.text);
    let arm_audience = issuer.token(1, t0, json!({"xms_mirid": service.cluster}));
    assert_refused(
        &desired(arm_audience, service.cluster.clone()).await,
        "InvalidAuthenticationTokenAudience",
    );
    let agent_on_arm = identity(&service.cluster);
    assert_refused(
        &list_with(&service, &agent_on_arm, &[]).await,
        "InvalidAuthenticationTokenAudience",
    );
}
