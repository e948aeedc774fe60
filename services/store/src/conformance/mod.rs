//! The contract of `Store`, as tests every backend runs unchanged (`conformance_tests!`).
//! Each case works in clusters of its own, so cases can share one database.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

mod concurrency;
mod policy;

pub use concurrency::*;
pub use policy::*;

use crate::{
    Change, DataKeyRecord, Expect, FeedEvent, OperationRecord, ResourceKind, ResourceRecord, SecretKey,
    SecretRecord, Store, StoreError, SubscriptionRecord, Write,
};

/// Instantiates every conformance case as a `#[tokio::test]` against the store `$open().await.1`
/// (`$open` returns a guard that keeps the store's resources alive, and the store).
#[macro_export]
macro_rules! conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@cases $open,
            resources_round_trip, lists_page_in_name_order, expectations_guard_writes,
            a_failed_change_writes_nothing, versions_grow_per_cluster, partitions_hold_one_cluster,
            secrets_expire, operations_run_and_expire, concurrent_changes_lose_nothing,
            one_of_concurrent_conditional_writes_wins, subscriptions_and_purge, agent_facts, data_keys,
            version_bumps_are_signalled, writes_to_one_record_apply_in_order,
            expected_versions_guard_decisions, policy_records_round_trip, policy_states_and_inventory);
    };
    (@cases $open:path, $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (_guard, store) = $open().await;
                $crate::conformance::$case(store).await;
            }
        )+
    };
}

pub(super) fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

pub(super) fn cluster() -> String {
    format!(
        "/subscriptions/{}/resourcegroups/rg/providers/microsoft.kubernetes/connectedclusters/c",
        Uuid::new_v4()
    )
}

fn subscription_of(cluster: &str) -> String {
    cluster.split('/').nth(2).unwrap().to_owned()
}

pub(super) fn change(cluster: &str) -> Change {
    Change::new(cluster, subscription_of(cluster), t(0))
}

pub(super) fn resource(cluster: &str, kind: ResourceKind, name: &str, generation: u64) -> ResourceRecord {
    ResourceRecord {
        cluster: cluster.to_owned(),
        kind,
        name: name.to_owned(),
        generation,
        state: "Creating".into(),
        deleting: false,
        body: format!("body of {name} at {generation}").into_bytes(),
        created_at: t(1),
        updated_at: t(generation as i64),
        etag: crate::Etag(String::new()),
    }
}

fn operation(cluster: &str, name: &str, deadline: i64) -> OperationRecord {
    OperationRecord {
        cluster: cluster.to_owned(),
        id: Uuid::new_v4(),
        kind: ResourceKind::FluxConfiguration,
        name: name.to_owned(),
        action: "create".into(),
        generation: 1,
        status: "Creating".into(),
        started_at: t(0),
        ended_at: None,
        deadline: t(deadline),
        error: None,
        expires_at: None,
        etag: crate::Etag(String::new()),
    }
}

pub(super) fn secret(cluster: &str, name: &str, group: &str, expires: i64) -> SecretRecord {
    SecretRecord {
        cluster: cluster.to_owned(),
        kind: ResourceKind::FluxConfiguration,
        name: name.to_owned(),
        group: group.to_owned(),
        generation: 1,
        expires_at: t(expires),
        body: b"sealed".to_vec(),
    }
}

pub(super) fn put(record: ResourceRecord, expect: Expect) -> Write {
    Write::PutResource { record, expect }
}

