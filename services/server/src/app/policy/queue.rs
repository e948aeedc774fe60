//! Clusters waiting to be evaluated against the assignments that cover them. Events push (an agent's first
//! contact, an import, a change of a cluster's resources, a new or changed assignment); the `policy_evaluation`
//! task drains. A cluster pushed twice before it is evaluated is evaluated once, with the stronger trigger.
//! Pushing is O(1) and happens only while assignments exist, so the write and long-poll paths do not grow with
//! the number of assignments or clusters.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// Why a cluster is evaluated; it decides whether a DeployIfNotExists deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trigger {
    /// A periodic or requested re-evaluation (a new or changed assignment, `triggerEvaluation`): compliance is
    /// recorded; only continuous remediation deploys.
    Scan,
    /// The cluster's resources changed: compliance is recorded; only continuous remediation deploys.
    ResourcesChanged,
    /// The definition's `evaluationDelay` after the cluster changed has passed: a DeployIfNotExists that finds
    /// nothing deploys now.
    DelayElapsed,
    /// The cluster itself was created or updated (first contact, an import): as in Azure Policy, a
    /// DeployIfNotExists that finds nothing deploys at once, or after the definition's `evaluationDelay` when it
    /// has one (a change in the meantime starts the delay again).
    ClusterChanged,
}

#[derive(Default)]
struct Pending {
    order: VecDeque<String>,
    triggers: HashMap<String, Trigger>,
}

#[derive(Default)]
pub struct EvaluationQueue {
    pending: Mutex<Pending>,
    notify: Notify,
}

impl EvaluationQueue {
    pub fn push(&self, cluster_key: &str, trigger: Trigger) {
        let mut pending = self.pending.lock().expect("queue lock");
        match pending.triggers.get_mut(cluster_key) {
            Some(current) => *current = (*current).max(trigger),
            None => {
                pending.triggers.insert(cluster_key.to_owned(), trigger);
                pending.order.push_back(cluster_key.to_owned());
            }
        }
        drop(pending);
        self.notify.notify_one();
    }

    /// Pushes after `delay` (a deployment's backoff, a definition's `evaluationDelay`).
    pub fn push_later(queue: &Arc<Self>, cluster_key: &str, trigger: Trigger, delay: Duration) {
        let queue = queue.clone();
        let cluster = cluster_key.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.push(&cluster, trigger);
        });
    }

    /// Takes up to `limit` clusters, oldest first.
    pub fn take(&self, limit: usize) -> Vec<(String, Trigger)> {
        let mut pending = self.pending.lock().expect("queue lock");
        let mut taken = Vec::with_capacity(limit.min(pending.order.len()));
        while taken.len() < limit {
            let Some(cluster) = pending.order.pop_front() else {
                break;
            };
            if let Some(trigger) = pending.triggers.remove(&cluster) {
                taken.push((cluster, trigger));
            }
        }
        taken
    }

    pub fn len(&self) -> usize {
        self.pending.lock().expect("queue lock").order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once something was pushed since the last wake-up.
    pub async fn pushed(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_waits_once_with_its_strongest_trigger() {
        let queue = EvaluationQueue::default();
        queue.push("a", Trigger::Scan);
        queue.push("b", Trigger::ResourcesChanged);
        queue.push("a", Trigger::ClusterChanged);
        queue.push("a", Trigger::Scan);
        assert_eq!(queue.len(), 2);
        assert_eq!(
            queue.take(10),
            vec![
                ("a".into(), Trigger::ClusterChanged),
                ("b".into(), Trigger::ResourcesChanged)
            ]
        );
        assert!(queue.is_empty());
    }
}
