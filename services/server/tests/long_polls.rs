//! Long-polls of one cluster woken by one change share one read of the new desired state.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;

use clusterconfig_server::server::Overrides;
use support::{Instrumented, Service, with_token};

#[tokio::test(flavor = "multi_thread")]
async fn waiters_of_one_cluster_share_one_read_of_a_change() {
    const WAITERS: usize = 60;
    let reads = Arc::new(std::sync::Mutex::new(None));
    let seen = reads.clone();
    let service = Service::start_with_overrides(
        |_| {},
        Overrides {
            wrap_store: Some(Box::new(move |inner| {
                let store = Instrumented::new(inner, Duration::ZERO);
                *seen.lock().unwrap() = Some(store.partition_reads.clone());
                Arc::new(store)
            })),
            ..Default::default()
        },
    )
    .await;
    let reads = reads.lock().unwrap().clone().unwrap();
    let before = service.desired().await["version"].as_u64().unwrap();
    let url = format!("{}/dataplane/v1{}/desiredState", service.url, service.cluster);
    let http = reqwest::Client::new();
    let waiters = (0..WAITERS).map(|_| {
        http.get(&url)
            .bearer_auth(service.agent.token())
            .header("If-None-Match", format!("\"{before}\""))
            .header("Prefer", "wait=30")
            .send()
    });
    let waiting = tokio::spawn(join_all(waiters));
    // Every long-poll is parked (each read only the cluster's record to decide it has nothing to send).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reads_before = reads.load(Ordering::SeqCst);
    let created = service
        .arm
        .put(&service.flux("shared"), &with_token("shared-read"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let answers = waiting.await.unwrap();
    let versions: Vec<u64> = join_all(answers.into_iter().map(|answer| async move {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        answer.json::<serde_json::Value>().await.unwrap()["version"]
            .as_u64()
            .unwrap()
    }))
    .await;
    assert!(versions.iter().all(|&v| v > before), "{versions:?}");
    let partition_reads = reads.load(Ordering::SeqCst) - reads_before;
    // The PUT's own decision reads the partition (and may again on a retry); the waiters add one between them.
    assert!(
        partition_reads <= 3,
        "{WAITERS} waiters woken by one change read the partition {partition_reads} times"
    );
}
