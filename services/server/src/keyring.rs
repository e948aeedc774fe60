//! The service's data-encryption keys: stored wrapped in the store, unwrapped through the key provider, and kept
//! unwrapped in memory for a bounded time (`crypto.key_cache_ttl`). A background task unwraps them again before
//! they age out, so reads and long-polls never wait on the provider while it answers; if it stops answering,
//! the keys age out and reads fail cleanly (503) until it is back.
//!
//! Secret values are sealed apart, under the key of their secret period (crypto-shredding): values are grouped
//! by when they expire (`crypto.secret_key_period`, rounded down), and each period's key is wrapped by a
//! key-encryption key of its own in the key provider. When the period ends, every value it sealed has expired;
//! the task `secret_expiry` then destroys that KEK and deletes the key, so whatever copy a store still keeps
//! (a write-ahead log, dead tuples, a backup) of the values or of the wrapped key opens with nothing the
//! service holds.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use clusterconfig_crypto::{DataKey, DataKeyId, KeyProvider, OpenError, ProviderError, WrappedKey};
use clusterconfig_store::{DataKeyRecord, Etag, Expect, Store, StoreError};

use crate::clock::Clock;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is not in memory and the provider could not produce it: the caller may retry later.
    #[error("data key {0} is not available")]
    Unavailable(DataKeyId),
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// The reserved id of the secret-fingerprint key among the wrapped keys (data keys count from 1).
pub const FINGERPRINT_KEY_ID: DataKeyId = 0;

/// The keys of secret periods have ids from here up; data keys stay below.
pub const SECRET_KEY_IDS_FROM: DataKeyId = 1 << 31;

fn is_secret_key(id: DataKeyId) -> bool {
    id >= SECRET_KEY_IDS_FROM
}

/// A key that seals resource data (not the fingerprint key, not a secret period's key).
pub fn is_data_key(id: DataKeyId) -> bool {
    id != FINGERPRINT_KEY_ID && !is_secret_key(id)
}

/// The name of a secret period key's own key-encryption key in the key provider.
pub fn secret_kek_name(id: DataKeyId) -> String {
    format!("secrets-{id}")
}

struct Loaded {
    key: DataKey,
    loaded_at: Instant,
    /// A secret period's key serves nothing from this time on.
    destroy_at: Option<DateTime<Utc>>,
}

/// Which key seals a secret group, and when the group really expires: at the end of that key's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSeal {
    pub key: DataKeyId,
    pub expires_at: DateTime<Utc>,
}

/// How the keyring keeps keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyringSettings {
    /// How long an unwrapped key stays in memory (`crypto.key_cache_ttl`).
    pub cache_ttl: Duration,
    /// How long a secret period is (`crypto.secret_key_period`).
    pub secret_period: Duration,
}

pub struct Keyring {
    store: Arc<dyn Store>,
    provider: Arc<dyn KeyProvider>,
    clock: Arc<dyn Clock>,
    keys: RwLock<HashMap<DataKeyId, Loaded>>,
    active: AtomicU32,
    ttl: Duration,
    secret_period: Duration,
    /// Whether the last refresh could unwrap every key (readiness reports it).
    provider_answering: AtomicBool,
    /// Records this instance sealed under the active key (since it became active here).
    seals: AtomicU64,
}

/// What a rotation did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationReport {
    pub kek_version: String,
    pub rewrapped: usize,
    pub already_current: usize,
    /// KEK versions data keys still use (all the current one after a full rotation).
    pub versions_in_use: Vec<String>,
}

