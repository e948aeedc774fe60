//! The bare-store peer of the ARM PUT scenario: the service's own store code, opened directly (SQLite with the
//! service's settings, or a fresh PostgreSQL database), committing what a PUT of a cluster's first
//! fluxConfiguration commits (the cluster's version, the configuration and microsoft.flux, their two operations,
//! sealed bodies of the same sizes), one commit per PUT, from the same number of tasks. The difference to the
//! service is everything above the store: HTTP, authentication, validation, decisions and encryption.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use clusterconfig_store::postgres::{PoolSettings, PostgresStore};
use clusterconfig_store::sqlite::SqliteStore;
use clusterconfig_store::{
    Change, Etag, Expect, OperationRecord, ResourceKind, ResourceRecord, Store, Write,
};
use clusterconfig_testkit::postgres::TestDatabase;

use crate::processes::StoreChoice;

/// Sealed body sizes of a fluxConfiguration and of microsoft.flux, as the service writes them for the
/// scenario's PUT (read off a service's SQLite file).
const FLUX_BODY: usize = 1_400;
const EXTENSION_BODY: usize = 900;

fn body(size: usize, seed: u64) -> Vec<u8> {
    // Sealed bytes look random; the exact bytes do not matter to the store.
    (0..size)
        .map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) >> 24) as u8)
        .collect()
}

fn change(index: u64) -> Change {
    let cluster = format!(
        "/subscriptions/00000000-0000-0000-0000-00000000be4c/resourcegroups/bare/providers/microsoft.kubernetes/connectedclusters/c{index}"
    );
    let now = Utc::now();
    let resource = |kind, name: &str, size| ResourceRecord {
        cluster: cluster.clone(),
        kind,
        name: name.to_owned(),
        generation: 1,
        state: "Creating".into(),
        deleting: false,
        body: body(size, index),
        created_at: now,
        updated_at: now,
        etag: Etag(String::new()),
    };
    let operation = |kind, name: &str| OperationRecord {
        cluster: cluster.clone(),
        id: Uuid::new_v4(),
        kind,
        name: name.to_owned(),
        action: "create".into(),
        generation: 1,
        status: "Creating".into(),
        started_at: now,
        ended_at: None,
        deadline: now + chrono::Duration::hours(48),
        error: None,
        expires_at: None,
        etag: Etag(String::new()),
    };
    Change::new(&cluster, "00000000-0000-0000-0000-00000000be4c", now)
        .bump()
        .expecting_version(0)
        .with(Write::PutResource {
            record: resource(ResourceKind::FluxConfiguration, "app", FLUX_BODY),
            expect: Expect::Absent,
        })
        .with(Write::PutOperation {
            record: operation(ResourceKind::FluxConfiguration, "app"),
            expect: Expect::Absent,
        })
        .with(Write::PutResource {
            record: resource(ResourceKind::Extension, "flux", EXTENSION_BODY),
            expect: Expect::Absent,
        })
        .with(Write::PutOperation {
            record: operation(ResourceKind::Extension, "flux"),
            expect: Expect::Absent,
        })
}

/// Commits per second from `tasks` tasks for `duration`, and the p99 commit latency (ms).
pub async fn commits(choice: StoreChoice, tasks: usize, duration: Duration) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let mut database = None;
    let store: Arc<dyn Store> = match choice {
        // One transaction per change: the single-commit rate the service is measured against.
        StoreChoice::Sqlite => Arc::new(SqliteStore::open_with(&dir.path().join("bare.db"), false).await?),
        StoreChoice::Postgres => {
            let created = TestDatabase::create().await;
            let store = PostgresStore::connect(&created.url, &PoolSettings::default(), true).await?;
            database = Some(created);
            Arc::new(store)
        }
    };
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (store, counter) = (store.clone(), counter.clone());
        running.spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                let at = Instant::now();
                store.commit(change(index)).await?;
                latencies.push(at.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = running.join_next().await {
        latencies.extend(done??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    drop(store);
    drop(database);
    Ok((rate, crate::stats::percentile(&mut latencies, 99.0)))
}
