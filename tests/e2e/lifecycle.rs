//! Every verb of fluxConfigurations and extensions, on AKS and Arc clusters, with operations completed by a
//! real (simulating) agent.

use serde_json::json;

use clusterconfig_testkit::{AKS, ARC, ServerOptions};

use crate::{EXTENSION_VERSION, Env, FLUX_VERSION, LRO_TIMEOUT, git_config};

/// A catalog with microsoft.flux and a second type that has namespace scope and several release trains.
pub fn test_catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("catalog.toml");
    std::fs::write(
        &path,
        r#"
[[extension_type]]
name = "microsoft.flux"
scopes = ["cluster"]
default_release_namespace = "flux-system"
fixed_release_namespace = true
[[extension_type.release_train]]
name = "Stable"
versions = ["1.6.0", "1.7.0", "1.21.1", "1.22.2", "1.23.0"]
[[extension_type.release_train]]
name = "Legacy"
versions = ["1.6.0", "1.6.1"]

[[extension_type]]
name = "example.monitoring"
scopes = ["cluster", "namespace"]
[[extension_type.release_train]]
name = "Stable"
versions = ["2.0.0", "2.1.0", "2.2.0", "2.3.0", "2.3.1"]
"#,
    )
    .unwrap();
    path
}

async fn flux_lifecycle(kind: &str) {
    let env = Env::start(kind);
    let _agent = env.agent(&[]);
    let path = env.flux("gitops-demo");

    // Create: 201, Creating and Pending until the agent reports.
    let created = env.arm.put(&path, &git_config()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["properties"]["provisioningState"], "Creating");
    assert_eq!(created.body["properties"]["complianceState"], "Pending");
    assert_eq!(created.header("retry-after"), Some("1"));
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();
    assert!(
        operation.contains(&format!("api-version={FLUX_VERSION}")) && operation.starts_with(env.arm.base())
    );
    let done = env.arm.wait_operation(&operation, LRO_TIMEOUT).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert!(
        done["endTime"].is_string()
            && done["id"]
                .as_str()
                .unwrap()
                .ends_with(done["name"].as_str().unwrap())
    );

    // Read: the agent's report fills the read-only status.
    let read = env.arm.get(&path).await;
    assert_eq!(read.status, 200);
    let properties = &read.body["properties"];
    assert_eq!(properties["provisioningState"], "Succeeded");
    assert_eq!(properties["complianceState"], "Compliant");
    assert!(
        properties["sourceSyncedCommitId"]
            .as_str()
            .unwrap()
            .starts_with("main@sha1:")
    );
    assert_eq!(
        properties["statuses"].as_array().unwrap().len(),
        3,
        "the source and two kustomizations"
    );
    assert_eq!(
        properties["statuses"][0]["statusConditions"][0]["reason"],
        "Simulated"
    );
    assert_eq!(
        read.body["id"].as_str().unwrap(),
        format!(
            "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/gitops-demo",
            env.cluster
        )
    );
    assert!(read.header("etag").is_some());

    // The first configuration installed microsoft.flux.
    let extensions = env.arm.get(&env.list("extensions", EXTENSION_VERSION)).await;
    let flux = &extensions.body["value"][0];
    assert_eq!(flux["name"], "flux");
    assert_eq!(flux["properties"]["extensionType"], "microsoft.flux");
    assert_eq!(flux["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        flux["properties"]["currentVersion"], "1.23.0",
        "the newest Stable version"
    );
    assert_eq!(flux["properties"]["autoUpgradeMinorVersion"], true);

    // List.
    let listed = env.arm.get(&env.list("fluxConfigurations", FLUX_VERSION)).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert!(listed.body.get("nextLink").is_none());

    // Update with PATCH: 202, then Succeeded with the change.
    let patched = env
        .arm
        .patch(
            &path,
            &json!({"properties": {"suspend": true, "kustomizations": {"apps": null}}}),
        )
        .await;
    assert_eq!(patched.status, 202, "{}", patched.text);
    let done = env
        .arm
        .wait_operation(patched.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(done["status"], "Succeeded");
    let read = env.arm.get(&path).await;
    assert_eq!(read.body["properties"]["suspend"], true);
    assert_eq!(
        read.body["properties"]["kustomizations"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["infra"]
    );

    // Update with PUT: 200 with an operation.
    let mut body = git_config();
    body["properties"]["gitRepository"]["repositoryRef"] = json!({"tag": "v1.0.0"});
    let replaced = env.arm.put(&path, &body).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["properties"]["provisioningState"], "Updating");
    env.arm
        .wait_operation(replaced.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(
        env.arm.get(&path).await.body["properties"]["gitRepository"]["repositoryRef"]["tag"],
        "v1.0.0"
    );

    // Delete: 202 and Deleting, then gone once the agent removed the objects.
    let deleted = env.arm.delete(&path).await;
    assert_eq!(deleted.status, 202, "{}", deleted.text);
    let deleting = env.arm.get(&path).await;
    if deleting.status == 200 {
        assert_eq!(deleting.body["properties"]["provisioningState"], "Deleting");
    }
    let done = env
        .arm
        .wait_operation(deleted.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(done["status"], "Succeeded");
    assert_eq!(env.arm.get(&path).await.status, 404);
    assert_eq!(
        env.arm.delete(&path).await.status,
        204,
        "deleting what is gone is 204"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_configuration_lifecycle_on_aks() {
    flux_lifecycle(AKS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_configuration_lifecycle_on_arc() {
    flux_lifecycle(ARC).await;
}

async fn extension_lifecycle(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = test_catalog(dir.path());
    let env = Env::start_with(
        kind,
        ServerOptions::default().env("CLUSTERCONFIG_CATALOG_PATH", catalog.display().to_string()),
    );
    let _agent = env.agent(&[]);
    let path = env.extension("monitoring");
    let body = json!({"properties": {
        "extensionType": "example.monitoring",
        "autoUpgradeMinorVersion": false,
        "version": "2.2.0",
        "scope": {"namespace": {"targetNamespace": "monitoring"}},
        "configurationSettings": {"logLevel": "info"},
        "configurationProtectedSettings": {"apiKey": "not-returned"}
    }});
    let created = env.arm.put(&path, &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["properties"]["provisioningState"], "Creating");
    assert!(
        created.body["properties"]
            .get("configurationProtectedSettings")
            .is_none()
    );
    env.arm
        .wait_operation(created.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    let read = env.arm.get(&path).await;
    assert_eq!(read.body["properties"]["currentVersion"], "2.2.0");
    assert_eq!(read.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        read.body["properties"]["scope"]["namespace"]["targetNamespace"],
        "monitoring"
    );
    assert!(!read.text.contains("not-returned"));

    let patched = env
        .arm
        .patch(
            &path,
            &json!({"properties": {"version": "2.3.1", "configurationSettings": {"logLevel": "debug"}}}),
        )
        .await;
    assert_eq!(patched.status, 202, "{}", patched.text);
    env.arm
        .wait_operation(patched.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    let read = env.arm.get(&path).await;
    assert_eq!(read.body["properties"]["currentVersion"], "2.3.1");
    assert_eq!(
        read.body["properties"]["configurationSettings"]["logLevel"],
        "debug"
    );

    let listed = env.arm.get(&env.list("extensions", EXTENSION_VERSION)).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);

    let deleted = env.arm.delete(&path).await;
    assert_eq!(deleted.status, 202);
    let done = env
        .arm
        .wait_operation(deleted.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;
    assert_eq!(done["status"], "Succeeded");
    assert_eq!(env.arm.get(&path).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn extension_lifecycle_on_aks() {
    extension_lifecycle(AKS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn extension_lifecycle_on_arc() {
    extension_lifecycle(ARC).await;
}
