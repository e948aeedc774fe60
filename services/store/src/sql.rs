//! The SQL backends (SQLite and PostgreSQL) share their statements and row mapping: both accept `$N` parameters,
//! `ON CONFLICT` and `RETURNING`. `sql_store!` writes the `Store` implementation for one sqlx database type; the
//! backend supplies four hooks: `write_tx` (a transaction for a change: SQLite's takes the single write lock,
//! PostgreSQL's relies on row locks and conditional statements), `read_tx` (a consistent snapshot) `signal` (announce a new version to other instances, inside the transaction) and `compact` (make deleted rows unrecoverable from its files).

/// Maps a row of `resources` (or `operations`, ...) to its record. Shared by both backends.
macro_rules! sql_rows {
    ($row:ty) => {
        use sqlx::Row as _;

        fn resource_from(row: &$row) -> $crate::Result<$crate::ResourceRecord> {
            let kind: String = row.try_get("kind")?;
            Ok($crate::ResourceRecord {
                cluster: row.try_get("cluster")?,
                kind: $crate::ResourceKind::from_stored(&kind)?,
                name: row.try_get("name")?,
                generation: row.try_get::<i64, _>("generation")? as u64,
                state: row.try_get("state")?,
                deleting: row.try_get("deleting")?,
                body: row.try_get("body")?,
                created_at: $crate::from_millis(row.try_get("created_at")?),
                updated_at: $crate::from_millis(row.try_get("updated_at")?),
                etag: $crate::Etag(row.try_get("etag")?),
            })
        }

        fn secret_from(row: &$row) -> $crate::Result<$crate::SecretRecord> {
            let kind: String = row.try_get("kind")?;
            Ok($crate::SecretRecord {
                cluster: row.try_get("cluster")?,
                kind: $crate::ResourceKind::from_stored(&kind)?,
                name: row.try_get("name")?,
                group: row.try_get("grp")?,
                generation: row.try_get::<i64, _>("generation")? as u64,
                expires_at: $crate::from_millis(row.try_get("expires_at")?),
                body: row.try_get("body")?,
            })
        }

        fn operation_from(row: &$row) -> $crate::Result<$crate::OperationRecord> {
            let kind: String = row.try_get("kind")?;
            let id: String = row.try_get("id")?;
            Ok($crate::OperationRecord {
                cluster: row.try_get("cluster")?,
                id: id
                    .parse()
                    .map_err(|_| $crate::StoreError::Corrupt(format!("operation id '{id}'")))?,
                kind: $crate::ResourceKind::from_stored(&kind)?,
                name: row.try_get("name")?,
                action: row.try_get("action")?,
                generation: row.try_get::<i64, _>("generation")? as u64,
                status: row.try_get("status")?,
                started_at: $crate::from_millis(row.try_get("started_at")?),
                ended_at: row
                    .try_get::<Option<i64>, _>("ended_at")?
                    .map($crate::from_millis),
                deadline: $crate::from_millis(row.try_get("deadline")?),
                error: row.try_get("error")?,
                expires_at: row
                    .try_get::<Option<i64>, _>("expires_at")?
                    .map($crate::from_millis),
                etag: $crate::Etag(row.try_get("etag")?),
            })
        }

        fn subscription_from(row: &$row) -> $crate::Result<$crate::SubscriptionRecord> {
            Ok($crate::SubscriptionRecord {
                subscription: row.try_get("subscription")?,
                state: row.try_get("state")?,
                body: row.try_get("body")?,
                updated_at: $crate::from_millis(row.try_get("updated_at")?),
            })
        }

        fn cluster_from(row: &$row) -> $crate::Result<$crate::ClusterRecord> {
            Ok($crate::ClusterRecord {
                cluster: row.try_get("cluster")?,
                subscription: row.try_get("subscription")?,
                version: row.try_get::<i64, _>("version")? as u64,
                agent: row.try_get("agent")?,
                last_contact: row
                    .try_get::<Option<i64>, _>("last_contact")?
                    .map($crate::from_millis),
                created_at: $crate::from_millis(row.try_get("created_at")?),
                agent_tokens_not_before: row
                    .try_get::<Option<i64>, _>("agent_tokens_not_before")?
                    .map($crate::from_millis),
                inventory: row.try_get("inventory")?,
            })
        }
    };
}

