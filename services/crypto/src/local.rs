//! The `local` key provider: key-encryption keys in a file (JSON, mode 0600), made on first start.
//!
//! The file holds every KEK version still in use; the last is current. Rotation appends a version; versions no
//! wrapped key uses any more can then be pruned. Several instances sharing a store share the file; an unknown
//! version makes an instance re-read it (another instance may have rotated). Destroyable KEKs (the keys of
//! secret periods) live in the same file under their names; destroying one rewrites the file without it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Nonce, Payload};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::envelope::DataKey;
use crate::provider::{KeyProvider, ProviderError, WrappedKey};

#[derive(Clone, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<LocalKek>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    destroyable: BTreeMap<String, LocalKek>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocalKek {
    version: String,
    /// Base64 of 32 bytes.
    key: String,
    created_at: DateTime<Utc>,
}

impl LocalKek {
    fn new(version: u32) -> Self {
        let key = Key::<Aes256Gcm>::generate();
        LocalKek {
            version: version.to_string(),
            key: base64::engine::general_purpose::STANDARD.encode(key.as_slice()),
            created_at: Utc::now(),
        }
    }

    fn cipher(&self) -> Result<Aes256Gcm, ProviderError> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(&self.key)
                .map_err(|_| ProviderError::Other(format!("key version {} is not base64", self.version)))?,
        );
        Aes256Gcm::new_from_slice(&bytes)
            .map_err(|_| ProviderError::Other(format!("key version {} is not 32 bytes", self.version)))
    }
}

#[derive(Debug)]
pub struct LocalKeyProvider {
    path: PathBuf,
    file: RwLock<KeyFile>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.version))
            .finish()
    }
}

fn associated_data(version: &str) -> Vec<u8> {
    format!("clusterconfig/data-key/kek-version/{version}").into_bytes()
}

fn destroyable_associated_data(name: &str) -> Vec<u8> {
    format!("clusterconfig/data-key/destroyable/{name}").into_bytes()
}

fn wrap_with(kek: &LocalKek, aad: &[u8], key: &DataKey) -> Result<Vec<u8>, ProviderError> {
    let nonce = Nonce::<Aes256Gcm>::generate();
    let mut ciphertext = nonce.to_vec();
    ciphertext.extend(
        kek.cipher()?
            .encrypt(
                &nonce,
                Payload {
                    msg: key.as_bytes(),
                    aad,
                },
            )
            .map_err(|_| ProviderError::Other("wrapping failed".into()))?,
    );
    Ok(ciphertext)
}

fn unwrap_with(kek: &LocalKek, aad: &[u8], wrapped: &[u8]) -> Result<DataKey, ProviderError> {
    if wrapped.len() < 12 {
        return Err(ProviderError::Unwrap);
    }
    let (nonce, ciphertext) = wrapped.split_at(12);
    let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| ProviderError::Unwrap)?;
    let plain = Zeroizing::new(
        kek.cipher()?
            .decrypt(&nonce, Payload { msg: ciphertext, aad })
            .map_err(|_| ProviderError::Unwrap)?,
    );
    DataKey::from_bytes(&plain).ok_or(ProviderError::Unwrap)
}

