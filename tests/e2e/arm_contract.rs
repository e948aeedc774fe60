//! The ARM resource-provider contract: idempotent PUTs, one write in flight, ETags, paging, force delete,
//! operation listings, request ids, case-insensitive names.

use reqwest::Method;
use serde_json::json;

use clusterconfig_testkit::ARC;

use crate::{EXTENSION_VERSION, Env, FLUX_VERSION, LRO_TIMEOUT, assert_arm_error, git_config};

async fn desired_version(env: &Env) -> u64 {
    let token = env.server.agent_token(&env.cluster);
    let url = format!("{}/dataplane/v1{}/desiredState", env.server.url, env.cluster);
    let response = env.arm.with_token(&token).get(&url).await;
    response.body["version"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_put_changes_nothing_and_reaches_no_cluster() {
    let env = Env::start(ARC);
    let _agent = env.agent(&[]);
    let path = env.flux("policy");
    let done = env.put_and_wait(&path, &git_config()).await;
    assert_eq!(done["status"], "Succeeded");
    let version = desired_version(&env).await;
    let before = env.arm.get(&path).await;

    // What Azure Policy does all day: the same PUT again.
    for _ in 0..3 {
        let again = env.arm.put(&path, &git_config()).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert!(again.header("azure-asyncoperation").is_none(), "no new operation");
        assert_eq!(again.body["properties"]["provisioningState"], "Succeeded");
        assert_eq!(again.header("etag"), before.header("etag"), "nothing was written");
    }
    assert_eq!(
        desired_version(&env).await,
        version,
        "no change reached the cluster"
    );
    assert_eq!(
        env.arm.get(&path).await.body["systemData"],
        before.body["systemData"]
    );

    // The same PUT with defaults spelled out is the same configuration.
    let mut explicit = git_config();
    explicit["properties"]["suspend"] = json!(false);
    explicit["properties"]["gitRepository"]["timeoutInSeconds"] = json!(600);
    explicit["properties"]["kustomizations"]["apps"]["wait"] = json!(true);
    assert!(
        env.arm
            .put(&path, &explicit)
            .await
            .header("azure-asyncoperation")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_write_in_flight_per_resource() {
    let env = Env::start(ARC);
    let path = env.flux("busy");
    let first = env.arm.put(&path, &git_config()).await;
    assert_eq!(first.status, 201);
    let operation = first.header("azure-asyncoperation").unwrap();

    // No agent yet: the operation stays in progress. The same PUT returns the same operation.
    let retried = env.arm.put(&path, &git_config()).await;
    assert_eq!(retried.status, 201, "a retried create still answers as a create");
    assert_eq!(retried.header("azure-asyncoperation"), Some(operation));
    let status = env.arm.get(operation).await;
    assert_eq!(status.body["status"], "Creating");

    // A different goal conflicts, and so do PATCH and DELETE.
    let mut other = git_config();
    other["properties"]["gitRepository"]["repositoryRef"] = json!({"branch": "dev"});
    assert_arm_error(&env.arm.put(&path, &other).await, 409, "Conflict");
    assert_arm_error(
        &env.arm
            .patch(&path, &json!({"properties": {"suspend": true}}))
            .await,
        409,
        "Conflict",
    );
    assert_arm_error(&env.arm.delete(&path).await, 409, "Conflict");

    // The cluster's running operations list it.
    let running = env
        .arm
        .get(&format!(
            "{}/providers/Microsoft.KubernetesConfiguration/operations?api-version={EXTENSION_VERSION}",
            env.cluster
        ))
        .await;
    assert!(
        running.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["status"] == "Creating"),
        "{}",
        running.text
    );

    // An agent arrives and completes it.
    let _agent = env.agent(&[]);
    let done = env.arm.wait_operation(operation, LRO_TIMEOUT).await;
    assert_eq!(done["status"], "Succeeded");
    let changed = env.arm.put(&path, &other).await;
    assert_eq!(changed.status, 200);
    assert!(changed.header("azure-asyncoperation").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn etags_guard_writes() {
    let env = Env::start(ARC);
    let _agent = env.agent(&[]);
    let path = env.flux("guarded");
    let created = env
        .arm
        .send(Method::PUT, &path, Some(&git_config()), &[("If-None-Match", "*")])
        .await;
    assert_eq!(created.status, 201);
    env.arm
        .wait_operation(created.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    let current = env.arm.get(&path).await;
    let etag = current.header("etag").unwrap().to_owned();

    assert_arm_error(
        &env.arm
            .send(Method::PUT, &path, Some(&git_config()), &[("If-None-Match", "*")])
            .await,
        412,
        "PreconditionFailed",
    );
    let patch = json!({"properties": {"suspend": true}});
    assert_arm_error(
        &env.arm
            .send(Method::PATCH, &path, Some(&patch), &[("If-Match", "\"stale\"")])
            .await,
        412,
        "PreconditionFailed",
    );
    assert_arm_error(
        &env.arm
            .send(Method::DELETE, &path, None, &[("If-Match", "\"stale\"")])
            .await,
        412,
        "PreconditionFailed",
    );
    let missing = env.flux("missing");
    assert_arm_error(
        &env.arm
            .send(Method::PUT, &missing, Some(&git_config()), &[("If-Match", "*")])
            .await,
        412,
        "PreconditionFailed",
    );

    let matched = env
        .arm
        .send(Method::PATCH, &path, Some(&patch), &[("If-Match", &etag)])
        .await;
    assert_eq!(matched.status, 202, "{}", matched.text);
    assert_ne!(
        matched.header("etag"),
        Some(etag.as_str()),
        "a write makes a new ETag"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_with_next_links_on_the_referer_host() {
    let env = Env::start(ARC);
    for i in 0..7 {
        let response = env
            .arm
            .put(&env.flux(&format!("config-{i}")), &git_config())
            .await;
        assert_eq!(response.status, 201);
    }
    let mut url = format!("{}&$top=3", env.list("fluxConfigurations", FLUX_VERSION));
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let page = env.arm.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        names.extend(
            page.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_owned()),
        );
        match page.body["nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("$skipToken=") && next.contains(&format!("api-version={FLUX_VERSION}"))
                );
                url = format!("{next}&$top=3");
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("config-{i}")).collect::<Vec<_>>());

    // Behind ARM, links are built on the host ARM was called on.
    let first = env
        .arm
        .send(
            Method::GET,
            &format!("{}&$top=2", env.list("fluxConfigurations", FLUX_VERSION)),
            None,
            &[(
                "Referer",
                "https://management.azure.com/subscriptions/x?api-version=1",
            )],
        )
        .await;
    assert!(
        first.body["nextLink"]
            .as_str()
            .unwrap()
            .starts_with("https://management.azure.com/subscriptions/")
    );
    // A Referer or Host off the allow-list (arm.link_hosts) never becomes a link: the service's own address does.
    let foreign = env
        .arm
        .send(
            Method::PUT,
            &env.flux("foreign"),
            Some(&git_config()),
            &[
                ("Referer", "https://attacker.example/subscriptions/x"),
                ("Host", "attacker.example"),
            ],
        )
        .await;
    assert_eq!(foreign.status, 201, "{}", foreign.text);
    let link = foreign.header("azure-asyncoperation").unwrap();
    assert!(link.starts_with(&env.server.url), "{link}");
    let bad = env
        .arm
        .get(&format!(
            "{}&$skipToken=not-ours",
            env.list("fluxConfigurations", FLUX_VERSION)
        ))
        .await;
    assert_arm_error(&bad, 400, "InvalidSkipToken");
}

#[tokio::test(flavor = "multi_thread")]
async fn force_delete_removes_at_once_without_the_agent() {
    let env = Env::start(ARC);
    let path = env.flux("stuck");
    let created = env.arm.put(&path, &git_config()).await;
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    let forced = env
        .arm
        .delete(&path.replace("?api-version", "?forceDelete=true&api-version"))
        .await;
    assert_eq!(forced.status, 200, "{}", forced.text);
    assert_eq!(env.arm.get(&path).await.status, 404);
    let status = env.arm.get(&operation).await;
    assert_eq!(
        status.body["status"], "Canceled",
        "the create it interrupted ended"
    );
    assert!(status.body["error"]["code"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn names_match_case_insensitively_and_echo_the_last_casing() {
    let env = Env::start(ARC);
    let created = env.arm.put(&env.flux("MixedCase"), &git_config()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["name"], "MixedCase");
    let lower = env.arm.get(&env.flux("mixedcase")).await;
    assert_eq!(lower.status, 200);
    let upper_path = env
        .flux("MIXEDCASE")
        .replace(
            "/providers/Microsoft.KubernetesConfiguration/",
            "/PROVIDERS/microsoft.kubernetesconfiguration/",
        )
        .replace("fluxConfigurations", "FLUXCONFIGURATIONS");
    assert_eq!(
        env.arm.get(&upper_path).await.status,
        200,
        "literal segments match case-insensitively too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_a_request_id_and_errors_are_arm_shaped() {
    let env = Env::start(ARC);
    let responses = [
        env.arm.get(&env.flux("absent")).await,
        env.arm.get("/no/such/route").await,
        env.arm.send(Method::POST, &env.flux("x"), None, &[]).await,
        env.arm.with_token("nonsense").get(&env.flux("x")).await,
        env.arm
            .get(&format!(
                "/providers/Microsoft.KubernetesConfiguration/operations?api-version={FLUX_VERSION}"
            ))
            .await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [404, 404, 405, 401, 200]);
    for response in &responses {
        assert!(
            response
                .header("x-ms-request-id")
                .is_some_and(|id| id.len() == 36),
            "{:?}",
            response.headers
        );
        if response.status >= 400 {
            assert!(
                response.body["error"]["code"].is_string() && response.body["error"]["message"].is_string(),
                "{}",
                response.text
            );
            assert!(
                response.header("retry-after").is_none(),
                "errors never carry Retry-After"
            );
        }
    }
    assert_eq!(responses[0].error_code(), "ResourceNotFound");
    assert!(
        responses[4].body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "Microsoft.KubernetesConfiguration/fluxConfigurations/write")
    );
    let echoed = env
        .arm
        .send(
            Method::GET,
            &env.flux("absent"),
            None,
            &[
                ("x-ms-client-request-id", "abc-123"),
                ("x-ms-return-client-request-id", "true"),
            ],
        )
        .await;
    assert_eq!(echoed.header("x-ms-client-request-id"), Some("abc-123"));
    let unknown_operation = env
        .arm
        .get(&env.flux("absent").replace(
            "?api-version",
            "/operations/00000000-0000-0000-0000-000000000000?api-version",
        ))
        .await;
    assert_eq!(unknown_operation.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn system_data_comes_from_arm_and_correlation_ids_are_logged() {
    let env = Env::start(ARC);
    let system_data = json!({"createdBy": "policy-assignment-identity", "createdByType": "ManagedIdentity", "createdAt": "2026-11-20T10:00:00Z",
        "lastModifiedBy": "policy-assignment-identity", "lastModifiedByType": "ManagedIdentity", "lastModifiedAt": "2026-11-20T10:00:00Z"});
    let header = system_data.to_string();
    // ARM's own identity: the only caller whose systemData header is taken.
    let arm = env.arm.with_token(&env.server.cli(&[
        "token",
        "arm",
        "--subject",
        "Microsoft.Azure.ResourceManager",
        "--subject-type",
        "Application",
    ]));
    let created = arm
        .send(
            Method::PUT,
            &env.flux("from-arm"),
            Some(&git_config()),
            &[
                ("x-ms-arm-resource-system-data", &header),
                ("x-ms-correlation-request-id", "corr-7f3a"),
            ],
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body["systemData"]["createdBy"],
        "policy-assignment-identity"
    );
    assert_eq!(created.body["systemData"]["createdByType"], "ManagedIdentity");
    assert_eq!(created.header("x-ms-correlation-request-id"), Some("corr-7f3a"));

    // Anyone else's header is a claim about someone else: ignored, the caller is recorded.
    let forged = env
        .arm
        .send(
            Method::PUT,
            &env.flux("forged"),
            Some(&git_config()),
            &[("x-ms-arm-resource-system-data", &header)],
        )
        .await;
    assert_eq!(forged.status, 201, "{}", forged.text);
    assert_eq!(forged.body["systemData"]["createdBy"], "clusterconfig-cli");

    // Without the header, the caller of the token is recorded.
    let direct = env.arm.put(&env.flux("direct"), &git_config()).await;
    assert_eq!(direct.body["systemData"]["createdBy"], "clusterconfig-cli");
    assert_eq!(direct.body["systemData"]["createdByType"], "User");
    assert!(
        env.server.logs().contains("corr-7f3a"),
        "the correlation id is in the request log"
    );
}
