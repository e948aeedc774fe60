//! Policy records (one partition, `policy`) and the clusters' policy states (each in its cluster's partition).
//!
//! Queries filter and order here as well as in the SQL: emulators are not reliable filters, and this SDK does not
//! serve cross-partition ORDER BY (see dependencies.md).

use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{FeedScope, Query};

use super::documents::*;
use super::{CosmosStore, Outcome, partition_query};
use crate::{Etag, Expect, PolicyKind, PolicyRecord, PolicyStateRecord, Result, StoreError};

impl CosmosStore {
    pub(super) async fn read_policy_record(
        &self,
        kind: PolicyKind,
        id: &str,
    ) -> Result<Option<PolicyRecord>> {
        match self.read_doc(POLICY_PK, &policy_doc_id(kind, id)).await? {
            Some(Doc::Policy(doc)) => Ok(Some(doc.record()?)),
            _ => Ok(None),
        }
    }

    pub(super) async fn query_policy_records(
        &self,
        kind: PolicyKind,
        scope_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyRecord>> {
        let after = after.unwrap_or("");
        let (query, scope) = partition_query(
            POLICY_PK,
            "SELECT * FROM c WHERE c.pk = @pk AND c.doc = 'policy' AND c.kind = @kind \
             AND STARTSWITH(c.scope, @prefix) AND c.policy_id > @after",
        )?;
        let query = query
            .with_parameter("@kind", kind.as_str())
            .and_then(|q| q.with_parameter("@prefix", scope_prefix))
            .and_then(|q| q.with_parameter("@after", after))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<PolicyDoc> = self.query(query, scope).await?;
        let mut records = docs
            .iter()
            .map(PolicyDoc::record)
            .filter(|r| {
                r.as_ref().map_or(true, |r| {
                    r.kind == kind && r.scope.starts_with(scope_prefix) && r.id.as_str() > after
                })
            })
            .collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records.truncate(limit);
        Ok(records)
    }

    pub(super) async fn write_policy_record(&self, record: PolicyRecord, expect: Expect) -> Result<Etag> {
        let etag = Etag::new_random();
        let doc = PolicyDoc::new(&record, &etag);
        let id = doc.id.clone();
        let what = || format!("policy {} '{}'", record.kind.as_str(), record.id);
        let outcome = match &expect {
            Expect::Etag(expected) => {
                let current = match self.read_doc(POLICY_PK, &id).await? {
                    Some(Doc::Policy(current)) if current.etag == expected.0 => current,
                    _ => return Err(StoreError::Conflict(format!("{} changed", what()))),
                };
                let mut options = ItemWriteOptions::default();
                if let Some(cosmos) = current.cosmos_etag {
                    options = options.with_precondition(Precondition::if_match(cosmos));
                }
                self.call(
                    "a write",
                    self.container
                        .replace_item(POLICY_PK, &id, Doc::Policy(doc), Some(options)),
                )
                .await?
            }
            Expect::Absent => {
                self.call(
                    "a write",
                    self.container.create_item(POLICY_PK, &id, Doc::Policy(doc), None),
                )
                .await?
            }
            Expect::Anything => {
                self.call(
                    "a write",
                    self.container.upsert_item(POLICY_PK, &id, Doc::Policy(doc), None),
                )
                .await?
            }
        };
        match outcome {
            Outcome::Done(_) => Ok(etag),
            Outcome::Exists => Err(StoreError::Conflict(format!("{} exists", what()))),
            Outcome::Changed | Outcome::NotFound => Err(StoreError::Conflict(format!("{} changed", what()))),
        }
    }

    pub(super) async fn query_policy_states(
        &self,
        assignment: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PolicyStateRecord>> {
        let after = after.unwrap_or("");
        let query = Query::from(
            "SELECT * FROM c WHERE c.doc = 'policy_state' AND c.assignment = @assignment AND c.cluster > @after",
        )
        .with_parameter("@assignment", assignment)
        .and_then(|q| q.with_parameter("@after", after))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<PolicyStateDoc> = self.query(query, FeedScope::full_container()).await?;
        let mut records: Vec<PolicyStateRecord> = docs
            .iter()
            .filter(|d| d.assignment == assignment && d.cluster.as_str() > after)
            .map(PolicyStateDoc::record)
            .collect();
        records.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        records.dedup_by(|a, b| a.cluster == b.cluster);
        records.truncate(limit);
        Ok(records)
    }

    pub(super) async fn delete_all_policy_states(&self, assignment: &str) -> Result<u64> {
        let query =
            Query::from("SELECT * FROM c WHERE c.doc = 'policy_state' AND c.assignment = @assignment")
                .with_parameter("@assignment", assignment)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
        let docs: Vec<PolicyStateDoc> = self.query(query, FeedScope::full_container()).await?;
        let mut deleted = 0;
        for doc in docs.iter().filter(|d| d.assignment == assignment) {
            if self.delete_if_unchanged(&doc.pk, &doc.id, None).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
