//! The agent data plane, driven by hand: long-poll wake-up and 304, tokens bound to one cluster, reports that
//! complete operations (the first configuration's only after microsoft.flux is installed), stale reports, and
//! the cluster facts the service checks writes against.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::{ARC, Arm};

use crate::{EXTENSION_VERSION, Env, assert_arm_error, git_config};

struct Agent {
    arm: Arm,
    base: String,
}

impl Agent {
    fn new(env: &Env) -> Self {
        Agent {
            arm: env.arm.with_token(&env.server.agent_token(&env.cluster)),
            base: format!("{}/dataplane/v1{}", env.server.url, env.cluster),
        }
    }

    async fn desired(&self) -> Value {
        let response = self.arm.get(&format!("{}/desiredState", self.base)).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(
            response.header("etag").unwrap(),
            format!("\"{}\"", response.body["version"])
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
        response.body
    }

    async fn report(&self, collection: &str, name: &str, body: Value) -> clusterconfig_testkit::Response {
        self.arm
            .send(
                Method::POST,
                &format!("{}/{collection}/{name}/status", self.base),
                Some(&body),
                &[],
            )
            .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_poll_wakes_on_a_write_and_ends_in_304_without_one() {
    let env = Env::start(ARC);
    let agent = Agent::new(&env);
    let version = agent.desired().await["version"].as_u64().unwrap();

    let quiet = Instant::now();
    let none = agent
        .arm
        .send(
            Method::GET,
            &format!("{}/desiredState", agent.base),
            None,
            &[("If-None-Match", &format!("\"{version}\"")), ("Prefer", "wait=1")],
        )
        .await;
    assert_eq!(none.status, 304);
    assert!(quiet.elapsed() >= Duration::from_millis(900), "it waited");
    assert_eq!(none.header("etag").unwrap(), format!("\"{version}\""));

    let waiter = {
        let arm = agent.arm.with_token(&env.server.agent_token(&env.cluster));
        let url = format!("{}/desiredState", agent.base);
        tokio::spawn(async move {
            let started = Instant::now();
            let response = arm
                .send(
                    Method::GET,
                    &url,
                    None,
                    &[
                        ("If-None-Match", &format!("\"{version}\"")),
                        ("Prefer", "wait=60"),
                    ],
                )
                .await;
            (response, started)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = Instant::now();
    assert_eq!(env.arm.put(&env.flux("wake"), &git_config()).await.status, 201);
    let (response, started) = waiter.await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body["version"].as_u64().unwrap() > version);
    assert_eq!(response.body["fluxConfigurations"][0]["name"], "wake");
    let woke_after_write = written.elapsed();
    assert!(
        started.elapsed() < Duration::from_secs(10) && woke_after_write < Duration::from_secs(2),
        "woken {woke_after_write:?} after the write"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_bound_to_their_cluster_and_api() {
    let env = Env::start(ARC);
    let other = clusterconfig_testkit::cluster_id(ARC);
    let desired = |cluster: &str| format!("{}/dataplane/v1{cluster}/desiredState", env.server.url);
    let mine = env.arm.with_token(&env.server.agent_token(&env.cluster));
    assert_eq!(mine.get(&desired(&env.cluster)).await.status, 200);
    assert_arm_error(&mine.get(&desired(&other)).await, 403, "AuthorizationFailed");
    assert_arm_error(
        &env.arm.get(&desired(&env.cluster)).await,
        403,
        "AuthorizationFailed",
    );
    assert_arm_error(
        &env.arm.with_token("x.y.z").get(&desired(&env.cluster)).await,
        401,
        "AuthenticationFailed",
    );
    let agent_on_arm = mine.get(&env.flux("x")).await;
    assert_arm_error(&agent_on_arm, 403, "AuthorizationFailed");
    let report = mine
        .send(
            Method::POST,
            &format!("{}/dataplane/v1{other}/agent", env.server.url),
            Some(&json!({})),
            &[],
        )
        .await;
    assert_eq!(report.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_configuration_completes_after_microsoft_flux_is_installed() {
    let env = Env::start(ARC);
    let agent = Agent::new(&env);
    let created = env.arm.put(&env.flux("first"), &git_config()).await;
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    let desired = agent.desired().await;
    assert_eq!(desired["extensions"][0]["extensionType"], "microsoft.flux");
    assert_eq!(desired["extensions"][0]["version"], "1.23.0");

    // The configuration is applied, but microsoft.flux is not installed yet: still running.
    let applied = agent
        .report(
            "fluxConfigurations",
            "first",
            json!({"generation": 1, "provisioningState": "Succeeded", "complianceState": "Compliant"}),
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["operationCompleted"], false);
    assert_eq!(env.arm.get(&operation).await.body["status"], "Creating");

    let installed = agent
        .report(
            "extensions",
            "flux",
            json!({"generation": 1, "provisioningState": "Succeeded", "installedVersion": "1.23.0"}),
        )
        .await;
    assert_eq!(installed.body["operationCompleted"], true);
    assert_eq!(
        env.arm.get(&operation).await.body["status"],
        "Succeeded",
        "completed with the installation"
    );
    let read = env.arm.get(&env.flux("first")).await;
    assert_eq!(read.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(read.body["properties"]["complianceState"], "Compliant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_installation_fails_the_waiting_configuration() {
    let env = Env::start(ARC);
    let agent = Agent::new(&env);
    let created = env.arm.put(&env.flux("waiting"), &git_config()).await;
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    agent
        .report(
            "extensions",
            "flux",
            json!({"generation": 1, "provisioningState": "Failed", "message": "helm install timed out"}),
        )
        .await;
    let status = env.arm.get(&operation).await;
    assert_eq!(status.body["status"], "Failed");
    assert_eq!(status.body["error"]["code"], "ResourceOperationFailure");
    assert!(
        status.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("helm install timed out")
    );
    let extension = env.arm.get(&env.extension("flux")).await;
    assert_eq!(extension.body["properties"]["provisioningState"], "Failed");
    assert_eq!(
        extension.body["properties"]["errorInfo"]["code"],
        "ResourceOperationFailure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn older_reports_never_overwrite_newer_state() {
    let env = Env::start(ARC);
    let agent = Agent::new(&env);
    env.arm.put(&env.flux("gen"), &git_config()).await;
    agent
        .report(
            "extensions",
            "flux",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    let first = agent.report("fluxConfigurations", "gen", json!({"generation": 1, "provisioningState": "Succeeded", "complianceState": "Compliant", "sourceSyncedCommitId": "main@sha1:1"})).await;
    assert_eq!(first.body["operationCompleted"], true);
    let patched = env
        .arm
        .patch(&env.flux("gen"), &json!({"properties": {"suspend": true}}))
        .await;
    let operation = patched.header("azure-asyncoperation").unwrap().to_owned();
    agent.report("fluxConfigurations", "gen", json!({"generation": 2, "provisioningState": "Succeeded", "complianceState": "Suspended", "sourceSyncedCommitId": "main@sha1:2"})).await;
    assert_eq!(env.arm.get(&operation).await.body["status"], "Succeeded");

    let stale = agent
        .report(
            "fluxConfigurations",
            "gen",
            json!({"generation": 1, "provisioningState": "Failed", "complianceState": "Non-Compliant"}),
        )
        .await;
    assert_arm_error(&stale, 409, "StaleGeneration");
    let future = agent
        .report(
            "fluxConfigurations",
            "gen",
            json!({"generation": 9, "provisioningState": "Succeeded"}),
        )
        .await;
    assert_arm_error(&future, 400, "ValidationFailed");
    let read = env.arm.get(&env.flux("gen")).await;
    assert_eq!(read.body["properties"]["sourceSyncedCommitId"], "main@sha1:2");
    assert_eq!(read.body["properties"]["provisioningState"], "Succeeded");
    let missing = agent
        .report(
            "fluxConfigurations",
            "nope",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    assert_eq!(
        missing.status, 404,
        "a report for a resource that is gone tells the agent to clean up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_facts_guard_writes() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = crate::lifecycle::test_catalog(dir.path());
    let env = Env::start_with(
        ARC,
        clusterconfig_testkit::ServerOptions::default()
            .env("CLUSTERCONFIG_CATALOG_PATH", catalog.display().to_string()),
    );
    let agent = Agent::new(&env);
    let agent = &agent;
    let facts = |body: Value| {
        let url = format!("{}/agent", agent.base);
        async move { agent.arm.send(Method::POST, &url, Some(&body), &[]).await }
    };
    assert_eq!(
        facts(json!({"kubernetesVersion": "v1.19.4", "cpuArchitecture": "arm64", "agentVersion": "1.0.0"}))
            .await
            .status,
        204
    );

    // microsoft.flux below 1.7.0 has no arm64 images.
    let old_flux = json!({"properties": {"extensionType": "microsoft.flux", "releaseTrain": "Legacy", "autoUpgradeMinorVersion": false, "version": "1.6.1"}});
    let refused = env.arm.put(&env.extension("flux"), &old_flux).await;
    assert_arm_error(&refused, 400, "ClusterNotSupported");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("arm64")
    );

    // Namespace scope under multi-tenancy needs Kubernetes 1.20.6.
    let mut namespaced = git_config();
    namespaced["properties"]["scope"] = json!("namespace");
    assert_arm_error(
        &env.arm.put(&env.flux("tenant"), &namespaced).await,
        400,
        "ClusterNotSupported",
    );
    assert_eq!(
        env.arm.put(&env.flux("cluster-wide"), &git_config()).await.status,
        201,
        "cluster scope is fine"
    );

    assert_eq!(
        facts(json!({"kubernetesVersion": "v1.20.6", "cpuArchitecture": "arm64"}))
            .await
            .status,
        204
    );
    assert_eq!(env.arm.put(&env.flux("tenant"), &namespaced).await.status, 201);

    // N-2: only the three newest minor versions install.
    let old = env
        .arm
        .put(&env.extension("monitoring"), &json!({"properties": {"extensionType": "example.monitoring", "autoUpgradeMinorVersion": false, "version": "2.0.0"}}))
        .await;
    assert_arm_error(&old, 400, "ExtensionVersionNotSupported");
    assert!(
        old.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2.3.1, 2.3.0, 2.2.0, 2.1.0")
    );
    let _ = EXTENSION_VERSION;
}

/// An agent's failure message or status condition that echoes a protected value (as Flux and Helm errors can)
/// reaches ARM readers with the value redacted, in clear or base64.
#[tokio::test(flavor = "multi_thread")]
async fn reports_never_echo_protected_values() {
    use base64::Engine as _;
    const CANARY: &str = "CANARY-echoed-by-helm-7f3a";
    let encoded = base64::engine::general_purpose::STANDARD.encode(CANARY);
    let env = Env::start(ARC);
    let agent = Agent::new(&env);
    let mut body = git_config();
    body["properties"]["gitRepository"]["httpsUser"] = json!("flux");
    body["properties"]["configurationProtectedSettings"] = json!({"httpsKey": encoded});
    let created = env.arm.put(&env.flux("echo"), &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    agent
        .report(
            "extensions",
            "flux",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    let failed = agent
        .report(
            "fluxConfigurations",
            "echo",
            json!({
                "generation": 1,
                "provisioningState": "Failed",
                "message": format!("auth failed for https://flux:{CANARY}@example.com ({encoded})"),
                "complianceState": "Non-Compliant",
                "statuses": [{"name": "echo", "kind": "GitRepository", "complianceState": "Non-Compliant",
                    "statusConditions": [{"type": "Ready", "status": "False", "message": format!("password {CANARY}")}]}]
            }),
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.text);
    let read = env.arm.get(&env.flux("echo")).await;
    let status = env.arm.get(&operation).await;
    for text in [&read.text, &status.text] {
        assert!(!text.contains(CANARY) && !text.contains(&encoded), "{text}");
    }
    assert!(
        status.text.contains("https://flux:<redacted>@example.com"),
        "{}",
        status.text
    );
    assert!(read.text.contains("password <redacted>"), "{}", read.text);
}

/// Agent tokens are revocable one cluster at a time: after `clusterconfig token revoke --cluster`, that
/// cluster's tokens issued before are refused, tokens minted after work, and other clusters are unaffected.
#[tokio::test(flavor = "multi_thread")]
async fn agent_tokens_are_revoked_per_cluster() {
    let env = Env::start(ARC);
    let other = clusterconfig_testkit::cluster_id(ARC);
    let desired = |cluster: &str, token: &str| {
        let arm = env.arm.with_token(token);
        let url = format!("{}/dataplane/v1{cluster}/desiredState", env.server.url);
        async move { arm.get(&url).await }
    };
    let (old, others) = (
        env.server.agent_token(&env.cluster),
        env.server.agent_token(&other),
    );
    assert_eq!(desired(&env.cluster, &old).await.status, 200);

    // A long-poll already waiting with the old token.
    let version = desired(&env.cluster, &old).await.body["version"]
        .as_u64()
        .unwrap();
    let waiting = {
        let (arm, url) = (
            env.arm.with_token(&old),
            format!("{}/dataplane/v1{}/desiredState", env.server.url, env.cluster),
        );
        tokio::spawn(async move {
            let etag = format!("\"{version}\"");
            arm.send(
                Method::GET,
                &url,
                None,
                &[("If-None-Match", &etag), ("Prefer", "wait=20")],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let said = env.server.cli(&["token", "revoke", "--cluster", &env.cluster]);
    assert!(said.contains("revoked"), "{said}");
    let refused = desired(&env.cluster, &old).await;
    assert_arm_error(&refused, 401, "AuthenticationFailed");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{}",
        refused.text
    );
    assert_eq!(
        desired(&other, &others).await.status,
        200,
        "another cluster's token still works"
    );
    let new = env.server.agent_token(&env.cluster);
    assert_eq!(
        desired(&env.cluster, &new).await.status,
        200,
        "a token minted after the revocation works"
    );
    // The revocation moves the cluster's version. A store several instances share carries that to every
    // instance, and the waiting long-poll is refused at once; the embedded store has no such feed for a write
    // made by another process (the CLI), so there the long-poll ends at its wait and its next one is refused.
    if env.server.store.name() != "sqlite" {
        let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the waiting long-poll ends")
            .unwrap();
        assert_arm_error(&ended, 401, "AuthenticationFailed");
    }
}
