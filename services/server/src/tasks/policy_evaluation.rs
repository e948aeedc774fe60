//! Evaluates the clusters the policy queue holds (an agent's first contact, an import, a change of a cluster's
//! resources, a new or changed assignment), `policy.evaluation_concurrency` at a time, until the queue is empty.
//! Woken at once by a push; the period only bounds how long a missed wake-up could delay it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};

use super::BackgroundTask;
use crate::app::App;

pub struct PolicyEvaluation {
    pub app: Arc<App>,
    /// Since the process started: clusters evaluated, states written, deployments made (an operator's view of
    /// how much evaluation costs, beyond the last run).
    totals: [AtomicUsize; 3],
}

impl PolicyEvaluation {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            totals: Default::default(),
        }
    }
}

#[async_trait]
impl BackgroundTask for PolicyEvaluation {
    fn name(&self) -> &'static str {
        "policy_evaluation"
    }

    async fn activate(&self) -> anyhow::Result<Value> {
        let app = &self.app;
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
        for (total, add) in self.totals.iter().zip([clusters, states_written, deployments]) {
            total.fetch_add(add, Ordering::Relaxed);
        }
        let [all_clusters, all_states, all_deployments] =
            self.totals.each_ref().map(|t| t.load(Ordering::Relaxed));
        Ok(json!({
            "clusters": clusters, "statesWritten": states_written, "deployments": deployments,
            "sinceStart": {"clusters": all_clusters, "statesWritten": all_states, "deployments": all_deployments},
        }))
    }

    async fn woken(&self) {
        self.app.policy().queue.pushed().await
    }
}
