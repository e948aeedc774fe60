//! A deleted subscription is purged in the background, and stays purged: a write that passed the subscription
//! check just before the Deleted notification, and committed after the purge, is purged by the next run of
//! the subscription-purge task.

mod support;

use std::time::Duration;

use serde_json::json;

use clusterconfig_server::tasks::{BackgroundTask, SubscriptionPurge};
use clusterconfig_store::{Change, Expect, ResourceKind, ResourceRecord, Write};

use support::{Service, with_token};

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_subscription_is_purged_and_stays_purged() {
    let service = Service::start().await;
    let path = service.flux("doomed");
    assert_eq!(
        service.arm.put(&path, &with_token("canary-token-1")).await.status,
        201
    );
    let subscription = service.cluster.split('/').nth(2).unwrap().to_owned();
    let notified = service
        .arm
        .put(
            &format!("/subscriptions/{subscription}?api-version=2.0"),
            &json!({"state": "Deleted"}),
        )
        .await;
    assert_eq!(notified.status, 200, "{}", notified.text);
    let mut gone = false;
    for _ in 0..100 {
        if service.arm.get(&path).await.status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "purged in the background");
    assert!(service.stored_secrets().await.is_empty(), "secrets included");

    // A straggler: a write decided before the notification lands after the purge.
    let key = clusterconfig_model::ids::ClusterId::parse(&service.cluster)
        .unwrap()
        .key();
    let now = chrono::Utc::now();
    let straggler = ResourceRecord {
        cluster: key.clone(),
        kind: ResourceKind::FluxConfiguration,
        name: "straggler".into(),
        generation: 1,
        state: "Creating".into(),
        deleting: false,
        body: b"sealed".to_vec(),
        created_at: now,
        updated_at: now,
        etag: clusterconfig_store::Etag(String::new()),
    };
    service
        .store()
        .commit(
            Change::new(&key, subscription.to_ascii_lowercase(), now)
                .bump()
                .with(Write::PutResource {
                    record: straggler,
                    expect: Expect::Absent,
                }),
        )
        .await
        .unwrap();
    assert_eq!(service.store().partition(&key).await.unwrap().resources.len(), 1);

    let task = SubscriptionPurge(service.running.state.app.clone());
    let outcome = task.activate().await.unwrap();
    assert_eq!(outcome["clustersPurged"], 1, "{outcome}");
    let partition = service.store().partition(&key).await.unwrap();
    assert!(
        partition.resources.is_empty() && partition.cluster.is_none(),
        "{partition:?}"
    );
    // Writes through ARM are refused from the notification on.
    let refused = service
        .arm
        .put(&service.flux("after"), &with_token("canary-token-2"))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
}
