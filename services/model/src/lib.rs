//! The resources of `Microsoft.KubernetesConfiguration` and their rules, and the documents of the agent data plane.
//! Nothing here does I/O: the server parses requests into these types, and the agent reads them.

mod arm_enum;

pub mod api_version;
pub mod arm;
pub mod catalog;
pub mod dataplane;
pub mod error;
pub mod extension;
pub mod extension_types;
pub mod flux;
pub mod ids;
pub mod json;
pub mod merge_patch;
pub mod scc;
pub mod secrets;
pub mod validate;
pub mod versioning;

pub use error::ArmError;
