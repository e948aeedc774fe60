//! Flux v1 (sourceControlConfigurations) is retired: no new ones; the ones that remain can be read, listed and
//! deleted, and microsoft.flux cannot be installed next to them.

use serde_json::json;

use clusterconfig_testkit::AKS;

use crate::{Env, assert_arm_error, git_config, resource};

#[tokio::test(flavor = "multi_thread")]
async fn flux_v1_is_refused_and_migrates_out() {
    let env = Env::start(AKS);
    let scc = |name: &str| resource(&env.cluster, "sourceControlConfigurations", name, "2024-11-01");
    let refused = env
        .arm
        .put(
            &scc("legacy"),
            &json!({"properties": {"repositoryUrl": "git@github.com:org/repo", "operatorType": "Flux"}}),
        )
        .await;
    assert_arm_error(&refused, 400, "FluxV1ConfigurationsRetired");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fluxConfigurations/legacy")
    );

    // Records carried over from before (imported for migration).
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        serde_json::to_string(&json!([
            {"name": "legacy-a", "properties": {"repositoryUrl": "git@github.com:org/a", "operatorNamespace": "flux-a", "operatorScope": "cluster", "configurationProtectedSettings": {"sshPrivateKey": "ZHJvcHBlZA=="}}},
            {"name": "legacy-b", "properties": {"repositoryUrl": "https://github.com/org/b"}}
        ]))
        .unwrap(),
    )
    .unwrap();
    env.server.cli(&[
        "import-flux-v1",
        "--cluster",
        &env.cluster,
        "--file",
        &file.path().display().to_string(),
    ]);

    let listed = env.arm.get(&format!("{}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations?api-version=2022-03-01", env.cluster)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 2);
    let read = env.arm.get(&scc("legacy-a")).await;
    assert_eq!(read.body["properties"]["repositoryUrl"], "git@github.com:org/a");
    assert!(
        !read.text.contains("ZHJvcHBlZA=="),
        "protected settings are not kept"
    );

    // No microsoft.flux while Flux v1 remains: not directly, not through a first Flux configuration.
    let direct = env
        .arm
        .put(
            &env.extension("flux"),
            &json!({"properties": {"extensionType": "microsoft.flux"}}),
        )
        .await;
    assert_arm_error(&direct, 409, "FluxV1ConfigurationsPresent");
    assert!(
        direct.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'legacy-a', 'legacy-b'")
    );
    assert_arm_error(
        &env.arm.put(&env.flux("v2"), &git_config()).await,
        409,
        "FluxV1ConfigurationsPresent",
    );

    for name in ["legacy-a", "legacy-b"] {
        assert_eq!(env.arm.delete(&scc(name)).await.status, 200);
    }
    assert_eq!(env.arm.get(&scc("legacy-a")).await.status, 404);
    assert_eq!(
        env.arm.put(&env.flux("v2"), &git_config()).await.status,
        201,
        "migrated"
    );
}