impl LocalKeyProvider {
    /// Opens the key file, making one with a first key (mode 0600) if there is none.
    pub fn open_or_create(path: &Path) -> Result<Self, ProviderError> {
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| ProviderError::Other(format!("cannot create {}: {e}", dir.display())))?;
            }
            write_file(
                path,
                &KeyFile {
                    keys: vec![LocalKek::new(1)],
                    destroyable: BTreeMap::new(),
                },
            )?;
        }
        let file = read_file(path)?;
        Ok(Self {
            path: path.to_owned(),
            file: RwLock::new(file),
        })
    }

    /// Adds a new current version; returns it. Existing versions stay until pruned.
    pub fn rotate(&self) -> Result<String, ProviderError> {
        let mut file = read_file(&self.path)?;
        let next = file
            .keys
            .iter()
            .filter_map(|k| k.version.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        file.keys.push(LocalKek::new(next));
        write_file(&self.path, &file)?;
        *self.file.write().expect("key file lock") = file;
        Ok(next.to_string())
    }

    /// Removes versions that are neither current nor in `in_use`; returns the removed versions.
    pub fn prune(&self, in_use: &[String]) -> Result<Vec<String>, ProviderError> {
        let mut file = read_file(&self.path)?;
        let current = file.keys.last().map(|k| k.version.clone());
        let (kept, removed): (Vec<LocalKek>, Vec<LocalKek>) = file
            .keys
            .into_iter()
            .partition(|k| Some(&k.version) == current.as_ref() || in_use.contains(&k.version));
        file.keys = kept;
        if !removed.is_empty() {
            write_file(&self.path, &file)?;
        }
        *self.file.write().expect("key file lock") = file;
        Ok(removed.into_iter().map(|k| k.version).collect())
    }

    fn find(&self, version: &str) -> Result<LocalKek, ProviderError> {
        if let Some(kek) = self
            .file
            .read()
            .expect("key file lock")
            .keys
            .iter()
            .find(|k| k.version == version)
        {
            return Ok(kek.clone());
        }
        // Another instance may have rotated: read the file again.
        let file = read_file(&self.path)?;
        let found = file.keys.iter().find(|k| k.version == version).cloned();
        *self.file.write().expect("key file lock") = file;
        found.ok_or_else(|| ProviderError::UnknownVersion(version.to_owned()))
    }

    /// The destroyable KEK `name` as the file has it now: always re-read, so that a KEK another instance
    /// destroyed unwraps nothing here either (these are used seldom: when a period's key is made or loaded).
    fn find_destroyable(&self, name: &str) -> Result<Option<LocalKek>, ProviderError> {
        let file = read_file(&self.path)?;
        let found = file.destroyable.get(name).cloned();
        *self.file.write().expect("key file lock") = file;
        Ok(found)
    }
}

#[async_trait]
impl KeyProvider for LocalKeyProvider {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn current_version(&self) -> Result<String, ProviderError> {
        let file = read_file(&self.path)?;
        let current = file
            .keys
            .last()
            .map(|k| k.version.clone())
            .ok_or_else(|| ProviderError::Other("the key file holds no key".into()))?;
        *self.file.write().expect("key file lock") = file;
        Ok(current)
    }

    async fn wrap(&self, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        let version = self.current_version().await?;
        let kek = self.find(&version)?;
        Ok(WrappedKey {
            ciphertext: wrap_with(&kek, &associated_data(&version), key)?,
            kek_version: version,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        let kek = self.find(&wrapped.kek_version)?;
        unwrap_with(&kek, &associated_data(&wrapped.kek_version), &wrapped.ciphertext)
    }

    async fn wrap_destroyable(&self, name: &str, key: &DataKey) -> Result<WrappedKey, ProviderError> {
        let kek = match self.find_destroyable(name)? {
            Some(kek) => kek,
            None => {
                let mut file = read_file(&self.path)?;
                let kek = file
                    .destroyable
                    .entry(name.to_owned())
                    .or_insert_with(|| LocalKek::new(1))
                    .clone();
                write_file(&self.path, &file)?;
                *self.file.write().expect("key file lock") = file;
                kek
            }
        };
        Ok(WrappedKey {
            ciphertext: wrap_with(&kek, &destroyable_associated_data(name), key)?,
            kek_version: kek.version,
        })
    }

    async fn unwrap_destroyable(&self, name: &str, wrapped: &WrappedKey) -> Result<DataKey, ProviderError> {
        let kek = self
            .find_destroyable(name)?
            .ok_or_else(|| ProviderError::Destroyed(name.to_owned()))?;
        unwrap_with(&kek, &destroyable_associated_data(name), &wrapped.ciphertext)
    }

    async fn destroy(&self, name: &str) -> Result<(), ProviderError> {
        let mut file = read_file(&self.path)?;
        if file.destroyable.remove(name).is_some() {
            write_file(&self.path, &file)?;
        }
        *self.file.write().expect("key file lock") = file;
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<KeyFile, ProviderError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProviderError::Other(format!("cannot read key file {}: {e}", path.display())))?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| ProviderError::Other(format!("key file {} is malformed: {e}", path.display())))?;
    if file.keys.is_empty() {
        return Err(ProviderError::Other(format!(
            "key file {} holds no key",
            path.display()
        )));
    }
    Ok(file)
}

/// Writes the file atomically (a temporary file renamed over it), readable by its owner only.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), ProviderError> {
    let error =
        |e: std::io::Error| ProviderError::Other(format!("cannot write key file {}: {e}", path.display()));
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(&temporary).map_err(error)?;
    out.write_all(&serde_json::to_vec_pretty(file).expect("serializes"))
        .map_err(error)?;
    out.sync_all().map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wraps_rotates_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let provider = LocalKeyProvider::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let key = DataKey::generate();
        let first = provider.wrap(&key).await.unwrap();
        assert_eq!(first.kek_version, "1");
        assert_eq!(provider.unwrap(&first).await.unwrap().as_bytes(), key.as_bytes());

