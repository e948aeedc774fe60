//! api-versions: every stable version is served; a missing or unknown one is refused naming the supported ones;
//! a property the requested version lacks is refused; responses carry only that version's properties.

use serde_json::json;

use clusterconfig_testkit::ARC;

use crate::{Env, assert_arm_error, git_config, resource};

#[tokio::test(flavor = "multi_thread")]
async fn api_versions_are_checked_and_responses_cut_to_them() {
    let env = Env::start(ARC);
    let _agent = env.agent(&[]);
    let base = format!(
        "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/versions",
        env.cluster
    );
    let missing = env.arm.put(&base, &git_config()).await;
    assert_arm_error(&missing, 400, "MissingApiVersionParameter");
    let unknown = env
        .arm
        .put(&format!("{base}?api-version=2021-03-01"), &git_config())
        .await;
    assert_arm_error(&unknown, 400, "InvalidApiVersionParameter");
    for version in [
        "2022-03-01",
        "2022-07-01",
        "2022-11-01",
        "2023-05-01",
        "2024-11-01",
        "2025-04-01",
    ] {
        assert!(
            unknown.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(version)
        );
    }
    let extension_only = env.arm.get(&format!("{base}?api-version=2025-03-01")).await;
    assert_arm_error(&extension_only, 400, "InvalidApiVersionParameter");

    // postBuild and wait came in 2023-05-01; OCI sources in 2024-11-01; the GitHub provider in 2025-04-01.
    let mut body = git_config();
    body["properties"]["kustomizations"]["apps"]["postBuild"] = json!({"substitute": {"ENV": "prod"}});
    let old = env
        .arm
        .put(
            &resource(&env.cluster, "fluxConfigurations", "versions", "2022-11-01"),
            &body,
        )
        .await;
    assert_arm_error(&old, 400, "PropertyNotSupportedInApiVersion");
    assert_eq!(old.error_target(), "properties.kustomizations.apps.postBuild");
    assert!(
        old.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2023-05-01")
    );
    let github = env
        .arm
        .put(
            &resource(&env.cluster, "fluxConfigurations", "versions", "2024-11-01"),
            &{
                let mut b = git_config();
                b["properties"]["gitRepository"]["provider"] = json!("GitHub");
                b
            },
        )
        .await;
    assert_arm_error(&github, 400, "PropertyNotSupportedInApiVersion");

    let created = env
        .put_and_wait(
            &resource(&env.cluster, "fluxConfigurations", "versions", "2023-05-01"),
            &body,
        )
        .await;
    assert_eq!(created["status"], "Succeeded");
    let new = env
        .arm
        .get(&resource(
            &env.cluster,
            "fluxConfigurations",
            "versions",
            "2025-04-01",
        ))
        .await;
    assert_eq!(
        new.body["properties"]["kustomizations"]["apps"]["postBuild"]["substitute"]["ENV"],
        "prod"
    );
    assert_eq!(new.body["properties"]["kustomizations"]["apps"]["wait"], true);
    let oldest = env
        .arm
        .get(&resource(
            &env.cluster,
            "fluxConfigurations",
            "versions",
            "2022-03-01",
        ))
        .await;
    assert_eq!(oldest.status, 200);
    let apps = &oldest.body["properties"]["kustomizations"]["apps"];
    assert!(
        apps.get("postBuild").is_none() && apps.get("wait").is_none(),
        "{}",
        oldest.text
    );
    assert_eq!(apps["dependsOn"], json!(["infra"]));

    // Extensions: currentVersion was installedVersion up to 2022-07-01; plan came in 2022-11-01.
    let old_extension = env
        .arm
        .get(&resource(&env.cluster, "extensions", "flux", "2022-07-01"))
        .await;
    assert_eq!(
        old_extension.body["properties"]["installedVersion"], "1.23.0",
        "{}",
        old_extension.text
    );
    assert!(old_extension.body["properties"].get("currentVersion").is_none());
    assert!(old_extension.body["properties"].get("autoUpgradeMode").is_none());
    let new_extension = env
        .arm
        .get(&resource(&env.cluster, "extensions", "flux", "2025-03-01"))
        .await;
    assert_eq!(new_extension.body["properties"]["currentVersion"], "1.23.0");
}
