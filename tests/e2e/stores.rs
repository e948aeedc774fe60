//! The store under the suite (`CLUSTERCONFIG_E2E_STORE`), and what the service does when Cosmos DB is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterconfig_testkit::cosmos::TestCosmos;
use clusterconfig_testkit::{ARC, ServerOptions, TestStore};

use crate::{Env, assert_arm_error, git_config};

#[tokio::test(flavor = "multi_thread")]
async fn the_server_runs_on_the_store_the_suite_names() {
    let env = Env::start(ARC);
    let ready = reqwest::get(format!("{}/readyz", env.server.url))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(ready["store"], env.server.store.name(), "{ready}");
}

/// An outage of the account answers 503 with a clear code within the store's deadline, never a hang; readiness
/// says unavailable, so a load balancer stops sending traffic.
#[tokio::test(flavor = "multi_thread")]
async fn a_cosmos_outage_gives_clear_503s_not_hangs() {
    let cosmos = Arc::new(TestCosmos::own());
    let env = Env::start_with(
        ARC,
        ServerOptions {
            store: Some(TestStore::Cosmos(cosmos.clone())),
            ..Default::default()
        }
        .env("CLUSTERCONFIG_STORE__COSMOS__REQUEST_TIMEOUT", "2s"),
    );
    assert_eq!(env.arm.put(&env.flux("before"), &git_config()).await.status, 201);

    cosmos.stop_emulator();
    let started = Instant::now();
    let read = env.arm.get(&env.flux("before")).await;
    let write = env.arm.put(&env.flux("during"), &git_config()).await;
    for response in [&read, &write] {
        assert_arm_error(response, 503, "StoreUnavailable");
    }
    // Generous: each call to the store ends within its 2-second deadline.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let ready = reqwest::get(format!("{}/readyz", env.server.url)).await.unwrap();
    assert_eq!(ready.status(), 503);
}
