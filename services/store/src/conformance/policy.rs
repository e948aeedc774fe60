//! The contract of the policy records and of the clusters' policy states and inventory.

use std::sync::Arc;

use uuid::Uuid;

use super::{change, cluster, t};
use crate::{Etag, Expect, PolicyKind, PolicyRecord, PolicyStateRecord, Store, StoreError, Write};

fn policy(kind: PolicyKind, scope: &str, name: &str, body: &str) -> PolicyRecord {
    let provider = match kind {
        PolicyKind::Definition => "microsoft.authorization/policydefinitions",
        PolicyKind::Assignment => "microsoft.authorization/policyassignments",
        PolicyKind::Remediation => "microsoft.policyinsights/remediations",
    };
    PolicyRecord {
        kind,
        id: format!("{scope}/providers/{provider}/{name}"),
        scope: scope.to_owned(),
        body: body.to_owned(),
        updated_at: t(5),
        etag: Etag(String::new()),
    }
}

fn state(assignment: &str, compliance: &str) -> PolicyStateRecord {
    PolicyStateRecord {
        cluster: String::new(),
        assignment: assignment.to_owned(),
        compliance: compliance.to_owned(),
        evaluated_at: t(7),
        body: format!("{{\"compliance\":\"{compliance}\"}}"),
        etag: Etag(String::new()),
    }
}