pub async fn resources_round_trip(store: Arc<dyn Store>) {
    let c = cluster();
    let committed = store
        .commit(change(&c).bump().with(put(
            resource(&c, ResourceKind::FluxConfiguration, "a", 1),
            Expect::Absent,
        )))
        .await
        .unwrap();
    let etag = committed.etags[0].clone().expect("a put returns its etag");
    let read = store
        .resource(&c, ResourceKind::FluxConfiguration, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.etag, etag);
    assert_eq!(read.body, b"body of a at 1");
    assert_eq!((read.created_at, read.updated_at), (t(1), t(1)));
    assert!(
        store
            .resource(&c, ResourceKind::Extension, "a")
            .await
            .unwrap()
            .is_none(),
        "kinds are apart"
    );

    let updated = store
        .commit(change(&c).with(put(
            resource(&c, ResourceKind::FluxConfiguration, "a", 2),
            Expect::Etag(etag.clone()),
        )))
        .await
        .unwrap();
    let read = store
        .resource(&c, ResourceKind::FluxConfiguration, "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.generation, 2);
    assert_ne!(read.etag, etag, "every write makes a new etag");
    assert_eq!(Some(read.etag.clone()), updated.etags[0]);

    store
        .commit(change(&c).bump().with(Write::DeleteResource {
            kind: ResourceKind::FluxConfiguration,
            name: "a".into(),
            expect: Expect::Etag(read.etag),
        }))
        .await
        .unwrap();
    assert!(
        store
            .resource(&c, ResourceKind::FluxConfiguration, "a")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn lists_page_in_name_order(store: Arc<dyn Store>) {
    let c = cluster();
    let mut change = change(&c);
    for name in ["e", "b", "d", "a", "c"] {
        change.push(put(
            resource(&c, ResourceKind::Extension, name, 1),
            Expect::Absent,
        ));
    }
    change.push(put(
        resource(&c, ResourceKind::FluxConfiguration, "zz", 1),
        Expect::Absent,
    ));
    store.commit(change).await.unwrap();
    let first = store
        .list_resources(&c, ResourceKind::Extension, None, 2)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let second = store
        .list_resources(&c, ResourceKind::Extension, Some("b"), 2)
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    let last = store
        .list_resources(&c, ResourceKind::Extension, Some("d"), 2)
        .await
        .unwrap();
    assert_eq!(last.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["e"]);
    assert!(
        store
            .list_resources(&c, ResourceKind::Extension, Some("e"), 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_resources(&cluster(), ResourceKind::Extension, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn expectations_guard_writes(store: Arc<dyn Store>) {
    let c = cluster();
    let first = store
        .commit(change(&c).with(put(resource(&c, ResourceKind::Extension, "x", 1), Expect::Absent)))
        .await
        .unwrap();
    let etag = first.etags[0].clone().unwrap();
    let again = store
        .commit(change(&c).with(put(resource(&c, ResourceKind::Extension, "x", 1), Expect::Absent)))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let stale = crate::Etag("stale".into());
    let wrong = store
        .commit(change(&c).with(put(
            resource(&c, ResourceKind::Extension, "x", 2),
            Expect::Etag(stale.clone()),
        )))
        .await;
    assert!(matches!(wrong, Err(StoreError::Conflict(_))), "{wrong:?}");
    let gone = store
        .commit(change(&c).with(put(
            resource(&c, ResourceKind::Extension, "missing", 2),
            Expect::Etag(etag.clone()),
        )))
        .await;
    assert!(matches!(gone, Err(StoreError::Conflict(_))), "{gone:?}");
    let delete = store
        .commit(change(&c).with(Write::DeleteResource {
            kind: ResourceKind::Extension,
            name: "x".into(),
            expect: Expect::Etag(stale),
        }))
        .await;
    assert!(matches!(delete, Err(StoreError::Conflict(_))), "{delete:?}");
    store
        .commit(change(&c).with(put(
            resource(&c, ResourceKind::Extension, "x", 3),
            Expect::Anything,
        )))
        .await
        .unwrap();
    assert_eq!(
        store
            .resource(&c, ResourceKind::Extension, "x")
            .await
            .unwrap()
            .unwrap()
            .generation,
        3
    );
}

pub async fn a_failed_change_writes_nothing(store: Arc<dyn Store>) {
    let c = cluster();
    store
        .commit(
            change(&c)
                .bump()
                .with(put(resource(&c, ResourceKind::Extension, "x", 1), Expect::Absent)),
        )
        .await
        .unwrap();
    let op = operation(&c, "y", 100);
    let failing = change(&c)
        .bump()
        .with(put(
            resource(&c, ResourceKind::FluxConfiguration, "y", 1),
            Expect::Absent,
        ))
        .with(Write::PutOperation {
            record: op.clone(),
            expect: Expect::Absent,
        })
        .with(Write::PutSecret(secret(
            &c,
            "y",
            "configurationProtectedSettings",
            100,
        )))
        .with(put(resource(&c, ResourceKind::Extension, "x", 2), Expect::Absent));
    assert!(matches!(
        store.commit(failing).await,
        Err(StoreError::Conflict(_))
    ));
    let partition = store.partition(&c).await.unwrap();
    assert_eq!(partition.version(), 1, "the version did not move");
    assert_eq!(partition.resources.len(), 1);
    assert!(partition.secrets.is_empty() && partition.operations.is_empty());
    assert!(store.operation(&c, op.id).await.unwrap().is_none());
}

pub async fn versions_grow_per_cluster(store: Arc<dyn Store>) {
    let (a, b) = (cluster(), cluster());
    assert_eq!(store.partition(&a).await.unwrap().version(), 0);
    assert!(store.cluster(&a).await.unwrap().is_none());
    for expected in 1..=3 {
        let committed = store
            .commit(change(&a).bump().with(put(
                resource(&a, ResourceKind::Extension, "x", expected),
                Expect::Anything,
            )))
            .await
            .unwrap();
        assert_eq!(committed.version, expected);
    }
    let quiet = store
        .commit(change(&a).with(put(
            resource(&a, ResourceKind::Extension, "x", 9),
            Expect::Anything,
        )))
        .await;
    assert_eq!(
        quiet.unwrap().version,
        3,
        "a change without bump keeps the version"
    );
    assert_eq!(
        store.commit(change(&b).bump()).await.unwrap().version,
        1,
        "versions are per cluster"
    );
    let record = store.cluster(&a).await.unwrap().unwrap();
    assert_eq!(
        (record.version, record.subscription.as_str(), record.created_at),
        (3, subscription_of(&a).as_str(), t(0))
    );
}

pub async fn partitions_hold_one_cluster(store: Arc<dyn Store>) {
    let (a, b) = (cluster(), cluster());
    for c in [&a, &b] {
        store
            .commit(
                change(c)
                    .bump()
                    .with(put(
                        resource(c, ResourceKind::FluxConfiguration, "f", 1),
                        Expect::Absent,
                    ))
                    .with(put(
                        resource(c, ResourceKind::Extension, "flux", 1),
                        Expect::Absent,
                    ))
                    .with(Write::PutSecret(secret(
                        c,
                        "f",
                        "configurationProtectedSettings",
                        100,
                    )))
                    .with(Write::PutOperation {
                        record: operation(c, "f", 100),
                        expect: Expect::Absent,
                    }),
            )
            .await
            .unwrap();
    }
    let partition = store.partition(&a).await.unwrap();
    assert_eq!(partition.version(), 1);
    assert_eq!(partition.resources.len(), 2);
    assert!(partition.resources.iter().all(|r| r.cluster == a));
    assert_eq!(partition.secrets.len(), 1);
    assert_eq!(partition.secrets[0].cluster, a);
    assert_eq!(partition.operations.len(), 1);
    assert!(partition.resource(ResourceKind::Extension, "flux").is_some());
}

pub async fn secrets_expire(store: Arc<dyn Store>) {
    let c = cluster();
    store
        .commit(
            change(&c)
                .with(Write::PutSecret(secret(
                    &c,
                    "a",
                    "configurationProtectedSettings",
                    10,
                )))
                .with(Write::PutSecret(secret(&c, "a", "sourceCredentials", 20)))
                .with(Write::PutSecret(secret(
                    &c,
                    "b",
                    "configurationProtectedSettings",
                    30,
                ))),
        )
        .await
        .unwrap();
    let mine = |keys: Vec<SecretKey>| keys.into_iter().filter(|k| k.cluster == c).collect::<Vec<_>>();
    assert!(mine(store.expired_secrets(t(9), 100).await.unwrap()).is_empty());
    let due = mine(store.expired_secrets(t(20), 100).await.unwrap());
    assert_eq!(
        due.iter()
            .map(|k| (k.name.as_str(), k.group.as_str()))
            .collect::<Vec<_>>(),
        [
            ("a", "configurationProtectedSettings"),
            ("a", "sourceCredentials")
        ]
    );

    // Rewritten since it was listed: the sweep must leave it.
    let mut renewed = secret(&c, "a", "sourceCredentials", 50);
    renewed.generation = 2;
    store
        .commit(change(&c).with(Write::PutSecret(renewed)))
        .await
        .unwrap();
    assert!(store.delete_expired_secret(&due[0], t(20)).await.unwrap());
    assert!(!store.delete_expired_secret(&due[1], t(20)).await.unwrap());
    assert!(
        !store.delete_expired_secret(&due[0], t(20)).await.unwrap(),
        "deleting twice is harmless"
    );
    let left = store.partition(&c).await.unwrap().secrets;
    assert_eq!(
        left.iter()
            .map(|s| (s.name.as_str(), s.generation))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 1)]
    );
    // Compacting what was deleted keeps what was not (and may report it could not finish yet).
    store.compact_deleted().await.unwrap();
    assert_eq!(store.partition(&c).await.unwrap().secrets.len(), 2);

    store
        .commit(change(&c).with(Write::DeleteSecret {
            kind: ResourceKind::FluxConfiguration,
            name: "b".into(),
            group: "configurationProtectedSettings".into(),
        }))
        .await
        .unwrap();
    assert_eq!(store.partition(&c).await.unwrap().secrets.len(), 1);
}

pub async fn operations_run_and_expire(store: Arc<dyn Store>) {
    let c = cluster();
    let (early, late) = (operation(&c, "a", 10), operation(&c, "b", 20));
    let committed = store
        .commit(
            change(&c)
                .with(Write::PutOperation {
                    record: early.clone(),
                    expect: Expect::Absent,
                })
                .with(Write::PutOperation {
                    record: late.clone(),
                    expect: Expect::Absent,
                }),
        )
        .await
        .unwrap();
    let mine = |ops: Vec<OperationRecord>| {
        ops.into_iter()
            .filter(|o| o.cluster == c)
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mine(store.operations_past_deadline(t(15), 100).await.unwrap()),
        [early.id]
    );
    let running = store.list_running_operations(&c, None, 10).await.unwrap();
    assert_eq!(running.len(), 2);
    let page = store
        .list_running_operations(&c, Some(running[0].id), 10)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|o| o.id).collect::<Vec<_>>(), [running[1].id]);

    let mut finished = early.clone();
    finished.status = "Succeeded".into();
    finished.ended_at = Some(t(12));
    finished.expires_at = Some(t(100));
    let stale = store
        .commit(change(&c).with(Write::PutOperation {
            record: finished.clone(),
            expect: Expect::Etag(crate::Etag("old".into())),
        }))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))));
    store
        .commit(change(&c).with(Write::PutOperation {
            record: finished.clone(),
            expect: Expect::Etag(committed.etags[0].clone().unwrap()),
        }))
        .await
        .unwrap();
    let read = store.operation(&c, early.id).await.unwrap().unwrap();
    assert_eq!(
        (read.status.as_str(), read.ended_at, read.expires_at),
        ("Succeeded", Some(t(12)), Some(t(100)))
    );
    assert!(
        mine(store.operations_past_deadline(t(15), 100).await.unwrap()).is_empty(),
        "finished operations do not time out"
    );
    assert_eq!(
        store.partition(&c).await.unwrap().operations.len(),
        1,
        "the partition lists running operations"
    );

    assert_eq!(store.delete_expired_operations(t(99), 1000).await.unwrap(), 0);
    assert!(store.delete_expired_operations(t(100), 1000).await.unwrap() >= 1);
    assert!(store.operation(&c, early.id).await.unwrap().is_none());
    assert!(store.operation(&c, late.id).await.unwrap().is_some());
}

