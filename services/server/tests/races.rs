//! Rules that span several resources hold when requests race, on every store. The store is the real one
//! (a SQLite file, a PostgreSQL database, the Cosmos DB emulator), with the latency of a distant database added
//! to each commit: so every racer reads the cluster before any of them commits, as happens in production
//! whenever requests arrive together.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use clusterconfig_server::server::Overrides;
use clusterconfig_testkit::TestStore;

use support::{Instrumented, Service};

const ROUNDS: usize = 5;
const RACERS: usize = 6;
const COMMIT_LATENCY: Duration = Duration::from_millis(40);

async fn on_every_store(test: impl AsyncFn(&Service)) {
    for store in [TestStore::Sqlite, TestStore::postgres(), TestStore::cosmos()] {
        let name = store.name();
        let service = Service::start_with_overrides(
            |config| support::use_store(config, &store),
            Overrides {
                wrap_store: Some(Box::new(|inner| {
                    Arc::new(Instrumented::new(inner, COMMIT_LATENCY))
                })),
                ..Default::default()
            },
        )
        .await;
        println!("on {name}");
        test(&service).await;
    }
}

fn cluster() -> String {
    clusterconfig_testkit::cluster_id(clusterconfig_testkit::ARC)
}

fn resource(cluster: &str, collection: &str, name: &str, version: &str) -> String {
    format!("{cluster}/providers/Microsoft.KubernetesConfiguration/{collection}/{name}?api-version={version}")
}

async fn listed(service: &Service, cluster: &str, collection: &str, version: &str) -> Vec<Value> {
    let path =
        format!("{cluster}/providers/Microsoft.KubernetesConfiguration/{collection}?api-version={version}");
    let list = service.arm.get(&path).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["value"].as_array().cloned().unwrap_or_default()
}

fn is_flux(extension: &Value) -> bool {
    extension["properties"]["extensionType"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("microsoft.flux"))
}

fn flux_extension() -> Value {
    json!({"properties": {"extensionType": "microsoft.flux"}})
}

fn git_config() -> Value {
    json!({"properties": {
        "namespace": "apps",
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
        "kustomizations": {"apps": {"path": "./apps"}}
    }})
}

/// "One microsoft.flux per cluster": differently named microsoft.flux extensions PUT together on a fresh
/// cluster leave exactly one; the others are told why (409).
#[tokio::test(flavor = "multi_thread")]
async fn racing_microsoft_flux_installs_leave_one() {
    on_every_store(async |service: &Service| {
        for _ in 0..ROUNDS {
            let cluster = cluster();
            let puts = (0..RACERS).map(|i| {
                let path = resource(&cluster, "extensions", &format!("flux-{i}"), "2025-03-01");
                async move { service.arm.put(&path, &flux_extension()).await }
            });
            let answers = join_all(puts).await;
            for answer in &answers {
                assert!(
                    matches!(answer.status, 201 | 409),
                    "{} {}",
                    answer.status,
                    answer.text
                );
            }
            let extensions = listed(service, &cluster, "extensions", "2025-03-01").await;
            let flux = extensions.iter().filter(|e| is_flux(e)).count();
            assert_eq!(flux, 1, "one microsoft.flux: {extensions:?}");
            assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
        }
    })
    .await;
}

/// "microsoft.flux cannot be deleted while fluxConfigurations exist": a (forced) DELETE of the extension
/// racing PUTs of configurations never leaves a configuration without microsoft.flux.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_microsoft_flux_racing_configuration_puts_keeps_the_rule() {
    on_every_store(async |service: &Service| {
        for _ in 0..ROUNDS {
            let cluster = cluster();
            let extension = resource(&cluster, "extensions", "flux", "2025-03-01");
            let installed = service.arm.put(&extension, &flux_extension()).await;
            assert_eq!(installed.status, 201, "{}", installed.text);
            let delete = async { service.arm.delete(&format!("{extension}&forceDelete=true")).await };
            let puts = (0..RACERS - 1).map(|i| {
                let path = resource(
                    &cluster,
                    "fluxConfigurations",
                    &format!("config-{i}"),
                    "2025-04-01",
                );
                async move { service.arm.put(&path, &git_config()).await }
            });
            let (deleted, answers) = tokio::join!(delete, join_all(puts));
            assert!(
                matches!(deleted.status, 200 | 409),
                "{} {}",
                deleted.status,
                deleted.text
            );
            for answer in &answers {
                assert!(
                    matches!(answer.status, 201 | 409),
                    "{} {}",
                    answer.status,
                    answer.text
                );
            }
            let configurations = listed(service, &cluster, "fluxConfigurations", "2025-04-01").await;
            let extensions = listed(service, &cluster, "extensions", "2025-03-01").await;
            if !configurations.is_empty() {
                assert!(
                    extensions.iter().any(is_flux),
                    "{} configurations and no microsoft.flux (delete answered {})",
                    configurations.len(),
                    deleted.status
                );
            }
        }
    })
    .await;
}
