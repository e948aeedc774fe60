//! Encryption at rest: key rotation while the service runs (local key file and Azure Key Vault through the real
//! client on a simulated transport), keys cached so long-polls never wait on Key Vault, and records that were
//! tampered with failing alone.

mod support;

use std::sync::Arc;

use serde_json::json;

use clusterconfig_crypto::KeyProvider;
use clusterconfig_crypto::keyvault::KeyVaultProvider;
use clusterconfig_crypto::keyvault::simulator::{KeyVaultSimulator, VAULT_URL};
use clusterconfig_crypto::local::LocalKeyProvider;
use clusterconfig_store::{Change, Expect, ResourceKind, Write};
use support::{Service, with_token};

/// The key-encryption key versions the stored keys (data keys and the fingerprint key) are wrapped under.
/// The main key-encryption key's versions that wrap data keys (secret period keys have KEKs of their own).
async fn data_key_versions(service: &Service) -> Vec<String> {
    let mut versions: Vec<String> = service
        .store()
        .data_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.destroy_at.is_none())
        .map(|k| k.kek_version)
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

#[tokio::test(flavor = "multi_thread")]
async fn local_key_rotation_with_reads_in_between() {
    let service = Service::start().await;
    assert_eq!(
        service
            .arm
            .put(&service.flux("before"), &with_token("token-1"))
            .await
            .status,
        201
    );
    assert_eq!(data_key_versions(&service).await, ["1"]);

    // What `clusterconfig keys rotate` does, while the service runs.
    let key_file = service.config.local_key_path();
    let local = LocalKeyProvider::open_or_create(&key_file).unwrap();
    assert_eq!(local.rotate().unwrap(), "2");
    assert_eq!(
        service.arm.get(&service.flux("before")).await.status,
        200,
        "reads work mid-rotation"
    );
    let report = service.running.keyring.rotate().await.unwrap();
    // The data key and the secret-fingerprint key.
    assert_eq!((report.rewrapped, report.kek_version.as_str()), (2, "2"));
    assert_eq!(data_key_versions(&service).await, ["2"]);
    assert_eq!(
        local.prune(&report.versions_in_use).unwrap(),
        ["1"],
        "version 1 is used by nothing now"
    );

    assert_eq!(service.arm.get(&service.flux("before")).await.status, 200);
    assert_eq!(
        service
            .arm
            .put(&service.flux("after"), &with_token("token-2"))
            .await
            .status,
        201
    );
    assert!(
        service.desired().await["fluxConfigurations"][1]["protectedSettings"]["values"]["httpsKey"]
            .is_string()
    );

    // A new instance (a restart) unwraps the data keys with the new version only.
    let service = service.restart(None).await;
    for name in ["before", "after"] {
        let read = service.arm.get(&service.flux(name)).await;
        assert_eq!(read.status, 200, "{name}: {}", read.text);
    }
    assert_eq!(
        service.desired().await["fluxConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

fn key_vault(vault: &KeyVaultSimulator) -> Arc<dyn KeyProvider> {
    Arc::new(
        KeyVaultProvider::new(
            VAULT_URL,
            "clusterconfig-kek",
            KeyVaultSimulator::credential(),
            Some(vault.client_options()),
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn key_vault_wraps_the_data_keys_and_rotation_moves_them_to_the_new_version() {
    let vault = KeyVaultSimulator::new();
    let first = vault.add_version("clusterconfig-kek");
    let service = Service::start_with(|_| {}, Some(key_vault(&vault))).await;
    assert_eq!(service.store().data_keys().await.unwrap()[0].provider, "keyvault");
    assert_eq!(data_key_versions(&service).await, std::slice::from_ref(&first));
    assert_eq!(
        service
            .arm
            .put(&service.flux("vaulted"), &with_token("token-1"))
            .await
            .status,
        201
    );

    // The key is rotated in Key Vault; the rotation task moves the data keys onto the new version.
    let second = vault.add_version("clusterconfig-kek");
    assert_eq!(service.arm.get(&service.flux("vaulted")).await.status, 200);
    let report = service.running.keyring.rotate().await.unwrap();
    // The data key and the secret-fingerprint key.
    assert_eq!((report.rewrapped, &report.kek_version), (2, &second));
    assert_eq!(data_key_versions(&service).await, std::slice::from_ref(&second));

    // The old version can go: a fresh instance unwraps through the new one.
    vault.disable_version("clusterconfig-kek", &first);
    let service = service.restart(Some(key_vault(&vault))).await;
    assert_eq!(service.arm.get(&service.flux("vaulted")).await.status, 200);
    let requests = vault.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.ends_with(&format!("/keys/clusterconfig-kek/{second}/unwrapkey"))),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_polls_and_writes_do_not_wait_on_key_vault() {
    let vault = KeyVaultSimulator::new();
    vault.add_version("clusterconfig-kek");
    let service = Service::start_with(|_| {}, Some(key_vault(&vault))).await;
    service
        .arm
        .put(&service.flux("cached"), &with_token("token-1"))
        .await;
    let calls = vault.requests().len();

    // Key Vault goes away: the unwrapped data key is cached, so nothing the cluster or users do waits on it.
    vault.set_unavailable(true);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert!(service.desired().await["fluxConfigurations"][0]["protectedSettings"]["values"].is_object());
    }
    assert_eq!(
        service
            .arm
            .put(&service.flux("while-down"), &with_token("token-2"))
            .await
            .status,
        201
    );
    assert_eq!(service.arm.get(&service.flux("cached")).await.status, 200);
    assert_eq!(vault.requests().len(), calls, "no call reached Key Vault");
    println!(
        "20 desired-state reads and a write during a Key Vault outage: {:?}",
        started.elapsed()
    );

    // Its refresh fails while the outage lasts and is reported; the cached key stays within its time.
    let refresh = service.running.keyring.refresh().await;
    assert!(
        refresh.is_ok(),
        "keys younger than half their time are not refreshed: {refresh:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_age_out_during_an_outage_fail_requests_cleanly() {
    let vault = KeyVaultSimulator::new();
    vault.add_version("clusterconfig-kek");
    let service = Service::start_with(
        |config| config.crypto.key_cache_ttl = std::time::Duration::from_millis(300),
        Some(key_vault(&vault)),
    )
    .await;
    service
        .arm
        .put(&service.flux("aged"), &with_token("token-1"))
        .await;
    vault.set_unavailable(true);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let refresh = service.running.keyring.refresh().await;
    assert!(refresh.is_err(), "the refresh reports the outage");
    let read = service.arm.get(&service.flux("aged")).await;
    assert_eq!(read.status, 503, "{}", read.text);
    assert_eq!(read.error_code(), "KeyProviderUnavailable");
    let ready = service.arm.get("/readyz").await;
    assert_eq!(
        ready.status, 503,
        "readiness tells the keys cannot be unwrapped: {}",
        ready.text
    );
    assert_eq!(ready.body["keys"], "unavailable", "{}", ready.text);
    vault.set_unavailable(false);
    service.running.keyring.refresh().await.unwrap();
    assert_eq!(
        service.arm.get("/readyz").await.status,
        200,
        "ready again with the keys"
    );
    assert_eq!(
        service.arm.get(&service.flux("aged")).await.status,
        200,
        "back when Key Vault is"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_records_fail_alone() {
    let service = Service::start().await;
    for name in ["intact", "tampered", "moved"] {
        assert_eq!(
            service
                .arm
                .put(&service.flux(name), &with_token("t"))
                .await
                .status,
            201
        );
    }
    let cluster = clusterconfig_model::ids::ClusterId::parse(&service.cluster)
        .unwrap()
        .key();
    let store = service.store().clone();
    let partition = store.partition(&cluster).await.unwrap();
    let record = |name: &str| {
        partition
            .resource(ResourceKind::FluxConfiguration, name)
            .unwrap()
            .clone()
    };

    // One byte changed in one record; another record's bytes copied into a third.
    let mut tampered = record("tampered");
    let middle = tampered.body.len() / 2;
    tampered.body[middle] ^= 0x20;
    let mut moved = record("moved");
    moved.body = record("intact").body;
    let change = Change::new(&cluster, "sub", chrono::Utc::now())
        .with(Write::PutResource {
            record: tampered,
            expect: Expect::Anything,
        })
        .with(Write::PutResource {
            record: moved,
            expect: Expect::Anything,
        });
    store.commit(change).await.unwrap();

    for name in ["tampered", "moved"] {
        let read = service.arm.get(&service.flux(name)).await;
        assert_eq!(read.status, 500, "{name}: {}", read.text);
        assert_eq!(read.error_code(), "StoredResourceUnreadable");
        assert!(
            !read.text.contains("token") && !read.text.contains("github"),
            "no content in the error"
        );
    }
    assert_eq!(
        service.arm.get(&service.flux("intact")).await.status,
        200,
        "other resources are unaffected"
    );
    let listed = service
        .arm
        .get(&format!(
            "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2025-04-01",
            service.cluster
        ))
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    let desired = service.desired().await;
    assert_eq!(desired["fluxConfigurations"].as_array().unwrap().len(), 1);
    assert_eq!(
        desired["unreadable"],
        json!([{"kind": "fluxConfiguration", "name": "moved"}, {"kind": "fluxConfiguration", "name": "tampered"}])
    );
    assert_eq!(
        service.arm.get("/readyz").await.status,
        200,
        "the service stays up"
    );
}

/// Secret fingerprints have a key of their own: replacing the token-signing key (to revoke every token)
/// changes no fingerprint, so re-applying the same protected settings afterwards is still "no change".
#[tokio::test(flavor = "multi_thread")]
async fn a_new_signing_key_changes_no_secret_fingerprint() {
    let service = Service::start().await;
    let path = service.flux("fingerprinted");
    let body = with_token("fingerprint-canary");
    let first = service.arm.put(&path, &body).await;
    assert_eq!(first.status, 201);
    // The operation, whichever port the instance serves on.
    let operation_of = |url: Option<&str>| {
        url.and_then(|u| u.split_once("/subscriptions/"))
            .map(|(_, p)| p.to_owned())
    };
    let first_operation = operation_of(first.header("azure-asyncoperation"));
    let signing_key = service.config.signing_key_path();
    let service = {
        let Service {
            running,
            clock,
            config,
            dir,
            cluster,
            ..
        } = service;
        running.stop().await.unwrap();
        std::fs::remove_file(&signing_key).unwrap();
        Service::start_on(config, clock, Default::default(), dir, cluster).await
    };
    assert_ne!(std::fs::read(&signing_key).unwrap().len(), 0, "a new signing key");
    let again = service.arm.put(&path, &body).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(
        operation_of(again.header("azure-asyncoperation")),
        first_operation,
        "the same write, still running: its operation again, not a new generation"
    );
    assert_eq!(
        service
            .store()
            .partition(
                &clusterconfig_model::ids::ClusterId::parse(&service.cluster)
                    .unwrap()
                    .key()
            )
            .await
            .unwrap()
            .resources
            .iter()
            .find(|r| r.name == "fingerprinted")
            .unwrap()
            .generation,
        1,
        "no new generation"
    );
}

/// A data key seals a bounded amount: past `crypto.data_key_max_seals` on this instance, or
/// `crypto.data_key_max_age`, a new key takes over for new data, and data under the older one stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn data_keys_roll_over_by_use_and_by_age() {
    use clusterconfig_server::tasks::{BackgroundTask, DataKeyRollover};
    let service = Service::start().await;
    let key_of = |name: &'static str| {
        let store = service.store().clone();
        let cluster = clusterconfig_model::ids::ClusterId::parse(&service.cluster)
            .unwrap()
            .key();
        async move {
            let record = store
                .resource(
                    &cluster,
                    clusterconfig_store::ResourceKind::FluxConfiguration,
                    name,
                )
                .await
                .unwrap()
                .unwrap();
            clusterconfig_crypto::sealed_key_id(&record.body).unwrap()
        }
    };
    let rollover = |max_age: std::time::Duration, max_seals: u64| DataKeyRollover {
        keyring: service.running.keyring.clone(),
        max_age,
        max_seals,
    };
    let month = std::time::Duration::from_secs(30 * 24 * 3600);
    assert_eq!(
        service
            .arm
            .put(&service.flux("first"), &with_token("rollover-1"))
            .await
            .status,
        201
    );
    assert_eq!(key_of("first").await, 1);
    assert_eq!(
        rollover(month, 1_000_000).activate().await.unwrap()["newKey"],
        json!(null),
        "not due"
    );

    // By use: the write above sealed 2 records under key 1 (the configuration and the microsoft.flux it
    // installed; its secret values went under their period's key).
    assert_eq!(rollover(month, 2).activate().await.unwrap()["newKey"], 2);
    assert_eq!(
        service
            .arm
            .put(&service.flux("second"), &with_token("rollover-2"))
            .await
            .status,
        201
    );
    assert_eq!(key_of("second").await, 2, "new data goes under the new key");
    assert_eq!(
        service.arm.get(&service.flux("first")).await.status,
        200,
        "older data stays readable"
    );
    assert!(service.desired().await["fluxConfigurations"][0]["protectedSettings"]["values"].is_object());

    // By age.
    assert_eq!(
        rollover(std::time::Duration::ZERO, u64::MAX)
            .activate()
            .await
            .unwrap()["newKey"],
        3
    );
    assert_eq!(
        service
            .arm
            .put(&service.flux("third"), &with_token("rollover-3"))
            .await
            .status,
        201
    );
    assert_eq!(key_of("third").await, 3);
    let restarted = service.restart(None).await;
    for name in ["first", "second", "third"] {
        assert_eq!(
            restarted.arm.get(&restarted.flux(name)).await.status,
            200,
            "{name} after a restart"
        );
    }
}

/// After a rollover, `data_key_reseal` moves resource data onto the active key; once a pass that began after
/// the new key settled leaves nothing under the older one, that one is deleted. Everything stays readable,
/// after a restart too.
#[tokio::test(flavor = "multi_thread")]
async fn retired_data_keys_are_resealed_away_then_deleted() {
    use clusterconfig_server::tasks::{BackgroundTask, DataKeyReseal, DataKeyRollover};
    let service = Service::start().await;
    let cluster = clusterconfig_model::ids::ClusterId::parse(&service.cluster)
        .unwrap()
        .key();
    let sealed_under = || {
        let store = service.store().clone();
        let cluster = cluster.clone();
        async move {
            let mut ids: Vec<u32> = store
                .partition(&cluster)
                .await
                .unwrap()
                .resources
                .iter()
                .map(|r| clusterconfig_crypto::sealed_key_id(&r.body).unwrap())
                .collect();
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let data_keys = || {
        let store = service.store().clone();
        async move {
            store
                .data_keys()
                .await
                .unwrap()
                .into_iter()
                .filter(|k| clusterconfig_server::keyring::is_data_key(k.id))
                .map(|k| k.id)
                .collect::<Vec<_>>()
        }
    };
    for name in ["first", "second"] {
        let created = service.arm.put(&service.flux(name), &with_token(name)).await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    assert_eq!(sealed_under().await, [1]);
    let rollover = DataKeyRollover {
        keyring: service.running.keyring.clone(),
        max_age: std::time::Duration::ZERO,
        max_seals: u64::MAX,
    };
    assert_eq!(rollover.activate().await.unwrap()["newKey"], 2);
    let app = service.running.state.app.clone();
    let keyring = service.running.keyring.clone();

    // A pass that began too soon after the new key re-seals, but deletes nothing.
    let early = DataKeyReseal::new(app.clone(), keyring.clone(), std::time::Duration::from_secs(3600));
    let outcome = early.activate().await.unwrap();
    assert_eq!(
        (
            &outcome["resealed"],
            &outcome["left"],
            &outcome["passDone"],
            &outcome["deletedKeys"]
        ),
        (&json!(3), &json!(0), &json!(true), &json!([])),
        "two configurations and microsoft.flux: {outcome}"
    );
    assert_eq!(sealed_under().await, [2]);
    assert_eq!(data_keys().await, [1, 2]);
    for name in ["first", "second"] {
        assert_eq!(service.arm.get(&service.flux(name)).await.status, 200);
    }

    let settled = DataKeyReseal::new(app, keyring, std::time::Duration::ZERO);
    let outcome = settled.activate().await.unwrap();
    assert_eq!(
        (&outcome["resealed"], &outcome["deletedKeys"]),
        (&json!(0), &json!([1])),
        "{outcome}"
    );
    assert_eq!(data_keys().await, [2]);
    assert_eq!(
        settled.activate().await.unwrap(),
        json!({"retiredKeys": []}),
        "nothing left to do"
    );

    let restarted = service.restart(None).await;
    for name in ["first", "second"] {
        assert_eq!(
            restarted.arm.get(&restarted.flux(name)).await.status,
            200,
            "{name} after a restart"
        );
    }
    assert!(restarted.desired().await["fluxConfigurations"][0]["protectedSettings"]["values"].is_object());
}