pub async fn subscriptions_and_purge(store: Arc<dyn Store>) {
    let c = cluster();
    let sub = subscription_of(&c);
    assert!(store.subscription(&sub).await.unwrap().is_none());
    for state in ["Registered", "Warned"] {
        store
            .put_subscription(SubscriptionRecord {
                subscription: sub.clone(),
                state: state.into(),
                body: "{}".into(),
                updated_at: t(5),
            })
            .await
            .unwrap();
    }
    assert_eq!(store.subscription(&sub).await.unwrap().unwrap().state, "Warned");
    let warned = store.subscriptions_in_state("Warned").await.unwrap();
    assert!(
        warned.iter().any(|r| r.subscription == sub),
        "listed by its state"
    );
    let registered = store.subscriptions_in_state("Registered").await.unwrap();
    assert!(
        !registered.iter().any(|r| r.subscription == sub),
        "under its newest state only"
    );

    // Another cluster of the same subscription (the last segment differs).
    let other = format!("{}/d", c.rsplit_once('/').unwrap().0);
    for cl in [&c, &other] {
        store
            .commit(
                change(cl)
                    .bump()
                    .with(put(
                        resource(cl, ResourceKind::FluxConfiguration, "f", 1),
                        Expect::Absent,
                    ))
                    .with(Write::PutSecret(secret(
                        cl,
                        "f",
                        "configurationProtectedSettings",
                        100,
                    )))
                    .with(Write::PutOperation {
                        record: operation(cl, "f", 100),
                        expect: Expect::Absent,
                    }),
            )
            .await
            .unwrap();
    }
    let mut clusters = store.clusters_in_subscription(&sub).await.unwrap();
    clusters.sort();
    let mut expected = vec![c.clone(), other.clone()];
    expected.sort();
    assert_eq!(clusters, expected);

    // A pass over every cluster, in pages, sees both in id order (other cases' clusters around them).
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.clusters_after(after.as_deref(), 2).await.unwrap();
        assert!(
            page.len() <= 2 && page.windows(2).all(|w| w[0] < w[1]),
            "{page:?}"
        );
        let Some(last) = page.last().cloned() else { break };
        seen.extend(page);
        after = Some(last);
    }
    let mine: Vec<String> = seen.into_iter().filter(|s| expected.contains(s)).collect();
    assert_eq!(mine, expected);

    store.purge_cluster(&c).await.unwrap();
    let gone = store.partition(&c).await.unwrap();
    assert_eq!(
        gone,
        crate::Partition::default(),
        "nothing of the cluster is left, secrets included"
    );
    assert_eq!(
        store.clusters_in_subscription(&sub).await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(store.partition(&other).await.unwrap().resources.len(), 1);
}

