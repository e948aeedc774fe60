//! Extensions that upgrade themselves: the catalog file gains versions while the service runs, the
//! `extension_auto_upgrade` task reloads it and moves each auto-upgrading extension as far as its
//! `autoUpgradeMode` allows; the agent gets a new generation, reports what it installed, and `currentVersion`
//! shows it. A pinned version that falls out of N-2 stays, with a warning in `statuses`.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use clusterconfig_server::app::AUTO_UPGRADE_SUBJECT;
use clusterconfig_server::tasks::{BackgroundTask, ExtensionAutoUpgrade};
use support::{HOUR, Service};

const EXTENSIONS: &str = "2025-03-01";

fn catalog(versions: &[&str]) -> String {
    let versions = versions
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[extension_type]]
name = "microsoft.flux"
scopes = ["cluster"]
default_release_namespace = "flux-system"
fixed_release_namespace = true
[[extension_type.release_train]]
name = "Stable"
versions = ["1.23.0"]

[[extension_type]]
name = "example.app"
scopes = ["cluster"]
[[extension_type.release_train]]
name = "Stable"
versions = [{versions}]
"#
    )
}

fn extension_url(service: &Service, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.KubernetesConfiguration/extensions/{name}?api-version={EXTENSIONS}",
        service.cluster
    )
}

async fn start(catalog_file: &Path) -> Service {
    let path = catalog_file.to_owned();
    Service::start_with(move |config| config.catalog_path = Some(path), None).await
}

async fn get(service: &Service, name: &str) -> Value {
    let response = service.arm.get(&extension_url(service, name)).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body
}

/// The agent reports every extension of its desired state installed at the version it was given.
async fn agent_installs_all(service: &Service) {
    let desired = service.desired().await;
    for extension in desired["extensions"].as_array().unwrap() {
        let response = service
            .report(
                "extensions",
                extension["name"].as_str().unwrap(),
                json!({"generation": extension["generation"], "provisioningState": "Succeeded",
                       "installedVersion": extension["version"]}),
            )
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
    }
}