impl Keyring {
    /// Loads every data key, creating the first one if the store has none.
    pub async fn start(
        store: Arc<dyn Store>,
        provider: Arc<dyn KeyProvider>,
        settings: KeyringSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Self>> {
        let ring = Arc::new(Keyring {
            store,
            provider,
            clock,
            keys: RwLock::new(HashMap::new()),
            active: AtomicU32::new(0),
            ttl: settings.cache_ttl,
            secret_period: settings.secret_period,
            provider_answering: AtomicBool::new(true),
            seals: AtomicU64::new(0),
        });
        ring.ensure_a_key().await?;
        ring.refresh().await?;
        Ok(ring)
    }

    async fn ensure_a_key(&self) -> anyhow::Result<()> {
        loop {
            let keys = self.store.data_keys().await?;
            if let Some(newest) = keys.iter().rfind(|k| is_data_key(k.id)) {
                self.active.store(newest.id, Ordering::SeqCst);
                return Ok(());
            }
            if self.store_new_key(1, &DataKey::generate()).await? {
                tracing::info!(
                    provider = self.provider.kind(),
                    "made the first data-encryption key"
                );
            }
        }
    }

    /// The key of secret fingerprints (which recognise a repeated secret value without keeping it): a key of
    /// its own, wrapped by the key-encryption key and kept in the store beside the data keys (under the
    /// reserved id 0), so that every instance has it and replacing the token-signing key changes no
    /// fingerprint. The first start makes it from `seed` (what fingerprints were keyed with before), so
    /// fingerprints already stored keep matching.
    pub async fn fingerprint_key(&self, seed: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        loop {
            let stored = self.store.data_keys().await?;
            if let Some(record) = stored.iter().find(|k| k.id == FINGERPRINT_KEY_ID) {
                let key = self.unwrap(record).await?;
                return Ok(Zeroizing::new(key.as_bytes().to_vec()));
            }
            let key = DataKey::from_bytes(seed).unwrap_or_else(DataKey::generate);
            if self.store_new_key(FINGERPRINT_KEY_ID, &key).await? {
                tracing::info!("made the secret-fingerprint key");
            }
        }
    }

    /// Wraps `key` and stores it as `id` unless a key of that id exists; returns whether this call stored it
    /// (false: another instance made it first, and the caller reads theirs).
    async fn store_new_key(&self, id: DataKeyId, key: &DataKey) -> anyhow::Result<bool> {
        let wrapped = self.provider.wrap(key).await?;
        let record = DataKeyRecord {
            id,
            provider: self.provider.kind().to_owned(),
            kek_version: wrapped.kek_version,
            wrapped: wrapped.ciphertext,
            created_at: Utc::now(),
            destroy_at: None,
            etag: Etag(String::new()),
        };
        match self.store.put_data_key(record, Expect::Absent).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Unwraps every stored key that is not in memory or was unwrapped more than half the TTL ago, and drops
    /// keys older than the TTL that could not be refreshed. Returns how many were unwrapped.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let records = self.store.data_keys().await?;
        let now = self.clock.now();
        let stale: Vec<&DataKeyRecord> = {
            let keys = self.keys.read().expect("keyring lock");
            records
                .iter()
                // The fingerprint key is read once, at start (`fingerprint_key`), and never seals data.
                .filter(|r| r.id != FINGERPRINT_KEY_ID)
                .filter(|r| r.destroy_at.is_none_or(|at| at > now))
                .filter(|r| {
                    keys.get(&r.id)
                        .is_none_or(|k| k.loaded_at.elapsed() > self.ttl / 2)
                })
                .collect()
        };
        let mut unwrapped = 0;
        let mut failure = None;
        for record in stale {
            match self.unwrap(record).await {
                Ok(key) => {
                    self.remember(record.id, key, record.destroy_at);
                    unwrapped += 1;
                }
                Err(err) => {
                    tracing::warn!(key = record.id, error = %err, "could not unwrap a data key");
                    failure = Some(err);
                }
            }
        }
        // Keys that aged out go, and so do secret period keys that ended (another instance may destroy them).
        self.keys
            .write()
            .expect("keyring lock")
            .retain(|_, k| self.usable(k, now));
        // The newest key seals from now on, once it is in memory (never before: sealing would fail).
        if let Some(newest) = records.iter().rfind(|r| is_data_key(r.id))
            && self.keys.read().expect("keyring lock").contains_key(&newest.id)
            && self.active.fetch_max(newest.id, Ordering::SeqCst) < newest.id
        {
            self.seals.store(0, Ordering::SeqCst);
            tracing::info!(key = newest.id, "a newer data key seals from now on");
        }
        self.provider_answering.store(failure.is_none(), Ordering::SeqCst);
        match failure {
            Some(err) => Err(anyhow::anyhow!("some data keys could not be unwrapped: {err}")),
            None => Ok(unwrapped),
        }
    }

    /// Keeps an unwrapped key in memory, as of now.
    fn remember(&self, id: DataKeyId, key: DataKey, destroy_at: Option<DateTime<Utc>>) {
        self.keys.write().expect("keyring lock").insert(
            id,
            Loaded {
                key,
                loaded_at: Instant::now(),
                destroy_at,
            },
        );
    }

    fn usable(&self, loaded: &Loaded, now: DateTime<Utc>) -> bool {
        loaded.loaded_at.elapsed() <= self.ttl && loaded.destroy_at.is_none_or(|at| at > now)
    }

    async fn unwrap(&self, record: &DataKeyRecord) -> Result<DataKey, ProviderError> {
        if record.provider != self.provider.kind() {
            return Err(ProviderError::Other(format!(
                "data key {} was wrapped by the '{}' provider, but the service is configured with '{}'",
                record.id,
                record.provider,
                self.provider.kind()
            )));
        }
        let wrapped = WrappedKey {
            kek_version: record.kek_version.clone(),
            ciphertext: record.wrapped.clone(),
        };
        if is_secret_key(record.id) {
            self.provider
                .unwrap_destroyable(&secret_kek_name(record.id), &wrapped)
                .await
        } else {
            self.provider.unwrap(&wrapped).await
        }
    }

    /// Makes sure the keys named are in memory (those another instance created since start, or that aged out).
    pub async fn load(&self, ids: &BTreeSet<DataKeyId>) -> Result<(), KeyError> {
        let now = self.clock.now();
        let missing: Vec<DataKeyId> = {
            let keys = self.keys.read().expect("keyring lock");
            ids.iter()
                .copied()
                .filter(|id| keys.get(id).is_none_or(|k| !self.usable(k, now)))
                .collect()
        };
        let metrics = crate::telemetry::metrics();
        metrics.data_key_lookups(true, (ids.len() - missing.len()) as u64);
        if missing.is_empty() {
            return Ok(());
        }
        metrics.data_key_lookups(false, missing.len() as u64);
        let records = self
            .store
            .data_keys()
            .await
            .map_err(|_| KeyError::Unavailable(missing[0]))?;
        for id in missing {
            let record = records
                .iter()
                .find(|r| r.id == id)
                .filter(|r| r.destroy_at.is_none_or(|at| at > now))
                .ok_or(KeyError::Unavailable(id))?;
            let key = self.unwrap(record).await.map_err(|err| {
                tracing::warn!(key = id, error = %err, "could not unwrap a data key");
                KeyError::Unavailable(id)
            })?;
            if is_data_key(id) {
                self.active.fetch_max(id, Ordering::SeqCst);
            }
            self.remember(id, key, record.destroy_at);
        }
        Ok(())
    }

    /// Whether data can be sealed and opened now: the active key is in memory and the key provider answered the
    /// last refresh. When it is not, writes and reads of resource data fail (503) until the provider is back.
    pub fn is_ready(&self) -> bool {
        let id = self.active.load(Ordering::SeqCst);
        let loaded = self
            .keys
            .read()
            .expect("keyring lock")
            .get(&id)
            .is_some_and(|k| k.loaded_at.elapsed() <= self.ttl);
        loaded && self.provider_answering.load(Ordering::SeqCst)
    }

    /// Starts a new data key when the active one is too old (`max_age`) or has sealed too much on this instance
    /// (`max_seals`): new data goes under the new key, data under older keys stays readable. Safe on several
    /// instances at once: the first to store the next key wins and the others take it. Returns the key that
    /// seals from now on, when it changed.
    pub async fn roll_over_if_due(
        &self,
        max_age: Duration,
        max_seals: u64,
    ) -> anyhow::Result<Option<DataKeyId>> {
        let active = self.active.load(Ordering::SeqCst);
        let records = self.store.data_keys().await?;
        let Some(record) = records.iter().find(|r| r.id == active) else {
            return Ok(None);
        };
        let age = (Utc::now() - record.created_at).to_std().unwrap_or_default();
        let seals = self.seals.load(Ordering::SeqCst);
        if age < max_age && seals < max_seals {
            return Ok(None);
        }
        let next = records
            .iter()
            .map(|r| r.id)
            .filter(|&id| is_data_key(id))
            .max()
            .unwrap_or(active)
            .max(active)
            + 1;
        if self.store_new_key(next, &DataKey::generate()).await? {
            tracing::info!(
                key = next,
                retired = active,
                age_s = age.as_secs(),
                seals,
                "new data-encryption key"
            );
        }
        self.refresh().await?;
        let now_active = self.active.load(Ordering::SeqCst);
        Ok((now_active != active).then_some(now_active))
    }

    /// The data key that seals new resource data here.
    pub fn active_data_key(&self) -> DataKeyId {
        self.active.load(Ordering::SeqCst)
    }

    /// The data keys older than the active one (that data may still be sealed under), and when the active
    /// one was made.
    pub async fn retired_data_keys(&self) -> anyhow::Result<(Vec<DataKeyId>, Option<DateTime<Utc>>)> {
        let active = self.active_data_key();
        let records = self.store.data_keys().await?;
        let retired = records
            .iter()
            .filter(|r| is_data_key(r.id) && r.id < active)
            .map(|r| r.id)
            .collect();
        let active_since = records.iter().find(|r| r.id == active).map(|r| r.created_at);
        Ok((retired, active_since))
    }

    /// Deletes retired data keys that nothing is sealed under any more.
    pub async fn delete_retired_data_keys(&self, ids: &[DataKeyId]) -> anyhow::Result<()> {
        let active = self.active_data_key();
        for &id in ids.iter().filter(|&&id| is_data_key(id) && id < active) {
            self.store.delete_data_key(id).await?;
            self.keys.write().expect("keyring lock").remove(&id);
            tracing::info!(
                key = id,
                "retired data key deleted: nothing is sealed under it any more"
            );
        }
        Ok(())
    }

    /// Seals with the active data key.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let id = self.active.load(Ordering::SeqCst);
        self.seals.fetch_add(1, Ordering::Relaxed);
        self.seal_with(id, aad, plaintext)
    }

