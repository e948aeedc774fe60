//! Waiters for a cluster's next version. The write path publishes each new version here and the long-polls of
//! that cluster wake at once; nothing polls the store. Changes made by other instances arrive through the store's
//! change feed and are published the same way. When the process drains (SIGTERM), every waiter is let go at
//! once, so agents reconnect to another instance instead of holding this one open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

/// What a cluster's watchers see: its version, and a count that moves whenever operations of the cluster may
/// have ended (a report or a timeout was committed) without the desired state changing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Signal {
    version: u64,
    operations_moved: u64,
    /// Moves when the cluster's state changed without a newer version (it was purged): waiters look again.
    rechecks: u64,
    /// When `version` was published: how long its waiters took to be answered is measured from here.
    published_at: Option<Instant>,
}

pub struct ChangeHub {
    waiters: Mutex<HashMap<String, watch::Sender<Signal>>>,
    /// Moves when changes may have gone unseen (the store's feed reconnected): every waiter looks again.
    resync: watch::Sender<u64>,
    /// Set once, when the process starts to shut down.
    draining: watch::Sender<bool>,
    /// The most long-polls one cluster may hold at once (a cluster has one agent, maybe a few replicas).
    max_waiters_per_cluster: usize,
    /// Subscriptions alive now (waiting long-polls), for metrics.
    waiting: AtomicUsize,
}

/// The default of `dataplane.max_waiters_per_cluster`.
pub const DEFAULT_MAX_WAITERS_PER_CLUSTER: usize = 100;

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A newer version was published (this one).
    Newer(u64),
    /// Changes may have been missed: read the store again.
    Recheck,
    /// The process is shutting down: answer now.
    Draining,
}

/// A cluster already has as many waiters as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crowded {
    pub limit: usize,
}

impl ChangeHub {
    pub fn new() -> Arc<Self> {
        Self::with_limit(DEFAULT_MAX_WAITERS_PER_CLUSTER)
    }

    pub fn with_limit(max_waiters_per_cluster: usize) -> Arc<Self> {
        Arc::new(Self {
            waiters: Mutex::default(),
            resync: watch::channel(0).0,
            draining: watch::channel(false).0,
            max_waiters_per_cluster,
            waiting: AtomicUsize::new(0),
        })
    }

    /// Starts listening for `cluster`'s versions, as one of its long-polls (at most `max_waiters_per_cluster`).
    /// Subscribe before reading the current version, so that a change between the read and the wait is not
    /// missed.
    pub fn subscribe(self: &Arc<Self>, cluster: &str) -> Result<Subscription, Crowded> {
        self.listen(cluster, Some(self.max_waiters_per_cluster))
    }

    /// Starts listening for `cluster`'s changes outside the long-poll limit (an operation status waiting for
    /// its operation to end).
    pub fn watch(self: &Arc<Self>, cluster: &str) -> Subscription {
        self.listen(cluster, None).expect("no limit")
    }

    fn listen(self: &Arc<Self>, cluster: &str, limit: Option<usize>) -> Result<Subscription, Crowded> {
        let mut waiters = self.waiters.lock().expect("hub lock");
        let sender = waiters
            .entry(cluster.to_owned())
            .or_insert_with(|| watch::channel(Signal::default()).0);
        if let Some(limit) = limit
            && sender.receiver_count() >= limit
        {
            return Err(Crowded { limit });
        }
        let receiver = sender.subscribe();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let resync = self.resync.subscribe();
        let draining = self.draining.subscribe();
        Ok(Subscription {
            hub: self.clone(),
            cluster: cluster.to_owned(),
            receiver,
            resync,
            draining,
        })
    }

    /// Long-polls (and watchers) waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Tells every waiter to look at the store again.
    pub fn resync(&self) {
        self.resync.send_modify(|n| *n += 1);
    }

