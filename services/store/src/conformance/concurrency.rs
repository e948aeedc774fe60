//! Conformance cases about writers at the same time: nothing is lost, writes apply in order, and a guarded
//! change commits only against the state it was decided on.

use std::sync::Arc;

use super::{change, cluster, put, resource, secret, t};
use crate::{Expect, ResourceKind, Store, StoreError, Write};

pub async fn concurrent_changes_lose_nothing(store: Arc<dyn Store>) {
    let c = cluster();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, c) = (store.clone(), c.clone());
            tokio::spawn(async move {
                store
                    .commit(change(&c).bump().with(put(
                        resource(&c, ResourceKind::Extension, &format!("e{i:02}"), 1),
                        Expect::Absent,
                    )))
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort();
    assert_eq!(
        versions,
        (1..=16).collect::<Vec<_>>(),
        "each change got its own version"
    );
    let partition = store.partition(&c).await.unwrap();
    assert_eq!((partition.version(), partition.resources.len()), (16, 16));
}

pub async fn one_of_concurrent_conditional_writes_wins(store: Arc<dyn Store>) {
    let c = cluster();
    let etag = store
        .commit(change(&c).with(put(
            resource(&c, ResourceKind::FluxConfiguration, "f", 1),
            Expect::Absent,
        )))
        .await
        .unwrap()
        .etags[0]
        .clone()
        .unwrap();
    let tasks: Vec<_> = (2..10)
        .map(|generation| {
            let (store, c, etag) = (store.clone(), c.clone(), etag.clone());
            tokio::spawn(async move {
                store
                    .commit(change(&c).bump().with(put(
                        resource(&c, ResourceKind::FluxConfiguration, "f", generation),
                        Expect::Etag(etag),
                    )))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.partition(&c).await.unwrap().version(), 1);
}

/// The writes of one change apply in their order, also when several touch one record; a partition lists
/// resources by kind name, then name.
pub async fn writes_to_one_record_apply_in_order(store: Arc<dyn Store>) {
    let c = cluster();
    let group = "configurationProtectedSettings";
    let delete_secret = |name: &str| Write::DeleteSecret {
        kind: ResourceKind::FluxConfiguration,
        name: name.into(),
        group: group.into(),
    };
    store
        .commit(
            change(&c)
                .bump()
                .with(Write::PutSecret(secret(&c, "gone", group, 100)))
                .with(delete_secret("gone"))
                .with(delete_secret("kept"))
                .with(Write::PutSecret(secret(&c, "kept", group, 100)))
                .with(put(
                    resource(&c, ResourceKind::FluxConfiguration, "short", 1),
                    Expect::Absent,
                ))
                .with(Write::DeleteResource {
                    kind: ResourceKind::FluxConfiguration,
                    name: "short".into(),
                    expect: Expect::Anything,
                })
                .with(put(
                    resource(&c, ResourceKind::FluxConfiguration, "b", 1),
                    Expect::Absent,
                ))
                .with(put(resource(&c, ResourceKind::Extension, "z", 1), Expect::Absent))
                .with(put(
                    resource(&c, ResourceKind::FluxConfiguration, "a", 1),
                    Expect::Absent,
                )),
        )
        .await
        .unwrap();
    let partition = store.partition(&c).await.unwrap();
    assert_eq!(
        partition
            .secrets
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["kept"]
    );
    assert_eq!(
        partition
            .resources
            .iter()
            .map(|r| (r.kind.as_str(), r.name.as_str()))
            .collect::<Vec<_>>(),
        [("extension", "z"), ("flux", "a"), ("flux", "b")]
    );
}

/// A change that expects the cluster's version commits only while the cluster is still at it: of several
/// decisions made on one read, exactly one commits (the others are told to decide again), and writes that
/// neither bump nor expect the version (agent contact) never stand in their way.
pub async fn expected_versions_guard_decisions(store: Arc<dyn Store>) {
    let c = cluster();
    let extension = |name: &str| put(resource(&c, ResourceKind::Extension, name, 1), Expect::Absent);
    let first = store
        .commit(change(&c).bump().expecting_version(0).with(extension("first")))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let stale = store
        .commit(change(&c).bump().expecting_version(0).with(extension("stale")))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    assert!(
        store
            .resource(&c, ResourceKind::Extension, "stale")
            .await
            .unwrap()
            .is_none(),
        "a refused change writes nothing"
    );
    store
        .commit(change(&c).with(Write::Contact { at: t(5) }))
        .await
        .unwrap();

    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (store, c) = (store.clone(), c.clone());
            tokio::spawn(async move {
                let name = format!("racer{i}");
                store
                    .commit(change(&c).bump().expecting_version(1).with(put(
                        resource(&c, ResourceKind::Extension, &name, 1),
                        Expect::Absent,
                    )))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(committed) => {
                assert_eq!(committed.version, 2);
                wins += 1;
            }
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1, "one of the decisions made on version 1 commits");
    let partition = store.partition(&c).await.unwrap();
    assert_eq!((partition.version(), partition.resources.len()), (2, 2));
}
