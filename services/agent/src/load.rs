//! The load mode: one process plays many clusters' agents, for fleet tests and benchmarks. Each cluster gets
//! the reference agent's own loop, simulated (it acknowledges every generation as `--simulate` does) with its
//! state in memory, and holds its own long-poll. With `events`, every desired state an agent receives is
//! written to stdout as one JSON line, `{"cluster": "<id>", "version": 7, "receivedUnixNanos": ...}`, so that
//! a benchmark can time a change from its write to the agent.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::sync::mpsc;

use clusterconfig_model::dataplane::AgentFacts;
use clusterconfig_model::ids::ClusterId;

use crate::agent::{Agent, Settings};
use crate::client::DataPlane;

/// One simulated cluster: its id and an agent token for it.
pub struct Member {
    pub cluster: ClusterId,
    pub token: String,
}

/// Reads `<cluster resource id> <token>` lines, as `clusterconfig token agents` prints them.
pub fn read_members(text: &str) -> anyhow::Result<Vec<Member>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let (cluster, token) = line
                .trim()
                .split_once(char::is_whitespace)
                .with_context(|| format!("line {}: expected '<cluster id> <token>'", index + 1))?;
            let cluster = ClusterId::parse(cluster)
                .map_err(|e| anyhow::anyhow!("line {}: {}", index + 1, e.message))?;
            Ok(Member {
                cluster,
                token: token.trim().to_owned(),
            })
        })
        .collect()
}

pub struct LoadSettings {
    pub server: String,
    pub wait: Duration,
    pub facts: AgentFacts,
    /// Agents started per second (a fleet does not reconnect all at one instant).
    pub start_rate: u32,
    pub events: bool,
    /// Members only long-poll and never apply or report: passive watchers (standby replicas, dashboards).
    pub watch_only: bool,
}

/// Runs every member's agent until `stop` resolves.
pub async fn run(
    members: Vec<Member>,
    settings: LoadSettings,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let http = DataPlane::http_client()?;
    let (events, mut received) = mpsc::unbounded_channel::<String>();
    let writer = tokio::task::spawn_blocking(move || {
        let stdout = std::io::stdout();
        while let Some(line) = received.blocking_recv() {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            // Flushed per batch: a benchmark reads the lines as they come.
            while let Ok(line) = received.try_recv() {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
    });
    let total = members.len();
    let first_answers = Arc::new(AtomicUsize::new(0));
    let mut agents = tokio::task::JoinSet::new();
    let pause = Duration::from_secs_f64(1.0 / f64::from(settings.start_rate.max(1)));
    let start = async {
        for member in members {
            let client =
                DataPlane::with_client(http.clone(), &settings.server, &member.cluster, member.token);
            let agent_settings = Settings {
                render_dir: None,
                state_dir: None,
                simulate: true,
                wait: settings.wait,
                facts: settings.facts.clone(),
            };
            let id = member.cluster.to_string();
            let events = settings.events.then(|| events.clone());
            let first = first_answers.clone();
            let answered = std::sync::atomic::AtomicBool::new(false);
            let observer: crate::agent::Observer = Arc::new(move |desired| {
                if !answered.swap(true, Ordering::Relaxed)
                    && first.fetch_add(1, Ordering::Relaxed) + 1 == total
                {
                    tracing::info!(agents = total, "every agent has its first desired state");
                }
                if let Some(events) = &events {
                    let nanos = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos();
                    let _ = events.send(format!(
                        "{{\"cluster\":\"{id}\",\"version\":{},\"receivedUnixNanos\":{nanos}}}",
                        desired.version
                    ));
                }
            });
            if settings.watch_only {
                agents.spawn(watch(client, settings.wait, observer));
            } else {
                let mut agent = Agent::new(agent_settings, client)?.with_observer(observer);
                agents.spawn(async move { agent.run(std::future::pending()).await });
            }
            tokio::time::sleep(pause).await;
        }
        anyhow::Ok(())
    };
    tokio::pin!(stop);
    tokio::select! {
        _ = &mut stop => {}
        started = start => {
            started?;
            tracing::info!(agents = total, "every agent started");
            stop.await;
        }
    }
    agents.abort_all();
    drop(events);
    let _ = writer.await;
    Ok(())
}

/// A passive watcher: the desired state, then a long-poll for each newer version, and nothing else.
async fn watch(client: DataPlane, wait: Duration, observer: crate::agent::Observer) -> anyhow::Result<()> {
    let mut known = None;
    loop {
        match client.desired_state(known, wait).await {
            Ok(Some(desired)) => {
                observer(&desired);
                known = Some(desired.version);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