fn desired_version(desired: &Value, name: &str) -> (String, u64) {
    let extension = desired["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {desired}"));
    (
        extension["version"].as_str().unwrap().to_owned(),
        extension["generation"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_that_gains_versions_upgrades_each_extension_as_far_as_its_mode_allows() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("extension-types.toml");
    std::fs::write(&file, catalog(&["1.0.0", "1.1.0"])).unwrap();
    let service = start(&file).await;
    let upgrades = ExtensionAutoUpgrade::new(service.running.state.app.clone());

    for (name, properties) in [
        ("compatible", json!({"autoUpgradeMode": "compatible"})),
        ("patch", json!({"autoUpgradeMode": "patch"})),
        (
            "pinned",
            json!({"autoUpgradeMinorVersion": false, "version": "1.0.0"}),
        ),
    ] {
        let mut body = json!({"properties": {"extensionType": "example.app"}});
        body["properties"]
            .as_object_mut()
            .unwrap()
            .extend(properties.as_object().unwrap().clone());
        let response = service.arm.put(&extension_url(&service, name), &body).await;
        assert_eq!(response.status, 201, "{name}: {}", response.text);
    }
    agent_installs_all(&service).await;
    assert_eq!(
        get(&service, "compatible").await["properties"]["currentVersion"],
        "1.1.0"
    );
    assert_eq!(
        get(&service, "pinned").await["properties"]["currentVersion"],
        "1.0.0"
    );

    // The first run after start sweeps the fleet once (the catalog may have changed while it was down):
    // nothing is due.
    let first = upgrades.activate().await.unwrap();
    assert_eq!(
        (first["upgraded"].as_u64(), first["sweepRunning"].as_bool()),
        (Some(0), Some(false)),
        "{first}"
    );

    // A user's write of "patch" is still running when the catalog changes: its upgrade waits for it.
    let response = service
        .arm
        .patch(
            &extension_url(&service, "patch"),
            &json!({"properties": {"configurationSettings": {"replicas": "2"}}}),
        )
        .await;
    assert!(matches!(response.status, 200 | 202), "{}", response.text);

    // 1.0 leaves the supported minor lines (2.0, 1.2, 1.1).
    std::fs::write(&file, catalog(&["1.0.0", "1.1.0", "1.1.1", "1.2.0", "2.0.0"])).unwrap();
    service.advance(HOUR);
    let upgrade_time = clusterconfig_server::clock::Clock::now(service.clock.as_ref());
    let run = upgrades.activate().await.unwrap();
    assert_eq!(run["catalogReloaded"], true, "{run}");
    assert_eq!(
        (run["upgraded"].as_u64(), run["deferred"].as_u64()),
        (Some(1), Some(1)),
        "{run}"
    );

    let desired = service.desired().await;
    assert_eq!(
        desired_version(&desired, "compatible"),
        ("1.2.0".into(), 2),
        "compatible: the newest of the same major version, not 2.0.0"
    );
    assert_eq!(
        desired_version(&desired, "pinned"),
        ("1.0.0".into(), 1),
        "a pin stays"
    );
    let compatible = get(&service, "compatible").await;
    assert_eq!(compatible["properties"]["provisioningState"], "Updating");
    assert_eq!(
        compatible["properties"]["currentVersion"], "1.1.0",
        "until the agent reports"
    );
    assert_eq!(compatible["systemData"]["lastModifiedBy"], AUTO_UPGRADE_SUBJECT);
    assert_eq!(compatible["systemData"]["lastModifiedByType"], "Application");
    assert_eq!(
        compatible["systemData"]["lastModifiedAt"]
            .as_str()
            .map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        Some(upgrade_time)
    );

    // The agent finishes the user's write; the next run makes the upgrade that waited.
    agent_installs_all(&service).await;
    let retry = upgrades.activate().await.unwrap();
    assert_eq!(
        (retry["upgraded"].as_u64(), retry["deferred"].as_u64()),
        (Some(2), Some(0)),
        "{retry}"
    );
    let desired = service.desired().await;
    let (patch_version, _) = desired_version(&desired, "patch");
    assert_eq!(patch_version, "1.1.1", "patch: the same minor line only");
    agent_installs_all(&service).await;
    for (name, version) in [("compatible", "1.2.0"), ("patch", "1.1.1")] {
        let body = get(&service, name).await;
        assert_eq!(body["properties"]["currentVersion"], version, "{body}");
        assert_eq!(body["properties"]["provisioningState"], "Succeeded", "{body}");
        assert_eq!(body["properties"]["version"], Value::Null, "nothing was pinned");
    }
    assert_eq!(
        get(&service, "patch").await["properties"]["configurationSettings"]["replicas"],
        "2",
        "the upgrade kept the user's change"
    );

    // The pinned 1.0.0 is out of support: it keeps running, says so, and can still be written.
    let pinned = get(&service, "pinned").await;
    let warning = &pinned["properties"]["statuses"][0];
    assert_eq!(warning["code"], "VersionOutOfSupport", "{pinned}");
    assert_eq!(warning["level"], "Warning");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("2.0.0, 1.2.0, 1.1.1, 1.1.0"),
        "{warning}"
    );
    assert_eq!(pinned["properties"]["provisioningState"], "Succeeded");
    let response = service
        .arm
        .patch(
            &extension_url(&service, "pinned"),
            &json!({"properties": {"configurationSettings": {"replicas": "3"}}}),
        )
        .await;
    assert!(matches!(response.status, 200 | 202), "{}", response.text);
    let response = service
        .arm
        .put(
            &extension_url(&service, "other"),
            &json!({"properties": {"extensionType": "example.app", "autoUpgradeMinorVersion": false, "version": "1.0.0"}}),
        )
        .await;
    assert_eq!(
        (response.status, response.body["error"]["code"].as_str()),
        (400, Some("ExtensionVersionNotSupported")),
        "a new pin of it is refused"
    );

    // Nothing changed since: the task checks the file and does nothing more.
    let idle = upgrades.activate().await.unwrap();
    assert_eq!(
        (idle["catalogReloaded"].as_bool(), idle["upgraded"].as_u64()),
        (Some(false), Some(2)),
        "{idle}"
    );
    assert_eq!(service.desired().await["extensions"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_catalog_file_leaves_the_catalog_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("extension-types.toml");
    std::fs::write(&file, catalog(&["1.0.0"])).unwrap();
    let service = start(&file).await;
    let app = service.running.state.app.clone();
    let upgrades = ExtensionAutoUpgrade::new(app.clone());

    std::fs::write(&file, "[[extension_type]]\nname = \"broken\"\n").unwrap();
    let err = upgrades.activate().await.unwrap_err().to_string();
    assert!(err.contains("catalog in force is kept"), "{err}");
    assert_eq!(app.catalog().generation(), 0);
    let response = service
        .arm
        .put(
            &extension_url(&service, "app"),
            &json!({"properties": {"extensionType": "example.app"}}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    agent_installs_all(&service).await;

    // SIGHUP's path: a reload asked for wakes the service's own task, which reloads and upgrades.
    std::fs::write(&file, catalog(&["1.0.0", "1.0.1"])).unwrap();
    app.catalog().request_reload();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while desired_version(&service.desired().await, "app").0 != "1.0.1" {
        assert!(
            std::time::Instant::now() < deadline,
            "the woken task upgraded the extension: {:?}",
            service
                .running
                .state
                .tasks
                .statuses()
                .iter()
                .find(|t| t.name == upgrades.name())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.catalog().generation(), 1);
    let board = service.running.state.tasks.statuses();
    let task = board.iter().find(|t| t.name == upgrades.name()).unwrap();
    assert_eq!(task.last_outcome.as_ref().unwrap()["upgraded"], 1, "{task:?}");
}