macro_rules! sql_store {
    ($store:ty) => {

        fn conflict(what: impl std::fmt::Display) -> $crate::StoreError {
            $crate::StoreError::Conflict(what.to_string())
        }

        fn is_unique_violation(err: &sqlx::Error) -> bool {
            matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn partition(&self, cluster: &str) -> $crate::Result<$crate::Partition> {
                let mut tx = self.read_tx().await?;
                let record = sqlx::query("SELECT * FROM clusters WHERE cluster = $1")
                    .bind(cluster)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| cluster_from(&row))
                    .transpose()?;
                let resources = sqlx::query("SELECT * FROM resources WHERE cluster = $1 ORDER BY kind, name")
                    .bind(cluster)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(resource_from)
                    .collect::<$crate::Result<Vec<_>>>()?;
                let secrets = sqlx::query("SELECT * FROM secrets WHERE cluster = $1 ORDER BY kind, name, grp")
                    .bind(cluster)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(secret_from)
                    .collect::<$crate::Result<Vec<_>>>()?;
                let operations =
                    sqlx::query("SELECT * FROM operations WHERE cluster = $1 AND ended_at IS NULL ORDER BY id")
                        .bind(cluster)
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(operation_from)
                        .collect::<$crate::Result<Vec<_>>>()?;
                let policy_states = read_policy_states(&mut *tx, cluster).await?;
                tx.commit().await?;
                Ok($crate::Partition { cluster: record, resources, secrets, operations, policy_states })
            }

            async fn cluster(&self, cluster: &str) -> $crate::Result<Option<$crate::ClusterRecord>> {
                sqlx::query("SELECT * FROM clusters WHERE cluster = $1")
                    .bind(cluster)
                    .fetch_optional(self.read_pool())
                    .await?
                    .map(|row| cluster_from(&row))
                    .transpose()
            }

            async fn resource(
                &self,
                cluster: &str,
                kind: $crate::ResourceKind,
                name: &str,
            ) -> $crate::Result<Option<$crate::ResourceRecord>> {
                sqlx::query("SELECT * FROM resources WHERE cluster = $1 AND kind = $2 AND name = $3")
                    .bind(cluster)
                    .bind(kind.as_str())
                    .bind(name)
                    .fetch_optional(self.read_pool())
                    .await?
                    .map(|row| resource_from(&row))
                    .transpose()
            }

            async fn list_resources(
                &self,
                cluster: &str,
                kind: $crate::ResourceKind,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::ResourceRecord>> {
                sqlx::query(
                    "SELECT * FROM resources WHERE cluster = $1 AND kind = $2 AND name > $3 ORDER BY name LIMIT $4",
                )
                .bind(cluster)
                .bind(kind.as_str())
                .bind(after.unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(resource_from)
                .collect()
            }

            async fn operation(
                &self,
                cluster: &str,
                id: uuid::Uuid,
            ) -> $crate::Result<Option<$crate::OperationRecord>> {
                sqlx::query("SELECT * FROM operations WHERE cluster = $1 AND id = $2")
                    .bind(cluster)
                    .bind(id.to_string())
                    .fetch_optional(self.read_pool())
                    .await?
                    .map(|row| operation_from(&row))
                    .transpose()
            }

            async fn list_running_operations(
                &self,
                cluster: &str,
                after: Option<uuid::Uuid>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::OperationRecord>> {
                sqlx::query(
                    "SELECT * FROM operations WHERE cluster = $1 AND ended_at IS NULL AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(cluster)
                .bind(after.map(|id| id.to_string()).unwrap_or_default())
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(operation_from)
                .collect()
            }

            async fn commit(&self, change: $crate::Change) -> $crate::Result<$crate::Committed> {
                self.commit_change(change).await
            }

            async fn operations_past_deadline(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::OperationRecord>> {
                sqlx::query(
                    "SELECT * FROM operations WHERE ended_at IS NULL AND deadline <= $1 ORDER BY deadline LIMIT $2",
                )
                .bind($crate::to_millis(now))
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(operation_from)
                .collect()
            }

            async fn expired_secrets(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::SecretKey>> {
                let rows = sqlx::query(
                    "SELECT cluster, kind, name, grp FROM secrets WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2",
                )
                .bind($crate::to_millis(now))
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|row| {
                        let kind: String = row.try_get("kind")?;
                        Ok($crate::SecretKey {
                            cluster: row.try_get("cluster")?,
                            kind: $crate::ResourceKind::from_stored(&kind)?,
                            name: row.try_get("name")?,
                            group: row.try_get("grp")?,
                        })
                    })
                    .collect()
            }

            async fn delete_expired_secret(
                &self,
                key: &$crate::SecretKey,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM secrets WHERE cluster = $1 AND kind = $2 AND name = $3 AND grp = $4 AND expires_at <= $5",
                )
                .bind(&key.cluster)
                .bind(key.kind.as_str())
                .bind(&key.name)
                .bind(&key.group)
                .bind($crate::to_millis(now))
                .execute(self.write_pool())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn compact_deleted(&self) -> $crate::Result<bool> {
                self.compact().await
            }

            async fn delete_expired_operations(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM operations WHERE (cluster, id) IN (
                        SELECT cluster, id FROM operations WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)",
                )
                .bind($crate::to_millis(now))
                .bind(limit as i64)
                .execute(self.write_pool())
                .await?;
                Ok(done.rows_affected())
            }

            async fn subscription(&self, subscription: &str) -> $crate::Result<Option<$crate::SubscriptionRecord>> {
                let row = sqlx::query("SELECT * FROM subscriptions WHERE subscription = $1")
                    .bind(subscription)
                    .fetch_optional(self.read_pool())
                    .await?;
                row.map(|row| subscription_from(&row)).transpose()
            }

            async fn subscriptions_in_state(&self, state: &str) -> $crate::Result<Vec<$crate::SubscriptionRecord>> {
                let rows = sqlx::query("SELECT * FROM subscriptions WHERE state = $1 ORDER BY subscription")
                    .bind(state)
                    .fetch_all(self.read_pool())
                    .await?;
                rows.iter().map(subscription_from).collect()
            }

            async fn put_subscription(&self, record: $crate::SubscriptionRecord) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO subscriptions (subscription, state, body, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (subscription) DO UPDATE SET state = excluded.state, body = excluded.body,
                     updated_at = excluded.updated_at",
                )
                .bind(&record.subscription)
                .bind(&record.state)
                .bind(&record.body)
                .bind($crate::to_millis(record.updated_at))
                .execute(self.write_pool())
                .await?;
                Ok(())
            }

            async fn clusters_in_subscription(&self, subscription: &str) -> $crate::Result<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT cluster FROM clusters WHERE subscription = $1 ORDER BY cluster")
                    .bind(subscription)
                    .fetch_all(self.read_pool())
                    .await?)
            }

            async fn clusters_after(&self, after: Option<&str>, limit: usize) -> $crate::Result<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT cluster FROM clusters WHERE cluster > $1 ORDER BY cluster LIMIT $2")
                    .bind(after.unwrap_or(""))
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await?)
            }

            async fn purge_cluster(&self, cluster: &str) -> $crate::Result<()> {
                let mut tx = self.write_tx().await?;
                for statement in [
                    "DELETE FROM secrets WHERE cluster = $1",
                    "DELETE FROM operations WHERE cluster = $1",
                    "DELETE FROM policy_states WHERE cluster = $1",
                    "DELETE FROM resources WHERE cluster = $1",
                    "DELETE FROM clusters WHERE cluster = $1",
                ] {
                    sqlx::query(statement).bind(cluster).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn data_keys(&self) -> $crate::Result<Vec<$crate::DataKeyRecord>> {
                let rows = sqlx::query("SELECT * FROM data_keys ORDER BY id").fetch_all(self.read_pool()).await?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::DataKeyRecord {
                            id: row.try_get::<i64, _>("id")? as u32,
                            provider: row.try_get("provider")?,
                            kek_version: row.try_get("kek_version")?,
                            wrapped: row.try_get("wrapped")?,
                            created_at: $crate::from_millis(row.try_get("created_at")?),
                            destroy_at: row.try_get::<Option<i64>, _>("destroy_at")?.map($crate::from_millis),
                            etag: $crate::Etag(row.try_get("etag")?),
                        })
                    })
                    .collect()
            }

            async fn put_data_key(&self, record: $crate::DataKeyRecord, expect: $crate::Expect) -> $crate::Result<$crate::Etag> {
                let etag = $crate::Etag::new_random();
                let query = match &expect {
                    $crate::Expect::Etag(expected) => sqlx::query(
                        "UPDATE data_keys SET provider = $2, kek_version = $3, wrapped = $4, etag = $6
                         WHERE id = $1 AND etag = $7",
                    )
                    .bind(record.id as i64)
                    .bind(&record.provider)
                    .bind(&record.kek_version)
                    .bind(&record.wrapped)
                    .bind($crate::to_millis(record.created_at))
                    .bind(&etag.0)
                    .bind(&expected.0),
                    _ => sqlx::query(
                        "INSERT INTO data_keys (id, provider, kek_version, wrapped, created_at, etag, destroy_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(record.id as i64)
                    .bind(&record.provider)
                    .bind(&record.kek_version)
                    .bind(&record.wrapped)
                    .bind($crate::to_millis(record.created_at))
                    .bind(&etag.0)
                    .bind(record.destroy_at.map($crate::to_millis)),
                };
                match query.execute(self.write_pool()).await {
                    Ok(done) if done.rows_affected() == 1 => Ok(etag),
                    Ok(_) => Err(conflict(format!("data key {} changed", record.id))),
                    Err(err) if is_unique_violation(&err) => Err(conflict(format!("data key {} exists", record.id))),
                    Err(err) => Err(err.into()),
                }
            }

            async fn delete_data_key(&self, id: u32) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM data_keys WHERE id = $1")
                    .bind(id as i64)
                    .execute(self.write_pool())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn policy_record(
                &self,
                kind: $crate::PolicyKind,
                id: &str,
            ) -> $crate::Result<Option<$crate::PolicyRecord>> {
                self.sql_policy_record(kind, id).await
            }

            async fn policy_records(
                &self,
                kind: $crate::PolicyKind,
                scope_prefix: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::PolicyRecord>> {
                self.sql_policy_records(kind, scope_prefix, after, limit).await
            }

            async fn put_policy_record(
                &self,
                record: $crate::PolicyRecord,
                expect: $crate::Expect,
            ) -> $crate::Result<$crate::Etag> {
                self.sql_put_policy_record(record, expect).await
            }

            async fn delete_policy_record(&self, kind: $crate::PolicyKind, id: &str) -> $crate::Result<bool> {
                self.sql_delete_policy_record(kind, id).await
            }

            async fn policy_states(
                &self,
                assignment: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::PolicyStateRecord>> {
                self.sql_policy_states(assignment, after, limit).await
            }

            async fn delete_policy_states(&self, assignment: &str) -> $crate::Result<u64> {
                self.sql_delete_policy_states(assignment).await
            }

            fn changes(&self) -> Option<$crate::ChangeFeed> {
                self.change_feed()
            }
        }

        $crate::sql_policy::sql_policy!($store);

        impl $store {
            /// Commits `change` in a transaction of its own.
            async fn commit_alone(&self, change: &$crate::Change) -> $crate::Result<$crate::Committed> {
                let mut tx = self.write_tx().await?;
                let committed = self.apply_change(&mut tx, change).await?;
                tx.commit().await?;
                Ok(committed)
            }

            /// Applies `change` on `conn`, inside the caller's transaction (or savepoint); the caller commits.
            async fn apply_change(
                &self,
                conn: &mut <Db as sqlx::Database>::Connection,
                change: &$crate::Change,
            ) -> $crate::Result<$crate::Committed> {
                sqlx::query(
                    "INSERT INTO clusters (cluster, subscription, version, created_at) VALUES ($1, $2, 0, $3)
                     ON CONFLICT (cluster) DO NOTHING",
                )
                .bind(&change.cluster)
                .bind(&change.subscription)
                .bind($crate::to_millis(change.at))
                .execute(&mut *conn)
                .await?;
                let cluster = change.cluster.as_str();
                if let Some(expected) = change.expect_version {
                    // Checked first, so the row lock it takes (PostgreSQL) orders this change before any other
                    // guarded change of the cluster; a change that committed since the decision's read fails it.
                    let held = sqlx::query("UPDATE clusters SET version = version WHERE cluster = $1 AND version = $2")
                        .bind(cluster)
                        .bind(expected as i64)
                        .execute(&mut *conn)
                        .await?;
                    if held.rows_affected() == 0 {
                        return Err(conflict(format!("cluster '{cluster}' changed since version {expected}")));
                    }
                }
                let mut etags = Vec::with_capacity(change.writes.len());
                for write in &change.writes {
                    etags.push(apply_write(&mut *conn, cluster, write).await?);
                }
                let version: i64 = if change.bump_version {
                    let version: i64 =
                        sqlx::query_scalar("UPDATE clusters SET version = version + 1 WHERE cluster = $1 RETURNING version")
                            .bind(cluster)
                            .fetch_one(&mut *conn)
                            .await?;
                    self.signal(&mut *conn, cluster, version as u64).await?;
                    version
                } else {
                    sqlx::query_scalar("SELECT version FROM clusters WHERE cluster = $1")
                        .bind(cluster)
                        .fetch_one(&mut *conn)
                        .await?
                };
                Ok($crate::Committed { version: version as u64, etags })
            }
        }

        /// Applies one write inside a transaction; returns the new etag of a put resource or operation.
        async fn apply_write(
            conn: &mut <Db as sqlx::Database>::Connection,
            cluster: &str,
            write: &$crate::Write,
        ) -> $crate::Result<Option<$crate::Etag>> {
            use $crate::{Expect, Write};
            match write {
                Write::PutResource { record, expect } => {
                    let etag = $crate::Etag::new_random();
                    let query = match expect {
                        Expect::Etag(_) => sqlx::query(
                            "UPDATE resources SET generation = $4, state = $5, deleting = $6, body = $7, created_at = $8,
                             updated_at = $9, etag = $10 WHERE cluster = $1 AND kind = $2 AND name = $3 AND etag = $11",
                        ),
                        Expect::Absent => sqlx::query(
                            "INSERT INTO resources (cluster, kind, name, generation, state, deleting, body, created_at,
                             updated_at, etag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        ),
                        Expect::Anything => sqlx::query(
                            "INSERT INTO resources (cluster, kind, name, generation, state, deleting, body, created_at,
                             updated_at, etag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                             ON CONFLICT (cluster, kind, name) DO UPDATE SET generation = excluded.generation,
                             state = excluded.state, deleting = excluded.deleting, body = excluded.body,
                             created_at = excluded.created_at, updated_at = excluded.updated_at, etag = excluded.etag",
                        ),
                    };
                    let mut query = query
                        .bind(cluster)
                        .bind(record.kind.as_str())
                        .bind(&record.name)
                        .bind(record.generation as i64)
                        .bind(&record.state)
                        .bind(record.deleting)
                        .bind(&record.body)
                        .bind($crate::to_millis(record.created_at))
                        .bind($crate::to_millis(record.updated_at))
                        .bind(&etag.0);
                    if let Expect::Etag(expected) = expect {
                        query = query.bind(&expected.0);
                    }
                    match query.execute(&mut *conn).await {
                        Ok(done) if done.rows_affected() == 1 => Ok(Some(etag)),
                        Ok(_) => Err(conflict(format!("{} '{}' changed", record.kind.as_str(), record.name))),
                        Err(err) if is_unique_violation(&err) => {
                            Err(conflict(format!("{} '{}' exists", record.kind.as_str(), record.name)))
                        }
                        Err(err) => Err(err.into()),
                    }
                }
                Write::DeleteResource { kind, name, expect } => {
                    let done = match expect {
                        Expect::Etag(expected) => {
                            sqlx::query("DELETE FROM resources WHERE cluster = $1 AND kind = $2 AND name = $3 AND etag = $4")
                                .bind(cluster)
                                .bind(kind.as_str())
                                .bind(name)
                                .bind(&expected.0)
                                .execute(&mut *conn)
                                .await?
                        }
                        Expect::Anything | Expect::Absent => {
                            sqlx::query("DELETE FROM resources WHERE cluster = $1 AND kind = $2 AND name = $3")
                                .bind(cluster)
                                .bind(kind.as_str())
                                .bind(name)
                                .execute(&mut *conn)
                                .await?
                        }
                    };
                    match expect {
                        Expect::Etag(_) if done.rows_affected() == 0 => {
                            Err(conflict(format!("{} '{name}' changed", kind.as_str())))
                        }
                        Expect::Absent if done.rows_affected() > 0 => {
                            Err(conflict(format!("{} '{name}' exists", kind.as_str())))
                        }
                        _ => Ok(None),
                    }
                }
                Write::PutSecret(secret) => {
                    sqlx::query(
                        "INSERT INTO secrets (cluster, kind, name, grp, generation, expires_at, body)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (cluster, kind, name, grp) DO UPDATE SET generation = excluded.generation,
                         expires_at = excluded.expires_at, body = excluded.body",
                    )
                    .bind(cluster)
                    .bind(secret.kind.as_str())
                    .bind(&secret.name)
                    .bind(&secret.group)
                    .bind(secret.generation as i64)
                    .bind($crate::to_millis(secret.expires_at))
                    .bind(&secret.body)
                    .execute(&mut *conn)
                    .await?;
                    Ok(None)
                }
                Write::DeleteSecret { kind, name, group } => {
                    sqlx::query("DELETE FROM secrets WHERE cluster = $1 AND kind = $2 AND name = $3 AND grp = $4")
                        .bind(cluster)
                        .bind(kind.as_str())
                        .bind(name)
                        .bind(group)
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                Write::PutOperation { record, expect } => {
                    let etag = $crate::Etag::new_random();
                    let query = match expect {
                        Expect::Etag(_) => sqlx::query(
                            "UPDATE operations SET kind = $3, name = $4, action = $5, generation = $6, status = $7,
                             started_at = $8, ended_at = $9, deadline = $10, error = $11, expires_at = $12, etag = $13
                             WHERE cluster = $1 AND id = $2 AND etag = $14",
                        ),
                        Expect::Absent => sqlx::query(
                            "INSERT INTO operations (cluster, id, kind, name, action, generation, status, started_at,
                             ended_at, deadline, error, expires_at, etag)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        ),
                        Expect::Anything => sqlx::query(
                            "INSERT INTO operations (cluster, id, kind, name, action, generation, status, started_at,
                             ended_at, deadline, error, expires_at, etag)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                             ON CONFLICT (cluster, id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
                             action = excluded.action, generation = excluded.generation, status = excluded.status,
                             started_at = excluded.started_at, ended_at = excluded.ended_at, deadline = excluded.deadline,
                             error = excluded.error, expires_at = excluded.expires_at, etag = excluded.etag",
                        ),
                    };
                    let mut query = query
                        .bind(cluster)
                        .bind(record.id.to_string())
                        .bind(record.kind.as_str())
                        .bind(&record.name)
                        .bind(&record.action)
                        .bind(record.generation as i64)
                        .bind(&record.status)
                        .bind($crate::to_millis(record.started_at))
                        .bind(record.ended_at.map($crate::to_millis))
                        .bind($crate::to_millis(record.deadline))
                        .bind(&record.error)
                        .bind(record.expires_at.map($crate::to_millis))
                        .bind(&etag.0);
                    if let Expect::Etag(expected) = expect {
                        query = query.bind(&expected.0);
                    }
                    match query.execute(&mut *conn).await {
                        Ok(done) if done.rows_affected() == 1 => Ok(Some(etag)),
                        Ok(_) => Err(conflict(format!("operation '{}' changed", record.id))),
                        Err(err) if is_unique_violation(&err) => {
                            Err(conflict(format!("operation '{}' exists", record.id)))
                        }
                        Err(err) => Err(err.into()),
                    }
                }
                Write::PutAgent { agent, last_contact } => {
                    sqlx::query("UPDATE clusters SET agent = $2, last_contact = $3 WHERE cluster = $1")
                        .bind(cluster)
                        .bind(agent)
                        .bind($crate::to_millis(*last_contact))
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                Write::Contact { at } => {
                    sqlx::query("UPDATE clusters SET last_contact = $2 WHERE cluster = $1")
                        .bind(cluster)
                        .bind($crate::to_millis(*at))
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                Write::RevokeAgentTokens { before } => {
                    sqlx::query("UPDATE clusters SET agent_tokens_not_before = $2 WHERE cluster = $1")
                        .bind(cluster)
                        .bind($crate::to_millis(*before))
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                Write::PutInventory { .. } | Write::PutPolicyState { .. } | Write::DeletePolicyState { .. } => {
                    apply_policy_write(conn, cluster, write).await
                }
            }
        }
    };
}

pub(crate) use {sql_rows, sql_store};