    /// Seals secret values with the key `secret_key` chose for them.
    pub fn seal_secret(&self, seal: SecretSeal, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.seal_with(seal.key, aad, plaintext)
    }

    fn seal_with(&self, id: DataKeyId, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let now = self.clock.now();
        let keys = self.keys.read().expect("keyring lock");
        let loaded = keys
            .get(&id)
            .filter(|k| self.usable(k, now))
            .ok_or(KeyError::Unavailable(id))?;
        Ok(clusterconfig_crypto::seal(id, &loaded.key, aad, plaintext))
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let id = clusterconfig_crypto::sealed_key_id(sealed).ok_or(OpenError::Malformed)?;
        let now = self.clock.now();
        let keys = self.keys.read().expect("keyring lock");
        let loaded = keys
            .get(&id)
            .filter(|k| self.usable(k, now))
            .ok_or(KeyError::Unavailable(id))?;
        Ok(clusterconfig_crypto::open(&loaded.key, aad, sealed)?)
    }

    /// The key for secret values meant to expire at `expires_at`, and when they then expire: the end of
    /// their period, `expires_at` rounded down to a whole `crypto.secret_key_period` (a lifetime shorter than
    /// a period gets a key of its own, ending at `expires_at`). The period's key is made on first use, with a
    /// key-encryption key of its own; several instances agree on one key per period.
    pub async fn secret_key(&self, expires_at: DateTime<Utc>) -> Result<SecretSeal, KeyError> {
        let now = self.clock.now();
        let period = (self.secret_period.as_millis() as i64).max(1);
        let wanted = expires_at.timestamp_millis();
        let mut end = wanted.div_euclid(period) * period;
        if end <= now.timestamp_millis() {
            end = wanted;
        }
        let end = clusterconfig_store::from_millis(end);
        let in_memory = self
            .keys
            .read()
            .expect("keyring lock")
            .iter()
            .find(|(id, k)| is_secret_key(**id) && k.destroy_at == Some(end) && self.usable(k, now))
            .map(|(id, _)| *id);
        if let Some(key) = in_memory {
            return Ok(SecretSeal { key, expires_at: end });
        }
        let unavailable = |what: &str, err: &dyn std::fmt::Display| {
            tracing::warn!(error = %err, "could not {what} a secret period's key");
            KeyError::Unavailable(SECRET_KEY_IDS_FROM)
        };
        loop {
            let records = self
                .store
                .data_keys()
                .await
                .map_err(|e| unavailable("read", &e))?;
            if let Some(record) = records
                .iter()
                .find(|r| is_secret_key(r.id) && r.destroy_at == Some(end))
            {
                self.load(&BTreeSet::from([record.id])).await?;
                return Ok(SecretSeal {
                    key: record.id,
                    expires_at: end,
                });
            }
            let id = records
                .iter()
                .map(|r| r.id)
                .filter(|&id| is_secret_key(id))
                .max()
                .map_or(SECRET_KEY_IDS_FROM, |id| id + 1);
            let key = DataKey::generate();
            let wrapped = self
                .provider
                .wrap_destroyable(&secret_kek_name(id), &key)
                .await
                .map_err(|e| unavailable("wrap", &e))?;
            let record = DataKeyRecord {
                id,
                provider: self.provider.kind().to_owned(),
                kek_version: wrapped.kek_version,
                wrapped: wrapped.ciphertext,
                created_at: now,
                destroy_at: Some(end),
                etag: Etag(String::new()),
            };
            match self.store.put_data_key(record, Expect::Absent).await {
                Ok(_) => {
                    tracing::info!(key = id, destroy_at = %end, "new secret period key");
                    self.remember(id, key, Some(end));
                    return Ok(SecretSeal {
                        key: id,
                        expires_at: end,
                    });
                }
                // Another instance took that id (for this period or another): look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(err) => return Err(unavailable("store", &err)),
            }
        }
    }

