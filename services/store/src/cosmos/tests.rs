//! The conformance suite on Cosmos DB twice: on the SDK's in-process emulator (fast, and with fault injection
//! for throttling and outages) and on the emulator process over the wire (tests/cosmos-emulator). Then what only
//! Cosmos DB has: TTLs on items, throttling, outages, and the change feed's checkpoint.

use std::sync::Arc;
use std::time::Duration;

use azure_core::http::Url;
use azure_data_cosmos::fault_injection::{
    CustomResponseBuilder, FaultInjectionConditionBuilder, FaultInjectionErrorType,
    FaultInjectionResultBuilder, FaultInjectionRule, FaultInjectionRuleBuilder, FaultOperationType,
};
use azure_data_cosmos::{CosmosClientBuilder, CosmosRuntimeBuilder};
use azure_data_cosmos_driver::in_memory_emulator::{
    ConsistencyLevel, ContainerConfig, InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
};
use chrono::Utc;
use futures::StreamExt;

use super::*;
use crate::{FeedEvent, SecretRecord, Write};

const IN_MEMORY_URL: &str = "https://eastus.emulator.local";

fn settings(endpoint: &str, database: &str) -> CosmosSettings {
    CosmosSettings {
        endpoint: endpoint.to_owned(),
        database: database.to_owned(),
        container: "clusterconfig".into(),
        auth: CosmosAuth::Key(clusterconfig_testkit::cosmos::KEY.into()),
        create_if_missing: true,
        emulator: true,
        region: None,
        request_timeout: Duration::from_secs(10),
        feed_poll_interval: Duration::from_millis(100),
        checkpoint_interval: Duration::ZERO,
        instance: format!("test-{}", Uuid::new_v4().simple()),
    }
}

/// A store on a fresh in-process emulator, with these fault rules; the rules stay in the caller's hands.
async fn in_memory_with(rules: Vec<Arc<FaultInjectionRule>>, settings: CosmosSettings) -> CosmosStore {
    let config = VirtualAccountConfig::new(vec![VirtualRegion::new(
        "East US",
        Url::parse(IN_MEMORY_URL).unwrap(),
    )])
    .unwrap()
    .with_consistency(ConsistencyLevel::Session);
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let emulated = emulator.store();
    emulated.create_database(&settings.database);
    emulated.create_container_with_config(
        &settings.database,
        &settings.container,
        PartitionKeyDefinition::from("/pk"),
        ContainerConfig::new().with_partition_count(2).build().unwrap(),
    );
    let runtime = if rules.is_empty() {
        emulator.runtime_builder()
    } else {
        emulator.runtime_builder_with_fault_rules(rules)
    };
    let runtime = CosmosRuntimeBuilder::from(runtime).build().await.unwrap();
    let account = AccountReference::with_authentication_key(
        IN_MEMORY_URL.parse::<AccountEndpoint>().unwrap(),
        Secret::new(clusterconfig_testkit::cosmos::KEY),
    );
    let client = CosmosClientBuilder::new()
        .with_runtime(runtime)
        .with_default_operation_options(operation_options(settings.request_timeout))
        .build(account, RoutingStrategy::ProximityTo(Region::EAST_US))
        .await
        .unwrap();
    let settings = CosmosSettings {
        create_if_missing: false,
        ..settings
    };
    CosmosStore::open(client, &settings).await.unwrap()
}

mod in_memory {
    use super::*;

    async fn open() -> ((), Arc<dyn Store>) {
        let store = in_memory_with(Vec::new(), settings(IN_MEMORY_URL, "clusterconfig")).await;
        ((), Arc::new(store))
    }

    crate::conformance_tests!(open);
}

mod over_the_wire {
    use super::*;
    use clusterconfig_testkit::cosmos::TestCosmos;

    async fn open_cosmos() -> (TestCosmos, CosmosStore) {
        let cosmos = TestCosmos::create();
        let store = CosmosStore::connect(&settings(&cosmos.endpoint, &cosmos.database))
            .await
            .unwrap();
        (cosmos, store)
    }

    async fn open() -> (TestCosmos, Arc<dyn Store>) {
        let (cosmos, store) = open_cosmos().await;
        (cosmos, Arc::new(store))
    }

    crate::conformance_tests!(open);

