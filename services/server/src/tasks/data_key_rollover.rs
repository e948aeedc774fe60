//! Starts a new data-encryption key when the active one is older than `crypto.data_key_max_age` or has sealed
//! `crypto.data_key_max_seals` records on this instance (AES-GCM's random nonces bound how much one key may
//! seal). Data sealed under older keys stays readable with them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::keyring::Keyring;

pub struct DataKeyRollover {
    pub keyring: Arc<Keyring>,
    pub max_age: Duration,
    pub max_seals: u64,
}

#[async_trait]
impl BackgroundTask for DataKeyRollover {
    fn name(&self) -> &'static str {
        "data_key_rollover"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let rolled = self
            .keyring
            .roll_over_if_due(self.max_age, self.max_seals)
            .await?;
        Ok(json!({"newKey": rolled}))
    }
}