    /// Destroys the keys of secret periods that have ended: their key-encryption key in the provider first
    /// (from then on no copy of the wrapped key opens), then their record. Returns how many.
    pub async fn destroy_ended_secret_keys(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let mut destroyed = 0;
        for record in self.store.data_keys().await? {
            if !is_secret_key(record.id) || record.destroy_at.is_none_or(|at| at > now) {
                continue;
            }
            self.keys.write().expect("keyring lock").remove(&record.id);
            self.provider.destroy(&secret_kek_name(record.id)).await?;
            self.store.delete_data_key(record.id).await?;
            tracing::info!(key = record.id, "secret period ended: its key is destroyed");
            destroyed += 1;
        }
        self.keys
            .write()
            .expect("keyring lock")
            .retain(|_, k| k.destroy_at.is_none_or(|at| at > now));
        Ok(destroyed)
    }

    /// Re-wraps every data key under the provider's current key-encryption key version. Safe to run on several
    /// instances at once: a key re-wrapped meanwhile is left as the other instance wrote it.
    pub async fn rotate(&self) -> anyhow::Result<RotationReport> {
        let current = self.provider.current_version().await?;
        let mut report = RotationReport {
            kek_version: current.clone(),
            ..Default::default()
        };
        // Secret period keys are wrapped by KEKs of their own, which die with them.
        for record in self
            .store
            .data_keys()
            .await?
            .into_iter()
            .filter(|r| !is_secret_key(r.id))
        {
            if record.kek_version == current && record.provider == self.provider.kind() {
                report.already_current += 1;
                continue;
            }
            let key = self.unwrap(&record).await?;
            let wrapped = self.provider.wrap(&key).await?;
            let rewrapped = DataKeyRecord {
                kek_version: wrapped.kek_version,
                wrapped: wrapped.ciphertext,
                ..record.clone()
            };
            match self
                .store
                .put_data_key(rewrapped, Expect::Etag(record.etag.clone()))
                .await
            {
                Ok(_) => report.rewrapped += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let mut versions: Vec<String> = self
            .store
            .data_keys()
            .await?
            .into_iter()
            .filter(|k| !is_secret_key(k.id))
            .map(|k| k.kek_version)
            .collect();
        versions.sort();
        versions.dedup();
        report.versions_in_use = versions;
        tracing::info!(kek_version = %report.kek_version, rewrapped = report.rewrapped, "data keys re-wrapped");
        Ok(report)
    }
}
