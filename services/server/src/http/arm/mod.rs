//! The ARM API of `Microsoft.KubernetesConfiguration`.

pub mod operations;
pub mod resources;
pub mod source_control;
pub mod subscriptions;
