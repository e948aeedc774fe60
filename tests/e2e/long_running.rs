//! ARM's long-running operation contract beyond Azure-AsyncOperation: every 202 carries `Location`, whose URL
//! answers 202 (with Location and Retry-After) while the operation runs and then exactly what the request would
//! have answered synchronously; a status answer for a running operation carries Retry-After.

use serde_json::json;

use clusterconfig_testkit::ARC;

use crate::{Env, LRO_TIMEOUT, git_config};

#[tokio::test(flavor = "multi_thread")]
async fn every_202_has_a_location_that_ends_in_the_outcome() {
    let env = Env::start(ARC);
    let path = env.flux("located");
    let mut agent = env.agent(&[]);
    env.put_and_wait(&path, &git_config()).await;
    // No agent from here on: operations stay running until one starts.
    agent.stop();

    let patched = env
        .arm
        .patch(&path, &json!({"properties": {"suspend": true}}))
        .await;
    assert_eq!(patched.status, 202, "{}", patched.text);
    let location = patched.header("location").expect("Location on a 202").to_owned();
    assert!(
        location.starts_with(env.arm.base())
            && location.contains("/operationResults/")
            && location.contains("api-version="),
        "{location}"
    );
    let running = env.arm.get(&location).await;
    assert_eq!(running.status, 202, "{}", running.text);
    assert_eq!(running.header("location"), Some(location.as_str()));
    assert_eq!(running.header("retry-after"), Some("1"));
    let status = env.arm.get(patched.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(status.body["status"], "Updating");
    assert_eq!(
        status.header("retry-after"),
        Some("1"),
        "a running operation's status says when to look again"
    );

    let agent = env.agent(&[]);
    let done = env
        .arm
        .wait_operation(patched.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(done["status"], "Succeeded");
    let finished = env.arm.get(patched.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(finished.header("retry-after"), None, "nothing to wait for");
    let outcome = env.arm.get(&location).await;
    assert_eq!(outcome.status, 200, "{}", outcome.text);
    assert_eq!(
        outcome.body["properties"]["suspend"], true,
        "the resource, as a GET shows it"
    );

    let deleted = env.arm.delete(&path).await;
    assert_eq!(deleted.status, 202);
    let location = deleted.header("location").expect("Location on a 202").to_owned();
    env.arm
        .wait_operation(deleted.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    let outcome = env.arm.get(&location).await;
    assert_eq!(outcome.status, 204, "a finished deletion: {}", outcome.text);
    drop(agent);

    let unknown = location.replace(
        location
            .split("/operationResults/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap(),
        "00000000-0000-0000-0000-000000000000",
    );
    assert_eq!(env.arm.get(&unknown).await.error_code(), "OperationNotFound");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_poll_waits_for_an_operation_that_ends_soon() {
    let env = Env::start_with(
        ARC,
        clusterconfig_testkit::ServerOptions::default().env("CLUSTERCONFIG_ARM__STATUS_WAIT", "5s"),
    );
    let _agent = env.agent(&[]);
    let created = env.arm.put(&env.flux("quick"), &git_config()).await;
    assert_eq!(created.status, 201);
    // The first poll, sent at once (as Microsoft's clients do), already gets the outcome.
    let status = env.arm.get(created.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(status.body["status"], "Succeeded", "{}", status.text);
}
