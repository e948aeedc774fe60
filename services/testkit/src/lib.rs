//! Test support: the real `clusterconfig` and `clusterconfig-agent` binaries, started as processes on random
//! ports with temporary data directories, stopped when dropped; and a small ARM client.

pub mod arm;
pub mod balancer;
pub mod cosmos;
pub mod cutter;
pub mod postgres;
pub mod process;
pub mod store;

pub use arm::{Arm, Response};
pub use process::{AgentProcess, ServerOptions, ServerProcess, binary};
pub use store::TestStore;

/// A fresh cluster id of the given kind (`managedClusters`, `connectedClusters`...).
pub fn cluster_id(provider_and_type: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-{}/providers/{provider_and_type}/cluster-{}",
        uuid::Uuid::new_v4(),
        &uuid::Uuid::new_v4().simple().to_string()[..6],
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}

pub const AKS: &str = "Microsoft.ContainerService/managedClusters";
pub const ARC: &str = "Microsoft.Kubernetes/connectedClusters";

/// Runs a future to completion from synchronous code (a constructor, a `Drop`), also inside a test's runtime:
/// on a thread of its own, with a short-lived runtime.
pub(crate) fn block_on<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    })
    .join()
    .expect("no panic")
}
