//! Azure Policy at scale, end to end on the configured store: Microsoft's built-in GitOps definitions, read
//! unmodified from `shared/reference/azure-policy/`, created through `Microsoft.Authorization`, assigned at
//! subscription and resource-group scope, remediated through `Microsoft.PolicyInsights` on an imported fleet of
//! both cluster types whose agents one load process simulates, until `summarize` says 100 % compliant.

mod enforcement;
mod remediation;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::process::eventually;
use clusterconfig_testkit::{Arm, ServerOptions, ServerProcess};

pub const AUTHORIZATION: &str = "2023-04-01";
pub const REMEDIATIONS: &str = "2021-10-01";
pub const STATES: &str = "2019-10-01";
const SUBSCRIPTION: &str = "5e1f0a2b-0c3d-4e5f-8a9b-0c1d2e3f4a5b";
const VAULT: &str = "fleet-kv";
/// The Key Vault secrets' values: they must reach the clusters' protected settings and nowhere else.
const CANARY: &str = "kv-canary-71d3c0a9-never-in-clear";
const TIMEOUT: Duration = Duration::from_secs(60);

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/azure-policy")
}

pub fn published(file: &str) -> Value {
    let text = std::fs::read_to_string(reference_dir().join(file)).expect("the reference definitions");
    serde_json::from_str(&text).expect("JSON")
}

pub fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The Key Vault secret of the SSH definitions: a PEM private key, base64-encoded, as the fluxConfiguration's
/// `sshPrivateKey` protected setting takes it (the template passes the secret through unchanged).
fn ssh_key_secret() -> String {
    b64(&format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n"
    ))
}

/// The secrets' forms that must never appear in clear.
fn canaries() -> [String; 3] {
    [CANARY.to_owned(), b64(CANARY), ssh_key_secret()]
}

fn vault_id() -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/vaults/providers/Microsoft.KeyVault/vaults/{VAULT}")
}

