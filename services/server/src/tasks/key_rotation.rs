//! Re-wraps data keys under the key provider's current key-encryption key (after a rotation in Key Vault, or
//! `clusterconfig keys rotate` on another instance).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::BackgroundTask;
use crate::keyring::Keyring;

pub struct KeyRotation(pub Arc<Keyring>);

#[async_trait]
impl BackgroundTask for KeyRotation {
    fn name(&self) -> &'static str {
        "key_rotation"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(self.0.rotate().await?)?)
    }
}
