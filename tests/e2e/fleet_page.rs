//! The fleet page in a real browser: a fleet of 2,001 clusters (2,000 imported, one with a configuration its
//! agent applied, one whose agent reported a failure), seen by Debian's Chromium driven by Playwright
//! (`tests/browser/fleet.mjs`): sign-in, fleet-wide counts, server-side filtering by state and name, paging.
//! The screenshot is kept as `target/browser-artifacts/fleet.png`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::ARC;

use crate::{Env, LRO_TIMEOUT, git_config};

const IMPORTED: usize = 2_000;

fn imported_id(subscription: &str, i: usize) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/fleet/providers/Microsoft.Kubernetes/connectedClusters/fleet-{i}"
    )
}

/// The page as HTML, with a bearer token (as a proxy in front of the service would send it).
async fn page(env: &Env, query: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("{}/fleet{query}", env.server.url))
        .bearer_auth(env.server.arm_token())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_page_shows_filters_and_pages_a_fleet_in_a_browser() {
    let env = Env::start(ARC);
    let subscription = env.cluster.split('/').nth(2).unwrap().to_owned();
    let rows: Vec<Value> = (0..IMPORTED)
        .map(|i| {
            json!({"id": imported_id(&subscription, i), "name": format!("fleet-{i}"),
                        "type": "microsoft.kubernetes/connectedclusters", "location": "westeurope"})
        })
        .collect();
    let imported = env
        .arm
        .send(
            Method::POST,
            "/operator/v1/clusters/import",
            Some(&json!({"data": rows})),
            &[],
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text);

    // One cluster whose agent applies its configuration, one whose agent fails it.
    let _agent = env.agent(&[]);
    env.put_and_wait(&env.flux("applied"), &git_config()).await;
    let failing = imported_id(&subscription, 7);
    let put = env
        .arm
        .put(&format!("{failing}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/broken?api-version=2025-04-01"), &git_config())
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let agent = env.arm.with_token(&env.server.agent_token(&failing));
    let base = format!("{}/dataplane/v1{failing}", env.server.url);
    let desired = agent.get(&format!("{base}/desiredState")).await.body;
    let generation = desired["fluxConfigurations"][0]["generation"].clone();
    let report = agent
        .send(
            Method::POST,
            &format!("{base}/fluxConfigurations/broken/status"),
            Some(&json!({"generation": generation, "provisioningState": "Failed",
                         "message": "kustomization path './apps/staging' not found"})),
            &[],
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);

    // The index catches up with the changes (each wakes it) and its first pass over the fleet.
    let total = IMPORTED + 1;
    let deadline = Instant::now() + LRO_TIMEOUT;
    loop {
        let (status, html) = page(&env, "?state=Failed").await;
        assert_eq!(status, 200, "{html}");
        if html.contains(&format!("data-testid=\"total-clusters\">{total}<")) && html.contains("fleet-7<") {
            assert_eq!(
                html.matches("data-testid=\"cluster\"").count(),
                1,
                "one Failed cluster: {html}"
            );
            assert!(html.contains("not found"), "its error: {html}");
            break;
        }
        assert!(Instant::now() < deadline, "the page shows the fleet: {html}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, named) = page(&env, "?name=fleet-19").await;
    assert!(
        named.contains(">111 of 2001 clusters match"),
        "fleet-19, fleet-190..199, fleet-1900..1999: {named}"
    );
    let (_, escaped) = page(&env, "?name=%3Cscript%3E").await;
    assert!(
        escaped.contains("value=\"&lt;script&gt;\"") && !escaped.contains("<script>"),
        "the filter is escaped"
    );

    // The browser.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("fleet.png");
    let _ = std::fs::remove_file(&screenshot);
    let browser = root.join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is installed (scripts/test runs npm ci in tests/browser)"
    );
    let output = tokio::process::Command::new("node")
        .arg(browser.join("fleet.mjs"))
        .env("FLEET_URL", &env.server.url)
        .env("FLEET_TOKEN", env.server.arm_token())
        .env("EXPECT_TOTAL", total.to_string())
        .env("FAILED_CLUSTER", "fleet-7")
        .env("SCREENSHOT", &screenshot)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000),
        "a screenshot was kept"
    );
}
