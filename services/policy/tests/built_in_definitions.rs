//! Microsoft's built-in GitOps definitions, read unmodified from `shared/reference/azure-policy/`: each parses,
//! binds an assignment's parameters, evaluates on both cluster types, plans and renders its deployment, and a
//! resource as the service would answer for it after the deployment makes the cluster compliant.

use std::collections::HashMap;
use std::path::PathBuf;

use clusterconfig_policy::{
    DeploymentContext, Effect, KeyVaultReference, PlannedResource, PolicyDefinition, PolicyError, SecretValue,
};
use serde_json::{Map, Value, json};

const VAULT_ID: &str =
    "/subscriptions/sub-1/resourceGroups/vaults/providers/Microsoft.KeyVault/vaults/fleet-kv";
const CANARY: &str = "canary-8c1f2e-secret-material";

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/azure-policy")
}

fn published(file: &str) -> Value {
    let text =
        std::fs::read_to_string(reference_dir().join(file)).expect("the reference definitions are present");
    serde_json::from_str(&text).expect("a published definition is JSON")
}

fn definition(file: &str) -> PolicyDefinition {
    PolicyDefinition::from_published(&published(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The Flux v2 definitions, with the assignment parameters each requires.
fn flux_v2() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Deploy-GitOps-Flux2-Extension-to-Kubernetes-cluster_DINE.json",
            json!({}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json",
            json!({"configurationName": "fleet", "repositoryUrl": "https://github.com/Azure/gitops-flux2-kustomize-helm-mt"}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-SSH_DINE.json",
            json!({"configurationName": "fleet", "repositoryUrl": "ssh://git@github.com/org/fleet.git",
                   "keyVaultSecretName": "ssh-key", "keyVaultName": VAULT_ID}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-HTTPS-secrets_DINE.json",
            json!({"configurationName": "fleet", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryHttpsUser": "flux", "httpsKeyKeyVaultSecretName": "https-key", "keyVaultName": VAULT_ID}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-HTTPs-CA-Cert_DINE.json",
            json!({"configurationName": "fleet", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryHttpsCACert": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}),
        ),
        (
            "Deploy-GitOps-Flux2-to-Kubernetes-cluster-LocalAuthRef_DINE.json",
            json!({"configurationName": "fleet", "repositoryUrl": "https://git.example.com/org/fleet.git",
                   "repositoryLocalAuthRef": "git-credentials"}),
        ),
        (
            "GitOps-Flux2-to-Kubernetes-cluster-Bucket-K8sSecret_DINE.json",
            json!({"configurationName": "fleet", "bucketUrl": "https://s3.example.com", "bucketName": "manifests",
                   "bucketLocalAuthRef": "bucket-credentials"}),
        ),
        (
            "GitOps-Flux2-to-Kubernetes-cluster-Bucket-KVSecret_DINE.json",
            json!({"configurationName": "fleet", "bucketUrl": "https://s3.example.com", "bucketName": "manifests",
                   "bucketAccessKey": "AKIAEXAMPLE", "keyVaultSecretName": "bucket-key", "keyVaultName": VAULT_ID}),
        ),
    ]
}

fn assignment_parameters(values: &Value) -> Map<String, Value> {
    values
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| (name.clone(), json!({ "value": value })))
        .collect()
}

fn cluster(resource_type: &str) -> Value {
    let name = "edge-1";
    let id = format!("/subscriptions/sub-1/resourceGroups/fleet/providers/{resource_type}/{name}");
    json!({"id": id, "name": name, "type": resource_type, "location": "westeurope", "tags": {"env": "prod"}})
}

const CLUSTER_TYPES: [&str; 2] = [
    "Microsoft.Kubernetes/connectedClusters",
    "Microsoft.ContainerService/managedClusters",
];

/// Renders `file`'s deployment for `target` with the canary as every Key Vault secret.
fn render(definition: &PolicyDefinition, params: &Value, target: &Value) -> (Vec<PlannedResource>, usize) {
    let bound = definition.bind(&assignment_parameters(params)).unwrap();
    let prepared = definition
        .deployment()
        .unwrap()
        .plan(&bound, target, &DeploymentContext::new("sub-1", "fleet"))
        .unwrap();
    let references: Vec<KeyVaultReference> = prepared.key_vault_references().into_iter().cloned().collect();
    let secrets: HashMap<KeyVaultReference, SecretValue> = references
        .iter()
        .map(|r| (r.clone(), SecretValue::new(CANARY)))
        .collect();
    (prepared.render(&secrets).unwrap(), references.len())
}

/// What the service answers for a deployed resource: the body's properties, less the write-only protected
/// settings, with a provisioning state.
fn as_served(resource: &PlannedResource, provisioning_state: &str) -> Value {
    let mut properties = resource.body["properties"].clone();
    properties
        .as_object_mut()
        .unwrap()
        .remove("configurationProtectedSettings");
    properties["provisioningState"] = json!(provisioning_state);
    json!({"id": resource.id, "name": resource.name, "type": resource.resource_type, "properties": properties})
}

#[test]
fn every_published_definition_reads() {
    let mut files: Vec<String> = std::fs::read_dir(reference_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 11);
    for file in &files {
        let read = definition(file);
        assert_eq!(read.policy_type.as_deref(), Some("BuiltIn"), "{file}");
        assert_eq!(read.category(), Some("Kubernetes"), "{file}");
        assert!(read.deployment().is_some(), "{file}");
    }
}

#[test]
fn flux_v2_definitions_deploy_what_makes_the_cluster_compliant() {
    for (file, params) in flux_v2() {
        let definition = definition(file);
        let bound = definition.bind(&assignment_parameters(&params)).unwrap();
        assert_eq!(
            definition.rule.effect(&bound).unwrap(),
            Effect::DeployIfNotExists,
            "{file}"
        );
        let details = definition.details().unwrap();
        for cluster_type in CLUSTER_TYPES {
            let target = cluster(cluster_type);
            assert!(
                definition.rule.applies(&bound, &target).unwrap(),
                "{file} on {cluster_type}"
            );
            assert!(
                !details.is_compliant(&bound, &target, []).unwrap(),
                "{file}: nothing deployed yet"
            );

            let (resources, secrets) = render(&definition, &params, &target);
            assert_eq!(
                resources.len(),
                1,
                "{file} on {cluster_type}: one resource per cluster type"
            );
            let resource = &resources[0];
            assert_eq!(resource.api_version, "2022-03-01", "{file}");
            assert!(
                resource.id.starts_with(target["id"].as_str().unwrap()),
                "{file}: {}",
                resource.id
            );
            assert!(
                resource
                    .resource_type
                    .eq_ignore_ascii_case(&details.resource_type),
                "{file}"
            );
            let body = resource.body.to_string();
            assert_eq!(
                secrets > 0,
                body.contains(CANARY),
                "{file}: a Key Vault secret reaches the body"
            );
            if secrets > 0 {
                let protected = resource.body["properties"]["configurationProtectedSettings"].to_string();
                assert!(
                    protected.contains(CANARY),
                    "{file}: the secret is a protected setting"
                );
                assert!(
                    !format!("{resource:?}").contains(CANARY),
                    "{file}: Debug hides the secret"
                );
            }

            let succeeded = as_served(resource, "Succeeded");
            assert!(
                details.is_compliant(&bound, &target, [&succeeded]).unwrap(),
                "{file}: compliant once deployed"
            );
            let failed = as_served(resource, "Failed");
            assert!(
                !details.is_compliant(&bound, &target, [&failed]).unwrap(),
                "{file}: Failed is non-compliant"
            );
        }
    }
}

#[test]
fn the_flux_extension_is_deployed_with_an_identity_on_arc_and_booleans_as_settings() {
    let definition = definition("Deploy-GitOps-Flux2-Extension-to-Kubernetes-cluster_DINE.json");
    let (arc, _) = render(&definition, &json!({}), &cluster(CLUSTER_TYPES[0]));
    assert_eq!(arc[0].body["identity"], json!({"type": "SystemAssigned"}));
    assert_eq!(
        arc[0].body["properties"]["extensionType"],
        json!("microsoft.flux")
    );
    let settings = arc[0].body["properties"]["configurationSettings"]
        .as_object()
        .unwrap();
    assert!(
        settings.values().any(Value::is_boolean),
        "booleans stay booleans: {settings:?}"
    );
    let (aks, _) = render(&definition, &json!({}), &cluster(CLUSTER_TYPES[1]));
    assert!(
        aks[0]
            .id
            .contains("/managedClusters/edge-1/providers/Microsoft.KubernetesConfiguration/extensions/")
    );
}

#[test]
fn flux_configurations_keep_explicit_nulls() {
    let definition = definition("Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json");
    let (params, target) = (&flux_v2()[1].1, cluster(CLUSTER_TYPES[0]));
    let (resources, _) = render(&definition, params, &target);
    let reference = &resources[0].body["properties"]["gitRepository"]["repositoryRef"];
    let nulls = reference
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v.is_null())
        .count();
    assert!(nulls > 0, "repositoryRef keeps its explicit nulls: {reference}");
}

#[test]
fn flux_v1_definitions_plan_source_control_configurations() {
    for file in [
        "Deploy-GitOps-to-Kubernetes-cluster-no-secrets_DINE.json",
        "Deploy-GitOps-to-Kubernetes-cluster-SSH-secrets_DINE.json",
        "Deploy-GitOps-to-Kubernetes-cluster-HTTPS-secrets_DINE.json",
    ] {
        let definition = definition(file);
        let params = json!({"configurationResourceName": "legacy", "operatorInstanceName": "flux",
                            "operatorNamespace": "flux", "repositoryUrl": "https://github.com/org/legacy"});
        let target = cluster(CLUSTER_TYPES[0]);
        let bound = definition.bind(&assignment_parameters(&params)).unwrap();
        assert!(definition.rule.applies(&bound, &target).unwrap(), "{file}");
        let prepared = definition
            .deployment()
            .unwrap()
            .plan(&bound, &target, &DeploymentContext::new("sub-1", "fleet"))
            .unwrap();
        let secrets = prepared
            .key_vault_references()
            .into_iter()
            .map(|r| (r.clone(), SecretValue::new(CANARY)))
            .collect();
        let resources = prepared.render(&secrets).unwrap();
        assert!(
            resources
                .iter()
                .all(|r| r.resource_type.ends_with("sourceControlConfigurations")),
            "{file}: {resources:?}"
        );
    }
}

#[test]
fn assignments_are_checked_when_bound() {
    let definition = definition("Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json");
    let missing = definition
        .bind(&assignment_parameters(&json!({"configurationName": "fleet"})))
        .unwrap_err();
    assert!(missing.to_string().contains("repositoryUrl"), "{missing}");
    let mut given = assignment_parameters(&flux_v2()[1].1);
    given.insert("effect".into(), json!({"value": "Explode"}));
    let disallowed = definition.bind(&given).unwrap_err();
    assert!(
        !disallowed.to_string().contains("Explode"),
        "errors do not echo values: {disallowed}"
    );
    let mut given = assignment_parameters(&flux_v2()[1].1);
    given.insert("noSuchParameter".into(), json!({"value": 1}));
    let unknown: PolicyError = definition.bind(&given).unwrap_err();
    assert_eq!(unknown.code(), "UndefinedPolicyParameter", "{unknown}");
}
