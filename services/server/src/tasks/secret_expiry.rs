//! Deletes secret groups whose lifetime (`lifetimes.secret_retention`, under 48 hours) has ended. Reads check
//! expiry themselves too, so a late sweep never lets an expired value out. Then destroys the keys of secret
//! periods that ended, so no copy of their values opens any more, and, when secret values were deleted (expired
//! here, or acknowledged by agents), lets the store remove them from its files as well.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct SecretExpiry(pub Arc<App>);

#[async_trait]
impl BackgroundTask for SecretExpiry {
    fn name(&self) -> &'static str {
        "secret_expiry"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let deleted = self
            .0
            .expire_secrets()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let keys_destroyed = self
            .0
            .destroy_ended_secret_keys()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let compacted = self
            .0
            .compact_deleted_secrets()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(json!({"deleted": deleted, "keysDestroyed": keys_destroyed, "compacted": compacted}))
    }
}
