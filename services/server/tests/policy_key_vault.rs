//! Policy deployments whose `securestring` parameters are Key Vault references resolve them through the real
//! `azure_security_keyvault_secrets` SecretClient (on the simulator's transport): the secret reaches the cluster's
//! agent as a protected setting, and no ARM response, log-visible error or store file holds it in clear.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_crypto::keyvault::simulator::KeyVaultSimulator;
use clusterconfig_crypto::vault_secrets::KeyVaultSecrets;
use clusterconfig_server::server::Overrides;
use support::Service;

const CANARY: &str = "kv-sdk-canary-4b1e9f07";
const VAULT: &str = "fleet-kv";

fn published(file: &str) -> Value {
    let path = format!(
        "{}/../../../shared/reference/azure-policy/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ssh_key() -> String {
    let pem = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n");
    base64::engine::general_purpose::STANDARD.encode(pem)
}

struct Fixture {
    service: Service,
    vault: KeyVaultSimulator,
    subscription: String,
}

impl Fixture {
    async fn start() -> Self {
        let vault = KeyVaultSimulator::new();
        vault.set_secret(VAULT, "ssh-key", &ssh_key());
        let secrets = KeyVaultSecrets::new(
            KeyVaultSimulator::credential(),
            "vault.azure.net",
            Some(vault.secret_client_options()),
        );
        let service = Service::start_with_overrides(
            |_| {},
            Overrides {
                deployment_secrets: Some(Arc::new(secrets)),
                ..Default::default()
            },
        )
        .await;
        let subscription = service.cluster.split('/').nth(2).unwrap().to_owned();
        let name = service.cluster.rsplit('/').next().unwrap().to_owned();
        let imported = service
            .running
            .state
            .app
            .import_clusters(&json!([{"id": service.cluster, "name": name,
                "type": "microsoft.kubernetes/connectedclusters", "location": "westeurope"}]))
            .await
            .unwrap();
        assert_eq!(imported.added, 1);
        Fixture {
            service,
            vault,
            subscription,
        }
    }

    fn vault_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/vaults/providers/Microsoft.KeyVault/vaults/{VAULT}",
            self.subscription
        )
    }

    async fn assign(&self, file: &str, name: &str, parameters: Value, metadata: Value) -> String {
        let document = published(file);
        let definition = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/policyDefinitions/{}",
            self.subscription,
            document["name"].as_str().unwrap()
        );
        let arm = &self.service.arm;
        let url = format!("{}{definition}?api-version=2023-04-01", self.service.url);
        let created = arm
            .put(&url, &json!({"properties": document["properties"]}))
            .await;
        assert!(matches!(created.status, 200 | 201), "{}", created.text);
        let parameters: serde_json::Map<String, Value> = parameters
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json!({"value": v})))
            .collect();
        let assignment = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/policyAssignments/{name}",
            self.subscription
        );
        let body = json!({"identity": {"type": "SystemAssigned"}, "properties": {
            "policyDefinitionId": definition, "parameters": parameters, "metadata": metadata}});
        let created = arm
            .put(
                &format!("{}{assignment}?api-version=2023-04-01", self.service.url),
                &body,
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assignment
    }

    async fn wait_for(&self, what: &str, mut ready: impl AsyncFnMut() -> Option<Value>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(value) = ready().await {
                return value;
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn key_vault_references_reach_the_agent_as_protected_settings_only() {
    let fixture = Fixture::start().await;
    let parameters = json!({"configurationName": "ssh-git", "repositoryUrl": "ssh://git@github.com/org/fleet.git",
        "repositoryRefBranch": "main", "keyVaultSecretName": "ssh-key", "keyVaultName": fixture.vault_id()});
    fixture
        .assign(
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-SSH_DINE.json",
            "ssh",
            parameters,
            json!({"continuousRemediation": true}),
        )
        .await;

    // Continuous remediation deploys on the assignment's own scan.
    let service = &fixture.service;
    let url = format!("{}{}", service.url, service.flux("ssh-git"));
    let configuration = fixture
        .wait_for("the configuration is deployed", async || {
            let response = service.arm.get(&url).await;
            (response.status == 200).then_some(response.body)
        })
        .await;
    assert_eq!(
        configuration["systemData"]["createdByType"], "ManagedIdentity",
        "{configuration}"
    );
    assert!(
        fixture
            .vault
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /secrets/ssh-key")),
        "the SecretClient read the secret: {:?}",
        fixture.vault.requests()
    );

    // The agent gets the key; ARM never shows it; the store holds it only encrypted.
    let desired = service.desired().await.to_string();
    assert!(
        desired.contains(&ssh_key()),
        "the agent gets the secret as a protected setting"
    );
    let listed = service
        .arm
        .get(&format!(
            "{}{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2022-03-01",
            service.url, service.cluster
        ))
        .await;
    for canary in [CANARY.to_owned(), ssh_key()] {
        assert!(!configuration.to_string().contains(&canary));
        assert!(!listed.text.contains(&canary));
        for entry in walk(&service.config.data_dir) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{} holds a secret",
                entry.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_fails_the_deployment_without_writing_anything() {
    let fixture = Fixture::start().await;
    let parameters = json!({"configurationName": "https-git", "repositoryUrl": "https://git.example.com/org/fleet.git",
        "repositoryRefBranch": "main", "repositoryHttpsUser": "flux", "httpsKeyKeyVaultSecretName": "absent",
        "keyVaultName": fixture.vault_id()});
    let assignment = fixture
        .assign(
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-HTTPS-secrets_DINE.json",
            "https",
            parameters,
            json!({}),
        )
        .await;
    let service = &fixture.service;
    let scope = format!("/subscriptions/{}", fixture.subscription);
    let query = format!(
        "{}{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version=2019-10-01",
        service.url
    );
    fixture
        .wait_for("the assignment's scan ran", async || {
            let states = service.arm.send(Method::POST, &query, None, &[]).await;
            (states.body["value"].as_array().is_some_and(|v| v.len() == 1)).then_some(states.body)
        })
        .await;
    let remediation = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/fix-https");
    let url = format!("{}{remediation}?api-version=2021-10-01", service.url);
    let created = service
        .arm
        .put(&url, &json!({"properties": {"policyAssignmentId": assignment}}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let ended = fixture
        .wait_for("the remediation ends", async || {
            let response = service.arm.get(&url).await;
            (response.body["properties"]["provisioningState"] == "Failed").then_some(response.body)
        })
        .await;
    assert_eq!(
        ended["properties"]["deploymentStatus"]["failedDeployments"], 1,
        "{ended}"
    );
    let deployments = service
        .arm
        .send(
            Method::POST,
            &format!(
                "{}{remediation}/listDeployments?api-version=2021-10-01",
                service.url
            ),
            None,
            &[],
        )
        .await;
    let error = &deployments.body["value"][0]["error"];
    assert_eq!(
        error["code"], "KeyVaultParameterReferenceSecretRetrieveFailed",
        "{}",
        deployments.text
    );
    let configuration = service
        .arm
        .get(&format!("{}{}", service.url, service.flux("https-git")))
        .await;
    assert_eq!(
        configuration.status, 404,
        "nothing written: {}",
        configuration.text
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