    /// The emulator process does not apply TTL, so the TTL itself is checked on the stored items.
    #[tokio::test]
    async fn secrets_and_finished_operations_carry_a_ttl() {
        let (_cosmos, store) = open_cosmos().await;
        let cluster =
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.kubernetes/connectedclusters/ttl";
        let now = Utc::now();
        let secret = SecretRecord {
            cluster: cluster.into(),
            kind: ResourceKind::FluxConfiguration,
            name: "f".into(),
            group: "configurationProtectedSettings".into(),
            generation: 1,
            expires_at: now + chrono::Duration::hours(47),
            body: b"sealed".to_vec(),
        };
        let mut operation = OperationRecord {
            cluster: cluster.into(),
            id: Uuid::new_v4(),
            kind: ResourceKind::FluxConfiguration,
            name: "f".into(),
            action: "create".into(),
            generation: 1,
            status: "Creating".into(),
            started_at: now,
            ended_at: None,
            deadline: now + chrono::Duration::hours(48),
            error: None,
            expires_at: None,
            etag: Etag(String::new()),
        };
        let committed = store
            .commit(
                Change::new(cluster, "s", now)
                    .with(Write::PutSecret(secret.clone()))
                    .with(Write::PutOperation {
                        record: operation.clone(),
                        expect: Expect::Absent,
                    }),
            )
            .await
            .unwrap();
        let container = store.container.clone();
        let raw = |id: String| {
            let container = container.clone();
            async move {
                container
                    .read_item(cluster.to_owned(), &id, None)
                    .await
                    .unwrap()
                    .into_model::<serde_json::Value>()
                    .unwrap()
            }
        };
        let ttl = raw(secret_id(secret.kind, &secret.name, &secret.group)).await["ttl"]
            .as_i64()
            .unwrap();
        assert!((47 * 3600 - 60..=47 * 3600).contains(&ttl), "secret ttl {ttl}");
        assert!(
            raw(operation_id(operation.id)).await.get("ttl").is_none(),
            "a running operation never expires"
        );

        operation.status = "Succeeded".into();
        operation.ended_at = Some(now);
        operation.expires_at = Some(now + chrono::Duration::days(2));
        store
            .commit(Change::new(cluster, "s", now).with(Write::PutOperation {
                record: operation.clone(),
                expect: Expect::Etag(committed.etags[1].clone().unwrap()),
            }))
            .await
            .unwrap();
        let ttl = raw(operation_id(operation.id)).await["ttl"].as_i64().unwrap();
        assert!((2 * 86400 - 60..=2 * 86400).contains(&ttl), "operation ttl {ttl}");
    }
}

fn cluster(name: &str) -> String {
    format!(
        "/subscriptions/{}/resourcegroups/rg/providers/microsoft.kubernetes/connectedclusters/{name}",
        Uuid::new_v4()
    )
}

fn bump(cluster: &str) -> Change {
    Change::new(cluster, "s", Utc::now()).bump()
}

#[tokio::test]
async fn throttled_requests_are_retried_after_the_servers_retry_after() {
    let throttle = Arc::new(
        FaultInjectionRuleBuilder::new(
            "throttle-batches",
            FaultInjectionResultBuilder::new()
                .with_custom_response(
                    CustomResponseBuilder::new(azure_core::http::StatusCode::TooManyRequests)
                        .with_sub_status(3200)
                        .with_header("x-ms-retry-after-ms", "20")
                        .build(),
                )
                .build(),
        )
        .with_condition(
            FaultInjectionConditionBuilder::new()
                .with_operation_type(FaultOperationType::BatchItem)
                .build(),
        )
        .with_hit_limit(3)
        .build(),
    );
    let store = in_memory_with(vec![throttle.clone()], settings(IN_MEMORY_URL, "db")).await;
    let c = cluster("throttled");
    let committed = store.commit(bump(&c)).await.expect("throttling is retried");
    assert_eq!(committed.version, 1);
    assert_eq!(throttle.hit_count(), 3, "the three 429s were met and retried");
}

#[tokio::test]
async fn an_outage_is_unavailable_not_a_hang() {
    let outage = Arc::new(
        FaultInjectionRuleBuilder::new(
            "outage",
            FaultInjectionResultBuilder::new()
                .with_error(FaultInjectionErrorType::ServiceUnavailable)
                .build(),
        )
        .build(),
    );
    let settings = CosmosSettings {
        request_timeout: Duration::from_secs(2),
        ..settings(IN_MEMORY_URL, "db")
    };
    // Off while the client starts (it reads the account first), then everything fails.
    outage.disable();
    let store = in_memory_with(vec![outage.clone()], settings).await;
    outage.enable();
    let c = cluster("outage");
    let started = std::time::Instant::now();
    let read = store.partition(&c).await;
    assert!(matches!(read, Err(StoreError::Unavailable(_))), "{read:?}");
    let write = store.commit(bump(&c)).await;
    assert!(matches!(write, Err(StoreError::Unavailable(_))), "{write:?}");
    // Generous: each call is bounded by the 2-second deadline, so both end long before this.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(outage.hit_count() > 0);

    outage.disable();
    assert_eq!(
        store.commit(bump(&c)).await.unwrap().version,
        1,
        "it recovers with the account"
    );
}

