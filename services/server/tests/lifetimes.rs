//! The 48-hour promises, with the clock moved by hand: protected settings live less than 48 hours (deleted when
//! acknowledged, or when they expire: by the sweep, and never served after expiry even without it), and a
//! change no agent acknowledges within the pending timeout fails and must be re-applied.

mod support;

use serde_json::json;

use support::{HOUR, Service, with_token};

const RETENTION: i64 = 47 * HOUR;
const TIMEOUT: i64 = 48 * HOUR;

#[tokio::test(flavor = "multi_thread")]
async fn protected_settings_expire_at_47_hours_and_reads_check_expiry_themselves() {
    let service = Service::start().await;
    assert_eq!(
        service
            .arm
            .put(&service.flux("expiring"), &with_token("token-1"))
            .await
            .status,
        201
    );
    let values = |desired: &serde_json::Value| {
        desired["fluxConfigurations"][0]["protectedSettings"]
            .get("values")
            .cloned()
    };
    assert!(values(&service.desired().await).is_some());

    service.advance(RETENTION - 1);
    assert!(
        values(&service.desired().await).is_some(),
        "a second before expiry the cluster can still take them"
    );

    service.advance(2);
    let desired = service.desired().await;
    assert!(
        values(&desired).is_none(),
        "a second after expiry they are not served, though no sweep ran"
    );
    assert_eq!(
        desired["fluxConfigurations"][0]["protectedSettings"]["keys"],
        json!(["httpsKey"])
    );
    assert_eq!(
        service.stored_secrets().await.len(),
        1,
        "the record is still there: only the read checked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_deletes_expired_values() {
    let service = Service::start().await;
    service
        .arm
        .put(&service.flux("swept"), &with_token("token-1"))
        .await;
    // A second configuration written an hour later: its values live an hour longer.
    service.advance(HOUR);
    service
        .arm
        .put(&service.flux("kept"), &with_token("token-2"))
        .await;
    assert_eq!(service.stored_secrets().await.len(), 2);

    service.advance(RETENTION - HOUR - 1);
    assert_eq!(
        service.running.state.app.expire_secrets().await.unwrap(),
        0,
        "nothing is due a second early"
    );
    assert_eq!(service.stored_secrets().await.len(), 2);

    service.advance(1);
    assert_eq!(service.running.state.app.expire_secrets().await.unwrap(), 1);
    let left = service.stored_secrets().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledging_a_generation_deletes_its_secrets() {
    let service = Service::start().await;
    service
        .arm
        .put(&service.flux("acked"), &with_token("token-1"))
        .await;
    service.install_flux().await;
    assert_eq!(service.stored_secrets().await.len(), 1);
    let report = service
        .report(
            "fluxConfigurations",
            "acked",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    assert_eq!(report.body["operationCompleted"], true);
    assert!(
        service.stored_secrets().await.is_empty(),
        "the cluster holds them now"
    );
    let group = &service.desired().await["fluxConfigurations"][0]["protectedSettings"];
    assert_eq!(group["generation"], 1);
    assert!(group.get("values").is_none());

    // The same PUT again, protected settings included, is free: they were delivered.
    let again = service
        .arm
        .put(&service.flux("acked"), &with_token("token-1"))
        .await;
    assert_eq!(again.status, 200);
    assert!(again.header("azure-asyncoperation").is_none());
    // New values are a change.
    let changed = service
        .arm
        .put(&service.flux("acked"), &with_token("token-2"))
        .await;
    assert!(changed.header("azure-asyncoperation").is_some());
    assert_eq!(
        service.desired().await["fluxConfigurations"][0]["protectedSettings"]["generation"],
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_without_protected_settings_keeps_them_for_the_cluster() {
    let service = Service::start().await;
    service
        .arm
        .put(&service.flux("patched"), &with_token("token-1"))
        .await;
    service.install_flux().await;
    service
        .report(
            "fluxConfigurations",
            "patched",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    assert!(service.stored_secrets().await.is_empty(), "delivered");

    let patched = service
        .arm
        .patch(
            &service.flux("patched"),
            &json!({"properties": {"suspend": true}}),
        )
        .await;
    assert_eq!(patched.status, 202, "{}", patched.text);
    let configuration = &service.desired().await["fluxConfigurations"][0];
    assert_eq!(configuration["generation"], 2);
    let group = &configuration["protectedSettings"];
    assert_eq!(
        group["generation"], 1,
        "the group did not change in generation 2: the agent keeps its Secret"
    );
    assert_eq!(group["keys"], json!(["httpsKey"]));
    assert!(group.get("values").is_none());
    assert!(
        service.stored_secrets().await.is_empty(),
        "nothing was stored again"
    );
}

async fn operation_status(service: &Service, url: &str) -> serde_json::Value {
    service.arm.get(url).await.body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_no_agent_picks_up_within_48_hours_fails() {
    let service = Service::start().await;
    let created = service
        .arm
        .put(&service.flux("offline"), &with_token("token-1"))
        .await;
    let operation = created.header("azure-asyncoperation").unwrap().to_owned();

    service.advance(TIMEOUT - 1);
    service.running.state.app.expire_secrets().await.unwrap();
    assert_eq!(
        service.running.state.app.time_out_pending().await.unwrap(),
        0,
        "not yet"
    );
    assert_eq!(operation_status(&service, &operation).await["status"], "Creating");

    service.advance(2);
    assert_eq!(
        service.running.state.app.time_out_pending().await.unwrap(),
        2,
        "the configuration and microsoft.flux"
    );
    let status = operation_status(&service, &operation).await;
    assert_eq!(status["status"], "Failed");
    let detail = status["error"]["details"][0]["message"].as_str().unwrap();
    assert!(
        detail.contains("did not connect in time") && detail.contains("Re-apply"),
        "{detail}"
    );
    assert_eq!(status["error"]["details"][0]["code"], "PendingChangeTimedOut");
    let resource = service.arm.get(&service.flux("offline")).await;
    assert_eq!(resource.body["properties"]["provisioningState"], "Failed");
    assert!(
        resource.body["properties"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("did not connect in time")
    );
    assert!(service.stored_secrets().await.is_empty(), "its secrets are gone");

    // The cluster, reconnecting, gets the current desired state without them; re-applying sends them again.
    let desired = service.desired().await;
    assert_eq!(desired["fluxConfigurations"][0]["name"], "offline");
    assert!(
        desired["fluxConfigurations"][0]["protectedSettings"]
            .get("values")
            .is_none()
    );
    let again = service
        .arm
        .put(&service.flux("offline"), &with_token("token-1"))
        .await;
    assert_eq!(again.status, 200);
    assert!(
        again.header("azure-asyncoperation").is_some(),
        "a Failed configuration is re-applied, not ignored"
    );
    assert!(
        service.desired().await["fluxConfigurations"][0]["protectedSettings"]["values"]["httpsKey"]
            .is_string()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_no_agent_picks_up_within_48_hours_fails() {
    let service = Service::start().await;
    service
        .arm
        .put(&service.flux("update"), &with_token("token-1"))
        .await;
    service.install_flux().await;
    service
        .report(
            "fluxConfigurations",
            "update",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    let updated = service
        .arm
        .put(&service.flux("update"), &with_token("token-2"))
        .await;
    let operation = updated.header("azure-asyncoperation").unwrap().to_owned();
    service.advance(TIMEOUT + 1);
    assert_eq!(service.running.state.app.time_out_pending().await.unwrap(), 1);
    assert_eq!(operation_status(&service, &operation).await["status"], "Failed");
    assert_eq!(
        service.arm.get(&service.flux("update")).await.body["properties"]["provisioningState"],
        "Failed"
    );
    assert!(service.stored_secrets().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_no_agent_confirms_within_48_hours_fails_and_force_delete_remains() {
    let service = Service::start().await;
    service
        .arm
        .put(&service.flux("doomed"), &with_token("token-1"))
        .await;
    service.install_flux().await;
    service
        .report(
            "fluxConfigurations",
            "doomed",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    let deleted = service.arm.delete(&service.flux("doomed")).await;
    assert_eq!(deleted.status, 202);
    let operation = deleted.header("azure-asyncoperation").unwrap().to_owned();
    service.advance(TIMEOUT + 1);
    assert_eq!(service.running.state.app.time_out_pending().await.unwrap(), 1);
    assert_eq!(operation_status(&service, &operation).await["status"], "Failed");
    let resource = service.arm.get(&service.flux("doomed")).await;
    assert_eq!(resource.status, 200, "the resource stays");
    assert_eq!(resource.body["properties"]["provisioningState"], "Failed");
    assert_eq!(
        service.desired().await["fluxConfigurations"][0]["deleting"],
        false
    );
    let forced = service
        .arm
        .delete(
            &service
                .flux("doomed")
                .replace("?api-version", "?forceDelete=true&api-version"),
        )
        .await;
    assert_eq!(forced.status, 200);
    assert_eq!(service.arm.get(&service.flux("doomed")).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_driver_reports_each_tasks_last_run() {
    let service = Service::start_with(
        |config| {
            config.tasks.secret_expiry = std::time::Duration::from_millis(100);
            config.tasks.pending_timeouts = std::time::Duration::from_millis(100);
        },
        None,
    )
    .await;
    service
        .arm
        .put(&service.flux("driven"), &with_token("token-1"))
        .await;
    service.advance(TIMEOUT + 1);
    let ran = clusterconfig_testkit::process::eventually(std::time::Duration::from_secs(10), || async {
        service.arm.get(&service.flux("driven")).await.body["properties"]["provisioningState"] == "Failed"
    })
    .await;
    assert!(ran, "the driver ran the timeouts on its own");
    let status = service.arm.get("/status/tasks").await;
    let tasks = status.body["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "data_key_reseal",
            "data_key_rollover",
            "extension_auto_upgrade",
            "fleet_index",
            "key_refresh",
            "key_rotation",
            "operation_retention",
            "pending_timeouts",
            "policy_assignments_refresh",
            "policy_evaluation",
            "policy_remediation",
            "secret_expiry",
            "subscription_purge"
        ]
    );
    let timeouts = tasks.iter().find(|t| t["name"] == "pending_timeouts").unwrap();
    assert!(
        timeouts["runs"].as_u64().unwrap() >= 1 && timeouts["lastFinished"].is_string(),
        "{timeouts}"
    );
    assert!(
        tasks
            .iter()
            .any(|t| t["lastOutcome"]["timedOut"].as_u64() >= Some(1)),
        "{}",
        status.text
    );
}

/// The sealed bytes of a secret group, wherever the SQLite files hold them.
fn sqlite_files_holding(service: &Service, needle: &[u8]) -> Vec<String> {
    std::fs::read_dir(&service.config.data_dir)
        .unwrap()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.to_string_lossy().contains("clusterconfig.db"))
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap_or_default();
            bytes.windows(needle.len()).any(|window| window == needle)
        })
        .map(|path| path.display().to_string())
        .collect()
}

/// "Kept under 48 hours" holds on disk too: once an agent acknowledged a secret group (or it expired), its
/// sealed bytes leave the SQLite files, write-ahead log included, within one run of the secret-expiry task.
#[tokio::test(flavor = "multi_thread")]
async fn deleted_secret_values_leave_the_sqlite_files() {
    use clusterconfig_server::tasks::{BackgroundTask, SecretExpiry};
    let service = Service::start().await;
    let task = SecretExpiry(service.running.state.app.clone());

    // Acknowledged by the agent.
    assert_eq!(
        service
            .arm
            .put(&service.flux("acked"), &with_token("wal-canary-acked"))
            .await
            .status,
        201
    );
    let sealed = service.stored_secrets().await[0].body.clone();
    let needle = &sealed[sealed.len() - 32..];
    service.install_flux().await;
    let report = service
        .report(
            "fluxConfigurations",
            "acked",
            json!({"generation": 1, "provisioningState": "Succeeded"}),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert!(
        service.stored_secrets().await.is_empty(),
        "deleted on acknowledgement"
    );
    assert!(
        !sqlite_files_holding(&service, needle).is_empty(),
        "the write-ahead log still holds the deleted row's page (what this test is about)"
    );
    let outcome = task.activate().await.unwrap();
    assert_eq!(outcome["compacted"], true, "{outcome}");
    assert_eq!(sqlite_files_holding(&service, needle), Vec::<String>::new());

    // Expired, never taken.
    assert_eq!(
        service
            .arm
            .put(&service.flux("expired"), &with_token("wal-canary-expired"))
            .await
            .status,
        201
    );
    let sealed = service.stored_secrets().await[0].body.clone();
    let needle = &sealed[sealed.len() - 32..];
    service.advance(48 * HOUR);
    let outcome = task.activate().await.unwrap();
    assert_eq!(
        (outcome["deleted"].as_u64(), outcome["compacted"].as_bool()),
        (Some(1), Some(true)),
        "{outcome}"
    );
    assert_eq!(sqlite_files_holding(&service, needle), Vec::<String>::new());
    assert_eq!(
        task.activate().await.unwrap()["compacted"],
        false,
        "nothing new to compact"
    );
}
