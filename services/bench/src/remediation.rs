//! The at-scale assignment scenario: a fleet imported from an inventory, its agents played by one load process,
//! Microsoft's public-Git GitOps definition assigned at subscription scope, and one remediation. Measured from
//! the remediation's PUT to every cluster compliant with every deployment acknowledged by its agent. The peer, in
//! the same run on a fresh service and fleet: the same configuration rolled out by a client through the ARM API
//! as `az k8s-configuration flux create` does it (PUT, then the operation until it ends), 30 at a time, the
//! largest `parallelDeployments` Azure allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::processes::{Fleet, Service};
use crate::scenarios::{Settings, arm_client, cluster_id};
use crate::stats::{Better, Row};

const PARALLEL: usize = 30;
const AUTHORIZATION: &str = "2023-04-01";
const REMEDIATIONS: &str = "2021-10-01";
const STATES: &str = "2019-10-01";
const DEFINITION: &str = "Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json";

fn published_definition() -> anyhow::Result<Value> {
    let path = format!(
        "{}/../../../shared/reference/azure-policy/{DEFINITION}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    Ok(serde_json::from_str(&text)?)
}

fn parameters() -> Value {
    json!({"configurationName": {"value": "fleet"},
           "repositoryUrl": {"value": "https://github.com/Azure/arc-k8s-demo"},
           "repositoryRefBranch": {"value": "main"}})
}

/// A fresh service and a fleet of `size` clusters, each with its agent long-polling.
async fn fleet(settings: &Settings, run: &str, size: usize) -> anyhow::Result<(Service, Fleet, Vec<String>)> {
    let service = Service::start(&settings.binaries, &settings.store).await?;
    let clusters: Vec<String> = (0..size).map(|i| cluster_id(run, i)).collect();
    let tokens = service.agent_tokens(&clusters).await?;
    let fleet = Fleet::start(&settings.binaries, &service.url, &tokens, false).await?;
    Ok((service, fleet, clusters))
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{method} {url}: {status} {text}");
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    })
}

