//! A change: several writes to one cluster's partition, applied all together or not at all.

use chrono::{DateTime, Utc};

use crate::records::{Etag, OperationRecord, PolicyStateRecord, ResourceKind, ResourceRecord, SecretRecord};

/// What a write requires of the record it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Anything,
    Absent,
    Etag(Etag),
}

#[derive(Debug, Clone)]
pub enum Write {
    PutResource {
        record: ResourceRecord,
        expect: Expect,
    },
    DeleteResource {
        kind: ResourceKind,
        name: String,
        expect: Expect,
    },
    /// Creates or replaces one secret group.
    PutSecret(SecretRecord),
    /// Removes one secret group if it is there.
    DeleteSecret {
        kind: ResourceKind,
        name: String,
        group: String,
    },
    PutOperation {
        record: OperationRecord,
        expect: Expect,
    },
    /// Records what the cluster's agent reported and when it was last heard from.
    PutAgent {
        agent: Option<String>,
        last_contact: DateTime<Utc>,
    },
    /// Records only when the cluster's agent was last heard from, keeping its reported facts.
    Contact {
        at: DateTime<Utc>,
    },
    /// Revokes every agent token of the cluster issued before `before`.
    RevokeAgentTokens {
        before: DateTime<Utc>,
    },
    /// Records what the cluster inventory knows of the cluster (JSON; see `ClusterRecord::inventory`).
    PutInventory {
        inventory: String,
    },
    /// Records the cluster's compliance with one assignment.
    PutPolicyState {
        record: PolicyStateRecord,
        expect: Expect,
    },
    /// Forgets the cluster's compliance with one assignment, if it was recorded.
    DeletePolicyState {
        assignment: String,
    },
}

/// Writes to one cluster, applied atomically. A change that bumps the version wakes the cluster's agents.
#[derive(Debug, Clone)]
pub struct Change {
    pub cluster: String,
    pub subscription: String,
    /// The time of the change (from the caller's clock), recorded when it creates the cluster's record.
    pub at: DateTime<Utc>,
    pub bump_version: bool,
    /// The cluster's version the change was decided on (0 for a cluster without a record): if the cluster has
    /// moved on since, the change is refused with `StoreError::Conflict`. This is what makes a rule that spans
    /// several resources ("one microsoft.flux per cluster") hold under concurrent writers: every change of the
    /// desired state bumps the version, so two decisions made on the same read cannot both commit. Changes that
    /// leave the desired state alone (agent contact, facts) neither bump nor expect it, so they never conflict.
    pub expect_version: Option<u64>,
    pub writes: Vec<Write>,
}

impl Change {
    pub fn new(cluster: impl Into<String>, subscription: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            cluster: cluster.into(),
            subscription: subscription.into(),
            at,
            bump_version: false,
            expect_version: None,
            writes: Vec::new(),
        }
    }

    pub fn bump(mut self) -> Self {
        self.bump_version = true;
        self
    }

    /// Commits only if the cluster is still at `version` (see `expect_version`).
    pub fn expecting_version(mut self, version: u64) -> Self {
        self.expect_version = Some(version);
        self
    }

    pub fn with(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    pub fn push(&mut self, write: Write) {
        self.writes.push(write);
    }
}

/// The outcome of a committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The cluster's version after the change.
    pub version: u64,
    /// The new etag of each write that put a resource, an operation or a policy state, in the order of the
    /// writes.
    pub etags: Vec<Option<Etag>>,
}
