//! Unwraps data keys again before their time in memory ends, so requests never wait on the key provider.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::keyring::Keyring;

pub struct KeyRefresh(pub Arc<Keyring>);

#[async_trait]
impl BackgroundTask for KeyRefresh {
    fn name(&self) -> &'static str {
        "key_refresh"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        Ok(json!({"unwrapped": self.0.refresh().await?}))
    }
}
