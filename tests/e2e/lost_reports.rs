//! Reports that never arrive: the agent applied a generation, but its report was lost on the wire or the
//! server died before taking it. The agent sends it again until the server has it, so every operation
//! completes without any unrelated write to wake things up.

use std::time::Duration;

use clusterconfig_testkit::cutter::{Cut, CuttingProxy};
use clusterconfig_testkit::{
    ARC, AgentProcess, ServerOptions, ServerProcess, cluster_id, process::eventually,
};

use crate::{FLUX_VERSION, git_config, resource};

/// Every status report of the agent goes through this: `times` of them are lost.
fn lose_reports(times: usize) -> Cut {
    Cut {
        method: "POST",
        path_contains: "/status",
        times,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_lost_on_the_wire_is_sent_again() {
    let server = ServerProcess::start(ServerOptions::default());
    let proxy = CuttingProxy::start(&server.url, lose_reports(1)).await;
    let cluster = cluster_id(ARC);
    let _agent = AgentProcess::start(&proxy.url, &cluster, &server.agent_token(&cluster), &[]);
    let arm = server.arm();
    let created = arm
        .put(
            &resource(&cluster, "fluxConfigurations", "lossy", FLUX_VERSION),
            &git_config(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let done = arm
        .wait_operation(
            created.header("azure-asyncoperation").unwrap(),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(proxy.cut(), 1, "the first report was lost on the wire");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_between_apply_and_report_gets_the_report_after_restart() {
    let mut server = ServerProcess::start(ServerOptions::default());
    let address = server.url.trim_start_matches("http://").to_owned();
    let proxy = CuttingProxy::start(&server.url, lose_reports(1)).await;
    let cluster = cluster_id(ARC);
    let agent = AgentProcess::start(&proxy.url, &cluster, &server.agent_token(&cluster), &[]);
    let arm = server.arm();
    // One write only: a later one would carry the lost report along with its own (the agent reports every
    // generation it has not had acknowledged), which would hide the loss.
    let created = arm
        .put(
            &resource(&cluster, "fluxConfigurations", "only", FLUX_VERSION),
            &git_config(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let operations = [created.header("azure-asyncoperation").unwrap().to_owned()];

    // The agent applied and reported; the report is lost as the server dies (kill -9), before it took it.
    assert!(
        eventually(Duration::from_secs(20), || async { proxy.cut() == 1 }).await,
        "the agent sent a report"
    );
    server.kill();
    let restarted = ServerProcess::start(ServerOptions {
        data_dir: Some(server.data_dir.clone()),
        store: Some(server.store.clone()),
        arm_listen: Some(address),
        ..Default::default()
    });
    let arm = restarted.arm();
    for operation in &operations {
        let done = arm.wait_operation(operation, Duration::from_secs(60)).await;
        assert_eq!(done["status"], "Succeeded", "{done}\n{}", agent.logs());
    }
}
