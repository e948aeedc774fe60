//! Keeps the fleet index (`app::fleet`) current for the operator's page: re-reads the clusters changed since
//! its last run (it is woken by their changes, and waits a moment so that a burst of them is one pass), and
//! every `tasks.fleet_rescan` goes over the whole fleet, a page at a time within `RUN_BUDGET` per run, which
//! also drops clusters the store no longer has and picks up what changed unseen (agents' contacts through
//! other instances).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

const PAGE: usize = 500;
const RUN_BUDGET: Duration = Duration::from_secs(10);
/// How long a wake-up waits for more changes before the pass.
const SETTLE: Duration = Duration::from_millis(500);

pub struct FleetIndexTask {
    app: Arc<App>,
    rescan: Duration,
    pass: tokio::sync::Mutex<Pass>,
}

#[derive(Default)]
struct Pass {
    running: bool,
    after: Option<String>,
    seen: BTreeSet<String>,
    last_finished: Option<Instant>,
}

impl FleetIndexTask {
    pub fn new(app: Arc<App>, rescan: Duration) -> Self {
        Self {
            app,
            rescan,
            pass: Default::default(),
        }
    }
}

#[async_trait]
impl BackgroundTask for FleetIndexTask {
    fn name(&self) -> &'static str {
        "fleet_index"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let deadline = Instant::now() + RUN_BUDGET;
        let dirty = self.app.fleet().take_dirty();
        for cluster in &dirty {
            self.app
                .index_cluster(cluster)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        let mut pass = self.pass.lock().await;
        if !pass.running && pass.last_finished.is_none_or(|at| at.elapsed() >= self.rescan) {
            *pass = Pass {
                running: true,
                last_finished: pass.last_finished,
                ..Pass::default()
            };
        }
        while pass.running && Instant::now() < deadline {
            let page = self
                .app
                .store()
                .clusters_after(pass.after.as_deref(), PAGE)
                .await?;
            for cluster in &page {
                self.app
                    .index_cluster(cluster)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                pass.seen.insert(cluster.clone());
            }
            pass.after = page.last().cloned().or(pass.after.take());
            if page.len() < PAGE {
                let seen = std::mem::take(&mut pass.seen);
                self.app.fleet().retain(&seen, Utc::now());
                *pass = Pass {
                    last_finished: Some(Instant::now()),
                    ..Pass::default()
                };
            }
        }
        Ok(json!({"changedClustersRead": dirty.len(), "fullPassRunning": pass.running}))
    }

    async fn woken(&self) {
        self.app.fleet().changed.notified().await;
        tokio::time::sleep(SETTLE).await;
    }
}
