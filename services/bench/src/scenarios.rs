//! The scenarios. Each starts what it measures fresh and measures its peer in the same run, on the same
//! machine, so that ratios hold however busy the machine is.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::processes::{Etcd, Fleet, Service, StoreChoice, rss_kib};
use crate::stats::{Better, Row, percentile};
use crate::store_peer;

const FLUX: &str = "2025-04-01";
/// Changes timed per latency figure.
const LATENCY_SAMPLES: usize = 100;

pub struct Settings {
    pub binaries: std::path::PathBuf,
    pub store: StoreChoice,
    /// How long each throughput scenario runs.
    pub throughput_for: Duration,
    pub etcd: Option<std::path::PathBuf>,
}

pub fn cluster_id(run: &str, index: usize) -> String {
    format!(
        "/subscriptions/00000000-0000-0000-0000-00000000be4c/resourceGroups/bench-{run}/providers/Microsoft.Kubernetes/connectedClusters/c{index:05}"
    )
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn flux_body(index: usize) -> serde_json::Value {
    json!({"properties": {
        "scope": "cluster",
        "namespace": "cluster-config",
        "sourceKind": "GitRepository",
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": format!("release-{index}")}},
        "kustomizations": {"infra": {"path": "./infrastructure", "prune": true}}
    }})
}

pub fn arm_client(token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    Ok(reqwest::Client::builder().default_headers(headers).build()?)
}

async fn put_flux(
    http: &reqwest::Client,
    base: &str,
    cluster: &str,
    name: &str,
    index: usize,
) -> anyhow::Result<()> {
    let url = format!(
        "{base}{cluster}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/{name}?api-version={FLUX}"
    );
    let response = http.put(&url).json(&flux_body(index)).send().await?;
    anyhow::ensure!(response.status().is_success(), "PUT {url}: {}", response.status());
    Ok(())
}

/// Waiting agents held by one process, and a committed change's way to its cluster's waiting agent.
/// `memory` also measures memory and open files per waiter (at the large fleet).
pub async fn waiting_agents(
    settings: &Settings,
    run: &str,
    fleet_size: usize,
    memory: bool,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let scenario = format!("{fleet_size} waiting agents ({})", settings.store.name());

    // The service.
    let service = Service::start(&settings.binaries, &settings.store).await?;
    let (rss_before, files_before) = (service.rss_kib(), service.open_files());
    let clusters: Vec<String> = (0..fleet_size).map(|i| cluster_id(run, i)).collect();
    let tokens = service.agent_tokens(&clusters).await?;
    let fleet = Fleet::start(&settings.binaries, &service.url, &tokens, false).await?;
    let (rss_after, files_after) = (service.rss_kib(), service.open_files());
    let http = arm_client(&service.arm_token)?;
    let (mut from_send, mut from_answer) = (Vec::new(), Vec::new());
    for sample in 0..LATENCY_SAMPLES {
        let cluster = &clusters[(sample * 7919) % fleet_size];
        let before = fleet.version_of(cluster).await;
        let sent = now_nanos();
        put_flux(&http, &service.url, cluster, &format!("latency-{sample}"), sample).await?;
        let answered = now_nanos();
        let arrived = fleet
            .arrivals_after(cluster, before, 1, Duration::from_secs(30))
            .await?;
        from_send.push((arrived.saturating_sub(sent)) as f64 / 1e6);
        from_answer.push((arrived.saturating_sub(answered)) as f64 / 1e6);
        // Let the agent's reports of this change settle before the next one.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fleet.stop().await;
    service.stop().await;

    // The peer: etcd watchers, one connection each, and puts.
    let peer = match &settings.etcd {
        Some(binary) => Some(etcd_watchers(binary, fleet_size).await?),
        None => None,
    };
    let peer_of = |f: fn(&EtcdFigures) -> f64| peer.as_ref().map(|p| ("etcd".to_owned(), f(p)));
    if memory {
        rows.push(Row {
            scenario: scenario.clone(),
            measure: "service memory per waiting agent (RSS growth / waiters)".into(),
            unit: "KiB",
            better: Better::Lower,
            ours: rss_after.saturating_sub(rss_before) as f64 / fleet_size as f64,
            peer: peer_of(|p| p.kib_per_watcher),
        });
        rows.push(Row {
            scenario: scenario.clone(),
            measure: "open files per waiting agent".into(),
            unit: "fds",
            better: Better::Lower,
            ours: files_after.saturating_sub(files_before) as f64 / fleet_size as f64,
            peer: peer_of(|p| p.files_per_watcher),
        });
    }
    rows.push(Row {
        scenario: scenario.clone(),
        measure: "change to its waiting agent, p99, from sending the write".into(),
        unit: "ms",
        better: Better::Lower,
        ours: percentile(&mut from_send.clone(), 99.0),
        peer: peer_of(|p| p.p99_from_send_ms),
    });
    rows.push(Row {
        scenario: scenario.clone(),
        measure: "change to its waiting agent, p99, after the write's answer".into(),
        unit: "ms",
        better: Better::Lower,
        ours: percentile(&mut from_answer, 99.0),
        peer: peer_of(|p| p.p99_from_answer_ms),
    });
    rows.push(Row {
        scenario,
        measure: "change to its waiting agent, median, from sending the write".into(),
        unit: "ms",
        better: Better::Lower,
        ours: percentile(&mut from_send, 50.0),
        peer: peer_of(|p| p.p50_from_send_ms),
    });
    Ok(rows)
}

struct EtcdFigures {
    kib_per_watcher: f64,
    files_per_watcher: f64,
    p99_from_send_ms: f64,
    p99_from_answer_ms: f64,
    p50_from_send_ms: f64,
}

/// etcd with `watchers` watchers over its HTTP/JSON gateway (one connection and one key each), then puts timed
/// to their watch events.
async fn etcd_watchers(binary: &Path, watchers: usize) -> anyhow::Result<EtcdFigures> {
    let etcd = Etcd::start(binary).await?;
    let (rss_before, files_before) = (rss_kib(etcd.pid), crate::processes::open_files(etcd.pid));
    let events: Arc<tokio::sync::Mutex<Vec<u128>>> = Arc::new(tokio::sync::Mutex::new(vec![0; watchers]));
    let notify = Arc::new(tokio::sync::Notify::new());
    let created = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..watchers {
        let (http, url) = (http.clone(), format!("{}/v3/watch", etcd.url));
        let (events, notify, created) = (events.clone(), notify.clone(), created.clone());
        tasks.spawn(async move {
            let key = STANDARD.encode(format!("/clusters/{index}"));
            let mut response = http
                .post(url)
                .json(&json!({"create_request": {"key": key}}))
                .send()
                .await?;
            let mut first = true;
            while let Some(chunk) = response.chunk().await? {
                let at = now_nanos();
                if first {
                    first = false;
                    created.fetch_add(1, Ordering::Relaxed);
                }
                if chunk.windows(8).any(|w| w == b"\"events\"") {
                    events.lock().await[index] = at;
                    notify.notify_waiters();
                }
            }
            anyhow::Ok(())
        });
        if index % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while created.load(Ordering::Relaxed) < watchers as u64 {
        anyhow::ensure!(Instant::now() < deadline, "etcd watchers were not all created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_after, files_after) = (rss_kib(etcd.pid), crate::processes::open_files(etcd.pid));
    let (mut from_send, mut from_answer) = (Vec::new(), Vec::new());
    for sample in 0..LATENCY_SAMPLES {
        let index = (sample * 7919) % watchers;
        let body = json!({
            "key": STANDARD.encode(format!("/clusters/{index}")),
            "value": STANDARD.encode(flux_body(sample).to_string()),
        });
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let sent = now_nanos();
        let response = http
            .post(format!("{}/v3/kv/put", etcd.url))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "etcd put: {}", response.status());
        let answered = now_nanos();
        let deadline = Instant::now() + Duration::from_secs(10);
        let arrived = loop {
            let at = events.lock().await[index];
            if at >= sent {
                break at;
            }
            anyhow::ensure!(Instant::now() < deadline, "no watch event for key {index}");
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            notified.set(notify.notified());
            notified.as_mut().enable();
        };
        from_send.push(arrived.saturating_sub(sent) as f64 / 1e6);
        from_answer.push(arrived.saturating_sub(answered) as f64 / 1e6);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tasks.abort_all();
    etcd.stop().await;
    Ok(EtcdFigures {
        kib_per_watcher: rss_after.saturating_sub(rss_before) as f64 / watchers as f64,
        files_per_watcher: files_after.saturating_sub(files_before) as f64 / watchers as f64,
        p99_from_send_ms: percentile(&mut from_send.clone(), 99.0),
        p99_from_answer_ms: percentile(&mut from_answer, 99.0),
        p50_from_send_ms: percentile(&mut from_send, 50.0),
    })
}

/// Many waiters of one cluster: one change, and the time until the last of them has it. Either simulated
/// agents (each also reports the change, so the answers compete with those reports) or passive watchers.
pub async fn one_cluster_waiters(
    settings: &Settings,
    run: &str,
    waiters: usize,
    watch_only: bool,
) -> anyhow::Result<Vec<Row>> {
    let service = Service::start(&settings.binaries, &settings.store).await?;
    let cluster = cluster_id(run, 0);
    let clusters = vec![cluster.clone(); waiters];
    let tokens = service.agent_tokens(&clusters).await?;
    let fleet = Fleet::start(&settings.binaries, &service.url, &tokens, watch_only).await?;
    let http = arm_client(&service.arm_token)?;
    let mut last = Vec::new();
    for change in 0..5 {
        let before = fleet.version_of(&cluster).await;
        let sent = now_nanos();
        put_flux(&http, &service.url, &cluster, &format!("crowd-{change}"), change).await?;
        let arrived = fleet
            .arrivals_after(&cluster, before, waiters, Duration::from_secs(60))
            .await
            .context("not every waiter got the change")?;
        last.push(arrived.saturating_sub(sent) as f64 / 1e6);
        // The agents all report the change; let that settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    fleet.stop().await;
    service.stop().await;
    Ok(vec![Row {
        scenario: format!(
            "{waiters} long-polls of one cluster, {} ({})",
            if watch_only {
                "passive watchers"
            } else {
                "simulated agents, each reporting"
            },
            settings.store.name()
        ),
        measure: "one change until the last waiter has it, median of 5".into(),
        unit: "ms",
        better: Better::Lower,
        ours: percentile(&mut last, 50.0),
        peer: None,
    }])
}

/// Runs `request(task, index)` from `connections` tasks for `duration` (each task's requests one after another,
/// `index` counting all of them); returns requests per second and the p99 latency (ms).
async fn throughput<F, Fut>(connections: usize, duration: Duration, request: F) -> anyhow::Result<(f64, f64)>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..connections {
        let (request, counter) = (request.clone(), counter.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                let at = Instant::now();
                request(task, index).await?;
                latencies.push(at.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((latencies.len() as f64 / elapsed, percentile(&mut latencies, 99.0)))
}

/// ARM PUTs of distinct fluxConfigurations (each on a cluster of its own, so each also installs microsoft.flux),
/// against the bare store doing the same commits and, where installed, etcd puts.
pub async fn arm_puts(settings: &Settings, run: &str, connections: usize) -> anyhow::Result<Vec<Row>> {
    let scenario = format!("ARM PUT, {connections} connections ({})", settings.store.name());
    let service = Service::start(&settings.binaries, &settings.store).await?;
    let http = arm_client(&service.arm_token)?;
    let base = service.url.clone();
    let run_owned = format!("{run}-put{connections}");
    let (rate, p99) = throughput(connections, settings.throughput_for, move |_, index| {
        let (http, base, cluster) = (http.clone(), base.clone(), cluster_id(&run_owned, index as usize));
        async move { put_flux(&http, &base, &cluster, "app", index as usize).await }
    })
    .await?;
    service.stop().await;
    let (bare_rate, _) = store_peer::commits(settings.store, connections, settings.throughput_for).await?;
    let mut rows = vec![
        Row {
            scenario: scenario.clone(),
            measure: "PUTs per second, against the bare store's commits of the same rows".into(),
            unit: "/s",
            better: Better::Higher,
            ours: rate,
            peer: Some((format!("bare {}", settings.store.name()), bare_rate)),
        },
        Row {
            scenario: scenario.clone(),
            measure: "PUT latency, p99".into(),
            unit: "ms",
            better: Better::Lower,
            ours: p99,
            peer: None,
        },
    ];
    if let Some(binary) = &settings.etcd {
        let etcd = Etcd::start(binary).await?;
        let http = reqwest::Client::new();
        let url = format!("{}/v3/kv/put", etcd.url);
        let (etcd_rate, _) = throughput(connections, settings.throughput_for, move |_, index| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body = json!({
                    "key": STANDARD.encode(format!("/put/{index}")),
                    "value": STANDARD.encode(flux_body(index as usize).to_string()),
                });
                let response = http.post(&url).json(&body).send().await?;
                anyhow::ensure!(response.status().is_success(), "etcd put: {}", response.status());
                Ok(())
            }
        })
        .await?;
        etcd.stop().await;
        rows.push(Row {
            scenario,
            measure: "PUTs per second, against etcd puts".into(),
            unit: "/s",
            better: Better::Higher,
            ours: rate,
            peer: Some(("etcd".into(), etcd_rate)),
        });
    }
    Ok(rows)
}

/// Agents' status reports (each a write: a compliance change), against the service's cheapest route.
pub async fn status_reports(settings: &Settings, run: &str, connections: usize) -> anyhow::Result<Vec<Row>> {
    let service = Service::start(&settings.binaries, &settings.store).await?;
    let http = arm_client(&service.arm_token)?;
    let clusters: Vec<String> = (0..connections)
        .map(|i| cluster_id(&format!("{run}-reports"), i))
        .collect();
    for (index, cluster) in clusters.iter().enumerate() {
        put_flux(&http, &service.url, cluster, "app", index).await?;
    }
    let tokens: Vec<String> = service
        .agent_tokens(&clusters)
        .await?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect();
    let agents: Arc<Vec<(String, reqwest::Client)>> = Arc::new(
        clusters
            .iter()
            .zip(&tokens)
            .map(|(cluster, token)| {
                Ok((
                    format!(
                        "{}/dataplane/v1{cluster}/fluxConfigurations/app/status",
                        service.url
                    ),
                    arm_client(token)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
    );
    // Each connection is one cluster's agent, reporting one report after another (as an agent does).
    let (rate, p99) = throughput(connections, settings.throughput_for, move |task, index| {
        let agents = agents.clone();
        async move {
            let (url, http) = &agents[task % agents.len()];
            let compliance = if index % 2 == 0 {
                "Compliant"
            } else {
                "Non-Compliant"
            };
            let body = json!({
                "generation": 1,
                "provisioningState": "Succeeded",
                "complianceState": compliance,
                "sourceSyncedCommitId": format!("main@sha1:{index:040x}"),
            });
            let response = http.post(url).json(&body).send().await?;
            anyhow::ensure!(response.status().is_success(), "report: {}", response.status());
            Ok(())
        }
    })
    .await?;
    let health = reqwest::Client::new();
    let url = format!("{}/healthz", service.url);
    let (health_rate, _) = throughput(connections, settings.throughput_for, move |_, _| {
        let (health, url) = (health.clone(), url.clone());
        async move {
            let response = health.get(&url).send().await?;
            anyhow::ensure!(response.status().is_success(), "healthz: {}", response.status());
            Ok(())
        }
    })
    .await?;
    service.stop().await;
    let scenario = format!(
        "agent status reports, {connections} connections ({})",
        settings.store.name()
    );
    Ok(vec![
        Row {
            scenario: scenario.clone(),
            measure: "reports per second, against the service's GET /healthz".into(),
            unit: "/s",
            better: Better::Higher,
            ours: rate,
            peer: Some(("GET /healthz".into(), health_rate)),
        },
        Row {
            scenario,
            measure: "report latency, p99".into(),
            unit: "ms",
            better: Better::Lower,
            ours: p99,
            peer: None,
        },
    ])
}
