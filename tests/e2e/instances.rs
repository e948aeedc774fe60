//! Several instances on one store, as in production behind a load balancer: on PostgreSQL (LISTEN/NOTIFY) and on
//! Cosmos DB (its change feed). A write through one instance wakes a long-poll on another within a second; when
//! an instance dies its agents reconnect to another and miss nothing; background sweeps run on every instance
//! without doing any piece of work twice or skipping one.

use std::time::{Duration, Instant};

use reqwest::Method;

use clusterconfig_testkit::balancer::{Balancer, Policy};
use clusterconfig_testkit::process::eventually;
use clusterconfig_testkit::{ARC, AgentProcess, Arm, ServerOptions, ServerProcess, TestStore};

use crate::{LRO_TIMEOUT, git_config, resource};

/// Instance `a`, then instance `b` on the same store with `a`'s signing key and key-encryption key, as the
/// README tells operators to run several instances.
fn two_instances(store: TestStore, env: &[(&str, &str)]) -> (ServerProcess, ServerProcess) {
    let options = |extra: Vec<(String, String)>| {
        let mut options = ServerOptions {
            store: Some(store.clone()),
            ..Default::default()
        };
        for (key, value) in env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(extra)
        {
            options = options.env(&key, value);
        }
        options
    };
    let a = ServerProcess::start(options(Vec::new()));
    let b = ServerProcess::start(options(vec![
        (
            "CLUSTERCONFIG_AUTH__SIGNING_KEY_FILE".into(),
            a.data_dir.join("signing-key").display().to_string(),
        ),
        (
            "CLUSTERCONFIG_CRYPTO__LOCAL_KEY_FILE".into(),
            a.data_dir.join("kek.json").display().to_string(),
        ),
    ]));
    (a, b)
}

fn flux(cluster: &str, name: &str) -> String {
    resource(cluster, "fluxConfigurations", name, crate::FLUX_VERSION)
}