pub async fn remediation(settings: &Settings, run: &str, size: usize) -> anyhow::Result<Vec<Row>> {
    let scenario = format!(
        "policy remediation of {size} clusters ({})",
        settings.store.name()
    );
    let run = format!("{run}-policy");
    let (service, agents, clusters) = fleet(settings, &run, size).await?;
    let http = arm_client(&service.arm_token)?;
    let base = &service.url;
    let subscription = clusters[0].split('/').nth(2).unwrap_or_default().to_owned();
    let scope = format!("/subscriptions/{subscription}");

    // The inventory, as `az graph query` prints it; then the definition and its assignment.
    let rows: Vec<Value> = clusters
        .iter()
        .map(|id| {
            json!({"id": id, "name": id.rsplit('/').next(), "type": "microsoft.kubernetes/connectedclusters",
                          "location": "westeurope"})
        })
        .collect();
    send(
        &http,
        reqwest::Method::POST,
        &format!("{base}/operator/v1/clusters/import"),
        Some(&json!({"data": rows})),
    )
    .await?;
    let document = published_definition()?;
    let definition = format!(
        "{scope}/providers/Microsoft.Authorization/policyDefinitions/{}",
        document["name"].as_str().unwrap_or("gitops")
    );
    send(
        &http,
        reqwest::Method::PUT,
        &format!("{base}{definition}?api-version={AUTHORIZATION}"),
        Some(&json!({"properties": document["properties"]})),
    )
    .await?;
    let assignment = format!("{scope}/providers/Microsoft.Authorization/policyAssignments/fleet");
    send(
        &http,
        reqwest::Method::PUT,
        &format!("{base}{assignment}?api-version={AUTHORIZATION}"),
        Some(
            &json!({"identity": {"type": "SystemAssigned"}, "location": "westeurope",
                     "properties": {"policyDefinitionId": definition, "parameters": parameters()}}),
        ),
    )
    .await?;
    let summarize = format!(
        "{base}{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize?api-version={STATES}"
    );
    let counts = |summary: &Value| {
        let results = &summary["value"][0]["results"];
        let compliant = results["resourceDetails"]
            .as_array()
            .and_then(|d| d.iter().find(|r| r["complianceState"] == "compliant"))
            .and_then(|r| r["count"].as_u64())
            .unwrap_or(0);
        (
            compliant as usize,
            results["nonCompliantResources"].as_u64().unwrap_or(0) as usize,
        )
    };
    // The assignment's scan: every cluster evaluated (non-compliant) before the remediation starts.
    let scan = Instant::now();
    let deadline = scan + Duration::from_secs(600);
    loop {
        let (_, non_compliant) = counts(&send(&http, reqwest::Method::POST, &summarize, None).await?);
        if non_compliant == size {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the assignment's scan evaluated {non_compliant} of {size}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scan_seconds = scan.elapsed().as_secs_f64();

    let remediation = format!("{scope}/providers/Microsoft.PolicyInsights/remediations/fleet");
    let url = format!("{base}{remediation}?api-version={REMEDIATIONS}");
    let cpu_before = service.cpu_seconds();
    let started = Instant::now();
    send(
        &http,
        reqwest::Method::PUT,
        &url,
        Some(&json!({"properties": {"policyAssignmentId": assignment,
        "parallelDeployments": PARALLEL, "resourceCount": size}})),
    )
    .await?;
    let deadline = started + Duration::from_secs(900);
    let mut peak_rss = service.rss_kib();
    loop {
        let view = send(&http, reqwest::Method::GET, &url, None).await?;
        let state = view["properties"]["provisioningState"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        peak_rss = peak_rss.max(service.rss_kib());
        if state == "Succeeded" || state == "Failed" {
            anyhow::ensure!(state == "Succeeded", "the remediation failed: {view}");
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the remediation did not end: {view}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Succeeded: every deployment acknowledged by its agent. And 100 % in summarize.
    let (compliant, non_compliant) = counts(&send(&http, reqwest::Method::POST, &summarize, None).await?);
    anyhow::ensure!(
        compliant == size && non_compliant == 0,
        "{compliant} of {size} compliant after the remediation"
    );
    let seconds = started.elapsed().as_secs_f64();
    let cpu = service.cpu_seconds() - cpu_before;
    agents.stop().await;
    service.stop().await;

    // The peer: the same rollout by a client through the ARM API, on a fresh service and fleet.
    let (service, agents, clusters) = fleet(settings, &format!("{run}-peer"), size).await?;
    let http = arm_client(&service.arm_token)?;
    let body = direct_body(&document, &clusters[0])?;
    let next = Arc::new(AtomicUsize::new(0));
    let clusters = Arc::new(clusters);
    let peer_cpu_before = service.cpu_seconds();
    let peer_started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL {
        let (http, next, clusters, body, base) = (
            http.clone(),
            next.clone(),
            clusters.clone(),
            body.clone(),
            service.url.clone(),
        );
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(cluster) = clusters.get(index) else { return anyhow::Ok(()) };
                let url = format!("{base}{cluster}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/fleet?api-version=2022-03-01");
                let response = http.put(&url).json(&body).send().await?;
                anyhow::ensure!(response.status().is_success(), "PUT: {}", response.status());
                let operation = response
                    .headers()
                    .get("azure-asyncoperation")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .context("a long-running operation")?;
                loop {
                    let status = send(&http, reqwest::Method::GET, &operation, None).await?;
                    match status["status"].as_str().unwrap_or_default() {
                        "Succeeded" => break,
                        "Failed" | "Canceled" => anyhow::bail!("the operation failed: {status}"),
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    let peer_seconds = peer_started.elapsed().as_secs_f64();
    let peer_cpu = service.cpu_seconds() - peer_cpu_before;
    agents.stop().await;
    service.stop().await;

    let peer = "ARM PUT + operation by a client, 30 at a time";
    Ok(vec![
        Row {
            scenario: scenario.clone(),
            measure: "remediation PUT to 100 % compliant, every agent acknowledged".into(),
            unit: "s",
            better: Better::Lower,
            ours: seconds,
            peer: Some((peer.into(), peer_seconds)),
        },
        Row {
            scenario: scenario.clone(),
            measure: "deployments per second".into(),
            unit: "/s",
            better: Better::Higher,
            ours: size as f64 / seconds,
            peer: Some((peer.into(), size as f64 / peer_seconds)),
        },
        Row {
            scenario: scenario.clone(),
            measure: "service CPU per deployment (user + system)".into(),
            unit: "ms",
            better: Better::Lower,
            ours: cpu * 1e3 / size as f64,
            peer: Some((peer.into(), peer_cpu * 1e3 / size as f64)),
        },
        Row {
            scenario: scenario.clone(),
            measure: "the assignment's scan: every cluster evaluated".into(),
            unit: "s",
            better: Better::Lower,
            ours: scan_seconds,
            peer: None,
        },
        Row {
            scenario,
            measure: "service memory (RSS, peak during the remediation)".into(),
            unit: "MiB",
            better: Better::Lower,
            ours: peak_rss as f64 / 1024.0,
            peer: None,
        },
    ])
}

/// The fluxConfiguration the definition deploys, exactly as the remediation PUTs it: the definition's template
/// rendered by the service's own engine for the first cluster (the body is the same for every cluster).
fn direct_body(document: &Value, cluster: &str) -> anyhow::Result<Value> {
    use clusterconfig_policy::{DeploymentContext, PolicyDefinition};
    let definition = PolicyDefinition::from_published(document).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bound = definition
        .bind(parameters().as_object().expect("an object"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let target = json!({"id": cluster, "name": cluster.rsplit('/').next(), "type": "Microsoft.Kubernetes/connectedClusters",
                        "location": "westeurope"});
    let context = DeploymentContext::for_resource_id(cluster).context("a cluster id")?;
    let planned = definition
        .deployment()
        .context("the definition deploys")?
        .plan(&bound, &target, &context)
        .and_then(|prepared| prepared.render(&Default::default()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(planned.into_iter().next().context("one resource")?.body)
}
