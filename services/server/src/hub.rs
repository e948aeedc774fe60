//! Waiters for a cluster's next version. The write path publishes each new version here and the long-polls of
//! that cluster wake at once; nothing polls the store. Changes made by other instances arrive through the store's
//! change feed and are published the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub struct ChangeHub {
    waiters: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Moves when changes may have gone unseen (the store's feed reconnected): every waiter looks again.
    resync: watch::Sender<u64>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        Self {
            waiters: Mutex::default(),
            resync: watch::channel(0).0,
        }
    }
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A newer version was published.
    Newer,
    /// Changes may have been missed: read the store again.
    Recheck,
}

impl ChangeHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Starts listening for `cluster`'s versions. Subscribe before reading the current version, so that a change
    /// between the read and the wait is not missed.
    pub fn subscribe(self: &Arc<Self>, cluster: &str) -> Subscription {
        let mut waiters = self.waiters.lock().expect("hub lock");
        let receiver = waiters
            .entry(cluster.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        let resync = self.resync.subscribe();
        Subscription {
            hub: self.clone(),
            cluster: cluster.to_owned(),
            receiver,
            resync,
        }
    }

    /// Tells every waiter to look at the store again.
    pub fn resync(&self) {
        self.resync.send_modify(|n| *n += 1);
    }

    /// Announces that `cluster` reached `version`; waiters for an older version wake.
    pub fn publish(&self, cluster: &str, version: u64) {
        let waiters = self.waiters.lock().expect("hub lock");
        if let Some(sender) = waiters.get(cluster) {
            sender.send_if_modified(|current| {
                let newer = version > *current;
                if newer {
                    *current = version;
                }
                newer
            });
        }
    }

    /// How many clusters have someone waiting (for metrics and tests).
    #[cfg(test)]
    pub fn clusters_waited_on(&self) -> usize {
        self.waiters.lock().expect("hub lock").len()
    }
}

pub struct Subscription {
    hub: Arc<ChangeHub>,
    cluster: String,
    receiver: watch::Receiver<u64>,
    resync: watch::Receiver<u64>,
}

impl Subscription {
    /// Resolves once a version above `version` is published, or the hub asks everyone to look again.
    pub async fn wait_beyond(&mut self, version: u64) -> Woken {
        self.resync.mark_unchanged();
        loop {
            if *self.receiver.borrow_and_update() > version {
                return Woken::Newer;
            }
            tokio::select! {
                changed = self.receiver.changed() => {
                    if changed.is_err() {
                        // The hub is gone (shutdown); never resolve, the caller's timeout ends the wait.
                        std::future::pending::<()>().await;
                    }
                }
                _ = self.resync.changed() => return Woken::Recheck,
            }
        }
    }

    /// Resolves once a version above `version` is published.
    #[cfg(test)]
    pub async fn newer_than(&mut self, version: u64) {
        while self.wait_beyond(version).await != Woken::Newer {}
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut waiters = self.hub.waiters.lock().expect("hub lock");
        if let Some(sender) = waiters.get(&self.cluster)
            && sender.receiver_count() <= 1
        {
            waiters.remove(&self.cluster);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_publish_wakes_waiters_of_that_cluster_only() {
        let hub = ChangeHub::new();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        hub.publish("a", 3);
        tokio::time::timeout(Duration::from_secs(1), a.newer_than(2))
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), b.newer_than(0))
                .await
                .is_err()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), a.newer_than(3))
                .await
                .is_err(),
            "3 is not newer than 3"
        );
        drop((a, b));
        assert_eq!(hub.clusters_waited_on(), 0, "entries go with their last waiter");
    }

    #[tokio::test]
    async fn a_resync_asks_every_waiter_to_look_again() {
        let hub = ChangeHub::new();
        let mut a = hub.subscribe("a");
        let waiting = tokio::spawn(async move { a.wait_beyond(5).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.resync();
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(1), waiting)
                .await
                .unwrap()
                .unwrap(),
            Woken::Recheck
        );
    }
}
