//! Evaluates the clusters the policy queue holds (an agent's first contact, an import, a change of a cluster's
//! resources, a new or changed assignment), `policy.evaluation_concurrency` at a time, until the queue is empty.
//! Woken at once by a push; the period only bounds how long a missed wake-up could delay it.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct PolicyEvaluation(pub Arc<App>);

#[async_trait]
impl BackgroundTask for PolicyEvaluation {
    fn name(&self) -> &'static str {
        "policy_evaluation"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let app = &self.0;
        let concurrency = app.policy().settings.evaluation_concurrency.max(1);
        let (mut clusters, mut states_written, mut deployments, mut failures) = (0, 0, 0, 0);
        loop {
            let batch = app.policy().queue.take(concurrency * 8);
            if batch.is_empty() {
                break;
            }
            clusters += batch.len();
            let outcomes: Vec<_> = futures::stream::iter(batch)
                .map(|(cluster, trigger)| async move {
                    let outcome = app.evaluate_cluster(&cluster, trigger).await;
                    if let Err(err) = &outcome {
                        tracing::warn!(%cluster, error = %err, "policy evaluation failed; queued again");
                        app.policy().queue.push(&cluster, trigger);
                    }
                    outcome
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome {
                    Ok(outcome) => {
                        states_written += outcome.states_written;
                        deployments += outcome.deployments;
                    }
                    Err(_) => failures += 1,
                }
            }
            if failures > 0 {
                // Something is down (the store): leave the rest for the next run rather than spin.
                break;
            }
        }
        if failures > 0 {
            anyhow::bail!("{failures} of {clusters} cluster evaluations failed and were queued again");
        }
        Ok(json!({"clusters": clusters, "statesWritten": states_written, "deployments": deployments}))
    }

    async fn woken(&self) {
        self.0.policy().queue.pushed().await
    }
}
