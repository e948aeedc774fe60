//! The clusterconfig service: the `Microsoft.KubernetesConfiguration` resource provider (ARM API) and the data
//! plane that in-cluster agents pull their desired state from.

pub mod app;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod http;
pub mod hub;
pub mod keyring;
pub mod server;
pub mod tasks;
pub mod telemetry;
