//! The ARM API of `Microsoft.KubernetesConfiguration`.

pub mod extension_types;
pub mod extensions;
pub mod flux_configurations;
pub mod operations;
pub mod resources;
pub mod source_control_configurations;
pub mod subscriptions;
