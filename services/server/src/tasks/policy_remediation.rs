//! Runs the remediation tasks that are not finished: those this instance holds the lease of, and those whose
//! lease ran out (their instance died). Woken at once when a task is created or cancelled; the period is how
//! soon another instance's abandoned task is picked up.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct PolicyRemediation {
    pub app: Arc<App>,
    /// How long one run may keep working on a task before it yields (it renews the lease meanwhile).
    pub budget: Duration,
}

#[async_trait]
impl BackgroundTask for PolicyRemediation {
    fn name(&self) -> &'static str {
        "policy_remediation"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let policy = self.app.policy();
        let outcome = self
            .app
            .run_remediations(&policy.instance, self.budget)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(json!({"tasks": outcome.tasks, "deployments": outcome.deployments, "finished": outcome.finished}))
    }

    async fn woken(&self) {
        self.app.policy().remediation_created.notified().await
    }
}
