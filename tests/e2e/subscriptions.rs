//! ARM's subscription lifecycle: Warned and Suspended allow reads and deletes only; Deleted purges everything of
//! the subscription, secrets included.

use serde_json::json;

use clusterconfig_testkit::ARC;

use crate::{Env, assert_arm_error, git_config};

#[tokio::test(flavor = "multi_thread")]
async fn subscription_states_gate_writes_and_deletion_purges() {
    let env = Env::start(ARC);
    let _agent = env.agent(&[]);
    let subscription = env.cluster.split('/').nth(2).unwrap().to_owned();
    let notify = |state: &str| {
        let body = json!({"state": state, "registrationDate": "Thu, 26 Nov 2026 00:00:00 GMT", "properties": {"tenantId": "t"}});
        let path = format!("/subscriptions/{subscription}?api-version=2.0");
        let arm = env.arm.with_token(&env.server.arm_token());
        async move { arm.put(&path, &body).await }
    };
    let kept = env.put_and_wait(&env.flux("kept"), &git_config()).await;
    assert_eq!(kept["status"], "Succeeded");

    let warned = notify("Warned").await;
    assert_eq!(warned.status, 200);
    assert_eq!(warned.body["state"], "Warned", "the notification is echoed");
    assert_arm_error(
        &env.arm.put(&env.flux("new"), &git_config()).await,
        409,
        "ReadOnlyDisabledSubscription",
    );
    assert_arm_error(
        &env.arm
            .patch(&env.flux("kept"), &json!({"properties": {"suspend": true}}))
            .await,
        409,
        "ReadOnlyDisabledSubscription",
    );
    assert_eq!(
        env.arm.get(&env.flux("kept")).await.status,
        200,
        "reads still work"
    );

    assert_eq!(notify("Registered").await.status, 200);
    let mut body = git_config();
    body["properties"]["gitRepository"]["httpsUser"] = json!("u");
    body["properties"]["configurationProtectedSettings"] = json!({"httpsKey": "c2VjcmV0"});
    assert_eq!(env.arm.put(&env.flux("new"), &body).await.status, 201);

    // An agent waiting on the cluster is woken by the purge, to an empty desired state.
    let agent = env.arm.with_token(&env.server.agent_token(&env.cluster));
    let desired_url = format!("{}/dataplane/v1{}/desiredState", env.server.url, env.cluster);
    let version = agent.get(&desired_url).await.body["version"].as_u64().unwrap();
    let waiting = {
        let (agent, url) = (
            env.arm.with_token(&env.server.agent_token(&env.cluster)),
            desired_url.clone(),
        );
        tokio::spawn(async move {
            let etag = format!("\"{version}\"");
            agent
                .send(
                    reqwest::Method::GET,
                    &url,
                    None,
                    &[("If-None-Match", &etag), ("Prefer", "wait=60")],
                )
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert_eq!(
        notify("Deleted").await.status,
        200,
        "answered at once; the purge runs behind it"
    );
    let woken = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the waiting agent is woken")
        .unwrap();
    assert_eq!(woken.status, 200, "{}", woken.text);
    assert_eq!(woken.body["fluxConfigurations"], json!([]));
    println!(
        "waiting agent woken {:?} after the Deleted notification",
        started.elapsed()
    );
    assert_eq!(env.arm.get(&env.flux("kept")).await.status, 404);
    assert_eq!(env.arm.get(&env.flux("new")).await.status, 404);
    let desired = agent.get(&desired_url).await;
    assert_eq!(desired.body["fluxConfigurations"], json!([]));
    assert_eq!(desired.body["extensions"], json!([]));
    assert_arm_error(
        &env.arm.put(&env.flux("after"), &git_config()).await,
        409,
        "SubscriptionNotRegistered",
    );
    let invalid = env
        .arm
        .put(
            &format!("/subscriptions/{subscription}?api-version=2.0"),
            &json!({"state": "Sleeping"}),
        )
        .await;
    assert_arm_error(&invalid, 400, "InvalidRequestContent");
}

/// A warned or suspended subscription keeps its resources, but its clusters' agents get no secret values
/// (their keys and generations still come) until it is registered again.
#[tokio::test(flavor = "multi_thread")]
async fn warned_and_suspended_subscriptions_hand_out_no_secrets() {
    let env = Env::start(ARC);
    let subscription = env.cluster.split('/').nth(2).unwrap().to_owned();
    let notify = |state: &'static str| {
        let body = json!({"state": state, "properties": {"tenantId": "t"}});
        let path = format!("/subscriptions/{subscription}?api-version=2.0");
        let arm = env.arm.with_token(&env.server.arm_token());
        async move { arm.put(&path, &body).await }
    };
    let mut body = git_config();
    body["properties"]["gitRepository"]["httpsUser"] = json!("u");
    body["properties"]["configurationProtectedSettings"] = json!({"httpsKey": "c2VjcmV0"});
    assert_eq!(env.arm.put(&env.flux("held"), &body).await.status, 201);
    let agent = env.arm.with_token(&env.server.agent_token(&env.cluster));
    let desired_url = format!("{}/dataplane/v1{}/desiredState", env.server.url, env.cluster);
    let values =
        |desired: &serde_json::Value| desired["fluxConfigurations"][0]["protectedSettings"]["values"].clone();
    assert!(
        values(&agent.get(&desired_url).await.body).is_object(),
        "registered: values flow"
    );
    for state in ["Warned", "Suspended"] {
        assert_eq!(notify(state).await.status, 200);
        let desired = agent.get(&desired_url).await.body;
        assert!(values(&desired).is_null(), "{state}: no values: {desired}");
        assert_eq!(
            desired["fluxConfigurations"][0]["protectedSettings"]["keys"],
            json!(["httpsKey"]),
            "{state}: the keys still come"
        );
    }
    assert_eq!(notify("Registered").await.status, 200);
    assert!(
        values(&agent.get(&desired_url).await.body).is_object(),
        "registered again: values flow"
    );
}
