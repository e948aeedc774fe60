//! Purges the subscriptions ARM deleted: every cluster's records and secrets. The notification starts the
//! purge at once; this task finishes one that a restart cut short, and purges what a write that raced the
//! notification left behind.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct SubscriptionPurge(pub Arc<App>);

#[async_trait]
impl BackgroundTask for SubscriptionPurge {
    fn name(&self) -> &'static str {
        "subscription_purge"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let purged = self
            .0
            .purge_deleted_subscriptions()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(json!({"clustersPurged": purged}))
    }
}
