//! Objects the agent renders validate against Flux's CRD schemas (../shared/reference/flux-crds/, beside the
//! project checkout), for every source kind.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde_json::{Value, json};

use clusterconfig_testkit::AKS;

use crate::Env;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `kind` → the v1 schema of its CRD.
fn crd_schemas() -> BTreeMap<String, Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/flux-crds");
    assert!(
        dir.is_dir(),
        "the Flux CRD schemas are expected in {} (beside the project checkout)",
        dir.display()
    );
    let mut schemas = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let crd: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_owned();
        let version = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "v1")
            .expect("a v1 version");
        assert_eq!(version["served"], true);
        schemas.insert(kind, version["schema"]["openAPIV3Schema"].clone());
    }
    schemas
}

#[tokio::test(flavor = "multi_thread")]
async fn rendered_flux_objects_validate_against_the_crds() {
    let schemas = crd_schemas();
    assert_eq!(
        schemas.keys().collect::<Vec<_>>(),
        ["Bucket", "GitRepository", "Kustomization", "OCIRepository"]
    );
    let env = Env::start(AKS);
    let agent = env.agent(&[]);
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let configurations = [
        (
            "git-https",
            json!({"properties": {"namespace": "team-a", "gitRepository": {"url": "https://dev.azure.com/org/project/_git/repo", "repositoryRef": {"semver": ">=1.0.0"}, "httpsUser": "git", "httpsCACert": b64(pem), "provider": "Generic"}, "configurationProtectedSettings": {"httpsKey": b64("pat")},
            "kustomizations": {"base": {"path": "./base", "retryIntervalInSeconds": 120, "force": true}, "overlay": {"path": "./overlay", "dependsOn": ["base"], "wait": false,
                "postBuild": {"substitute": {"REGION": "westeurope"}, "substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": true}, {"kind": "Secret", "name": "secret-vars"}]}}}}}),
        ),
        (
            "git-ssh",
            json!({"properties": {"scope": "namespace", "namespace": "team-b", "suspend": true, "gitRepository": {"url": "ssh://git@github.com/org/repo", "repositoryRef": {"commit": "0ba6f0d30760d567de0bac86c8c4eec13ce1a590"}}, "kustomizations": {"k": {}}}}),
        ),
        (
            "bucket",
            json!({"properties": {"sourceKind": "Bucket", "bucket": {"url": "http://minio.storage:9000", "bucketName": "flux-bucket", "accessKey": "AKIA"}, "configurationProtectedSettings": {"bucketSecretKey": b64("secret")}, "kustomizations": {"k": {"path": "./"}}}}),
        ),
        (
            "blob",
            json!({"properties": {"sourceKind": "AzureBlob", "azureBlob": {"url": "https://account.blob.core.windows.net", "containerName": "flux-config", "servicePrincipal": {"clientId": "c", "tenantId": "t", "clientSecret": "s"}}, "kustomizations": {"k": {"path": "./"}}}}),
        ),
        (
            "oci",
            json!({"properties": {"sourceKind": "OCIRepository", "ociRepository": {"url": "oci://ghcr.io/org/manifests", "repositoryRef": {"semver": "1.x"}, "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip", "operation": "extract"},
            "verify": {"provider": "cosign", "matchOidcIdentity": [{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:org/manifests"}], "verificationConfig": {"cosign.pub": b64("key")}},
            "tlsConfig": {"clientCertificate": b64(pem), "privateKey": b64("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")}, "useWorkloadIdentity": true}, "kustomizations": {"k": {"path": "./deploy", "prune": true}}}}),
        ),
    ];
    for (name, body) in &configurations {
        let done = env.put_and_wait(&env.flux(name), body).await;
        assert_eq!(done["status"], "Succeeded", "{name}: {done}");
    }
    let mut validated = BTreeMap::<String, usize>::new();
    for file in agent.rendered() {
        let object: Value =
            serde_norway::from_str(&std::fs::read_to_string(agent.render_dir.join(&file)).unwrap()).unwrap();
        let kind = object["kind"].as_str().unwrap().to_owned();
        let Some(schema) = schemas.get(&kind) else {
            continue;
        };
        assert!(
            object["apiVersion"].as_str().unwrap().ends_with("/v1"),
            "{file}: Flux v1 APIs"
        );
        let validator = jsonschema::validator_for(schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&object)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{file} does not validate against the {kind} CRD: {errors:#?}\n{object:#}"
        );
        *validated.entry(kind).or_default() += 1;
    }
    assert_eq!(validated.get("GitRepository"), Some(&2));
    assert_eq!(validated.get("Bucket"), Some(&2), "Bucket and AzureBlob");
    assert_eq!(validated.get("OCIRepository"), Some(&1));
    assert_eq!(validated.get("Kustomization"), Some(&6));
    let blob: Value = serde_norway::from_str(
        &std::fs::read_to_string(agent.render_dir.join("default--bucket--blob.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(blob["spec"]["provider"], "azure");
    let namespaced = std::fs::read_to_string(
        agent
            .render_dir
            .join("team-b--rolebinding--flux-applier-binding.yaml"),
    )
    .unwrap();
    assert!(namespaced.contains("flux-applier"));
}
