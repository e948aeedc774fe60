//! The embedded default: one SQLite file in the data directory.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so writers queue instead of failing to upgrade
//! a read lock; reads use their own pool and see consistent snapshots (WAL). `synchronous = FULL` makes every
//! acknowledged commit durable even across a power cut.
//!
//! Group commit: changes are committed by one writer task, which takes every change waiting at that moment into
//! one transaction, each in a savepoint of its own (a change that fails, a conflict, is rolled back alone), and
//! answers each only after that transaction committed: one fsync for many changes, each still atomic and
//! durable when acknowledged. Under no load a group is one change and waits for nothing.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use tokio::sync::{mpsc, oneshot};

use crate::sql::{sql_rows, sql_store};
use crate::{Change, ChangeFeed, Committed, Result, StoreError};

/// The most changes one group commit takes.
const MAX_GROUP: usize = 256;

/// A change waiting for the writer, and where its outcome goes.
struct Job {
    change: Change,
    done: oneshot::Sender<Result<Committed>>,
}

type Db = sqlx::Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// The group-commit writer's queue; `None` commits each change in a transaction of its own.
    commits: Option<mpsc::Sender<Job>>,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Opens (creating if needed) the database file and applies pending migrations; commits in groups.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, true).await
    }

    /// `group_commit: false` commits every change in a transaction of its own (the benchmark's bare-store peer).
    pub async fn open_with(path: &Path, group_commit: bool) -> Result<Self> {
        restrict_to_owner(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // Deleted rows (expired or delivered secrets) are overwritten on disk, not left in free pages.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(30));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR
            .run(&write)
            .await
            .map_err(|e| crate::StoreError::Backend(format!("migrations: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let commits = group_commit.then(|| {
            let (queue, jobs) = mpsc::channel(4 * MAX_GROUP);
            let writer = SqliteStore {
                read: read.clone(),
                write: write.clone(),
                commits: None,
            };
            tokio::spawn(writer.write_groups(jobs));
            queue
        });
        Ok(Self { read, write, commits })
    }

    async fn commit_change(&self, change: Change) -> Result<Committed> {
        let Some(queue) = &self.commits else {
            return self.commit_alone(&change).await;
        };
        let (done, outcome) = oneshot::channel();
        queue
            .send(Job { change, done })
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer stopped".into()))?
    }

    /// The writer: every change waiting at the moment goes into one transaction.
    async fn write_groups(self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(first) = jobs.recv().await {
            let mut group = vec![first];
            while group.len() < MAX_GROUP
                && let Ok(job) = jobs.try_recv()
            {
                group.push(job);
            }
            let changes: Vec<&Change> = group.iter().map(|job| &job.change).collect();
            match self.commit_group(&changes).await {
                Ok(outcomes) => {
                    for (job, outcome) in group.into_iter().zip(outcomes) {
                        let _ = job.done.send(outcome);
                    }
                }
                // Nothing of the group committed: each change fails as it would have alone.
                Err(err) => {
                    let message = err.to_string();
                    for job in group {
                        let _ = job.done.send(Err(StoreError::Unavailable(message.clone())));
                    }
                }
            }
        }
    }

    /// One transaction; each change in a savepoint, rolled back alone if it fails. `Err` when the transaction
    /// itself failed (then none of it committed).
    async fn commit_group(&self, changes: &[&Change]) -> Result<Vec<Result<Committed>>> {
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            sqlx::query("SAVEPOINT change").execute(&mut *tx).await?;
            let outcome = self.apply_change(&mut tx, change).await;
            if outcome.is_err() {
                sqlx::query("ROLLBACK TO change").execute(&mut *tx).await?;
            }
            sqlx::query("RELEASE change").execute(&mut *tx).await?;
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.read
    }

    fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    async fn read_tx(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.read.begin().await?)
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// One process owns a SQLite file: its writes wake its own waiters directly, so there is nothing to announce.
    async fn signal(
        &self,
        _conn: &mut <Db as sqlx::Database>::Connection,
        _cluster: &str,
        _version: u64,
    ) -> Result<()> {
        Ok(())
    }

    fn change_feed(&self) -> Option<ChangeFeed> {
        None
    }
}

/// The database holds sealed resource data: like the key files beside it, readable by the service's user only.
/// SQLite gives the WAL and shared-memory files the mode of the database file, so creating that one 0600 (and
/// tightening files an older version made) covers all three.
fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e: std::io::Error| crate::StoreError::Backend(format!("{}: {e}", path.display()));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
        }
    }
    Ok(())
}

sql_rows!(SqliteRow);
sql_store!(SqliteStore);

impl SqliteStore {
    /// `PRAGMA wal_checkpoint(TRUNCATE)`: every frame of the log into the database, and the log emptied. Old
    /// page images (deleted secrets among them) live in the log until then; in the database, `secure_delete`
    /// has zeroed what was deleted. Complete only when no reader holds an older snapshot.
    async fn compact(&self) -> Result<bool> {
        let (busy, _log_frames, _checkpointed): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.write)
                .await?;
        Ok(busy == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, std::sync::Arc<dyn crate::Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).await.unwrap();
        (dir, std::sync::Arc::new(store))
    }

    crate::conformance_tests!(open);

    /// Changes committed together in one group stay atomic each: one that conflicts is rolled back alone, the
    /// others of its group commit, and every acknowledged change is there after the store is opened again.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_group_commit_keeps_each_change_atomic() {
        use crate::{Change, Etag, Expect, ResourceKind, ResourceRecord, Store as _, StoreError, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).await.unwrap());
        let now = chrono::Utc::now();
        let put = |cluster: &str, name: &str| {
            Change::new(cluster, "s", now).bump().with(Write::PutResource {
                record: ResourceRecord {
                    cluster: cluster.to_owned(),
                    kind: ResourceKind::FluxConfiguration,
                    name: name.to_owned(),
                    generation: 1,
                    state: "Creating".into(),
                    deleting: false,
                    body: vec![7; 100],
                    created_at: now,
                    updated_at: now,
                    etag: Etag(String::new()),
                },
                expect: Expect::Absent,
            })
        };
        // 40 changes of distinct clusters and 40 that all create the same resource, at once.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..40 {
            let (store, mine, contested) = (store.clone(), put(&format!("c{i}"), "a"), put("shared", "a"));
            tasks.spawn(async move { (store.commit(mine).await, store.commit(contested).await) });
        }
        let (mut distinct, mut won, mut conflicts) = (0, 0, 0);
        while let Some(done) = tasks.join_next().await {
            let (mine, contested) = done.unwrap();
            distinct += usize::from(mine.is_ok());
            match contested {
                Ok(_) => won += 1,
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((distinct, won, conflicts), (40, 1, 39));
        drop(store);
        let reopened = SqliteStore::open(&path).await.unwrap();
        for i in 0..40 {
            let partition = reopened.partition(&format!("c{i}")).await.unwrap();
            assert_eq!((partition.version(), partition.resources.len()), (1, 1));
        }
        let shared = reopened.partition("shared").await.unwrap();
        assert_eq!(
            (shared.version(), shared.resources.len()),
            (1, 1),
            "the losers left nothing"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_readable_by_their_owner_only() {
        use crate::Store as _;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .commit(crate::Change::new("c", "s", chrono::Utc::now()).bump())
            .await
            .unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", entry.path().display());
            seen += 1;
        }
        assert!(seen >= 2, "the database and its WAL");
    }
}
