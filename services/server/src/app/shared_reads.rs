//! Waiters of one cluster woken by one change share one read of the new desired state: the first of them reads
//! the partition and decrypts it; the others take what it built. Without this, 1,000 long-polls of one cluster
//! meant 1,000 reads and decryptions of the same records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OnceCell;

use clusterconfig_model::dataplane::DesiredState;
use clusterconfig_model::error::ArmError;
use clusterconfig_store::ClusterRecord;

/// A desired state as read once for everyone woken by the same published version.
#[derive(Debug)]
pub struct SharedDesiredState {
    /// The cluster's record as that read saw it (each waiter checks its own token's revocation against it).
    pub record: Option<ClusterRecord>,
    /// Shared, not copied, by every waiter it answers.
    pub state: Arc<DesiredState>,
}

type Build = OnceCell<Result<Arc<SharedDesiredState>, ArmError>>;

/// The build in progress (or just done) per cluster, for the newest published version seen. Entries live as
/// long as a waiter holds them; dead ones are swept as the map grows.
#[derive(Default)]
pub struct SharedReads {
    builds: Mutex<HashMap<String, (u64, Weak<Build>)>>,
}

impl SharedReads {
    /// The shared build for `cluster` at `version` (the version the hub announced to the waiter).
    pub fn build_for(&self, cluster: &str, version: u64) -> Arc<Build> {
        let mut builds = self.builds.lock().expect("shared reads lock");
        if let Some((built_for, weak)) = builds.get(cluster)
            && *built_for >= version
            && let Some(build) = weak.upgrade()
            // A read that failed answers the waiters that shared it; a newcomer reads again.
            && !matches!(build.get(), Some(Err(_)))
        {
            return build;
        }
        let build = Arc::new(OnceCell::new());
        builds.insert(cluster.to_owned(), (version, Arc::downgrade(&build)));
        if builds.len() > 1024 && builds.len().is_power_of_two() {
            builds.retain(|_, (_, weak)| weak.strong_count() > 0);
        }
        build
    }
}
