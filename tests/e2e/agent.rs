//! The reference agent: SSH keys it makes, the cluster's copy of secrets across updates, objects that leave, and
//! reconnecting after the server goes away.

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use clusterconfig_testkit::{ARC, ServerOptions, ServerProcess, process::eventually};

use crate::{Env, LRO_TIMEOUT, git_config};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn secret_data(render_dir: &std::path::Path, file: &str) -> serde_json::Value {
    let yaml =
        std::fs::read_to_string(render_dir.join(file)).unwrap_or_else(|_| panic!("{file} was rendered"));
    let object: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    object["data"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_repository_without_a_key_gets_one_and_its_public_key_is_reported() {
    let env = Env::start(ARC);
    let agent = env.agent(&[]);
    let mut body = git_config();
    body["properties"]["gitRepository"]["url"] = json!("git@github.com:Azure/arc-k8s-demo.git");
    let done = env.put_and_wait(&env.flux("ssh"), &body).await;
    assert_eq!(done["status"], "Succeeded");
    let read = env.arm.get(&env.flux("ssh")).await;
    let public_key = read.body["properties"]["repositoryPublicKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(public_key.starts_with("ssh-ed25519 AAAA"), "{public_key}");

    let data = secret_data(&agent.render_dir, "cluster-config--secret--ssh-auth.yaml");
    let decode = |key: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data[key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert!(decode("identity").starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(decode("identity.pub").trim(), public_key.trim());
    assert!(
        decode("known_hosts").contains("github.com ssh-ed25519"),
        "common hosts are known"
    );
    let yaml =
        std::fs::read_to_string(agent.render_dir.join("cluster-config--gitrepository--ssh.yaml")).unwrap();
    assert!(
        yaml.contains("url: ssh://git@github.com/Azure/arc-k8s-demo.git"),
        "{yaml}"
    );

    // The key lives as long as the configuration: an update keeps it.
    let patched = env
        .arm
        .patch(&env.flux("ssh"), &json!({"properties": {"suspend": true}}))
        .await;
    env.arm
        .wait_operation(patched.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(
        env.arm.get(&env.flux("ssh")).await.body["properties"]["repositoryPublicKey"],
        public_key.as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_that_do_not_touch_protected_settings_keep_the_clusters_copy() {
    let env = Env::start(ARC);
    let agent = env.agent(&[]);
    let mut body = git_config();
    body["properties"]["gitRepository"]["httpsUser"] = json!("flux");
    body["properties"]["configurationProtectedSettings"] = json!({"httpsKey": b64("first-token")});
    env.put_and_wait(&env.flux("tokens"), &body).await;
    let file = "cluster-config--secret--tokens-auth.yaml";
    assert_eq!(
        secret_data(&agent.render_dir, file)["password"],
        b64("first-token")
    );

    // An unrelated PATCH: the service no longer holds the token (the agent took it), yet the cluster keeps it.
    let patched = env
        .arm
        .patch(
            &env.flux("tokens"),
            &json!({"properties": {"kustomizations": {"apps": {"prune": true}}}}),
        )
        .await;
    env.arm
        .wait_operation(patched.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    let desired = env
        .arm
        .with_token(&env.server.agent_token(&env.cluster))
        .get(&format!(
            "{}/dataplane/v1{}/desiredState",
            env.server.url, env.cluster
        ))
        .await;
    let group = &desired.body["fluxConfigurations"][0]["protectedSettings"];
    assert_eq!(group["generation"], 1, "the group did not change in generation 2");
    assert!(
        group.get("values").is_none(),
        "acknowledged values are gone from the service"
    );
    assert_eq!(
        secret_data(&agent.render_dir, file)["password"],
        b64("first-token"),
        "the cluster kept its copy"
    );

    // A PUT that carries new protected settings rewrites the cluster's copy.
    body["properties"]["configurationProtectedSettings"] = json!({"httpsKey": b64("second-token")});
    let replaced = env.arm.put(&env.flux("tokens"), &body).await;
    env.arm
        .wait_operation(replaced.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(
        secret_data(&agent.render_dir, file)["password"],
        b64("second-token")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_configurations_leave_the_render_directory() {
    let env = Env::start(ARC);
    let agent = env.agent(&[]);
    env.put_and_wait(&env.flux("short-lived"), &git_config()).await;
    assert!(agent.rendered().iter().any(|f| f.contains("short-lived")));
    let deleted = env.arm.delete(&env.flux("short-lived")).await;
    env.arm
        .wait_operation(deleted.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert!(
        !agent.rendered().iter().any(|f| f.contains("short-lived")),
        "{:?}",
        agent.rendered()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_reconnects_and_resumes_after_the_server_restarts() {
    let mut server = ServerProcess::start(ServerOptions::default());
    let cluster = clusterconfig_testkit::cluster_id(ARC);
    let arm = server.arm();
    let agent =
        clusterconfig_testkit::AgentProcess::start(&server.url, &cluster, &server.agent_token(&cluster), &[]);
    let first = arm
        .put(
            &crate::resource(&cluster, "fluxConfigurations", "before", crate::FLUX_VERSION),
            &git_config(),
        )
        .await;
    arm.wait_operation(first.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;

    // The server dies (killed, as in a crash) and comes back on the same address and data.
    let address = server.url.trim_start_matches("http://").to_owned();
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarted = ServerProcess::start(ServerOptions {
        data_dir: Some(server.data_dir.clone()),
        store: Some(server.store.clone()),
        arm_listen: Some(address),
        ..Default::default()
    });
    let arm = restarted.arm();
    let second = arm
        .put(
            &crate::resource(&cluster, "fluxConfigurations", "after", crate::FLUX_VERSION),
            &git_config(),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let done = arm
        .wait_operation(
            second.header("azure-asyncoperation").unwrap(),
            Duration::from_secs(90),
        )
        .await;
    assert_eq!(
        done["status"], "Succeeded",
        "the agent came back and applied the change"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            agent.rendered().iter().any(|f| f.contains("--after"))
        })
        .await
    );
    assert!(agent.logs().contains("reconnecting"), "the agent saw the outage");
}
