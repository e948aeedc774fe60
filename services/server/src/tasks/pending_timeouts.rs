//! Fails changes no agent acknowledged within `lifetimes.pending_timeout` (48 hours by default).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct PendingTimeouts(pub Arc<App>);

#[async_trait]
impl BackgroundTask for PendingTimeouts {
    fn name(&self) -> &'static str {
        "pending_timeouts"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let failed = self
            .0
            .time_out_pending()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(json!({"timedOut": failed}))
    }
}