    /// Lets every waiter go, now and from now on: the process is shutting down.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Announces that `cluster` reached `version`; waiters for an older version wake.
    pub fn publish(&self, cluster: &str, version: u64) {
        let waiters = self.waiters.lock().expect("hub lock");
        if let Some(sender) = waiters.get(cluster) {
            sender.send_if_modified(|current| {
                let newer = version > current.version;
                if newer {
                    current.version = version;
                    current.published_at = Some(Instant::now());
                }
                newer
            });
        }
    }

    /// Tells `cluster`'s waiters to read the store again (its records were purged; its version starts over).
    pub fn recheck(&self, cluster: &str) {
        let waiters = self.waiters.lock().expect("hub lock");
        if let Some(sender) = waiters.get(cluster) {
            sender.send_modify(|current| current.rechecks += 1);
        }
    }

    /// Announces that operations of `cluster` may have ended (in this process).
    pub fn operations_moved(&self, cluster: &str) {
        let waiters = self.waiters.lock().expect("hub lock");
        if let Some(sender) = waiters.get(cluster) {
            sender.send_modify(|current| current.operations_moved += 1);
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
    receiver: watch::Receiver<Signal>,
    resync: watch::Receiver<u64>,
    draining: watch::Receiver<bool>,
}

impl Subscription {
    /// Resolves once a version above `version` is published, the hub asks everyone to look again, or the
    /// process drains.
    pub async fn wait_beyond(&mut self, version: u64) -> Woken {
        self.resync.mark_unchanged();
        let rechecks = self.receiver.borrow().rechecks;
        loop {
            if *self.draining.borrow_and_update() {
                return Woken::Draining;
            }
            let signal = *self.receiver.borrow_and_update();
            if signal.version > version {
                return Woken::Newer(signal.version);
            }
            if signal.rechecks != rechecks {
                return Woken::Recheck;
            }
            tokio::select! {
                _ = self.draining.changed() => {}
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

    /// When the version this subscription last saw was published (by this process).
    pub fn published_at(&self) -> Option<Instant> {
        self.receiver.borrow().published_at
    }

    /// Resolves at the cluster's next change of any kind (a version, an operation that may have ended, a
    /// resync), or when the process drains.
    pub async fn next_change(&mut self) {
        if *self.draining.borrow_and_update() {
            return;
        }
        tokio::select! {
            _ = self.receiver.changed() => {}
            _ = self.resync.changed() => {}
            _ = self.draining.changed() => {}
        }
    }

    /// Resolves once a version above `version` is published.
    #[cfg(test)]
    pub async fn newer_than(&mut self, version: u64) {
        while !matches!(self.wait_beyond(version).await, Woken::Newer(_)) {}
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.waiting.fetch_sub(1, Ordering::Relaxed);
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
        let mut a = hub.subscribe("a").unwrap();
        let mut b = hub.subscribe("b").unwrap();
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
        let mut a = hub.subscribe("a").unwrap();
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

    #[tokio::test]
    async fn a_cluster_holds_at_most_its_limit_of_waiters() {
        let hub = ChangeHub::with_limit(2);
        let first = hub.subscribe("a").unwrap();
        let _second = hub.subscribe("a").unwrap();
        assert_eq!(hub.subscribe("a").err(), Some(Crowded { limit: 2 }));
        assert!(hub.subscribe("b").is_ok(), "other clusters are not affected");
        drop(first);
        assert!(hub.subscribe("a").is_ok(), "a place frees with its waiter");
    }

    #[tokio::test]
    async fn draining_lets_every_waiter_go_now_and_later() {
        let hub = ChangeHub::new();
        let mut a = hub.subscribe("a").unwrap();
        let waiting = tokio::spawn(async move { a.wait_beyond(5).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.drain();
        let woken = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(woken, Woken::Draining);
        let mut late = hub.subscribe("a").unwrap();
        assert_eq!(late.wait_beyond(5).await, Woken::Draining);
    }
}