/// The checkpoint: a feed that stopped and starts again under the same instance name replays what it missed.
#[tokio::test]
async fn a_restarted_feed_resumes_from_its_checkpoint() {
    let cosmos = clusterconfig_testkit::cosmos::TestCosmos::create();
    let settings = settings(&cosmos.endpoint, &cosmos.database);
    let store = CosmosStore::connect(&settings).await.unwrap();
    let c = cluster("resume");

    let mut feed = store.changes().unwrap();
    assert_eq!(
        next_change(&mut feed).await,
        FeedEvent::Resync,
        "no checkpoint yet: from now"
    );
    store.commit(bump(&c)).await.unwrap();
    assert_eq!(
        next_change(&mut feed).await,
        FeedEvent::Changed {
            cluster: c.clone(),
            version: 1
        }
    );
    // Let a quiet round pass so the checkpoint is saved, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(feed);

    store.commit(bump(&c)).await.unwrap();
    store.commit(bump(&c)).await.unwrap();

    let restarted = CosmosStore::connect(&settings).await.unwrap();
    let mut feed = restarted.changes().unwrap();
    let seen = next_change(&mut feed).await;
    assert_eq!(
        seen,
        FeedEvent::Changed {
            cluster: c.clone(),
            version: 3
        },
        "the changes made while stopped arrive (the feed shows an item's latest version)"
    );
}

async fn next_change(feed: &mut ChangeFeed) -> FeedEvent {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("a change within 10 seconds")
        .expect("the feed goes on")
}

/// Entra ID: the store asks its credential for a Cosmos DB token and works with it. (The emulator does not
/// check tokens; Azure does, against the identity's data-plane role.)
#[tokio::test]
async fn entra_id_credentials_reach_the_account() {
    use azure_core::credentials::{AccessToken, TokenRequestOptions};
    use azure_core::time::{Duration as TokenLifetime, OffsetDateTime};

    #[derive(Debug, Default)]
    struct Recording(std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl TokenCredential for Recording {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            self.0
                .lock()
                .unwrap()
                .extend(scopes.iter().map(|s| s.to_string()));
            Ok(AccessToken::new(
                "entra-token",
                OffsetDateTime::now_utc() + TokenLifetime::hours(1),
            ))
        }
    }

    let cosmos = clusterconfig_testkit::cosmos::TestCosmos::create();
    // Provisioning takes the key (as in Azure, where infra/ does it); the service then runs on Entra ID alone.
    CosmosStore::connect(&settings(&cosmos.endpoint, &cosmos.database))
        .await
        .unwrap();
    let credential = Arc::new(Recording::default());
    let store = CosmosStore::connect(&CosmosSettings {
        auth: CosmosAuth::Credential(credential.clone()),
        create_if_missing: false,
        ..settings(&cosmos.endpoint, &cosmos.database)
    })
    .await
    .unwrap();
    let c = cluster("entra");
    assert_eq!(store.commit(bump(&c)).await.unwrap().version, 1);
    assert_eq!(store.partition(&c).await.unwrap().version(), 1);
    let scopes = credential.0.lock().unwrap().clone();
    assert!(
        !scopes.is_empty() && scopes.iter().all(|s| s.ends_with("/.default")),
        "{scopes:?}"
    );
}

/// Passing failures (503s, timeouts) of reads, queries and batches are retried by the SDK within the call's
/// deadline, and a retried change applies once.
#[tokio::test]
async fn transient_failures_are_retried() {
    let rule = |id: &str, operation: FaultOperationType, error: FaultInjectionErrorType| {
        Arc::new(
            FaultInjectionRuleBuilder::new(
                id.to_owned(),
                FaultInjectionResultBuilder::new().with_error(error).build(),
            )
            .with_condition(
                FaultInjectionConditionBuilder::new()
                    .with_operation_type(operation)
                    .build(),
            )
            .with_hit_limit(2)
            .build(),
        )
    };
    let rules = vec![
        rule(
            "query-503",
            FaultOperationType::QueryItem,
            FaultInjectionErrorType::ServiceUnavailable,
        ),
        rule(
            "read-timeout",
            FaultOperationType::ReadItem,
            FaultInjectionErrorType::Timeout,
        ),
        rule(
            "batch-503",
            FaultOperationType::BatchItem,
            FaultInjectionErrorType::ServiceUnavailable,
        ),
    ];
    for rule in &rules {
        rule.disable();
    }
    let store = in_memory_with(rules.clone(), settings(IN_MEMORY_URL, "db")).await;
    for rule in &rules {
        rule.enable();
    }
    let c = cluster("transient");
    assert_eq!(store.commit(bump(&c)).await.unwrap().version, 1, "applied once");
    assert_eq!(store.cluster(&c).await.unwrap().unwrap().version, 1);
    assert_eq!(
        rules.iter().map(|r| r.hit_count()).collect::<Vec<_>>(),
        [2, 2, 2],
        "each failure was met twice, then retried"
    );
}
