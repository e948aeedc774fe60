//! Reads the extension catalog again when its file changed (checked every period; SIGHUP wakes the task at
//! once), and after each change, and once after start for a catalog changed while the service was down, sweeps
//! every cluster: auto-upgrading extensions move to the newest version their `autoUpgradeMode` allows. A sweep
//! goes through the clusters a page at a time, for at most `RUN_BUDGET` per run, and carries on in the next
//! run; clusters whose upgrade had to wait (another write of the extension was running) are tried again on
//! every run until it lands. Another instance sweeping too is harmless: an upgrade already made is a no-op.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::{App, UpgradeOutcome};
use crate::catalog::Reload;

const PAGE: usize = 500;
const RUN_BUDGET: Duration = Duration::from_secs(20);

pub struct ExtensionAutoUpgrade {
    app: Arc<App>,
    sweep: tokio::sync::Mutex<Sweep>,
}

/// A sweep of the fleet under one catalog.
#[derive(Default)]
struct Sweep {
    /// Clusters after `after` are still to be looked at.
    running: bool,
    after: Option<String>,
    clusters: u64,
    upgraded: u64,
    skipped: u64,
    /// Clusters with an upgrade still to make.
    deferred: BTreeSet<String>,
}

impl Sweep {
    fn starting() -> Self {
        Sweep {
            running: true,
            ..Sweep::default()
        }
    }

    fn count(&mut self, cluster: &str, outcome: UpgradeOutcome) {
        self.upgraded += outcome.upgraded as u64;
        self.skipped += outcome.skipped as u64;
        if outcome.deferred > 0 {
            self.deferred.insert(cluster.to_owned());
        }
    }
}

impl ExtensionAutoUpgrade {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            sweep: tokio::sync::Mutex::new(Sweep::starting()),
        }
    }

    async fn upgrade(&self, cluster: &str) -> anyhow::Result<UpgradeOutcome> {
        self.app
            .upgrade_cluster_extensions(cluster)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))
    }
}

#[async_trait]
impl BackgroundTask for ExtensionAutoUpgrade {
    fn name(&self) -> &'static str {
        "extension_auto_upgrade"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let reload = self.app.catalog().reload()?;
        let mut sweep = self.sweep.lock().await;
        if reload == Reload::Changed {
            *sweep = Sweep::starting();
        }
        let deadline = Instant::now() + RUN_BUDGET;
        for cluster in std::mem::take(&mut sweep.deferred) {
            let outcome = self.upgrade(&cluster).await?;
            sweep.count(&cluster, outcome);
        }
        while sweep.running && Instant::now() < deadline {
            let page = self
                .app
                .store()
                .clusters_after(sweep.after.as_deref(), PAGE)
                .await?;
            for cluster in &page {
                let outcome = self.upgrade(cluster).await?;
                sweep.count(cluster, outcome);
                sweep.clusters += 1;
            }
            sweep.after = page.last().cloned().or(sweep.after.take());
            if page.len() < PAGE {
                sweep.running = false;
                sweep.after = None;
            }
        }
        Ok(json!({
            "catalogGeneration": self.app.catalog().generation(),
            "catalogReloaded": reload == Reload::Changed,
            "sweepRunning": sweep.running,
            "clustersSwept": sweep.clusters,
            "upgraded": sweep.upgraded,
            "deferred": sweep.deferred.len(),
            "skipped": sweep.skipped,
        }))
    }

    async fn woken(&self) {
        self.app.catalog().reload_requested().await
    }
}
