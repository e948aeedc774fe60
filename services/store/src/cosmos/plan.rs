//! Turning a `Change` into one transactional batch.
//!
//! The batch first replaces the cluster's own item (the anchor) under If-Match, or creates it. Each write is then
//! checked against the item as read (or as an earlier write of the same change left it) and becomes an
//! operation conditional on exactly that: Replace and Delete under If-Match on the item's Cosmos DB etag, Create
//! for an item read as absent. So the batch applies only to the partition as it was read; anything else fails it
//! whole, and the change is planned again. An expectation that fails against the read is a `Conflict`.

use std::collections::HashMap;

use azure_data_cosmos::TransactionalBatch;
use azure_data_cosmos::options::{BatchDeleteOptions, BatchReplaceOptions, Precondition};

use super::documents::*;
use crate::{Change, Committed, Etag, Expect, Result, StoreError, Write, to_millis};

/// A batch holds at most 100 operations; one is the anchor.
pub(super) const MAX_WRITES_PER_CHANGE: usize = 99;
/// Cosmos DB takes at most 2 MB per batch; what the store writes stays under it with room for the envelope.
pub(super) const MAX_BATCH_BYTES: usize = 1_900_000;

/// The item a write must read first: what its expectation is checked against, or what it deletes.
pub(super) fn read_before(write: &Write) -> Option<String> {
    match write {
        Write::PutResource { record, expect } if *expect != Expect::Anything => {
            Some(resource_id(record.kind, &record.name))
        }
        Write::PutOperation { record, expect } if *expect != Expect::Anything => {
            Some(operation_id(record.id))
        }
        Write::PutPolicyState { record, expect } if *expect != Expect::Anything => {
            Some(policy_state_id(&record.assignment))
        }
        Write::DeleteResource { kind, name, .. } => Some(resource_id(*kind, name)),
        Write::DeletePolicyState { assignment } => Some(policy_state_id(assignment)),
        Write::DeleteSecret { kind, name, group } => Some(secret_id(*kind, name, group)),
        _ => None,
    }
}

/// The store's own etag of an item (what `Expect::Etag` names).
pub(super) fn own_etag(doc: &Doc) -> Option<&str> {
    match doc {
        Doc::Resource(d) => Some(&d.etag),
        Doc::Operation(d) => Some(&d.etag),
        Doc::DataKey(d) => Some(&d.etag),
        Doc::PolicyState(d) => Some(&d.etag),
        _ => None,
    }
}

/// An item as the batch will find it when an operation runs.
struct Planned {
    doc: Option<Doc>,
    /// An earlier operation of this batch wrote it: later ones need no precondition (the batch is atomic, and
    /// that earlier operation carried one).
    touched: bool,
}

pub(super) struct Planner<'a> {
    pk: &'a str,
    batch: TransactionalBatch,
    items: HashMap<String, Planned>,
    bytes: usize,
    /// The version the change leaves the cluster at.
    version: u64,
}

impl<'a> Planner<'a> {
    /// Starts the batch with the anchor: `read` holds every item read for the change (the anchor among them).
    pub(super) fn new(change: &'a Change, read: Vec<Doc>) -> Result<Self> {
        if change.writes.len() > MAX_WRITES_PER_CHANGE {
            return Err(StoreError::Backend(format!(
                "a change holds at most {MAX_WRITES_PER_CHANGE} writes, not {}",
                change.writes.len()
            )));
        }
        let pk = change.cluster.as_str();
        let mut items: HashMap<String, Planned> = read
            .into_iter()
            .map(|doc| {
                (
                    doc.id().to_owned(),
                    Planned {
                        doc: Some(doc),
                        touched: false,
                    },
                )
            })
            .collect();
        let anchor = match items.remove(CLUSTER_ID).and_then(|p| p.doc) {
            Some(Doc::Cluster(doc)) => Some(doc),
            Some(_) => return Err(StoreError::Corrupt(format!("the cluster item of '{pk}'"))),
            None => None,
        };
        let mut cluster = anchor
            .clone()
            .unwrap_or_else(|| ClusterDoc::new(pk, &change.subscription, change.at));
        // The anchor is replaced under If-Match below, so a version checked here holds when the batch applies.
        if let Some(expected) = change.expect_version
            && cluster.version != expected
        {
            return Err(StoreError::Conflict(format!(
                "cluster '{pk}' changed since version {expected}"
            )));
        }
        if change.bump_version {
            cluster.version += 1;
        }
        for write in &change.writes {
            match write {
                Write::PutAgent { agent, last_contact } => {
                    cluster.agent = agent.clone();
                    cluster.last_contact = Some(to_millis(*last_contact));
                }
                Write::Contact { at } => cluster.last_contact = Some(to_millis(*at)),
                Write::RevokeAgentTokens { before } => {
                    cluster.agent_tokens_not_before = Some(to_millis(*before))
                }
                Write::PutInventory { inventory } => cluster.inventory = Some(inventory.clone()),
                _ => {}
            }
        }
        let mut planner = Planner {
            pk,
            batch: TransactionalBatch::new(pk.to_owned()),
            items,
            bytes: 0,
            version: cluster.version,
        };
        // Replaced as read, or created: never upserted, or two first changes could both "create" it.
        let condition = match anchor {
            Some(anchor) => Some(
                anchor
                    .cosmos_etag
                    .ok_or_else(|| StoreError::Corrupt(format!("the cluster item of '{pk}' has no etag")))?,
            ),
            None => None,
        };
        planner.put_item(Doc::Cluster(cluster), Some(condition), false)?;
        Ok(planner)
    }

