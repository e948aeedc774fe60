//! The cluster inventory: a cluster is known once its agent has contacted the service, once it holds any
//! resource, or once it is imported from Azure Resource Graph (`az graph query` output for connectedClusters and
//! managedClusters: `id`, `name`, `type`, `location`, `tags`), so a fleet can be assigned before its agents
//! connect. Its `type`, `name`, `location` and `tags` are what policy conditions see. Forgetting a cluster purges
//! everything of it, secrets included: also the parent-cluster cleanup that ARM leaves to the resource provider.

use serde::Serialize;
use serde_json::{Map, Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_model::ids::ClusterId;
use clusterconfig_store::{Change, ClusterRecord, Write};

use super::super::{App, store_error};
use super::Trigger;

/// What an import did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    /// Clusters not known before.
    pub added: usize,
    /// Known clusters whose location or tags changed.
    pub updated: usize,
    pub unchanged: usize,
}

enum Imported {
    Added,
    Updated,
    Unchanged,
}

/// One cluster of an import, checked.
struct Entry {
    cluster: ClusterId,
    inventory: Value,
}

/// The entries of an import: an array of Resource Graph rows, or the object `az graph query` prints
/// (`{"data": [...], "count": ...}`). The first bad row refuses the whole import (nothing written), naming it.
fn parse_entries(body: &Value) -> Result<Vec<Entry>, ArmError> {
    let rows = match body {
        Value::Array(rows) => rows,
        Value::Object(map) => match map.get("data").or_else(|| map.get("value")) {
            Some(Value::Array(rows)) => rows,
            _ => {
                return Err(ArmError::invalid_content(
                    "An inventory import is an array of clusters, or an object with 'data' (as az graph query prints).",
                ));
            }
        },
        _ => {
            return Err(ArmError::invalid_content(
                "An inventory import is a JSON array or object.",
            ));
        }
    };
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let at = |field: &str| format!("data[{index}].{field}");
            let id = row.get("id").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_content(format!("Cluster {index} of the import has no 'id'."))
                    .with_target(at("id"))
            })?;
            let cluster = ClusterId::parse(id).map_err(|e| e.with_target(at("id")))?;
            if let Some(kind) = row.get("type").and_then(Value::as_str)
                && !kind.eq_ignore_ascii_case(cluster.kind().as_str())
            {
                return Err(ArmError::invalid_content(format!(
                    "Cluster {index} of the import has type '{}', which its id does not name.",
                    clusterconfig_model::ids::printable(kind)
                ))
                .with_target(at("type")));
            }
            let location = match row.get("location") {
                None | Some(Value::Null) => None,
                Some(Value::String(l)) => Some(l.to_ascii_lowercase().replace(' ', "")),
                Some(_) => {
                    return Err(ArmError::invalid_content(format!(
                        "'location' of cluster {index} must be a string."
                    ))
                    .with_target(at("location")));
                }
            };
            let tags = match row.get("tags") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(tags)) if tags.values().all(Value::is_string) => tags.clone(),
                Some(_) => {
                    return Err(ArmError::invalid_content(format!(
                        "'tags' of cluster {index} must be an object of strings."
                    ))
                    .with_target(at("tags")));
                }
            };
            let inventory = json!({"id": cluster.to_string(), "location": location, "tags": tags});
            Ok(Entry { cluster, inventory })
        })
        .collect()
}

/// A cluster as policy conditions see it (ARM's shape of the cluster resource).
pub fn cluster_resource(cluster_key: &str, record: Option<&ClusterRecord>) -> Option<Value> {
    let inventory: Value = record
        .and_then(|r| r.inventory.as_deref())
        .and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or_default();
    // The imported id keeps Azure's casing; a cluster known only by its agent or resources has the stored one.
    let id = inventory["id"].as_str().unwrap_or(cluster_key);
    let cluster = ClusterId::parse(id).ok()?;
    Some(json!({
        "id": cluster.to_string(),
        "name": cluster.name(),
        "type": cluster.kind().as_str(),
        "location": inventory.get("location").cloned().unwrap_or(Value::Null),
        "tags": inventory.get("tags").cloned().unwrap_or_else(|| json!({})),
        "properties": {},
    }))
}

impl App {
    /// Imports clusters into the inventory. A cluster new to the service, or one whose location or tags
    /// changed, is evaluated against the assignments covering it and deployed to where they enforce
    /// (as Azure Policy does for a created or updated resource).
    pub async fn import_clusters(&self, body: &Value) -> Result<ImportOutcome, ArmError> {
        use futures::StreamExt as _;
        let entries = parse_entries(body)?;
        // Many at once: a fleet of thousands imports in one go, and SQLite commits them in groups.
        let results: Vec<Result<Imported, ArmError>> = futures::stream::iter(entries)
            .map(|entry| self.import_one(entry))
            .buffer_unordered(32)
            .collect()
            .await;
        let mut outcome = ImportOutcome::default();
        for result in results {
            match result? {
                Imported::Added => outcome.added += 1,
                Imported::Updated => outcome.updated += 1,
                Imported::Unchanged => outcome.unchanged += 1,
            }
        }
        tracing::info!(
            added = outcome.added,
            updated = outcome.updated,
            unchanged = outcome.unchanged,
            "cluster inventory imported"
        );
        Ok(outcome)
    }

    async fn import_one(&self, entry: Entry) -> Result<Imported, ArmError> {
        let key = entry.cluster.key();
        let record = self.store.cluster(&key).await.map_err(store_error)?;
        let inventory = entry.inventory.to_string();
        let imported = match record.as_ref() {
            None => Imported::Added,
            Some(r) if r.inventory.as_deref() == Some(inventory.as_str()) => return Ok(Imported::Unchanged),
            Some(_) => Imported::Updated,
        };
        let change = Change::new(key.clone(), entry.cluster.subscription_key(), self.now())
            .with(Write::PutInventory { inventory });
        self.store.commit(change).await.map_err(store_error)?;
        self.policy.cluster_changed(&key, Trigger::ClusterChanged);
        Ok(imported)
    }

    /// Forgets a cluster: every record of it is purged, secrets and policy states included, and its waiting
    /// agents wake to an empty desired state. Returns whether it was known.
    pub async fn forget_cluster(&self, cluster: &ClusterId) -> Result<bool, ArmError> {
        let key = cluster.key();
        let known = self.store.cluster(&key).await.map_err(store_error)?.is_some();
        self.store.purge_cluster(&key).await.map_err(store_error)?;
        self.hub.recheck(&key);
        if known {
            tracing::info!(cluster = %cluster, "cluster forgotten");
        }
        Ok(known)
    }

    /// The clusters of a subscription, optionally under one resource group, as policy sees them.
    pub async fn inventory(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<Value>, ArmError> {
        let clusters = self
            .store
            .clusters_in_subscription(&subscription.to_ascii_lowercase())
            .await
            .map_err(store_error)?;
        let prefix = resource_group
            .map(|rg| format!("/subscriptions/{}/resourcegroups/{}/", subscription, rg).to_ascii_lowercase());
        let mut out = Vec::new();
        for key in clusters {
            if prefix.as_ref().is_some_and(|p| !key.starts_with(p.as_str())) {
                continue;
            }
            let record = self.store.cluster(&key).await.map_err(store_error)?;
            if let Some(mut resource) = cluster_resource(&key, record.as_ref()) {
                if let Some(record) = record {
                    resource["properties"] = json!({
                        "lastContact": record.last_contact,
                        "agent": record.agent.as_deref().and_then(|a| serde_json::from_str::<Value>(a).ok()),
                    });
                }
                out.push(resource);
            }
        }
        Ok(out)
    }
}
