//! Crypto-shredding: secret values are sealed under the key of their secret period, and that key (with its own
//! key-encryption key in the key provider) is destroyed when the period ends. A copy of the sealed values and of
//! the wrapped period key, taken from the store while they existed (what a write-ahead log, dead tuples or a
//! backup keep), then opens with no key the service holds, on every store.

mod support;

use std::sync::Arc;

use clusterconfig_crypto::local::LocalKeyProvider;
use clusterconfig_crypto::{KeyProvider, ProviderError, WrappedKey};
use clusterconfig_server::app::Aad;
use clusterconfig_server::keyring::{KeyError, Keyring, SECRET_KEY_IDS_FROM, secret_kek_name};
use clusterconfig_server::tasks::{BackgroundTask, SecretExpiry};
use clusterconfig_store::{DataKeyRecord, SecretRecord, Store};
use clusterconfig_testkit::TestStore;

use support::{HOUR, Service, with_token};

const CANARY: &str = "shredding-canary-5b1f0c";

fn aad(secret: &SecretRecord) -> Aad {
    Aad::secret(
        &secret.cluster,
        secret.kind,
        &secret.name,
        &secret.group,
        secret.generation,
    )
}

fn wrapped(record: &DataKeyRecord) -> WrappedKey {
    WrappedKey {
        kek_version: record.kek_version.clone(),
        ciphertext: record.wrapped.clone(),
    }
}

/// Every key the service holds, unwrapped: the data keys and the fingerprint key in the store (through the main
/// key-encryption key) and the period keys still alive (through theirs).
async fn every_key(store: &dyn Store, provider: &dyn KeyProvider) -> Vec<clusterconfig_crypto::DataKey> {
    let mut keys = Vec::new();
    for record in store.data_keys().await.unwrap() {
        let key = match record.destroy_at {
            Some(_) => provider
                .unwrap_destroyable(&secret_kek_name(record.id), &wrapped(&record))
                .await
                .unwrap(),
            None => provider.unwrap(&wrapped(&record)).await.unwrap(),
        };
        keys.push(key);
    }
    keys
}

async fn copies_open_with_nothing_after_the_period(store: TestStore) {
    let name = store.name();
    let service = Service::start_with(|config| support::use_store(config, &store), None).await;
    let created = service
        .arm
        .put(&service.flux("shredded"), &with_token(CANARY))
        .await;
    assert_eq!(created.status, 201, "{name}: {}", created.text);

    // What a store's own files or a backup would keep: the sealed values and the wrapped key that sealed them.
    let secret = service.stored_secrets().await.remove(0);
    let key_id = clusterconfig_crypto::sealed_key_id(&secret.body).unwrap();
    assert!(
        key_id >= SECRET_KEY_IDS_FROM,
        "{name}: sealed under a period key, not a data key"
    );
    let key_copy = service
        .store()
        .data_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.id == key_id)
        .unwrap();
    let now = clusterconfig_server::clock::Clock::now(service.clock.as_ref());
    assert_eq!(
        (secret.expires_at, key_copy.destroy_at),
        (now + chrono::Duration::hours(47), Some(secret.expires_at)),
        "{name}: the values expire with their period (the test's clock stands on a whole hour)"
    );
    let provider = LocalKeyProvider::open_or_create(&service.config.local_key_path()).unwrap();
    let opened = every_key(service.store().as_ref(), &provider)
        .await
        .iter()
        .filter_map(|key| clusterconfig_crypto::open(key, aad(&secret).as_bytes(), &secret.body).ok())
        .map(|plain| String::from_utf8(plain.to_vec()).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(opened.len(), 1, "{name}: the copy opens while its period lasts");
    assert!(opened[0].contains("httpsKey"), "{name}");

    // A write of the same period shares the key; the period's end destroys it.
    service.advance(47 * HOUR);
    let task = SecretExpiry(service.running.state.app.clone());
    let outcome = task.activate().await.unwrap();
    assert_eq!(
        (outcome["deleted"].as_u64(), outcome["keysDestroyed"].as_u64()),
        (Some(1), Some(1)),
        "{name}: {outcome}"
    );

    assert!(
        service
            .store()
            .data_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.id != key_id),
        "{name}: the key's record is gone"
    );
    assert!(
        matches!(
            provider
                .unwrap_destroyable(&secret_kek_name(key_id), &wrapped(&key_copy))
                .await,
            Err(ProviderError::Destroyed(_))
        ),
        "{name}: the kept copy of the wrapped key unwraps no more"
    );
    assert!(
        provider.unwrap(&wrapped(&key_copy)).await.is_err(),
        "{name}: nor under the main key-encryption key"
    );
    for key in every_key(service.store().as_ref(), &provider).await {
        assert!(
            clusterconfig_crypto::open(&key, aad(&secret).as_bytes(), &secret.body).is_err(),
            "{name}: no key the service holds opens the kept copy"
        );
    }
    // Nor does the service itself, even freshly started on the same store and key file.
    let keyring = Keyring::start(
        service.store().clone(),
        Arc::new(provider),
        service.config.crypto.keyring_settings(),
        service.clock.clone(),
    )
    .await
    .unwrap();
    assert!(
        matches!(
            keyring.open(aad(&secret).as_bytes(), &secret.body),
            Err(KeyError::Unavailable(id)) if id == key_id
        ),
        "{name}"
    );
    assert!(
        !std::fs::read_to_string(service.config.local_key_path())
            .unwrap()
            .contains(&secret_kek_name(key_id)),
        "{name}: the key file no longer holds the period's key-encryption key"
    );
    service.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_of_expired_secrets_open_with_no_key_the_service_holds() {
    for store in [TestStore::Sqlite, TestStore::postgres(), TestStore::cosmos()] {
        copies_open_with_nothing_after_the_period(store).await;
    }
}

/// Writes whose values expire in the same period share its key; a later period gets a key of its own, and a
/// lifetime shorter than a period a key ending with it.
#[tokio::test(flavor = "multi_thread")]
async fn one_key_per_period() {
    let service = Service::start().await;
    let key_of = |secret: &SecretRecord| clusterconfig_crypto::sealed_key_id(&secret.body).unwrap();
    let put = |name: &'static str| {
        let service = &service;
        async move {
            let created = service.arm.put(&service.flux(name), &with_token(CANARY)).await;
            assert_eq!(created.status, 201, "{}", created.text);
            service
                .stored_secrets()
                .await
                .into_iter()
                .find(|s| s.name == name)
                .unwrap()
        }
    };
    let first = put("first").await;
    service.advance(20 * 60);
    let second = put("second").await;
    assert_eq!(key_of(&first), key_of(&second), "the same period");
    assert_eq!(first.expires_at, second.expires_at, "both end with it");
    service.advance(50 * 60);
    let third = put("third").await;
    assert_ne!(key_of(&first), key_of(&third), "the next period");
    assert_eq!(third.expires_at - first.expires_at, chrono::Duration::hours(1));

    let keyring = &service.running.state.keyring;
    let now = clusterconfig_server::clock::Clock::now(service.clock.as_ref());
    let short = keyring
        .secret_key(now + chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(short.expires_at, now + chrono::Duration::minutes(10));
    assert!(short.key > key_of(&third));
}