    /// Adds every write of the change, in order; returns the batch and what it commits.
    pub(super) fn plan(mut self, change: &Change) -> Result<(TransactionalBatch, Committed)> {
        let mut etags = Vec::with_capacity(change.writes.len());
        for write in &change.writes {
            etags.push(self.write(write)?);
        }
        let committed = Committed {
            version: self.version,
            etags,
        };
        Ok((self.batch, committed))
    }

    fn write(&mut self, write: &Write) -> Result<Option<Etag>> {
        let pk = self.pk;
        match write {
            Write::PutResource { record, expect } => {
                let etag = Etag::new_random();
                let what = format!("{} '{}'", record.kind.as_str(), record.name);
                self.put(Doc::Resource(ResourceDoc::new(pk, record, &etag)), expect, &what)?;
                Ok(Some(etag))
            }
            Write::PutOperation { record, expect } => {
                let etag = Etag::new_random();
                let what = format!("operation '{}'", record.id);
                self.put(
                    Doc::Operation(OperationDoc::new(pk, record, &etag)),
                    expect,
                    &what,
                )?;
                Ok(Some(etag))
            }
            Write::DeleteResource { kind, name, expect } => {
                let id = resource_id(*kind, name);
                let what = format!("{} '{name}'", kind.as_str());
                let current = self.current(&id);
                match (expect, current) {
                    (Expect::Etag(expected), Some(doc)) if own_etag(doc) == Some(expected.0.as_str()) => {}
                    (Expect::Etag(_), _) => return Err(StoreError::Conflict(format!("{what} changed"))),
                    (Expect::Absent, Some(_)) => return Err(StoreError::Conflict(format!("{what} exists"))),
                    _ => {}
                }
                self.delete(&id);
                Ok(None)
            }
            Write::PutSecret(secret) => {
                self.put(
                    Doc::Secret(SecretDoc::new(pk, secret)),
                    &Expect::Anything,
                    "a secret",
                )?;
                Ok(None)
            }
            Write::DeleteSecret { kind, name, group } => {
                self.delete(&secret_id(*kind, name, group));
                Ok(None)
            }
            Write::PutPolicyState { record, expect } => {
                let etag = Etag::new_random();
                let what = format!("policy state '{}'", record.assignment);
                self.put(
                    Doc::PolicyState(PolicyStateDoc::new(pk, record, &etag)),
                    expect,
                    &what,
                )?;
                Ok(Some(etag))
            }
            Write::DeletePolicyState { assignment } => {
                self.delete(&policy_state_id(assignment));
                Ok(None)
            }
            // Applied to the anchor.
            Write::PutAgent { .. }
            | Write::Contact { .. }
            | Write::RevokeAgentTokens { .. }
            | Write::PutInventory { .. } => Ok(None),
        }
    }

    fn current(&self, id: &str) -> Option<&Doc> {
        self.items.get(id).and_then(|p| p.doc.as_ref())
    }

    /// A put, checked against its expectation.
    fn put(&mut self, doc: Doc, expect: &Expect, what: &str) -> Result<()> {
        let id = doc.id().to_owned();
        let planned = self.items.get(&id);
        let condition = match (expect, planned.and_then(|p| p.doc.as_ref())) {
            (Expect::Anything, _) => None,
            (Expect::Absent, None) => Some(None),
            (Expect::Absent, Some(_)) => return Err(StoreError::Conflict(format!("{what} exists"))),
            (Expect::Etag(expected), Some(current)) if own_etag(current) == Some(expected.0.as_str()) => {
                Some(current.cosmos_etag().map(str::to_owned))
            }
            (Expect::Etag(_), _) => return Err(StoreError::Conflict(format!("{what} changed"))),
        };
        let touched = planned.is_some_and(|p| p.touched);
        self.put_item(doc, condition, touched)
    }

    /// `condition`: `None` upserts; `Some(None)` creates (the item is absent); `Some(Some(etag))` replaces the
    /// item as read.
    fn put_item(&mut self, doc: Doc, condition: Option<Option<String>>, touched: bool) -> Result<()> {
        self.bytes += serde_json::to_vec(&doc).map_or(0, |bytes| bytes.len());
        if self.bytes > MAX_BATCH_BYTES {
            return Err(StoreError::TooLarge(format!(
                "the change to cluster '{}' holds more than {MAX_BATCH_BYTES} bytes",
                self.pk
            )));
        }
        let id = doc.id().to_owned();
        let batch = std::mem::replace(&mut self.batch, TransactionalBatch::new(self.pk.to_owned()));
        self.batch = match condition {
            None => batch.upsert_item(&doc, None),
            Some(None) => batch.create_item(&doc),
            Some(Some(etag)) if !touched => {
                let options = BatchReplaceOptions::default().with_precondition(Precondition::if_match(etag));
                batch.replace_item(id.clone(), &doc, Some(options))
            }
            Some(Some(_)) => batch.replace_item(id.clone(), &doc, None),
        }
        .map_err(|e| StoreError::Backend(format!("cannot serialize an item: {e}")))?;
        self.items.insert(
            id,
            Planned {
                doc: Some(doc),
                touched: true,
            },
        );
        Ok(())
    }

    /// Deletes the item if it is there (as read, or as planned).
    fn delete(&mut self, id: &str) {
        let Some(planned) = self.items.get(id) else { return };
        let Some(doc) = planned.doc.as_ref() else { return };
        let options = match (planned.touched, doc.cosmos_etag()) {
            (false, Some(etag)) => {
                Some(BatchDeleteOptions::default().with_precondition(Precondition::if_match(etag.to_owned())))
            }
            _ => None,
        };
        let batch = std::mem::replace(&mut self.batch, TransactionalBatch::new(self.pk.to_owned()));
        self.batch = batch.delete_item(id.to_owned(), options);
        self.items.insert(
            id.to_owned(),
            Planned {
                doc: None,
                touched: true,
            },
        );
    }
}
