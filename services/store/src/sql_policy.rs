//! The SQL backends' statements for Azure Policy: policy records (definitions, assignments, remediations) beside
//! the clusters, and each cluster's policy states in its partition. `sql_policy!` writes, for one sqlx database
//! type, the inherent methods that the `Store` implementation of `sql_store!` calls, and the writes a change may
//! carry (`apply_policy_write`).

macro_rules! sql_policy {
    ($store:ty) => {
        fn policy_record_from(row: &<Db as sqlx::Database>::Row) -> $crate::Result<$crate::PolicyRecord> {
            let kind: String = row.try_get("kind")?;
            Ok($crate::PolicyRecord {
                kind: $crate::PolicyKind::from_stored(&kind)?,
                id: row.try_get("id")?,
                scope: row.try_get("scope")?,
                body: row.try_get("body")?,
                updated_at: $crate::from_millis(row.try_get("updated_at")?),
                etag: $crate::Etag(row.try_get("etag")?),
            })
        }

        fn policy_state_from(row: &<Db as sqlx::Database>::Row) -> $crate::Result<$crate::PolicyStateRecord> {
            Ok($crate::PolicyStateRecord {
                cluster: row.try_get("cluster")?,
                assignment: row.try_get("assignment")?,
                compliance: row.try_get("compliance")?,
                evaluated_at: $crate::from_millis(row.try_get("evaluated_at")?),
                body: row.try_get("body")?,
                etag: $crate::Etag(row.try_get("etag")?),
            })
        }

        impl $store {
            async fn sql_policy_record(
                &self,
                kind: $crate::PolicyKind,
                id: &str,
            ) -> $crate::Result<Option<$crate::PolicyRecord>> {
                sqlx::query("SELECT * FROM policy_records WHERE kind = $1 AND id = $2")
                    .bind(kind.as_str())
                    .bind(id)
                    .fetch_optional(self.read_pool())
                    .await?
                    .map(|row| policy_record_from(&row))
                    .transpose()
            }

            async fn sql_policy_records(
                &self,
                kind: $crate::PolicyKind,
                scope_prefix: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::PolicyRecord>> {
                // A prefix as a range (`>= p AND < p + U+FFFF`), so that no LIKE escaping is needed and the
                // index on (kind, scope, id) serves it.
                let upper = format!("{scope_prefix}\u{ffff}");
                sqlx::query(
                    "SELECT * FROM policy_records WHERE kind = $1 AND scope >= $2 AND scope < $3 AND id > $4
                     ORDER BY id LIMIT $5",
                )
                .bind(kind.as_str())
                .bind(scope_prefix)
                .bind(&upper)
                .bind(after.unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(policy_record_from)
                .collect()
            }

            async fn sql_put_policy_record(
                &self,
                record: $crate::PolicyRecord,
                expect: $crate::Expect,
            ) -> $crate::Result<$crate::Etag> {
                let etag = $crate::Etag::new_random();
                let query = match &expect {
                    $crate::Expect::Etag(_) => sqlx::query(
                        "UPDATE policy_records SET scope = $3, body = $4, updated_at = $5, etag = $6
                         WHERE kind = $1 AND id = $2 AND etag = $7",
                    ),
                    $crate::Expect::Absent => sqlx::query(
                        "INSERT INTO policy_records (kind, id, scope, body, updated_at, etag)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    ),
                    $crate::Expect::Anything => sqlx::query(
                        "INSERT INTO policy_records (kind, id, scope, body, updated_at, etag)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (kind, id) DO UPDATE SET scope = excluded.scope, body = excluded.body,
                         updated_at = excluded.updated_at, etag = excluded.etag",
                    ),
                };
                let mut query = query
                    .bind(record.kind.as_str())
                    .bind(&record.id)
                    .bind(&record.scope)
                    .bind(&record.body)
                    .bind($crate::to_millis(record.updated_at))
                    .bind(&etag.0);
                if let $crate::Expect::Etag(expected) = &expect {
                    query = query.bind(&expected.0);
                }
                let what = || format!("policy {} '{}'", record.kind.as_str(), record.id);
                match query.execute(self.write_pool()).await {
                    Ok(done) if done.rows_affected() == 1 => Ok(etag),
                    Ok(_) => Err(conflict(format!("{} changed", what()))),
                    Err(err) if is_unique_violation(&err) => Err(conflict(format!("{} exists", what()))),
                    Err(err) => Err(err.into()),
                }
            }

            async fn sql_delete_policy_record(&self, kind: $crate::PolicyKind, id: &str) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM policy_records WHERE kind = $1 AND id = $2")
                    .bind(kind.as_str())
                    .bind(id)
                    .execute(self.write_pool())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn sql_policy_states(
                &self,
                assignment: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::Result<Vec<$crate::PolicyStateRecord>> {
                sqlx::query(
                    "SELECT * FROM policy_states WHERE assignment = $1 AND cluster > $2 ORDER BY cluster LIMIT $3",
                )
                .bind(assignment)
                .bind(after.unwrap_or(""))
                .bind(limit as i64)
                .fetch_all(self.read_pool())
                .await?
                .iter()
                .map(policy_state_from)
                .collect()
            }

            async fn sql_delete_policy_states(&self, assignment: &str) -> $crate::Result<u64> {
                let done = sqlx::query("DELETE FROM policy_states WHERE assignment = $1")
                    .bind(assignment)
                    .execute(self.write_pool())
                    .await?;
                Ok(done.rows_affected())
            }
        }

        /// The cluster's policy states, inside a partition read.
        async fn read_policy_states(
            conn: &mut <Db as sqlx::Database>::Connection,
            cluster: &str,
        ) -> $crate::Result<Vec<$crate::PolicyStateRecord>> {
            sqlx::query("SELECT * FROM policy_states WHERE cluster = $1 ORDER BY assignment")
                .bind(cluster)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(policy_state_from)
                .collect()
        }

        /// Applies a write of the cluster inventory or of a policy state, inside a change's transaction.
        async fn apply_policy_write(
            conn: &mut <Db as sqlx::Database>::Connection,
            cluster: &str,
            write: &$crate::Write,
        ) -> $crate::Result<Option<$crate::Etag>> {
            use $crate::{Expect, Write};
            match write {
                Write::PutInventory { inventory } => {
                    sqlx::query("UPDATE clusters SET inventory = $2 WHERE cluster = $1")
                        .bind(cluster)
                        .bind(inventory)
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                Write::PutPolicyState { record, expect } => {
                    let etag = $crate::Etag::new_random();
                    let query = match expect {
                        Expect::Etag(_) => sqlx::query(
                            "UPDATE policy_states SET compliance = $3, evaluated_at = $4, body = $5, etag = $6
                             WHERE cluster = $1 AND assignment = $2 AND etag = $7",
                        ),
                        Expect::Absent => sqlx::query(
                            "INSERT INTO policy_states (cluster, assignment, compliance, evaluated_at, body, etag)
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        ),
                        Expect::Anything => sqlx::query(
                            "INSERT INTO policy_states (cluster, assignment, compliance, evaluated_at, body, etag)
                             VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (cluster, assignment) DO UPDATE SET compliance = excluded.compliance,
                             evaluated_at = excluded.evaluated_at, body = excluded.body, etag = excluded.etag",
                        ),
                    };
                    let mut query = query
                        .bind(cluster)
                        .bind(&record.assignment)
                        .bind(&record.compliance)
                        .bind($crate::to_millis(record.evaluated_at))
                        .bind(&record.body)
                        .bind(&etag.0);
                    if let Expect::Etag(expected) = expect {
                        query = query.bind(&expected.0);
                    }
                    match query.execute(&mut *conn).await {
                        Ok(done) if done.rows_affected() == 1 => Ok(Some(etag)),
                        Ok(_) => Err(conflict(format!("policy state '{}' changed", record.assignment))),
                        Err(err) if is_unique_violation(&err) => {
                            Err(conflict(format!("policy state '{}' exists", record.assignment)))
                        }
                        Err(err) => Err(err.into()),
                    }
                }
                Write::DeletePolicyState { assignment } => {
                    sqlx::query("DELETE FROM policy_states WHERE cluster = $1 AND assignment = $2")
                        .bind(cluster)
                        .bind(assignment)
                        .execute(&mut *conn)
                        .await?;
                    Ok(None)
                }
                _ => unreachable!("apply_policy_write takes only inventory and policy-state writes"),
            }
        }
    };
}

pub(crate) use sql_policy;