/// Every Flux v2 built-in with the assignment parameters it needs (Key Vault ones name the test vault).
fn flux_v2_definitions() -> Vec<(&'static str, Value)> {
    let kv = vault_id();
    vec![
        (
            "Deploy-GitOps-Flux2-Extension-to-Kubernetes-cluster_DINE.json",
            json!({}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json",
            json!({"configurationName": "public-git", "repositoryRefBranch": "main", "repositoryUrl": "https://github.com/Azure/arc-k8s-demo"}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-SSH_DINE.json",
            json!({"configurationName": "ssh-git", "repositoryRefBranch": "main", "repositoryUrl": "ssh://git@github.com/org/fleet.git",
                   "keyVaultSecretName": "ssh-key", "keyVaultName": kv}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-HTTPS-secrets_DINE.json",
            json!({"configurationName": "https-git", "repositoryRefBranch": "main", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryHttpsUser": "flux", "httpsKeyKeyVaultSecretName": "https-key", "keyVaultName": kv}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-HTTPs-CA-Cert_DINE.json",
            json!({"configurationName": "ca-git", "repositoryRefBranch": "main", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryHttpsCACert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-LocalAuthRef_DINE.json",
            json!({"configurationName": "local-auth-git", "repositoryRefBranch": "main", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryLocalAuthRef": "git-credentials"}),
        ),
        (
            "GitOps-Flux2-to-Kubernetes-cluster-Bucket-K8sSecret_DINE.json",
            json!({"configurationName": "bucket-local", "bucketUrl": "https://s3.example.com", "bucketName": "manifests",
                   "bucketLocalAuthRef": "bucket-credentials"}),
        ),
        (
            "GitOps-Flux2-to-Kubernetes-cluster-Bucket-KVSecret_DINE.json",
            json!({"configurationName": "bucket-kv", "bucketUrl": "https://s3.example.com", "bucketName": "manifests",
                   "bucketAccessKey": "AKIAEXAMPLE", "keyVaultSecretName": "bucket-key", "keyVaultName": kv}),
        ),
    ]
}

/// One cluster's agent driven by hand through the data plane, for what a simulated agent never does (fail).
pub struct HandAgent {
    arm: Arm,
    base: String,
}

impl HandAgent {
    pub fn new(fleet: &Fleet, cluster: &str) -> Self {
        HandAgent {
            arm: fleet.arm.with_token(&fleet.server.agent_token(cluster)),
            base: format!("{}/dataplane/v1{cluster}", fleet.server.url),
        }
    }

    /// The desired state, once its first fluxConfiguration has reached `generation`.
    pub async fn desired_with_configuration(&self, generation: u64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let desired = self.arm.get(&format!("{}/desiredState", self.base)).await.body;
            if desired["fluxConfigurations"][0]["generation"]
                .as_u64()
                .unwrap_or(0)
                >= generation
            {
                return desired;
            }
            assert!(
                Instant::now() < deadline,
                "generation {generation} reaches the agent: {desired}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn report(&self, collection: &str, name: &str, body: Value) {
        let url = format!("{}/{collection}/{name}/status", self.base);
        let response = self.arm.send(Method::POST, &url, Some(&body), &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
    }

    /// Reports microsoft.flux (auto-installed with the first configuration) installed.
    pub async fn install_flux(&self, desired: &Value) {
        let generation = desired["extensions"][0]["generation"].as_u64().unwrap();
        let body =
            json!({"generation": generation, "provisioningState": "Succeeded", "installedVersion": "1.23.0"});
        self.report("extensions", "flux", body).await;
    }
}

/// The Flux v1 built-in without secrets, with the assignment parameters it needs: its deployments must fail
/// with the retirement error.
fn flux_v1_definition() -> (&'static str, Value) {
    let parameters = json!({"configurationResourceName": "legacy", "operatorInstanceName": "flux",
                            "operatorNamespace": "flux", "repositoryUrl": "https://github.com/org/legacy"});
    (
        "Deploy-GitOps-to-Kubernetes-cluster-no-secrets_DINE.json",
        parameters,
    )
}

pub fn assignment_parameters(values: &Value) -> Value {
    let map: serde_json::Map<String, Value> = values
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!({"value": v})))
        .collect();
    Value::Object(map)
}

/// A fleet: a server with a local secrets file, clusters imported from `az graph query`'s JSON, and one load
/// process playing all their agents.
pub struct Fleet {
    pub server: ServerProcess,
    pub arm: Arm,
    pub clusters: Vec<String>,
    agents: Option<Child>,
    _secrets: tempfile::TempDir,
}

/// One `clusterconfig-agent --load` process playing every cluster's agent against `server`: each its own
/// long-poll, acknowledging every generation as `--simulate` does.
pub fn load_agents(server: &ServerProcess, clusters: &[String]) -> Child {
    let tokens = server.agent_tokens(clusters);
    let lines: Vec<String> = clusters
        .iter()
        .zip(&tokens)
        .map(|(cluster, token)| format!("{cluster} {token}"))
        .collect();
    let file = server.data_dir.join("agents.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    Command::new(clusterconfig_testkit::binary("clusterconfig-agent"))
        .args(["--server", &server.url, "--wait", "20", "--load"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the load agent starts")
}

pub fn cluster_ids(groups: &[(&str, usize)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (group, count) in groups {
        for index in 0..*count {
            let (rp, kind) = if index % 2 == 0 {
                ("Microsoft.Kubernetes", "connectedClusters")
            } else {
                ("Microsoft.ContainerService", "managedClusters")
            };
            ids.push(format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{rp}/{kind}/{group}-{index}"
            ));
        }
    }
    ids
}

impl Fleet {
    pub fn start(clusters: Vec<String>, options: ServerOptions) -> Self {
        let secrets = tempfile::tempdir().unwrap();
        let secrets_file = secrets.path().join("policy-secrets.json");
        let values = json!({VAULT: {"ssh-key": ssh_key_secret(), "https-key": b64(CANARY), "bucket-key": b64(CANARY)}});
        std::fs::write(&secrets_file, values.to_string()).unwrap();
        let options = options
            .env("CLUSTERCONFIG_POLICY__SECRETS", "local")
            .env(
                "CLUSTERCONFIG_POLICY__LOCAL_SECRETS_FILE",
                secrets_file.to_str().unwrap(),
            )
            .env("CLUSTERCONFIG_POLICY__REDEPLOY_BACKOFF", "1s");
        let server = ServerProcess::start(options);
        let arm = server.arm();
        Fleet {
            server,
            arm,
            clusters,
            agents: None,
            _secrets: secrets,
        }
    }

    /// Imports the clusters with `clusterconfig clusters import`, in the shape `az graph query -o json` prints.
    pub fn import(&self) -> String {
        let rows: Vec<Value> = self
            .clusters
            .iter()
            .map(|id| {
                let name = id.rsplit('/').next().unwrap();
                let kind = if id.contains("connectedClusters") {
                    "microsoft.kubernetes/connectedclusters"
                } else {
                    "microsoft.containerservice/managedclusters"
                };
                json!({"id": id, "name": name, "type": kind, "location": "westeurope", "tags": {"fleet": "edge"}})
            })
            .collect();
        let file = self.server.data_dir.join("inventory.json");
        let graph =
            json!({"count": rows.len(), "data": rows, "skip_token": null, "total_records": rows.len()});
        std::fs::write(&file, graph.to_string()).unwrap();
        self.server.cli(&[
            "clusters",
            "import",
            file.to_str().unwrap(),
            "--server",
            &self.server.url,
        ])
    }

    /// Starts one `clusterconfig-agent --load` process for every cluster: each its own long-poll, acknowledging
    /// every generation as `--simulate` does.
    /// Starts the load process for the fleet's clusters, replacing (and stopping) one already running: a
    /// `Child` dropped without a kill would outlive the test.
    pub fn start_agents(&mut self) {
        self.stop_agents();
        self.agents = Some(load_agents(&self.server, &self.clusters));
    }

    pub async fn put_definition(&self, file: &str) -> String {
        let document = published(file);
        let name = document["name"].as_str().unwrap().to_owned();
        let id = format!(
            "/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/policyDefinitions/{name}"
        );
        // The body as `az policy definition create --rules ... --params ...` sends it: the published properties.
        let created = self
            .arm
            .put(
                &format!("{id}?api-version={AUTHORIZATION}"),
                &json!({"properties": document["properties"]}),
            )
            .await;
        assert_eq!(created.status, 201, "{file}: {}", created.text);
        id
    }

    pub async fn assign(
        &self,
        scope: &str,
        name: &str,
        definition: &str,
        parameters: &Value,
        extra: Value,
    ) -> String {
        let id = format!("{scope}/providers/Microsoft.Authorization/policyAssignments/{name}");
        let mut properties = json!({
            "displayName": format!("GitOps: {name}"),
            "policyDefinitionId": definition,
            "parameters": assignment_parameters(parameters),
        });
        for (key, value) in extra.as_object().unwrap() {
            properties[key] = value.clone();
        }
        let body = json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": properties});
        let created = self
            .arm
            .put(&format!("{id}?api-version={AUTHORIZATION}"), &body)
            .await;
        assert_eq!(created.status, 201, "{name}: {}", created.text);
        assert!(
            created.body["identity"]["principalId"].is_string(),
            "{}",
            created.text
        );
        id
    }

    /// Creates a remediation of `assignment` at `scope` and waits for it to end; returns its final view.
    pub async fn remediate(&self, scope: &str, name: &str, assignment: &str, extra: Value) -> Value {
        let id = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/{name}");
        let mut properties = json!({"policyAssignmentId": assignment});
        for (key, value) in extra.as_object().unwrap() {
            properties[key] = value.clone();
        }
        let created = self
            .arm
            .put(
                &format!("{id}?api-version={REMEDIATIONS}"),
                &json!({"properties": properties}),
            )
            .await;
        assert!(matches!(created.status, 200 | 201), "{name}: {}", created.text);
        self.wait_remediation(&id).await
    }

    pub async fn wait_remediation(&self, id: &str) -> Value {
        let url = format!("{id}?api-version={REMEDIATIONS}");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let response = self.arm.get(&url).await;
            let state = response.body["properties"]["provisioningState"]
                .as_str()
                .unwrap_or_default();
            if matches!(state, "Succeeded" | "Failed" | "Canceled") {
                let mut body = response.body;
                // With the deployments, so that a failed assertion shows why.
                let deployments = self
                    .arm
                    .send(
                        Method::POST,
                        &format!("{id}/listDeployments?api-version={REMEDIATIONS}"),
                        None,
                        &[],
                    )
                    .await;
                body["deployments"] = deployments.body["value"].clone();
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "the remediation ends: {}",
                response.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn summarize(&self, scope: &str) -> Value {
        let url = format!(
            "{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?api-version={STATES}"
        );
        let response = self.arm.send(Method::POST, &url, None, &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.body["value"][0]["results"].clone()
    }

    pub async fn query(&self, scope: &str, filter: &str) -> Vec<Value> {
        let url = format!(
            "{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version={STATES}&$filter={}",
            urlencode(filter)
        );
        let response = self.arm.send(Method::POST, &url, None, &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.body["value"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until every covered cluster of the assignments is compliant per `summarize` at `scope`.
    pub async fn wait_all_compliant(&self, scope: &str, expected_resources: u64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let results = self.summarize(scope).await;
            let compliant = results["resourceDetails"]
                .as_array()
                .and_then(|d| d.iter().find(|r| r["complianceState"] == "compliant"))
                .and_then(|r| r["count"].as_u64())
                .unwrap_or(0);
            if results["nonCompliantResources"] == 0 && compliant == expected_resources {
                return results;
            }
            assert!(Instant::now() < deadline, "every cluster compliant: {results}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `filter` selects `count` states at the subscription.
    pub async fn wait_states(&self, filter: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let states = self.query(&subscription_scope(), filter).await;
            if states.len() == count {
                return states;
            }
            assert!(
                Instant::now() < deadline,
                "{count} states for {filter}: {states:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Fleet {
    pub fn stop_agents(&mut self) {
        if let Some(mut agents) = self.agents.take() {
            let _ = agents.kill();
            let _ = agents.wait();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop_agents();
    }
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn scope_of_group(group: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}")
}

fn subscription_scope() -> String {
    format!("/subscriptions/{SUBSCRIPTION}")
}

/// Every file under `dir`, read as bytes, searched for `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}