pub async fn policy_records_round_trip(store: Arc<dyn Store>) {
    let subscription = format!("/subscriptions/{}", Uuid::new_v4());
    let group = format!("{subscription}/resourcegroups/rg");
    let definition = policy(PolicyKind::Definition, &subscription, "d1", "{\"v\":1}");
    let etag = store
        .put_policy_record(definition.clone(), Expect::Absent)
        .await
        .unwrap();
    let read = store
        .policy_record(PolicyKind::Definition, &definition.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.body, "{\"v\":1}");
    assert_eq!(read.scope, subscription);
    assert_eq!(read.etag, etag);
    // The id of one kind names nothing of another.
    assert!(
        store
            .policy_record(PolicyKind::Assignment, &definition.id)
            .await
            .unwrap()
            .is_none()
    );

    // Expectations guard writes.
    assert!(matches!(
        store.put_policy_record(definition.clone(), Expect::Absent).await,
        Err(StoreError::Conflict(_))
    ));
    let changed = PolicyRecord {
        body: "{\"v\":2}".into(),
        ..definition.clone()
    };
    let etag2 = store
        .put_policy_record(changed.clone(), Expect::Etag(etag.clone()))
        .await
        .unwrap();
    assert!(matches!(
        store.put_policy_record(changed.clone(), Expect::Etag(etag)).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .put_policy_record(changed.clone(), Expect::Anything)
        .await
        .unwrap();
    assert_ne!(
        store
            .policy_record(PolicyKind::Definition, &definition.id)
            .await
            .unwrap()
            .unwrap()
            .etag,
        etag2
    );

    // Lists by scope prefix, in id order, in pages.
    for name in ["a3", "a1", "a2"] {
        store
            .put_policy_record(
                policy(PolicyKind::Assignment, &subscription, name, "{}"),
                Expect::Absent,
            )
            .await
            .unwrap();
    }
    store
        .put_policy_record(policy(PolicyKind::Assignment, &group, "g1", "{}"), Expect::Absent)
        .await
        .unwrap();
    let all = store
        .policy_records(PolicyKind::Assignment, &subscription, None, 10)
        .await
        .unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.id.rsplit('/').next().unwrap()).collect();
    assert_eq!(names, ["a1", "a2", "a3", "g1"]);
    let in_group = store
        .policy_records(PolicyKind::Assignment, &group, None, 10)
        .await
        .unwrap();
    assert_eq!(in_group.len(), 1);
    let first = store
        .policy_records(PolicyKind::Assignment, &subscription, None, 2)
        .await
        .unwrap();
    let rest = store
        .policy_records(PolicyKind::Assignment, &subscription, Some(&first[1].id), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 4);
    assert_eq!(rest[0].id, all[2].id);
    assert!(
        store
            .policy_records(PolicyKind::Definition, &group, None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        store
            .delete_policy_record(PolicyKind::Definition, &definition.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_policy_record(PolicyKind::Definition, &definition.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .policy_record(PolicyKind::Definition, &definition.id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn policy_states_and_inventory(store: Arc<dyn Store>) {
    let assignment = format!(
        "/subscriptions/{}/providers/microsoft.authorization/policyassignments/a",
        Uuid::new_v4()
    );
    let other = format!("{assignment}-other");
    let (c1, c2, c3) = (cluster(), cluster(), cluster());
    let mut ordered = vec![c1.clone(), c2.clone(), c3.clone()];
    ordered.sort();

    // Inventory: a cluster known before its agent or any resource.
    store
        .commit(change(&c1).with(Write::PutInventory {
            inventory: "{\"location\":\"westeurope\"}".into(),
        }))
        .await
        .unwrap();
    let record = store.cluster(&c1).await.unwrap().unwrap();
    assert_eq!(record.inventory.as_deref(), Some("{\"location\":\"westeurope\"}"));
    assert_eq!(record.version, 0, "the inventory is not desired state");

    // States live in the partition; writes are guarded by their etag and by the cluster's version.
    let committed = store
        .commit(
            change(&c1)
                .expecting_version(0)
                .with(Write::PutPolicyState {
                    record: state(&assignment, "NonCompliant"),
                    expect: Expect::Absent,
                })
                .with(Write::PutPolicyState {
                    record: state(&other, "Compliant"),
                    expect: Expect::Absent,
                }),
        )
        .await
        .unwrap();
    let etag = committed.etags[0]
        .clone()
        .expect("a policy state put returns its etag");
    let partition = store.partition(&c1).await.unwrap();
    assert_eq!(partition.policy_states.len(), 2);
    let read = partition.policy_state(&assignment).unwrap();
    assert_eq!(
        (read.compliance.as_str(), &read.etag, read.cluster.as_str()),
        ("NonCompliant", &etag, c1.as_str())
    );
    assert_eq!(read.evaluated_at, t(7));
    assert!(matches!(
        store
            .commit(change(&c1).with(Write::PutPolicyState {
                record: state(&assignment, "Compliant"),
                expect: Expect::Absent
            }))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store.commit(change(&c1).bump()).await.unwrap();
    assert!(
        matches!(
            store
                .commit(change(&c1).expecting_version(0).with(Write::PutPolicyState {
                    record: state(&assignment, "Compliant"),
                    expect: Expect::Etag(etag.clone())
                }))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "an evaluation of an older version must not land"
    );
    store
        .commit(change(&c1).expecting_version(1).with(Write::PutPolicyState {
            record: state(&assignment, "Compliant"),
            expect: Expect::Etag(etag),
        }))
        .await
        .unwrap();

    for c in [&c2, &c3] {
        store
            .commit(change(c).with(Write::PutPolicyState {
                record: state(&assignment, "NonCompliant"),
                expect: Expect::Anything,
            }))
            .await
            .unwrap();
    }
    let states = store.policy_states(&assignment, None, 10).await.unwrap();
    let clusters: Vec<&str> = states.iter().map(|s| s.cluster.as_str()).collect();
    assert_eq!(clusters, ordered);
    let compliance_of_c1 = states.iter().find(|s| s.cluster == c1).unwrap();
    assert_eq!(compliance_of_c1.compliance, "Compliant");
    let page = store
        .policy_states(&assignment, Some(&ordered[0]), 1)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].cluster, ordered[1]);

    store
        .commit(change(&c2).with(Write::DeletePolicyState {
            assignment: assignment.clone(),
        }))
        .await
        .unwrap();
    assert!(store.partition(&c2).await.unwrap().policy_states.is_empty());
    assert_eq!(store.delete_policy_states(&assignment).await.unwrap(), 2);
    assert!(
        store
            .policy_states(&assignment, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.partition(&c1).await.unwrap().policy_states.len(),
        1,
        "other assignments stay"
    );

    // Forgetting a cluster forgets its states and inventory.
    store.purge_cluster(&c1).await.unwrap();
    assert!(store.policy_states(&other, None, 10).await.unwrap().is_empty());
    assert!(store.cluster(&c1).await.unwrap().is_none());
}
