//! The write rules every resource of a cluster follows (ARM's resource-provider contract):
//! - a PUT or PATCH that changes nothing (same spec, same secret values, not Failed) is a free 200: no new
//!   generation, no operation, nothing for the cluster (Azure Policy re-applies configurations all day);
//! - one write runs per resource: repeating the running write returns its operation, a different one gets 409;
//! - `If-Match` / `If-None-Match` guard writes with the resource's ETag (412);
//! - every other write makes a new generation, opens an operation that the cluster's agent completes, and
//!   bumps the cluster's version so its agent wakes.

use std::collections::BTreeMap;

use hmac::{Mac, SimpleHmac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use clusterconfig_model::arm::ProvisioningState;
use clusterconfig_model::error::{ArmError, ErrorDetail, codes};
use clusterconfig_model::secrets::{SecretGroup, SecretGroups, SecretMap};
use clusterconfig_store::{
    Change, Etag, Expect, OperationRecord, Partition, ResourceKind, ResourceRecord, SecretRecord, Write,
};

use super::documents::{Aad, Document, SecretMeta};
use super::views::{self, running_state};
use super::{App, ArmCaller, ResourceView, Target};
use crate::keyring::SecretSeal;

/// `If-Match` and `If-None-Match` of a write.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

impl Preconditions {
    /// ARM's ETag rules: `*` asks whether the resource exists; a value compares with its current ETag.
    pub fn check(&self, existing: Option<&ResourceRecord>) -> Result<(), ArmError> {
        let current = existing.map(|r| views::quoted(&r.etag.0));
        let matches = |header: &str| {
            header
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" && current.is_some() || Some(tag) == current.as_deref())
        };
        if let Some(if_match) = &self.if_match
            && !matches(if_match)
        {
            return Err(ArmError::precondition_failed(match current {
                None => "The resource does not exist, and If-Match requires it to.".to_owned(),
                Some(_) => {
                    "The resource's ETag does not match If-Match: it changed since it was read.".to_owned()
                }
            }));
        }
        if let Some(if_none_match) = &self.if_none_match
            && matches(if_none_match)
        {
            return Err(ArmError::precondition_failed(
                "The resource exists (or matches If-None-Match), and If-None-Match requires it not to.",
            ));
        }
        Ok(())
    }
}

/// What a write did.
#[derive(Debug)]
pub enum WriteOutcome {
    /// A new generation with its operation.
    Started {
        resource: ResourceView,
        operation: OperationRecord,
        created: bool,
    },
    /// The same write was already running; this is its operation.
    InFlight {
        resource: ResourceView,
        operation: OperationRecord,
        created: bool,
    },
    /// Nothing changed.
    Unchanged { resource: ResourceView },
    /// Deleted at once (`forceDelete=true`).
    Removed,
    /// There was nothing to delete.
    Absent,
}

/// A stored resource read back, with its running operation.
pub(super) struct Existing<S, T> {
    pub record: ResourceRecord,
    pub doc: Document<S, T>,
    pub running: Option<OperationRecord>,
}

/// The decision for a write, before anything is written.
pub(super) enum Decision {
    Unchanged,
    InFlight(Box<OperationRecord>),
    Proceed,
}

/// One secret group a write changes.
pub(super) struct SecretChange {
    pub group: SecretGroup,
    pub values: BTreeMap<String, String>,
    pub fingerprint: String,
    /// Keys whose stored values the new group keeps (fields a write left alone).
    pub keep: Vec<String>,
}

impl App {
    pub(super) fn existing<S: DeserializeOwned, T: DeserializeOwned + Default>(
        &self,
        partition: &Partition,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Existing<S, T>>, ArmError> {
        let Some(record) = partition.resource(kind, name) else {
            return Ok(None);
        };
        let doc: Document<S, T> = self.codec.decode(record)?;
        let running = doc
            .operation
            .and_then(|id| partition.operations.iter().find(|op| op.id == id).cloned());
        Ok(Some(Existing {
            record: record.clone(),
            doc,
            running,
        }))
    }

    /// Every resource of a kind that can be read, in name order; a damaged record is left out (it was logged
    /// where it failed to open).
    pub(super) fn readable<S: DeserializeOwned, T: DeserializeOwned + Default>(
        &self,
        partition: &Partition,
        kind: ResourceKind,
    ) -> Result<Vec<Existing<S, T>>, ArmError> {
        let mut readable = Vec::new();
        for record in partition.resources.iter().filter(|r| r.kind == kind) {
            match self.existing(partition, kind, &record.name) {
                Ok(existing) => readable.extend(existing),
                Err(err) if super::documents::is_unreadable(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(readable)
    }

    /// A keyed fingerprint of a group's values: equal values give equal fingerprints, and nothing about the
    /// values can be learned from it without the service's key.
    pub(super) fn fingerprint(&self, group: SecretGroup, values: &BTreeMap<String, String>) -> String {
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&self.settings.fingerprint_key)
            .expect("any key length");
        mac.update(group.as_str().as_bytes());
        mac.update(&serde_json::to_vec(values).expect("maps serialize"));
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The groups a write changes: those it gives values for that differ from what was last written, and those
    /// whose values the service no longer holds though no agent took them (expired, or the change timed out):
    /// sending the same values again must reach the cluster.
    pub(super) fn secret_changes<S, T>(
        &self,
        target: &Target,
        partition: &Partition,
        existing: Option<&Existing<S, T>>,
        groups: &SecretGroups,
    ) -> Vec<SecretChange> {
        let now = self.now();
        SecretGroup::ALL
            .iter()
            .filter_map(|group| {
                let values = groups.get(*group)?;
                let fingerprint = self.fingerprint(*group, values);
                let last = existing.and_then(|e| e.doc.secrets.get(group.as_str()));
                let delivered = |meta: &SecretMeta| {
                    existing.is_some_and(|e| e.doc.acked_generation >= meta.generation)
                        || partition.secrets.iter().any(|s| {
                            s.kind == target.kind()
                                && s.name == target.name.key()
                                && s.group == group.as_str()
                                && s.generation == meta.generation
                                && s.expires_at > now
                        })
                };
                match last {
                    Some(meta) if meta.fingerprint == fingerprint && delivered(meta) => None,
                    None if values.is_empty() => None,
                    _ => Some(SecretChange {
                        group: *group,
                        values: values.clone(),
                        fingerprint,
                        keep: Vec::new(),
                    }),
                }
            })
            .collect()
    }

    /// Unchanged, the same write in flight, a conflict, or go ahead.
    pub(super) fn decide<S: PartialEq, T>(
        &self,
        target: &Target,
        existing: Option<&Existing<S, T>>,
        spec: &S,
        secrets_change: bool,
    ) -> Result<Decision, ArmError> {
        let Some(existing) = existing else {
            return Ok(Decision::Proceed);
        };
        if existing.record.deleting {
            return Err(ArmError::conflict(format!(
                "{} '{}' is being deleted; wait for the deletion to finish.",
                target.resource_type.as_str(),
                target.name.as_given()
            )));
        }
        let same = existing.doc.spec == *spec && !secrets_change;
        match &existing.running {
            Some(op) if same => Ok(Decision::InFlight(Box::new(op.clone()))),
            Some(op) => Err(ArmError::conflict(format!(
                "Operation '{}' is still in progress on {} '{}'; wait until it finishes (poll its Azure-AsyncOperation URL) before making a different change.",
                op.id,
                target.resource_type.as_str(),
                target.name.as_given()
            ))),
            None if same && existing.doc.provisioning_state != ProvisioningState::Failed => {
                Ok(Decision::Unchanged)
            }
            None => Ok(Decision::Proceed),
        }
    }

    pub(super) fn new_operation(&self, target: &Target, action: &str, generation: u64) -> OperationRecord {
        let now = self.now();
        OperationRecord {
            cluster: target.cluster.key(),
            id: Uuid::new_v4(),
            kind: target.kind(),
            name: target.name.key().to_owned(),
            action: action.to_owned(),
            generation,
            status: running_state(action).as_str().to_owned(),
            started_at: now,
            ended_at: None,
            deadline: now + self.settings.pending_timeout,
            error: None,
            expires_at: None,
            etag: Etag(String::new()),
        }
    }

    /// The operation, finished now with `status` (and `error` when it failed).
    pub(super) fn finished(
        &self,
        op: &OperationRecord,
        status: ProvisioningState,
        error: Option<&ErrorDetail>,
    ) -> OperationRecord {
        let now = self.now();
        OperationRecord {
            status: status.as_str().to_owned(),
            ended_at: Some(now),
            expires_at: Some(now + self.settings.operation_retention),
            error: error.map(|e| serde_json::to_string(e).expect("errors serialize")),
            ..op.clone()
        }
    }

    /// Builds the new generation of a resource into `change`: its document, its operation, its secret groups.
    /// Returns the document (callers may adjust it before `put_document`) and the operation.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_generation<S: Clone, T: Clone + Default>(
        &self,
        target: &Target,
        existing: Option<&Existing<S, T>>,
        spec: S,
        secret_changes: &[SecretChange],
        secret_seal: Option<SecretSeal>,
        caller: &ArmCaller,
        partition: &Partition,
        change: &mut Change,
    ) -> Result<(Document<S, T>, OperationRecord), ArmError> {
        let now = self.now();
        let generation = existing.map_or(1, |e| e.record.generation + 1);
        let action = if existing.is_some() { "update" } else { "create" };
        let operation = self.new_operation(target, action, generation);
        let mut secrets = existing.map(|e| e.doc.secrets.clone()).unwrap_or_default();
        for secret_change in secret_changes {
            let group = secret_change.group.as_str();
            let mut values = secret_change.values.clone();
            self.carry_over(target, partition, group, &secret_change.keep, &mut values)?;
            if values.is_empty() {
                secrets.remove(group);
                change.push(Write::DeleteSecret {
                    kind: target.kind(),
                    name: target.name.key().to_owned(),
                    group: group.to_owned(),
                });
            } else {
                secrets.insert(
                    group.to_owned(),
                    SecretMeta {
                        generation,
                        fingerprint: secret_change.fingerprint.clone(),
                    },
                );
                let seal = secret_seal.ok_or_else(|| {
                    ArmError::internal(codes::INTERNAL_ERROR, "no secret period key was chosen")
                })?;
                change.push(Write::PutSecret(SecretRecord {
                    cluster: target.cluster.key(),
                    kind: target.kind(),
                    name: target.name.key().to_owned(),
                    group: group.to_owned(),
                    generation,
                    expires_at: seal.expires_at,
                    body: self.codec.encode_secret(
                        seal,
                        &Aad::secret(
                            &target.cluster.key(),
                            target.kind(),
                            target.name.key(),
                            group,
                            generation,
                        ),
                        &SecretMap(values),
                    )?,
                }));
            }
        }
        let doc = Document {
            name: target.name.as_given().to_owned(),
            spec,
            status: existing.map(|e| e.doc.status.clone()).unwrap_or_default(),
            system_data: clusterconfig_model::arm::SystemData::changed(
                existing.map(|e| &e.doc.system_data),
                &caller.change_data(now),
            ),
            provisioning_state: running_state(action),
            error: None,
            operation: Some(operation.id),
            acked_generation: existing.map_or(0, |e| e.doc.acked_generation),
            secrets,
            awaiting_extension: false,
        };
        change.push(Write::PutOperation {
            record: operation.clone(),
            expect: Expect::Absent,
        });
        Ok((doc, operation))
    }

    /// Adds the stored values of `keep` to a group being rewritten, while the service still holds them.
    fn carry_over(
        &self,
        target: &Target,
        partition: &Partition,
        group: &str,
        keep: &[String],
        values: &mut BTreeMap<String, String>,
    ) -> Result<(), ArmError> {
        if keep.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let stored = partition.secrets.iter().find(|s| {
            s.kind == target.kind() && s.name == target.name.key() && s.group == group && s.expires_at > now
        });
        if let Some(stored) = stored {
            for (key, value) in self.codec.decode_secret(stored)?.0 {
                if keep.contains(&key) {
                    values.entry(key).or_insert(value);
                }
            }
        }
        Ok(())
    }

    /// The record that stores `doc` as generation `generation`.
    pub(super) fn document_record<S: Serialize, T: Serialize>(
        &self,
        target: &Target,
        existing: Option<&ResourceRecord>,
        generation: u64,
        deleting: bool,
        doc: &Document<S, T>,
    ) -> Result<ResourceRecord, ArmError> {
        let now = self.now();
        let aad = Aad::resource(
            &target.cluster.key(),
            target.kind(),
            target.name.key(),
            generation,
        );
        Ok(ResourceRecord {
            cluster: target.cluster.key(),
            kind: target.kind(),
            name: target.name.key().to_owned(),
            generation,
            state: doc.provisioning_state.as_str().to_owned(),
            deleting,
            body: self.codec.encode(&aad, doc)?,
            created_at: existing.map_or(now, |r| r.created_at),
            updated_at: now,
            etag: Etag(String::new()),
        })
    }

    /// The error a failed operation reports, in the shape ARM's deployments show.
    pub(super) fn operation_failure(&self, inner_code: &str, message: &str) -> ErrorDetail {
        ErrorDetail {
            code: codes::RESOURCE_OPERATION_FAILURE.to_owned(),
            message: "The resource operation completed with terminal provisioning state 'Failed'.".to_owned(),
            target: None,
            details: vec![ErrorDetail {
                code: inner_code.to_owned(),
                message: message.to_owned(),
                target: None,
                details: vec![],
            }],
        }
    }
}

impl App {
    /// Decides and, if there is something to do, commits a new generation of a resource. `extra` may add to the
    /// new document and to the change (the flux extension a first configuration installs).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_write<S, T>(
        &self,
        target: &Target,
        partition: &Partition,
        existing: Option<Existing<S, T>>,
        spec: S,
        changes: Vec<SecretChange>,
        caller: &ArmCaller,
        render: impl Fn(&clusterconfig_model::ids::ClusterId, &ResourceRecord, &Document<S, T>) -> ResourceView,
        extra: impl FnOnce(&mut Document<S, T>, &mut Change) -> Result<(), ArmError>,
    ) -> Result<WriteOutcome, super::Attempt>
    where
        S: Clone + PartialEq + Serialize,
        T: Clone + Default + Serialize,
    {
        let created = existing.is_none();
        match self.decide(target, existing.as_ref(), &spec, !changes.is_empty())? {
            Decision::Unchanged => {
                let existing = existing.expect("unchanged implies existing");
                Ok(WriteOutcome::Unchanged {
                    resource: render(&target.cluster, &existing.record, &existing.doc),
                })
            }
            Decision::InFlight(operation) => {
                let existing = existing.expect("in flight implies existing");
                let created = operation.action == "create";
                Ok(WriteOutcome::InFlight {
                    resource: render(&target.cluster, &existing.record, &existing.doc),
                    operation: *operation,
                    created,
                })
            }
            Decision::Proceed => {
                let secret_seal = match changes.is_empty() {
                    true => None,
                    false => Some(
                        self.codec
                            .secret_seal(self.now() + self.settings.secret_retention)
                            .await?,
                    ),
                };
                let mut change = self.desired_state_change(target, partition);
                let (mut doc, operation) = self.new_generation(
                    target,
                    existing.as_ref(),
                    spec,
                    &changes,
                    secret_seal,
                    caller,
                    partition,
                    &mut change,
                )?;
                extra(&mut doc, &mut change)?;
                let expect = existing
                    .as_ref()
                    .map_or(Expect::Absent, |e| Expect::Etag(e.record.etag.clone()));
                let mut record = self.document_record(
                    target,
                    existing.as_ref().map(|e| &e.record),
                    operation.generation,
                    false,
                    &doc,
                )?;
                let index = change.writes.len();
                change.push(Write::PutResource {
                    record: record.clone(),
                    expect,
                });
                let committed = self.commit(change).await?;
                self.hub.publish(&target.cluster.key(), committed.version);
                record.etag = committed.etags[index].clone().expect("a put returns its etag");
                tracing::info!(cluster = %target.cluster, resource_type = target.resource_type.as_str(), name = %target.name,
                    generation = operation.generation, operation = %operation.id, "new generation written");
                Ok(WriteOutcome::Started {
                    resource: render(&target.cluster, &record, &doc),
                    operation,
                    created,
                })
            }
        }
    }
}