pub async fn agent_facts(store: Arc<dyn Store>) {
    let c = cluster();
    store
        .commit(change(&c).with(Write::PutAgent {
            agent: Some(r#"{"cpuArchitecture":"arm64"}"#.into()),
            last_contact: t(42),
        }))
        .await
        .unwrap();
    let record = store.cluster(&c).await.unwrap().unwrap();
    assert_eq!(record.agent.as_deref(), Some(r#"{"cpuArchitecture":"arm64"}"#));
    assert_eq!((record.last_contact, record.version), (Some(t(42)), 0));

    // A contact alone moves the time and keeps the facts.
    store
        .commit(change(&c).with(Write::Contact { at: t(50) }))
        .await
        .unwrap();
    let record = store.cluster(&c).await.unwrap().unwrap();
    assert_eq!(record.agent.as_deref(), Some(r#"{"cpuArchitecture":"arm64"}"#));
    assert_eq!(record.last_contact, Some(t(50)));
    assert_eq!(record.agent_tokens_not_before, None);

    // Revoking the agent's tokens is recorded on the cluster, and kept by later contact.
    store
        .commit(change(&c).with(Write::RevokeAgentTokens { before: t(60) }))
        .await
        .unwrap();
    store
        .commit(change(&c).with(Write::Contact { at: t(70) }))
        .await
        .unwrap();
    let record = store.cluster(&c).await.unwrap().unwrap();
    assert_eq!(record.agent_tokens_not_before, Some(t(60)));
    assert_eq!(
        store
            .partition(&c)
            .await
            .unwrap()
            .cluster
            .unwrap()
            .agent_tokens_not_before,
        Some(t(60))
    );
}

pub async fn data_keys(store: Arc<dyn Store>) {
    // Data keys are global, not per cluster: use ids no other case uses.
    let base = (Uuid::new_v4().as_u128() % 1_000_000) as u32 * 10 + 1_000_000;
    let key = |id: u32, version: &str| DataKeyRecord {
        id,
        provider: "local".into(),
        kek_version: version.into(),
        wrapped: vec![id as u8; 60],
        created_at: t(id as i64),
        destroy_at: (id % 2 == 1).then(|| t(3600)),
        etag: crate::Etag(String::new()),
    };
    let etag = store.put_data_key(key(base, "1"), Expect::Absent).await.unwrap();
    store
        .put_data_key(key(base + 1, "1"), Expect::Absent)
        .await
        .unwrap();
    let again = store.put_data_key(key(base, "1"), Expect::Absent).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let mine = |keys: Vec<DataKeyRecord>| {
        keys.into_iter()
            .filter(|k| k.id == base || k.id == base + 1)
            .collect::<Vec<_>>()
    };
    let listed = mine(store.data_keys().await.unwrap());
    assert_eq!(listed.iter().map(|k| k.id).collect::<Vec<_>>(), [base, base + 1]);
    assert_eq!(listed[0].etag, etag);

    // Re-wrapping under a new key-encryption key version is guarded by the etag.
    let rewrapped = store
        .put_data_key(key(base, "2"), Expect::Etag(etag.clone()))
        .await
        .unwrap();
    let stale = store.put_data_key(key(base, "3"), Expect::Etag(etag)).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let listed = mine(store.data_keys().await.unwrap());
    assert_eq!(
        (listed[0].kek_version.as_str(), &listed[0].etag),
        ("2", &rewrapped)
    );
    assert_eq!(
        listed.iter().map(|k| k.destroy_at).collect::<Vec<_>>(),
        [None, Some(t(3600))],
        "a secret period's key keeps its destruction time"
    );

    // A destroyed secret period's key is deleted.
    assert!(store.delete_data_key(base + 1).await.unwrap());
    assert!(!store.delete_data_key(base + 1).await.unwrap());
    let listed = mine(store.data_keys().await.unwrap());
    assert_eq!(listed.iter().map(|k| k.id).collect::<Vec<_>>(), [base]);
}

/// Stores several instances share announce every version bump on their change feed (to this instance too);
/// a single-process store has no feed.
pub async fn version_bumps_are_signalled(store: Arc<dyn Store>) {
    use futures::StreamExt;
    let Some(mut feed) = store.changes() else { return };
    let c = cluster();
    // Give the feed a moment to be listening before the change.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let committed = store
        .commit(
            change(&c)
                .bump()
                .with(put(resource(&c, ResourceKind::Extension, "x", 1), Expect::Absent)),
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(event) = feed.next().await {
            if let FeedEvent::Changed { cluster, version } = event
                && cluster == c
            {
                return version;
            }
        }
        panic!("the feed ended");
    })
    .await
    .expect("the bump was signalled within 5 seconds");
    assert_eq!(seen, committed.version);
}