        // Another instance rotates; this one learns of it from the file.
        let other = LocalKeyProvider::open_or_create(&path).unwrap();
        assert_eq!(other.rotate().unwrap(), "2");
        let second = provider.wrap(&key).await.unwrap();
        assert_eq!(second.kek_version, "2");
        assert_eq!(
            provider.unwrap(&first).await.unwrap().as_bytes(),
            key.as_bytes(),
            "old versions keep decrypting"
        );

        assert!(
            other.prune(&["1".into()]).unwrap().is_empty(),
            "version 1 is still used"
        );
        assert_eq!(other.prune(&[]).unwrap(), vec!["1".to_owned()]);
        assert!(matches!(
            LocalKeyProvider::open_or_create(&path)
                .unwrap()
                .unwrap(&first)
                .await,
            Err(ProviderError::UnknownVersion(_))
        ));
        let mut damaged = second.clone();
        damaged.ciphertext[20] ^= 1;
        assert!(matches!(
            provider.unwrap(&damaged).await,
            Err(ProviderError::Unwrap)
        ));
    }

    #[tokio::test]
    async fn a_destroyed_key_unwraps_no_copy_on_any_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.json");
        let provider = LocalKeyProvider::open_or_create(&path).unwrap();
        let other = LocalKeyProvider::open_or_create(&path).unwrap();
        let key = DataKey::generate();
        let wrapped = provider.wrap_destroyable("secrets-1", &key).await.unwrap();
        let again = other.wrap_destroyable("secrets-1", &key).await.unwrap();
        for copy in [&wrapped, &again] {
            assert_eq!(
                other
                    .unwrap_destroyable("secrets-1", copy)
                    .await
                    .unwrap()
                    .as_bytes(),
                key.as_bytes(),
                "both instances share the one KEK of that name"
            );
        }
        assert!(
            provider.unwrap_destroyable("secrets-2", &wrapped).await.is_err(),
            "bound to its name"
        );
        assert!(provider.unwrap(&wrapped).await.is_err(), "not the main KEK");

        other.destroy("secrets-1").await.unwrap();
        other.destroy("secrets-1").await.unwrap();
        assert!(matches!(
            provider.unwrap_destroyable("secrets-1", &wrapped).await,
            Err(ProviderError::Destroyed(_))
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secrets-1"), "{text}");
        assert_eq!(
            provider
                .unwrap(&provider.wrap(&key).await.unwrap())
                .await
                .unwrap()
                .as_bytes(),
            key.as_bytes(),
            "the main KEK is untouched"
        );
    }
}
