//! Moving resource data off retired data keys: a cluster's records sealed under an older key are sealed again
//! under the active one, content unchanged, in one change guarded by each record's etag (a write meanwhile wins;
//! the next pass looks again). The desired state does not change, so no version bump and no agent wakes.

use clusterconfig_crypto::{DataKeyId, sealed_key_id};
use clusterconfig_model::error::ArmError;
use clusterconfig_store::{Change, Expect, ResourceRecord, StoreError, Write};

use super::{App, store_error};
use crate::keyring::is_data_key;

/// What re-sealing one cluster did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealOutcome {
    /// Records now sealed under the active key.
    pub resealed: usize,
    /// Records still under a retired key: written meanwhile, or secret values (they expire with their lifetime).
    pub left: usize,
}

impl App {
    pub async fn reseal_cluster(&self, cluster: &str, active: DataKeyId) -> Result<ResealOutcome, ArmError> {
        let partition = self.store.partition(cluster).await.map_err(store_error)?;
        let Some(anchor) = partition.cluster else {
            return Ok(ResealOutcome::default());
        };
        let retired = |body: &[u8]| sealed_key_id(body).is_some_and(|id| is_data_key(id) && id != active);
        let now = self.now();
        let secrets_left = partition
            .secrets
            .iter()
            .filter(|s| s.expires_at > now && retired(&s.body))
            .count();
        let stale: Vec<&ResourceRecord> = partition.resources.iter().filter(|r| retired(&r.body)).collect();
        if stale.is_empty() {
            return Ok(ResealOutcome {
                resealed: 0,
                left: secrets_left,
            });
        }
        self.codec
            .prepare(stale.iter().map(|r| r.body.as_slice()))
            .await?;
        let mut change = Change::new(cluster, anchor.subscription.clone(), now);
        for record in &stale {
            change.push(Write::PutResource {
                record: ResourceRecord {
                    body: self.codec.reseal(record)?,
                    ..(*record).clone()
                },
                expect: Expect::Etag(record.etag.clone()),
            });
        }
        match self.store.commit(change).await {
            Ok(_) => Ok(ResealOutcome {
                resealed: stale.len(),
                left: secrets_left,
            }),
            Err(StoreError::Conflict(_)) => Ok(ResealOutcome {
                resealed: 0,
                left: stale.len() + secrets_left,
            }),
            Err(err) => Err(store_error(err)),
        }
    }
}
