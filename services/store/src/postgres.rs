//! PostgreSQL, for self-hosted deployments with several instances on one database.
//!
//! Changes run at READ COMMITTED: a conditional write (`... WHERE etag = $n`) that meets a concurrent one waits
//! for its row, then re-checks its etag against the committed row, and creations meet the primary keys; version
//! bumps serialize on the cluster's row (`UPDATE clusters ... RETURNING version`). So no update is lost. Each version bump sends `NOTIFY` inside its
//! transaction, delivered only if it commits: every instance's listener wakes its own long-polls. If the
//! listener's connection drops, notifications may be lost, so the feed says `Resync` and waiters look again.

use std::time::Duration;

use clusterconfig_retry::RECONNECT;
use futures::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};

use crate::sql::{sql_rows, sql_store};
use crate::{ChangeFeed, FeedEvent, Result, StoreError};

type Db = sqlx::Postgres;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The channel version bumps are announced on.
const CHANNEL: &str = "clusterconfig_changes";

/// Connection pool settings (see the README's configuration reference).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 20,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    const BACKEND: &'static str = "postgres";

    /// Connects; with `migrate`, applies pending migrations first (several instances may do so at once:
    /// sqlx serializes them with an advisory lock).
    pub async fn connect(url: &str, settings: &PoolSettings, migrate: bool) -> Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(settings.min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(settings.idle_timeout)
            .connect_with(options)
            .await?;
        if migrate {
            Self::migrate_pool(&pool).await?;
        }
        Ok(Self { pool })
    }

    async fn migrate_pool(pool: &PgPool) -> Result<()> {
        MIGRATOR
            .run(pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrations: {e}")))
    }

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    fn write_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn read_tx(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    /// One transaction per change: concurrent commits share WAL flushes in PostgreSQL itself.
    async fn commit_change(&self, change: crate::Change) -> Result<crate::Committed> {
        self.commit_alone(&change).await
    }

    /// Announces the new version to every instance; delivered when (and only if) the transaction commits.
    async fn signal(
        &self,
        conn: &mut <Db as sqlx::Database>::Connection,
        cluster: &str,
        version: u64,
    ) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{version} {cluster}"))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Deleted secret rows stay in the table's pages as dead tuples until a vacuum: one after deletions makes
    /// their space reusable at once rather than whenever autovacuum comes by.
    async fn compact(&self) -> Result<bool> {
        sqlx::query("VACUUM secrets").execute(&self.pool).await?;
        Ok(true)
    }

    fn change_feed(&self) -> Option<ChangeFeed> {
        let pool = self.pool.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel::<FeedEvent>(1024);
        tokio::spawn(async move {
            let mut listener: Option<PgListener> = None;
            let mut reconnect = RECONNECT.delays();
            loop {
                if sender.is_closed() {
                    return;
                }
                let active = match listener.as_mut() {
                    Some(active) => active,
                    None => match connect_listener(&pool).await {
                        Ok(connected) => {
                            reconnect = RECONNECT.delays();
                            // Whatever happened while not listening is unknown: everyone looks again.
                            let _ = sender.send(FeedEvent::Resync).await;
                            listener.insert(connected)
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "cannot listen for changes; retrying");
                            tokio::time::sleep(reconnect.next().unwrap_or(RECONNECT.max)).await;
                            continue;
                        }
                    },
                };
                match active.try_recv().await {
                    Ok(Some(notification)) => {
                        if let Some((version, cluster)) = notification.payload().split_once(' ')
                            && let Ok(version) = version.parse()
                        {
                            let _ = sender
                                .send(FeedEvent::Changed {
                                    cluster: cluster.to_owned(),
                                    version,
                                })
                                .await;
                        }
                    }
                    // The connection was lost; the next round reconnects (and re-listens).
                    Ok(None) => {
                        tracing::warn!("the change listener lost its connection");
                        listener = None;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the change listener failed; reconnecting");
                        listener = None;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Some(tokio_stream(receiver).boxed())
    }
}

async fn connect_listener(pool: &PgPool) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

fn tokio_stream(
    mut receiver: tokio::sync::mpsc::Receiver<FeedEvent>,
) -> impl futures::Stream<Item = FeedEvent> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

sql_rows!(PgRow);
sql_store!(PostgresStore);

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (
        clusterconfig_testkit::postgres::TestDatabase,
        std::sync::Arc<dyn crate::Store>,
    ) {
        let database = clusterconfig_testkit::postgres::TestDatabase::create().await;
        let store = PostgresStore::connect(&database.url, &PoolSettings::default(), true)
            .await
            .unwrap();
        (database, std::sync::Arc::new(store))
    }

    crate::conformance_tests!(open);
}
