//! End-to-end tests: each starts the real `clusterconfig` (random port, temporary data directory) and, where
//! the loop needs one, the real `clusterconfig-agent`, and drives the ARM API over HTTP.

mod agent;
mod arm_contract;
mod dataplane;
mod encryption;
mod extension_types;
mod fleet_page;
mod flux_v1;
mod http_limits;
mod instances;
mod lifecycle;
mod long_running;
mod lost_reports;
mod policy;
mod python_sdk;
mod rendered_objects;
mod shutdown;
mod stores;
mod subscriptions;
mod telemetry;
mod validation;
mod versions;

use std::time::Duration;

use serde_json::{Value, json};

use clusterconfig_testkit::{AgentProcess, Arm, Response, ServerOptions, ServerProcess};

pub const FLUX_VERSION: &str = "2025-04-01";
pub const EXTENSION_VERSION: &str = "2025-03-01";
pub const LRO_TIMEOUT: Duration = Duration::from_secs(30);

/// A server, its ARM client, and a cluster to work on.
pub struct Env {
    pub server: ServerProcess,
    pub arm: Arm,
    pub cluster: String,
}

impl Env {
    pub fn start(kind: &str) -> Self {
        Self::start_with(kind, ServerOptions::default())
    }

    pub fn start_with(kind: &str, options: ServerOptions) -> Self {
        let server = ServerProcess::start(options);
        let arm = server.arm();
        Env {
            server,
            arm,
            cluster: clusterconfig_testkit::cluster_id(kind),
        }
    }

    /// A simulating agent for this env's cluster.
    pub fn agent(&self, extra: &[&str]) -> AgentProcess {
        AgentProcess::start(
            &self.server.url,
            &self.cluster,
            &self.server.agent_token(&self.cluster),
            extra,
        )
    }

    pub fn flux(&self, name: &str) -> String {
        resource(&self.cluster, "fluxConfigurations", name, FLUX_VERSION)
    }

    pub fn extension(&self, name: &str) -> String {
        resource(&self.cluster, "extensions", name, EXTENSION_VERSION)
    }

    pub fn list(&self, collection: &str, version: &str) -> String {
        format!(
            "{}/providers/Microsoft.KubernetesConfiguration/{collection}?api-version={version}",
            self.cluster
        )
    }

    /// PUT and wait for the operation; returns the final status document.
    pub async fn put_and_wait(&self, path: &str, body: &Value) -> Value {
        let response = self.arm.put(path, body).await;
        assert!(
            matches!(response.status, 200 | 201),
            "PUT {path}: {} {}",
            response.status,
            response.text
        );
        let operation = response
            .header("azure-asyncoperation")
            .expect("a long-running operation")
            .to_owned();
        self.arm.wait_operation(&operation, LRO_TIMEOUT).await
    }
}

pub fn resource(cluster: &str, collection: &str, name: &str, version: &str) -> String {
    format!("{cluster}/providers/Microsoft.KubernetesConfiguration/{collection}/{name}?api-version={version}")
}

/// A small public Git configuration with two dependent kustomizations.
pub fn git_config() -> Value {
    json!({"properties": {
        "scope": "cluster",
        "namespace": "cluster-config",
        "sourceKind": "GitRepository",
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
        "kustomizations": {
            "infra": {"path": "./infrastructure", "prune": true},
            "apps": {"path": "./apps/staging", "dependsOn": ["infra"]}
        }
    }})
}

pub fn assert_arm_error(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text);
    assert_eq!(response.error_code(), code, "{}", response.text);
    assert!(
        response.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        response.text
    );
}
