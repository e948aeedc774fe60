//! The embedded default: one SQLite file in the data directory.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so writers queue instead of failing to upgrade
//! a read lock; reads use their own pool and see consistent snapshots (WAL). `synchronous = FULL` makes every
//! acknowledged commit durable even across a power cut.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

use crate::sql::{sql_rows, sql_store};
use crate::{ChangeFeed, Result};

type Db = sqlx::Sqlite;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
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
        Ok(Self { read, write })
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
        _tx: &mut sqlx::Transaction<'static, Db>,
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
