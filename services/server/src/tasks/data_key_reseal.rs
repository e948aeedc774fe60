//! Moves resource data off retired data keys, so that they can go: passes over every cluster, a page of
//! clusters per run, re-sealing what an older key sealed under the active one. Once a whole pass left nothing
//! under the older keys, they are deleted. Only a pass that began `settle` (twice `crypto.key_cache_ttl`)
//! after the active key was made may delete: by then every instance seals under it, so no record can be sealed
//! under an older key behind the pass.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::BackgroundTask;
use crate::app::App;
use crate::keyring::Keyring;

/// Clusters one run re-seals.
const PAGE: usize = 500;

pub struct DataKeyReseal {
    app: Arc<App>,
    keyring: Arc<Keyring>,
    settle: Duration,
    pass: Mutex<Pass>,
}

/// A pass over the fleet, for one active key.
#[derive(Default)]
struct Pass {
    active: u32,
    started_at: Option<DateTime<Utc>>,
    after: Option<String>,
    resealed: usize,
    left: usize,
}

impl DataKeyReseal {
    pub fn new(app: Arc<App>, keyring: Arc<Keyring>, settle: Duration) -> Self {
        Self {
            app,
            keyring,
            settle,
            pass: Mutex::default(),
        }
    }
}

#[async_trait]
impl BackgroundTask for DataKeyReseal {
    fn name(&self) -> &'static str {
        "data_key_reseal"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let (retired, active_since) = self.keyring.retired_data_keys().await?;
        let active = self.keyring.active_data_key();
        let mut pass = self.pass.lock().await;
        if retired.is_empty() {
            *pass = Pass::default();
            return Ok(json!({"retiredKeys": []}));
        }
        if pass.active != active || pass.started_at.is_none() {
            *pass = Pass {
                active,
                started_at: Some(Utc::now()),
                ..Pass::default()
            };
        }
        let clusters = self
            .app
            .store()
            .clusters_after(pass.after.as_deref(), PAGE)
            .await?;
        for cluster in &clusters {
            let outcome = self
                .app
                .reseal_cluster(cluster, active)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            pass.resealed += outcome.resealed;
            pass.left += outcome.left;
        }
        pass.after = clusters.last().cloned().or(pass.after.take());
        let mut outcome = json!({
            "activeKey": active,
            "retiredKeys": retired,
            "clusters": clusters.len(),
            "resealed": pass.resealed,
            "left": pass.left,
            "passDone": false,
            "deletedKeys": [],
        });
        if clusters.len() < PAGE {
            outcome["passDone"] = json!(true);
            let settled = match (pass.started_at, active_since) {
                (Some(started), Some(since)) => started - since >= chrono::Duration::from_std(self.settle)?,
                _ => false,
            };
            if pass.left == 0 && settled {
                self.keyring.delete_retired_data_keys(&retired).await?;
                outcome["deletedKeys"] = json!(retired);
            }
            *pass = Pass::default();
        }
        Ok(outcome)
    }
}
