//! Removes finished operation records after `lifetimes.operation_retention`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct OperationRetention(pub Arc<App>);

#[async_trait]
impl BackgroundTask for OperationRetention {
    fn name(&self) -> &'static str {
        "operation_retention"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let removed = self
            .0
            .remove_expired_operations()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(json!({"removed": removed}))
    }
}
