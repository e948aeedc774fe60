//! The extension-type catalog in force, and its reloading. The catalog comes from `catalog_path` (the built-in
//! `infra/extension-types.toml` when unset) and is read again when the file changes (the
//! `extension_auto_upgrade` task checks it on its period) or at once on SIGHUP. A file that does not parse
//! leaves the catalog in force as it was, and the task reports why.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use tokio::sync::Notify;

use clusterconfig_model::catalog::{Catalog, DEFAULT_CATALOG};

pub struct CatalogSource {
    path: Option<PathBuf>,
    current: RwLock<Arc<Catalog>>,
    /// The text `current` was parsed from: a reload that reads the same text changes nothing.
    text: Mutex<String>,
    /// Grows by one with every catalog taken into force after the first.
    generation: AtomicU64,
    reload_requested: Notify,
}

/// What a reload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    /// A new catalog is in force.
    Changed,
}

impl CatalogSource {
    /// Reads the catalog at `path` (the built-in one when `None`); fails when it cannot be read or parsed.
    pub fn load(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let text = read(path.as_ref())?;
        let catalog =
            Catalog::from_toml(&text).map_err(|e| anyhow::anyhow!("invalid extension catalog: {e}"))?;
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(catalog)),
            text: Mutex::new(text),
            generation: AtomicU64::new(0),
            reload_requested: Notify::new(),
        })
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.current.read().expect("catalog lock").clone()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Reads the file again and takes it into force if it changed and parses.
    pub fn reload(&self) -> anyhow::Result<Reload> {
        if self.path.is_none() {
            return Ok(Reload::Unchanged);
        }
        let text = read(self.path.as_ref())?;
        let mut loaded = self.text.lock().expect("catalog text lock");
        if *loaded == text {
            return Ok(Reload::Unchanged);
        }
        let catalog = Catalog::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("the catalog in force is kept: the changed file is invalid: {e}"))?;
        *self.current.write().expect("catalog lock") = Arc::new(catalog);
        *loaded = text;
        self.generation.fetch_add(1, Ordering::SeqCst);
        tracing::info!(path = ?self.path, "extension catalog reloaded");
        Ok(Reload::Changed)
    }

    /// Asks for a reload now (SIGHUP) rather than at the next period.
    pub fn request_reload(&self) {
        self.reload_requested.notify_one();
    }

    /// Resolves when a reload was asked for.
    pub async fn reload_requested(&self) {
        self.reload_requested.notified().await
    }
}

fn read(path: Option<&PathBuf>) -> anyhow::Result<String> {
    match path {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read catalog {}", path.display()))
        }
        None => Ok(DEFAULT_CATALOG.to_owned()),
    }
}
