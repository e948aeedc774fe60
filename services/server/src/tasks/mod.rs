//! Background tasks. Each is its own file; one driver runs them all on their periods and records, per task,
//! when it last ran and what came of it (served at `GET /status/tasks`). Every task is safe to run on several
//! instances at once: its writes carry the expectations that make a second instance's attempt a no-op.

mod data_key_reseal;
mod data_key_rollover;
mod extension_auto_upgrade;
mod fleet_index;
mod key_refresh;
mod key_rotation;
mod operation_retention;
mod pending_timeouts;
mod policy_assignments_refresh;
mod policy_evaluation;
mod policy_remediation;
mod secret_expiry;
mod subscription_purge;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::app::App;
use crate::config::Config;
use crate::keyring::Keyring;

pub use data_key_reseal::DataKeyReseal;
pub use data_key_rollover::DataKeyRollover;
pub use extension_auto_upgrade::ExtensionAutoUpgrade;
pub use fleet_index::FleetIndexTask;
pub use key_refresh::KeyRefresh;
pub use key_rotation::KeyRotation;
pub use operation_retention::OperationRetention;
pub use pending_timeouts::PendingTimeouts;
pub use policy_assignments_refresh::PolicyAssignmentsRefresh;
pub use policy_evaluation::PolicyEvaluation;
pub use policy_remediation::PolicyRemediation;
pub use secret_expiry::SecretExpiry;
pub use subscription_purge::SubscriptionPurge;

#[async_trait]
pub trait BackgroundTask: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// One run; the value summarises what it did.
    async fn activate(&self) -> anyhow::Result<Value>;

    /// Resolves when work arrived that should not wait for the period (an event-driven task); never, by default.
    async fn woken(&self) {
        std::future::pending::<()>().await
    }
}

/// What a task did last.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub name: &'static str,
    pub period_seconds: u64,
    pub runs: u64,
    pub failures: u64,
    pub last_started: Option<DateTime<Utc>>,
    pub last_finished: Option<DateTime<Utc>>,
    pub last_outcome: Option<Value>,
    pub last_error: Option<String>,
}

/// The tasks' statuses, shared with the HTTP edge.
#[derive(Default)]
pub struct TaskBoard(Mutex<BTreeMap<&'static str, TaskStatus>>);

impl TaskBoard {
    pub fn statuses(&self) -> Vec<TaskStatus> {
        self.0
            .lock()
            .expect("task board lock")
            .values()
            .cloned()
            .collect()
    }

    fn update(&self, name: &'static str, change: impl FnOnce(&mut TaskStatus)) {
        if let Some(status) = self.0.lock().expect("task board lock").get_mut(name) {
            change(status);
        }
    }
}

pub struct Driver {
    tasks: Vec<(Arc<dyn BackgroundTask>, Duration)>,
    board: Arc<TaskBoard>,
}

impl Driver {
    /// The service's tasks, on the configured periods.
    pub fn for_service(app: Arc<App>, keyring: Arc<Keyring>, config: &Config) -> Self {
        let periods = &config.tasks;
        let mut driver = Driver {
            tasks: Vec::new(),
            board: Arc::default(),
        };
        driver.register(Arc::new(SecretExpiry(app.clone())), periods.secret_expiry);
        driver.register(Arc::new(PendingTimeouts(app.clone())), periods.pending_timeouts);
        driver.register(
            Arc::new(OperationRetention(app.clone())),
            periods.operation_retention,
        );
        driver.register(
            Arc::new(SubscriptionPurge(app.clone())),
            periods.subscription_purge,
        );
        driver.register(
            Arc::new(DataKeyReseal::new(
                app.clone(),
                keyring.clone(),
                2 * config.crypto.key_cache_ttl,
            )),
            periods.data_key_reseal,
        );
        driver.register(Arc::new(KeyRotation(keyring.clone())), periods.key_rotation);
        driver.register(
            Arc::new(DataKeyRollover {
                keyring: keyring.clone(),
                max_age: config.crypto.data_key_max_age,
                max_seals: config.crypto.data_key_max_seals,
            }),
            periods.data_key_rollover,
        );
        driver.register(Arc::new(KeyRefresh(keyring)), periods.key_refresh);
        driver.register(
            Arc::new(PolicyAssignmentsRefresh(app.clone())),
            periods.policy_assignments_refresh,
        );
        driver.register(
            Arc::new(PolicyEvaluation::new(app.clone())),
            periods.policy_evaluation,
        );
        driver.register(
            Arc::new(ExtensionAutoUpgrade::new(app.clone())),
            periods.extension_auto_upgrade,
        );
        driver.register(
            Arc::new(FleetIndexTask::new(app.clone(), periods.fleet_rescan)),
            periods.fleet_index,
        );
        driver.register(
            Arc::new(PolicyRemediation {
                app,
                budget: config.policy.remediation_run_budget,
            }),
            periods.policy_remediation,
        );
        driver
    }

    pub fn register(&mut self, task: Arc<dyn BackgroundTask>, period: Duration) {
        self.board.0.lock().expect("task board lock").insert(
            task.name(),
            TaskStatus {
                name: task.name(),
                period_seconds: period.as_secs(),
                runs: 0,
                failures: 0,
                last_started: None,
                last_finished: None,
                last_outcome: None,
                last_error: None,
            },
        );
        self.tasks.push((task, period));
    }

    pub fn board(&self) -> Arc<TaskBoard> {
        self.board.clone()
    }

    /// Runs every task on its period until `shutdown` turns true. The first run of each comes after one period.
    pub fn spawn(self, shutdown: tokio::sync::watch::Receiver<bool>) -> JoinSet<()> {
        let mut set = JoinSet::new();
        for (task, period) in self.tasks {
            let board = self.board.clone();
            let mut shutdown = shutdown.clone();
            set.spawn(async move {
                let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    // The guard `wait_for` returns must not be held across an await: drop it inside the block.
                    let stop = async { drop(shutdown.wait_for(|stop| *stop).await) };
                    tokio::select! {
                        _ = stop => return,
                        _ = interval.tick() => run_once(task.as_ref(), &board).await,
                        _ = task.woken() => run_once(task.as_ref(), &board).await,
                    }
                }
            });
        }
        set
    }
}

/// Runs a task once and records the outcome.
pub async fn run_once(task: &dyn BackgroundTask, board: &TaskBoard) {
    let name = task.name();
    board.update(name, |s| s.last_started = Some(Utc::now()));
    // Each run is a trace of its own: a root span, with the store and key-provider calls under it.
    let span = tracing::info_span!(parent: None, "task", otel.name = %format!("task.{name}"), task = name);
    let started = std::time::Instant::now();
    let outcome = tracing::Instrument::instrument(task.activate(), span).await;
    crate::telemetry::metrics().task_run(name, started.elapsed(), outcome.is_ok());
    board.update(name, |s| {
        s.runs += 1;
        s.last_finished = Some(Utc::now());
        match &outcome {
            Ok(value) => {
                s.last_outcome = Some(value.clone());
                s.last_error = None;
            }
            Err(err) => {
                s.failures += 1;
                s.last_error = Some(format!("{err:#}"));
            }
        }
    });
    match outcome {
        Ok(value) => tracing::debug!(task = name, outcome = %value, "background task ran"),
        Err(err) => tracing::warn!(task = name, error = %format!("{err:#}"), "background task failed"),
    }
}
