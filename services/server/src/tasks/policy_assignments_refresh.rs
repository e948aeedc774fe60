//! Reloads the policy assignments in force from the store, so that one written through another instance is
//! evaluated and enforced here too (this instance's own writes take effect at once). Changed assignments queue
//! the clusters they cover.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct PolicyAssignmentsRefresh(pub Arc<App>);

#[async_trait]
impl BackgroundTask for PolicyAssignmentsRefresh {
    fn name(&self) -> &'static str {
        "policy_assignments_refresh"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let app = &self.0;
        let (assignments, changed) = app
            .reload_assignments()
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let mut queued = 0;
        for key in &changed {
            queued += app
                .evaluate_assignment_scope(key)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        Ok(json!({"assignments": assignments, "changed": changed.len(), "clustersQueued": queued}))
    }
}
