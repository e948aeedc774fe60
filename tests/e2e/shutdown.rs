//! SIGTERM, as Kubernetes stops a pod: waiting agents are answered at once (so they reconnect elsewhere),
//! writes in flight finish, the process exits within its drain time, and nothing acknowledged is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clusterconfig_testkit::{ARC, ServerOptions, ServerProcess, cluster_id};

use crate::{FLUX_VERSION, git_config, resource};

const WAITING_AGENTS: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_a_thousand_waiting_agents_exits_fast_and_keeps_every_acknowledged_write() {
    let mut server = ServerProcess::start(ServerOptions::default());
    let clusters: Vec<String> = (0..WAITING_AGENTS).map(|_| cluster_id(ARC)).collect();
    let tokens = server.agent_tokens(&clusters);

    // A thousand agents long-poll, each on its own connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let polls: Vec<_> = clusters
        .iter()
        .zip(&tokens)
        .map(|(cluster, token)| {
            let request = http
                .get(format!("{}/dataplane/v1{cluster}/desiredState", server.url))
                .bearer_auth(token)
                .header("If-None-Match", "\"0\"")
                .header("Prefer", "wait=120")
                .send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(polls.iter().all(|p| !p.is_finished()), "every agent is waiting");

    // Writes keep coming while the server stops; those it acknowledged must survive it.
    let arm = Arc::new(server.arm());
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        // A cluster nobody waits on: the waiting agents must be let go by the stop, not woken by a write.
        let (arm, writing, cluster) = (arm.clone(), writing.clone(), cluster_id(ARC));
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while writing.load(Ordering::SeqCst) {
                let path = resource(
                    &cluster,
                    "fluxConfigurations",
                    &format!("during-{n}"),
                    FLUX_VERSION,
                );
                n += 1;
                let client = reqwest::Client::new();
                let sent = client
                    .put(format!("{}{path}", arm.base()))
                    .bearer_auth(server_token(&arm))
                    .json(&git_config())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => acknowledged.push(path),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (took, clean) =
        tokio::task::block_in_place(|| server.terminate(Duration::from_secs(30))).expect("the server exited");
    writing.store(false, Ordering::SeqCst);
    assert!(clean, "a clean exit");
    assert!(took < Duration::from_secs(5), "exited {took:?} after SIGTERM");
    let mut answered = 0;
    for poll in polls {
        if let Ok(Ok(status)) = poll.await {
            assert_eq!(
                status, 304,
                "a waiting agent is told nothing changed, and reconnects"
            );
            answered += 1;
        }
    }
    assert_eq!(
        answered, WAITING_AGENTS,
        "every waiting agent got its answer before the exit"
    );
    let acknowledged = writer.await.unwrap();
    assert!(
        !acknowledged.is_empty(),
        "writes were acknowledged before the stop"
    );

    let restarted = ServerProcess::start(ServerOptions {
        data_dir: Some(server.data_dir.clone()),
        store: Some(server.store.clone()),
        ..Default::default()
    });
    let arm = restarted.arm();
    for path in &acknowledged {
        assert_eq!(
            arm.get(path).await.status,
            200,
            "{path} was acknowledged, so it is kept"
        );
    }
    println!(
        "SIGTERM with {WAITING_AGENTS} waiting agents: exited after {took:?}; {} writes acknowledged during the stop, all kept",
        acknowledged.len()
    );
}

/// The ARM client's token, for requests built by hand (a fresh connection each, as a crowd of callers).
fn server_token(arm: &clusterconfig_testkit::Arm) -> String {
    arm.token().to_owned()
}
