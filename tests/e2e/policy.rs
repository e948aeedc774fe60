//! Azure Policy at scale, end to end on the configured store: Microsoft's built-in GitOps definitions, read
//! unmodified from `shared/reference/azure-policy/`, created through `Microsoft.Authorization`, assigned at
//! subscription and resource-group scope, remediated through `Microsoft.PolicyInsights` on an imported fleet of
//! both cluster types whose agents one load process simulates, until `summarize` says 100 % compliant.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::process::eventually;
use clusterconfig_testkit::{Arm, Response, ServerOptions, ServerProcess};

use crate::assert_arm_error;

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
    pub fn start_agents(&mut self) {
        let tokens = self.server.agent_tokens(&self.clusters);
        let lines: Vec<String> = self
            .clusters
            .iter()
            .zip(&tokens)
            .map(|(cluster, token)| format!("{cluster} {token}"))
            .collect();
        let file = self.server.data_dir.join("agents.txt");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let child = Command::new(clusterconfig_testkit::binary("clusterconfig-agent"))
            .args(["--server", &self.server.url, "--wait", "20", "--load"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the load agent starts");
        self.agents = Some(child);
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

#[tokio::test(flavor = "multi_thread")]
async fn every_flux_v2_definition_remediates_a_fleet_to_full_compliance() {
    // Two resource groups, each with Arc and AKS clusters.
    let clusters = cluster_ids(&[("fleet-east", 2), ("fleet-west", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    let imported = fleet.import();
    assert!(imported.contains("\"added\":4"), "{imported}");
    fleet.start_agents();

    // Half assigned at the subscription (all 4 clusters), half at one resource group (2 clusters).
    let mut assignments = Vec::new();
    for (index, (file, parameters)) in flux_v2_definitions().into_iter().enumerate() {
        let definition = fleet.put_definition(file).await;
        let (scope, covered) = if index % 2 == 0 {
            (subscription_scope(), 4)
        } else {
            (scope_of_group("fleet-east"), 2)
        };
        let name = format!("gitops-{index}");
        let assignment = fleet
            .assign(&scope, &name, &definition, &parameters, json!({}))
            .await;
        assignments.push((file, scope, name, assignment, covered));
    }

    // The assignments' scans ran: every covered (assignment, cluster) is non-compliant, ready to remediate.
    fleet
        .wait_states("ComplianceState eq 'NonCompliant'", 4 * 4 + 4 * 2)
        .await;
    for (file, scope, name, assignment, covered) in &assignments {
        let remediation = fleet
            .remediate(
                scope,
                &format!("fix-{name}"),
                assignment,
                json!({"parallelDeployments": 2}),
            )
            .await;
        assert_eq!(
            remediation["properties"]["provisioningState"], "Succeeded",
            "{file}: {remediation}"
        );
        let status = &remediation["properties"]["deploymentStatus"];
        assert_eq!(status["failedDeployments"], 0, "{file}: {remediation}");
        assert!(
            status["totalDeployments"].as_u64().unwrap() <= *covered,
            "{file}: {remediation}"
        );
    }

    // 100 %: every (assignment, cluster) pair compliant, none non-compliant.
    let summary = fleet.wait_all_compliant(&subscription_scope(), 4).await;
    assert_eq!(summary["nonCompliantPolicies"], 0, "{summary}");
    let states = fleet
        .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
        .await;
    assert_eq!(
        states.len(),
        4 * 4 + 4 * 2,
        "one state per covered (assignment, cluster)"
    );
    assert!(
        fleet
            .query(&subscription_scope(), "ComplianceState eq 'NonCompliant'")
            .await
            .is_empty()
    );

    // What the deployments made is what an ARM PUT makes: made by the assignment's managed identity, complete
    // properties on GET, and the Key Vault secrets only as (write-only) protected settings.
    let arc = &clusters[0];
    let listed = fleet
        .arm
        .get(&format!(
            "{arc}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2022-03-01"
        ))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let configurations = listed.body["value"].as_array().unwrap();
    assert_eq!(configurations.len(), 7, "{}", listed.text);
    for configuration in configurations {
        assert_eq!(
            configuration["systemData"]["createdByType"], "ManagedIdentity",
            "{configuration}"
        );
        assert_eq!(
            configuration["properties"]["provisioningState"], "Succeeded",
            "{configuration}"
        );
    }
    let ssh = configurations.iter().find(|c| c["name"] == "ssh-git").unwrap();
    assert!(
        ssh["properties"]["configurationProtectedSettings"]
            .as_object()
            .is_none_or(|p| p.values().all(Value::is_null)),
        "{ssh}"
    );
    let extension = fleet
        .arm
        .get(&format!(
            "{arc}/providers/Microsoft.KubernetesConfiguration/extensions/flux?api-version=2022-03-01"
        ))
        .await;
    assert_eq!(extension.status, 200, "{}", extension.text);
    assert_eq!(
        extension.body["identity"]["type"], "SystemAssigned",
        "{}",
        extension.text
    );

    // The canary is nowhere but the clusters' copies: not in responses, logs, or the store's files.
    let logs = fleet.server.logs();
    for canary in canaries() {
        assert!(!listed.text.contains(&canary));
        assert!(!logs.contains(&canary), "the server's log holds a secret");
        let leaked = files_containing(&fleet.server.data_dir, &canary);
        assert!(
            leaked.is_empty(),
            "store files hold a secret in clear: {leaked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn continuous_remediation_redeploys_drift_and_a_new_cluster_is_deployed_to_at_once() {
    let clusters = cluster_ids(&[("drift", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let metadata = json!({"metadata": {"continuousRemediation": true}});
    fleet
        .assign(
            &subscription_scope(),
            "keep-it",
            &definition,
            parameters,
            metadata,
        )
        .await;

    // Continuous: the scan that a new assignment starts deploys, no remediation needed.
    fleet.wait_all_compliant(&subscription_scope(), 2).await;

    // A configuration deleted by hand comes back.
    let configuration = format!(
        "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/public-git?api-version=2022-03-01",
        clusters[0]
    );
    let deleted = fleet.arm.delete(&configuration).await;
    assert!(matches!(deleted.status, 200 | 202 | 204), "{}", deleted.text);
    let back = eventually(TIMEOUT, || {
        let request = fleet.arm.get(&configuration);
        async move {
            let response = request.await;
            response.status == 200 && response.body["properties"]["provisioningState"] == "Succeeded"
        }
    })
    .await;
    assert!(
        back,
        "the deleted configuration is deployed again: {}",
        fleet.server.logs()
    );

    // A cluster that enters the scope later (imported) is deployed to at once, without a remediation.
    fleet.clusters = cluster_ids(&[("drift", 3)]);
    fleet.import();
    fleet.start_agents();
    fleet.wait_all_compliant(&subscription_scope(), 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn do_not_enforce_and_not_scopes_evaluate_without_deploying() {
    let clusters = cluster_ids(&[("audit", 2), ("skipped", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let extra = json!({"enforcementMode": "DoNotEnforce", "notScopes": [scope_of_group("skipped")],
                       "metadata": {"continuousRemediation": true}});
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "audit-only",
            &definition,
            parameters,
            extra,
        )
        .await;

    // Evaluated: the two clusters in scope are non-compliant; those of the notScopes have no state at all.
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 2).await;
    let states = fleet
        .query(
            &subscription_scope(),
            &format!("PolicyAssignmentId eq '{assignment}'"),
        )
        .await;
    assert_eq!(states.len(), 2);
    assert!(
        states
            .iter()
            .all(|s| !s["resourceId"].as_str().unwrap().contains("/skipped/")),
        "{states:?}"
    );

    // Not enforced: nothing was deployed, also not by the continuous flag.
    for cluster in &clusters {
        let listed = fleet
            .arm
            .get(&format!("{cluster}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2022-03-01"))
            .await;
        assert_eq!(listed.body["value"], json!([]), "{cluster}: {}", listed.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_v1_definitions_fail_cleanly_with_the_retirement_error() {
    let clusters = cluster_ids(&[("legacy", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let parameters = json!({"configurationResourceName": "legacy", "operatorInstanceName": "flux",
                            "operatorNamespace": "flux", "repositoryUrl": "https://github.com/org/legacy"});
    let definition = fleet
        .put_definition("Deploy-GitOps-to-Kubernetes-cluster-no-secrets_DINE.json")
        .await;
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "flux-v1",
            &definition,
            &parameters,
            json!({}),
        )
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 2).await;
    let name = "fix-flux-v1";
    let remediation = fleet
        .remediate(&subscription_scope(), name, &assignment, json!({}))
        .await;
    assert_eq!(
        remediation["properties"]["provisioningState"], "Failed",
        "{remediation}"
    );
    assert_eq!(
        remediation["properties"]["deploymentStatus"]["failedDeployments"], 2,
        "{remediation}"
    );

    let id = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/{name}",
        subscription_scope()
    );
    let deployments = fleet
        .arm
        .send(
            Method::POST,
            &format!("{id}/listDeployments?api-version={REMEDIATIONS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(deployments.status, 200, "{}", deployments.text);
    let listed = deployments.body["value"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", deployments.text);
    for deployment in listed {
        assert_eq!(deployment["status"], "Failed", "{deployment}");
        let message = deployment["error"]["message"].as_str().unwrap_or_default();
        assert!(message.to_lowercase().contains("retire"), "{deployment}");
    }
    // Nothing half-written.
    for cluster in &clusters {
        let listed = fleet
            .arm
            .get(&format!(
                "{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations?api-version=2022-03-01"
            ))
            .await;
        assert!(
            listed.body["value"].as_array().is_none_or(Vec::is_empty),
            "{}",
            listed.text
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_cluster_is_purged() {
    let clusters = cluster_ids(&[("forget", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[2];
    let definition = fleet.put_definition(file).await;
    let metadata = json!({"metadata": {"continuousRemediation": true}});
    fleet
        .assign(&subscription_scope(), "ssh", &definition, parameters, metadata)
        .await;
    fleet.wait_all_compliant(&subscription_scope(), 2).await;

    // Decommissioned: its agent is gone (a running agent would register its cluster again).
    fleet.stop_agents();
    let forgotten = fleet.server.cli(&[
        "clusters",
        "forget",
        "--cluster",
        &clusters[0],
        "--server",
        &fleet.server.url,
    ]);
    assert!(!forgotten.contains("not known"), "{forgotten}");
    let inventory = fleet
        .arm
        .get(&format!("/operator/v1/subscriptions/{SUBSCRIPTION}/clusters"))
        .await;
    let listed = inventory.body["value"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", inventory.text);
    let configuration = fleet
        .arm
        .get(&format!("{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/ssh-git?api-version=2022-03-01", clusters[0]))
        .await;
    assert_eq!(configuration.status, 404, "{}", configuration.text);
    let states = fleet
        .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
        .await;
    assert_eq!(states.len(), 1, "{states:?}");
    let again = fleet.server.cli(&[
        "clusters",
        "forget",
        "--cluster",
        &clusters[0],
        "--server",
        &fleet.server.url,
    ]);
    assert!(again.contains("not known"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_policy_objects_get_clear_arm_errors() {
    let fleet = Fleet::start(cluster_ids(&[("errors", 1)]), ServerOptions::default());
    let (file, _) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let assignment = format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/bad",
        subscription_scope()
    );
    let url = format!("{assignment}?api-version={AUTHORIZATION}");

    let missing: Response = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": definition, "parameters": {}}}),
        )
        .await;
    assert_arm_error(&missing, 400, "MissingPolicyParameter");
    let disallowed = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": definition, "parameters": assignment_parameters(
                &json!({"configurationName": "x", "repositoryUrl": "https://e.com/r", "effect": "Audit"}))}}),
        )
        .await;
    assert_arm_error(&disallowed, 400, "PolicyParameterValueNotAllowed");
    let unknown_definition = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/nope", subscription_scope())}}),
        )
        .await;
    assert_eq!(unknown_definition.status / 100, 4, "{}", unknown_definition.text);
    let stored = fleet.arm.get(&url).await;
    assert_eq!(stored.status, 404, "nothing stored half-way: {}", stored.text);

    let no_version = fleet.arm.get(&assignment).await;
    assert_arm_error(&no_version, 400, "MissingApiVersionParameter");
    let broken = fleet
        .arm
        .put(
            &format!("{}/providers/Microsoft.Authorization/policyDefinitions/broken?api-version={AUTHORIZATION}", subscription_scope()),
            &json!({"properties": {"mode": "All", "policyRule": {"if": {"field": "type", "equals": "[concat('a', ]"}, "then": {"effect": "audit"}}}}),
        )
        .await;
    assert_eq!(broken.status, 400, "{}", broken.text);
    assert!(
        broken.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position"),
        "{}",
        broken.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_threshold_stops_a_remediation_after_its_first_failing_group() {
    let clusters = cluster_ids(&[("rollout", 6)]);
    let fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    let parameters = json!({"configurationResourceName": "legacy", "operatorInstanceName": "flux",
                            "operatorNamespace": "flux", "repositoryUrl": "https://github.com/org/legacy"});
    let definition = fleet
        .put_definition("Deploy-GitOps-to-Kubernetes-cluster-no-secrets_DINE.json")
        .await;
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "rollout",
            &definition,
            &parameters,
            json!({}),
        )
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 6).await;
    let remediation = fleet
        .remediate(
            &subscription_scope(),
            "careful",
            &assignment,
            json!({"parallelDeployments": 1, "failureThreshold": {"percentage": 0.3}}),
        )
        .await;
    let properties = &remediation["properties"];
    assert_eq!(properties["provisioningState"], "Failed", "{remediation}");
    assert_eq!(
        properties["deploymentStatus"]["totalDeployments"], 1,
        "stopped after one: {remediation}"
    );
    assert!(
        properties["statusMessage"]
            .as_str()
            .unwrap()
            .contains("threshold"),
        "{remediation}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_failed_on_its_cluster_is_non_compliant() {
    let clusters = cluster_ids(&[("failing", 1)]);
    let fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let assignment = fleet
        .assign(&subscription_scope(), "fails", &definition, parameters, json!({}))
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 1).await;
    let id = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/try",
        subscription_scope()
    );
    let created = fleet
        .arm
        .put(
            &format!("{id}?api-version={REMEDIATIONS}"),
            &json!({"properties": {"policyAssignmentId": assignment}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // The cluster's agent, by hand: microsoft.flux installs, the configuration fails.
    let agent = fleet.arm.with_token(&fleet.server.agent_token(&clusters[0]));
    let base = format!("{}/dataplane/v1{}", fleet.server.url, clusters[0]);
    let deadline = Instant::now() + TIMEOUT;
    let desired = loop {
        let desired = agent.get(&format!("{base}/desiredState")).await.body;
        if desired["fluxConfigurations"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            break desired;
        }
        assert!(Instant::now() < deadline, "deployed: {desired}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let report = |collection: &'static str, name: &'static str, body: Value| {
        let agent = &agent;
        let url = format!("{base}/{collection}/{name}/status");
        async move { agent.send(Method::POST, &url, Some(&body), &[]).await }
    };
    let extension = desired["extensions"][0]["generation"].as_u64().unwrap();
    let installed = report(
        "extensions",
        "flux",
        json!({"generation": extension, "provisioningState": "Succeeded", "installedVersion": "1.23.0"}),
    )
    .await;
    assert_eq!(installed.status, 200, "{}", installed.text);
    let generation = desired["fluxConfigurations"][0]["generation"].as_u64().unwrap();
    let failed = report(
        "fluxConfigurations",
        "public-git",
        json!({"generation": generation, "provisioningState": "Failed", "message": "kustomize build failed"}),
    )
    .await;
    assert_eq!(failed.status, 200, "{}", failed.text);

    let ended = fleet.wait_remediation(&id).await;
    assert_eq!(ended["properties"]["provisioningState"], "Failed", "{ended}");
    assert_eq!(ended["deployments"][0]["status"], "Failed", "{ended}");
    let states = fleet.wait_states("ComplianceState eq 'NonCompliant'", 1).await;
    assert_eq!(
        states[0]["resourceId"].as_str().unwrap().to_lowercase(),
        clusters[0].to_lowercase()
    );
    assert!(
        fleet
            .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
            .await
            .is_empty()
    );
}