async fn wake_up_across_instances(store: TestStore) {
    let (a, b) = two_instances(store, &[]);
    let cluster = clusterconfig_testkit::cluster_id(ARC);
    let agent_on_b = Arm::new(&b.url, &b.agent_token(&cluster));
    let desired = format!("{}/dataplane/v1{cluster}/desiredState", b.url);
    let version = agent_on_b.get(&desired).await.body["version"].as_u64().unwrap();

    let waiter = tokio::spawn(async move {
        let response = agent_on_b
            .send(
                Method::GET,
                &desired,
                None,
                &[
                    ("If-None-Match", &format!("\"{version}\"")),
                    ("Prefer", "wait=60"),
                ],
            )
            .await;
        (response, Instant::now())
    });
    // The long-poll is waiting on b before the write goes to a.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arm_on_a = a.arm();
    let created = arm_on_a.put(&flux(&cluster, "cross"), &git_config()).await;
    let acknowledged = Instant::now();
    assert_eq!(created.status, 201, "{}", created.text);

    let (response, woke) = waiter.await.unwrap();
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.body["fluxConfigurations"][0]["name"], "cross");
    let delay = woke.saturating_duration_since(acknowledged);
    eprintln!(
        "{}: the long-poll on b woke {delay:?} after a acknowledged the write",
        a.store.name()
    );
    assert!(delay < Duration::from_secs(1), "woken {delay:?} after the write");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_one_instance_wakes_a_long_poll_on_another_on_postgres() {
    wake_up_across_instances(TestStore::postgres()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_one_instance_wakes_a_long_poll_on_another_on_cosmos() {
    wake_up_across_instances(TestStore::cosmos()).await;
}

async fn failover(store: TestStore) {
    let (mut a, b) = two_instances(store, &[]);
    // Active/passive, so that the agent is certainly on a when a dies.
    let balancer = Balancer::start(&[&a.url, &b.url], Policy::FirstAvailable).await;
    let cluster = clusterconfig_testkit::cluster_id(ARC);
    let (agent_token, arm_token) = (a.agent_token(&cluster), a.arm_token());
    let agent = AgentProcess::start(&balancer.url, &cluster, &agent_token, &[]);
    let arm = Arm::new(&balancer.url, &arm_token);

    let first = arm.put(&flux(&cluster, "before"), &git_config()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let done = arm
        .wait_operation(first.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(done["status"], "Succeeded", "{done}");

    // Let the agent settle into its next long-poll on a (the status answer comes as soon as the report lands,
    // while the agent may still be between requests).
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Instance a dies (as in a crash). Changes keep coming, through whichever instance is left.
    a.kill();
    // A client's pooled connections to a died with it (ARM retries those); new ones reach b.
    let arm = Arm::new(&balancer.url, &arm_token);
    let mut operations = Vec::new();
    for name in ["during-1", "during-2", "during-3"] {
        let created = arm.put(&flux(&cluster, name), &git_config()).await;
        assert_eq!(created.status, 201, "{}", created.text);
        operations.push(created.header("azure-asyncoperation").unwrap().to_owned());
    }
    for operation in operations {
        let done = arm.wait_operation(&operation, Duration::from_secs(60)).await;
        assert_eq!(
            done["status"], "Succeeded",
            "the agent reconnected and applied it: {done}"
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            let rendered = agent.rendered();
            ["before", "during-1", "during-2", "during-3"]
                .iter()
                .all(|name| rendered.iter().any(|f| f.contains(&format!("{name}-"))))
        })
        .await,
        "every configuration reached the cluster: {:?}",
        agent.rendered()
    );
    assert!(
        agent.logs().contains("reconnecting"),
        "the agent lost a: {}",
        agent.logs()
    );
    let served = balancer.served();
    assert!(served[1] > 0, "b served requests: {served:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_of_a_dead_instance_reconnect_to_another_and_miss_nothing_on_postgres() {
    failover(TestStore::postgres()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_of_a_dead_instance_reconnect_to_another_and_miss_nothing_on_cosmos() {
    failover(TestStore::cosmos()).await;
}

/// Both instances sweep for timed-out changes every 100 ms: each timed-out operation fails exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn sweeps_on_several_instances_do_each_piece_of_work_once() {
    let (a, b) = two_instances(
        TestStore::postgres(),
        &[
            ("CLUSTERCONFIG_LIFETIMES__PENDING_TIMEOUT", "3s"),
            ("CLUSTERCONFIG_TASKS__PENDING_TIMEOUTS", "100ms"),
            ("CLUSTERCONFIG_TASKS__SECRET_EXPIRY", "100ms"),
        ],
    );
    let arm = a.arm();
    // Clusters whose agents never come: a configuration each (and microsoft.flux, installed with it).
    let mut operations = Vec::new();
    for _ in 0..8 {
        let cluster = clusterconfig_testkit::cluster_id(ARC);
        let created = arm.put(&flux(&cluster, "never"), &git_config()).await;
        assert_eq!(created.status, 201, "{}", created.text);
        operations.push(created.header("azure-asyncoperation").unwrap().to_owned());
    }
    for operation in &operations {
        let done = arm.wait_operation(operation, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "Failed", "{done}");
        assert_eq!(
            done["error"]["details"][0]["code"], "PendingChangeTimedOut",
            "{done}"
        );
    }
    // Each configuration's and each extension's operation timed out once, on one instance or the other.
    let timed_out = |server: &ServerProcess| server.logs().matches("pending change timed out").count();
    assert!(
        eventually(Duration::from_secs(5), || async {
            timed_out(&a) + timed_out(&b) == 2 * operations.len()
        })
        .await,
        "a: {}, b: {}",
        timed_out(&a),
        timed_out(&b)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        timed_out(&a) + timed_out(&b),
        2 * operations.len(),
        "and never again"
    );
    for server in [&a, &b] {
        let board: serde_json::Value = reqwest::get(format!("{}/status/tasks", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for task in board["tasks"].as_array().unwrap() {
            assert_eq!(task["failures"], 0, "no run failed on either instance: {task}");
        }
    }
}

/// A remediation whose instance dies is taken over by another once its lease ends, and completes there: no
/// cluster is deployed to twice.
async fn a_dead_instances_remediation_is_taken_over(store: TestStore) {
    use crate::policy::{
        AUTHORIZATION, REMEDIATIONS, STATES, assignment_parameters, cluster_ids, load_agents, published,
    };
    use serde_json::{Value, json};
    let env = [
        ("CLUSTERCONFIG_POLICY__REMEDIATION_LEASE", "2s"),
        ("CLUSTERCONFIG_TASKS__POLICY_REMEDIATION", "1s"),
        ("CLUSTERCONFIG_TASKS__POLICY_ASSIGNMENTS_REFRESH", "1s"),
    ];
    let (mut a, b) = two_instances(store, &env);
    let clusters = cluster_ids(&[("takeover", 6)]);
    let scope = clusters[0].split('/').take(3).collect::<Vec<_>>().join("/");
    let rows: Vec<Value> = clusters
        .iter()
        .map(|id| json!({"id": id, "name": id.rsplit('/').next(), "type": id.split('/').nth(6).unwrap().to_owned() + "/" + id.split('/').nth(7).unwrap(), "location": "westeurope"}))
        .collect();
    let inventory = a.data_dir.join("inventory.json");
    std::fs::write(&inventory, Value::Array(rows).to_string()).unwrap();
    a.cli(&[
        "clusters",
        "import",
        inventory.to_str().unwrap(),
        "--server",
        &a.url,
    ]);

    let arm_a = a.arm();
    let document = published("Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json");
    let definition = format!(
        "{scope}/providers/Microsoft.Authorization/policyDefinitions/{}",
        document["name"].as_str().unwrap()
    );
    let put = arm_a
        .put(
            &format!("{definition}?api-version={AUTHORIZATION}"),
            &json!({"properties": document["properties"]}),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let assignment = format!("{scope}/providers/Microsoft.Authorization/policyAssignments/takeover");
    let parameters = assignment_parameters(&json!({"configurationName": "fleet",
        "repositoryUrl": "https://github.com/Azure/arc-k8s-demo", "repositoryRefBranch": "main"}));
    let put = arm_a
        .put(
            &format!("{assignment}?api-version={AUTHORIZATION}"),
            &json!({"properties": {"policyDefinitionId": definition, "parameters": parameters}}),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let states = format!(
        "{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version={STATES}"
    );
    let scanned = eventually(LRO_TIMEOUT, || {
        let request = arm_a.send(Method::POST, &states, None, &[]);
        async move {
            request.await.body["value"]
                .as_array()
                .is_some_and(|v| v.len() == 6)
        }
    })
    .await;
    assert!(scanned, "the assignment's scan ran");

    // No agent runs yet: the deployments stay in progress, and the remediation with them, on `a`.
    let remediation = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/takeover");
    let url = format!("{remediation}?api-version={REMEDIATIONS}");
    let put = arm_a
        .put(&url, &json!({"properties": {"policyAssignmentId": assignment}}))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let dispatched = eventually(LRO_TIMEOUT, || {
        let request = arm_a.get(&url);
        async move { request.await.body["properties"]["deploymentStatus"]["totalDeployments"] == 6 }
    })
    .await;
    assert!(dispatched, "a dispatched the deployments");
    assert_ne!(
        arm_a.get(&url).await.body["properties"]["provisioningState"],
        "Succeeded"
    );
    a.kill();

    // The agents come up against `b`, which takes the remediation over once a's lease ends.
    let mut agents = load_agents(&b, &clusters);
    let arm_b = b.arm();
    let deadline = Instant::now() + LRO_TIMEOUT;
    let ended = loop {
        let view = arm_b.get(&url).await.body;
        if view["properties"]["provisioningState"] == "Succeeded" {
            break view;
        }
        assert!(Instant::now() < deadline, "b completes the remediation: {view}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = agents.kill();
    let _ = agents.wait();
    let status = &ended["properties"]["deploymentStatus"];
    assert_eq!(
        status["totalDeployments"], 6,
        "each cluster deployed to once: {ended}"
    );
    assert_eq!(status["successfulDeployments"], 6, "{ended}");
    let listed = arm_b
        .send(
            Method::POST,
            &format!("{remediation}/listDeployments?api-version={REMEDIATIONS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        listed.body["value"].as_array().map(Vec::len),
        Some(6),
        "{}",
        listed.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_instances_remediation_is_taken_over_on_postgres() {
    a_dead_instances_remediation_is_taken_over(TestStore::postgres()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_instances_remediation_is_taken_over_on_cosmos() {
    a_dead_instances_remediation_is_taken_over(TestStore::cosmos()).await;
}
