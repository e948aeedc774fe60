//! The reference in-cluster agent of clusterconfig. It speaks only the documented data-plane API
//! (`api-specs/dataplane.yaml`): long-poll the cluster's desired state, apply it, report each generation.

pub mod agent;
pub mod client;
pub mod keys;
pub mod load;
pub mod render;
pub mod state;
