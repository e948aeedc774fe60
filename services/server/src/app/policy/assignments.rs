//! `Microsoft.Authorization/policyAssignments` at subscription and resource-group scope, and the assignments in
//! force, held in memory by subscription (`ActiveAssignments`) so that an event on one cluster looks only at the
//! assignments of its subscription. Parameters are bound against the definition at write time: a value of the
//! wrong type, one not allowed, a missing or unknown one is a 400 there, never a failure at evaluation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_policy::{BoundParameters, PolicyDefinition};
use clusterconfig_store::{Expect, PolicyKind, PolicyRecord};

use super::super::{App, ArmCaller, Page, store_error};
use super::definitions::StoredDefinition;
use super::{
    ASSIGNMENT_TYPE, DEFINITION_TYPE, PolicyScope, check_object_name, codes, name_of, object_id,
    properties_of, within,
};

/// The `metadata` key of an assignment that asks for continuous remediation: every cluster it covers is kept
/// compliant, a configuration deleted by hand or Failed being deployed again as soon as that is seen (Azure
/// Policy itself only deploys when the cluster is created or updated, or in a remediation task).
pub const CONTINUOUS_REMEDIATION_KEY: &str = "continuousRemediation";

/// An assignment in force, with its definition parsed and its parameters bound.
#[derive(Debug)]
pub struct ActiveAssignment {
    /// Lowercase id.
    pub key: String,
    pub view: Value,
    pub scope: PolicyScope,
    /// Lowercase ids of the scopes and resources left out.
    pub not_scopes: Vec<String>,
    /// Lowercase id of the definition.
    pub definition_key: String,
    pub definition_id: String,
    pub definition: Arc<PolicyDefinition>,
    pub parameters: BoundParameters,
    /// The parameters as the assignment gave them (`{"name": {"value": ...}}`).
    pub given_parameters: Map<String, Value>,
    /// enforcementMode Default: deployments run. DoNotEnforce: evaluated only.
    pub enforce: bool,
    pub continuous: bool,
    /// Who deployments are made as (the assignment's managed identity).
    pub principal_id: String,
}

impl ActiveAssignment {
    pub fn id(&self) -> &str {
        self.view["id"].as_str().unwrap_or(&self.key)
    }

    pub fn name(&self) -> &str {
        name_of(self.id())
    }

    /// Whether the cluster (lowercase id) is in the assignment's scope and not left out by `notScopes`.
    pub fn covers(&self, cluster_key: &str) -> bool {
        self.scope.covers(cluster_key) && !self.not_scopes.iter().any(|n| within(cluster_key, n))
    }

    fn from_view(view: Value, definition: &StoredDefinition) -> Result<Self, ArmError> {
        let properties = view.get("properties").cloned().unwrap_or_default();
        let id = view["id"].as_str().unwrap_or_default().to_owned();
        let scope = PolicyScope::parse(properties["scope"].as_str().unwrap_or_default())
            .ok_or_else(|| ArmError::invalid_content(format!("assignment '{id}' has no valid scope")))?;
        let given_parameters = properties
            .get("parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let parameters = definition
            .parsed
            .bind(&given_parameters)
            .map_err(parameter_error)?;
        let not_scopes = properties
            .get("notScopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.trim_end_matches('/').to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let enforce = !properties["enforcementMode"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("DoNotEnforce"));
        let continuous = match properties["metadata"].get(CONTINUOUS_REMEDIATION_KEY) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let definition_id = properties["policyDefinitionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let principal_id = view["identity"]["principalId"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| id.clone());
        Ok(Self {
            key: id.to_ascii_lowercase(),
            view,
            scope,
            not_scopes,
            definition_key: definition_id.to_ascii_lowercase(),
            definition_id,
            definition: definition.parsed.clone(),
            parameters,
            given_parameters,
            enforce,
            continuous,
            principal_id,
        })
    }
}

fn parameter_error(err: clusterconfig_policy::PolicyError) -> ArmError {
    ArmError::new(
        400,
        err.code(),
        format!("The policy assignment's parameters are invalid: {err}"),
    )
    .with_target("properties.parameters")
}

pub fn not_found(id: &str) -> ArmError {
    ArmError::new(
        404,
        codes::POLICY_ASSIGNMENT_NOT_FOUND,
        format!("The policy assignment '{}' is not found.", name_of(id)),
    )
}

/// The assignments in force, by lowercase subscription id.
#[derive(Default)]
pub struct ActiveAssignments {
    by_subscription: RwLock<Arc<HashMap<String, Vec<Arc<ActiveAssignment>>>>>,
}

impl ActiveAssignments {
    /// The assignments that cover a cluster (lowercase id).
    pub fn covering(&self, cluster_key: &str) -> Vec<Arc<ActiveAssignment>> {
        let subscription = cluster_key.split('/').nth(2).unwrap_or_default();
        let all = self.by_subscription.read().expect("assignments lock").clone();
        all.get(subscription)
            .map(|list| list.iter().filter(|a| a.covers(cluster_key)).cloned().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<Arc<ActiveAssignment>> {
        let subscription = key.split('/').nth(2).unwrap_or_default();
        let all = self.by_subscription.read().expect("assignments lock").clone();
        all.get(subscription)?.iter().find(|a| a.key == key).cloned()
    }

    /// The assignments made in a subscription (at it or at its resource groups).
    pub fn in_subscription(&self, subscription: &str) -> Vec<Arc<ActiveAssignment>> {
        let all = self.by_subscription.read().expect("assignments lock").clone();
        all.get(&subscription.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    pub fn using_definition(&self, definition_key: &str) -> Vec<Arc<ActiveAssignment>> {
        let all = self.by_subscription.read().expect("assignments lock").clone();
        all.values()
            .flatten()
            .filter(|a| a.definition_key == definition_key)
            .cloned()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_subscription.read().expect("assignments lock").is_empty()
    }

    /// Puts `assignments` in force; returns the keys of those that are new or changed.
    fn replace(&self, assignments: Vec<ActiveAssignment>) -> Vec<String> {
        let before = self.by_subscription.read().expect("assignments lock").clone();
        let unchanged = |a: &ActiveAssignment| {
            before
                .get(a.scope.subscription_id().to_ascii_lowercase().as_str())
                .is_some_and(|list| list.iter().any(|b| b.key == a.key && b.view == a.view))
        };
        let changed = assignments
            .iter()
            .filter(|a| !unchanged(a))
            .map(|a| a.key.clone())
            .collect();
        let mut map: HashMap<String, Vec<Arc<ActiveAssignment>>> = HashMap::new();
        for assignment in assignments {
            map.entry(assignment.scope.subscription_id().to_ascii_lowercase())
                .or_default()
                .push(Arc::new(assignment));
        }
        *self.by_subscription.write().expect("assignments lock") = Arc::new(map);
        changed
    }
}

impl App {
    /// PUT: creates or replaces an assignment; `true` when it was created. A new or changed assignment
    /// evaluates every cluster in its scope (in the background).
    pub async fn put_policy_assignment(
        &self,
        scope: &PolicyScope,
        name: &str,
        body: &Value,
        caller: &ArmCaller,
    ) -> Result<(Value, bool), ArmError> {
        check_object_name(name, "policyAssignmentName")?;
        let properties = properties_of(body)?;
        let definition_id = match properties.get("policyDefinitionId") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                return Err(ArmError::invalid_content(
                    "The policy assignment needs 'properties.policyDefinitionId'.",
                )
                .with_target("properties.policyDefinitionId"));
            }
        };
        if !is_definition_of(&definition_id, scope) {
            return Err(
                super::definitions::not_found(&definition_id).with_target("properties.policyDefinitionId")
            );
        }
        let definition = self.stored_definition(&definition_id).await?;
        let given = match properties.get("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(
                    ArmError::invalid_content("'properties.parameters' must be an object.")
                        .with_target("properties.parameters"),
                );
            }
        };
        definition.parsed.bind(&given).map_err(parameter_error)?;
        let enforcement = match properties.get("enforcementMode") {
            None | Some(Value::Null) => "Default",
            Some(Value::String(m)) if m.eq_ignore_ascii_case("Default") => "Default",
            Some(Value::String(m)) if m.eq_ignore_ascii_case("DoNotEnforce") => "DoNotEnforce",
            Some(_) => {
                return Err(ArmError::invalid_content(
                    "'properties.enforcementMode' must be 'Default' or 'DoNotEnforce'.",
                )
                .with_target("properties.enforcementMode"));
            }
        };
        let not_scopes = match properties.get("notScopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items))
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| s.starts_with('/'))) =>
            {
                items.clone()
            }
            Some(_) => {
                return Err(ArmError::invalid_content(
                    "'properties.notScopes' must be an array of resource or scope ids.",
                )
                .with_target("properties.notScopes"));
            }
        };
        let metadata = match properties.get("metadata") {
            None | Some(Value::Null) => json!({}),
            Some(Value::Object(map)) => Value::Object(map.clone()),
            Some(_) => {
                return Err(
                    ArmError::invalid_content("'properties.metadata' must be an object.")
                        .with_target("properties.metadata"),
                );
            }
        };
        let id = object_id(scope, ASSIGNMENT_TYPE, name);
        let key = id.to_ascii_lowercase();
        let existing = self
            .store
            .policy_record(PolicyKind::Assignment, &key)
            .await
            .map_err(store_error)?;
        let previous: Option<Value> = existing.as_ref().and_then(|r| serde_json::from_str(&r.body).ok());
        let identity = identity_of(body, previous.as_ref())?;
        let now = self.now();
        let previous_system_data = previous
            .as_ref()
            .and_then(|v| v.get("systemData").cloned())
            .and_then(|v| serde_json::from_value(v).ok());
        let system_data = clusterconfig_model::arm::SystemData::changed(
            previous_system_data.as_ref(),
            &caller.change_data(now),
        );
        let mut view_properties = Map::new();
        for key in [
            "displayName",
            "description",
            "definitionVersion",
            "nonComplianceMessages",
        ] {
            if let Some(value) = properties.get(key).filter(|v| !v.is_null()) {
                view_properties.insert(key.into(), value.clone());
            }
        }
        view_properties.insert("policyDefinitionId".into(), json!(definition_id));
        view_properties.insert("scope".into(), json!(scope.id()));
        view_properties.insert("notScopes".into(), Value::Array(not_scopes));
        view_properties.insert("parameters".into(), Value::Object(given));
        view_properties.insert("metadata".into(), metadata);
        view_properties.insert("enforcementMode".into(), json!(enforcement));
        let mut view = json!({
            "properties": view_properties,
            "id": id,
            "type": ASSIGNMENT_TYPE,
            "name": name,
            "systemData": system_data,
        });
        if let Some(identity) = identity {
            view["identity"] = identity;
        }
        if let Some(location) = body.get("location").filter(|l| l.is_string()) {
            view["location"] = location.clone();
        }
        // Checked before it is stored: what the store holds always binds.
        ActiveAssignment::from_view(view.clone(), &definition)?;
        let record = PolicyRecord {
            kind: PolicyKind::Assignment,
            id: key.clone(),
            scope: scope.key(),
            body: view.to_string(),
            updated_at: now,
            etag: Default::default(),
        };
        let expect = match &existing {
            Some(current) => Expect::Etag(current.etag.clone()),
            None => Expect::Absent,
        };
        self.store
            .put_policy_record(record, expect)
            .await
            .map_err(store_error)?;
        tracing::info!(assignment = %id, definition = %definition_id, enforcement, "policy assignment written");
        self.reload_assignments().await?;
        self.evaluate_assignment_scope(&key).await?;
        Ok((view, existing.is_none()))
    }

    pub async fn policy_assignment(&self, scope: &PolicyScope, name: &str) -> Result<Value, ArmError> {
        let id = object_id(scope, ASSIGNMENT_TYPE, name);
        let record = self
            .store
            .policy_record(PolicyKind::Assignment, &id.to_ascii_lowercase())
            .await
            .map_err(store_error)?
            .ok_or_else(|| not_found(&id))?;
        serde_json::from_str(&record.body).map_err(|_| not_found(&id))
    }

    /// Assignments that apply at a scope: at a subscription, every assignment in it; at a resource group, those
    /// made at it and at its subscription (as Azure lists them).
    pub async fn list_policy_assignments(
        &self,
        scope: &PolicyScope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        let subscription = PolicyScope::subscription(scope.subscription_id())?;
        let Some(_) = scope.resource_group_name() else {
            return self
                .list_policy_views(PolicyKind::Assignment, &subscription.key(), after, limit)
                .await;
        };
        let (group, sub) = (scope.key(), subscription.key());
        let mut items = Vec::new();
        let mut cursor = after.map(str::to_owned);
        loop {
            let records = self
                .store
                .policy_records(PolicyKind::Assignment, &sub, cursor.as_deref(), 200)
                .await
                .map_err(store_error)?;
            let done = records.len() < 200;
            for record in records {
                cursor = Some(record.id.clone());
                if record.scope == sub || within(&record.scope, &group) {
                    items.push(serde_json::from_str(&record.body).map_err(|_| not_found(&record.id))?);
                    if items.len() == limit + 1 {
                        items.pop();
                        let next = items
                            .last()
                            .and_then(|v: &Value| v["id"].as_str())
                            .map(str::to_ascii_lowercase);
                        return Ok(Page { items, next });
                    }
                }
            }
            if done {
                return Ok(Page { items, next: None });
            }
        }
    }

    /// Deletes an assignment and every cluster's state for it; answers with what was deleted (`None` if absent).
    pub async fn delete_policy_assignment(
        &self,
        scope: &PolicyScope,
        name: &str,
    ) -> Result<Option<Value>, ArmError> {
        let key = object_id(scope, ASSIGNMENT_TYPE, name).to_ascii_lowercase();
        let Some(record) = self
            .store
            .policy_record(PolicyKind::Assignment, &key)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        self.store
            .delete_policy_record(PolicyKind::Assignment, &key)
            .await
            .map_err(store_error)?;
        self.reload_assignments().await?;
        let states = self.store.delete_policy_states(&key).await.map_err(store_error)?;
        tracing::info!(assignment = %key, states, "policy assignment deleted");
        Ok(serde_json::from_str(&record.body).ok())
    }

    /// Loads the assignments in force from the store (at start, after a write, and periodically for what other
    /// instances wrote). Returns how many are in force and the keys of those that are new or changed.
    pub async fn reload_assignments(&self) -> Result<(usize, Vec<String>), ArmError> {
        let mut definitions: HashMap<String, Option<StoredDefinition>> = HashMap::new();
        let mut active = Vec::new();
        for record in self.all_policy_records(PolicyKind::Assignment).await? {
            let Ok(view) = serde_json::from_str::<Value>(&record.body) else {
                tracing::error!(assignment = %record.id, "stored policy assignment unreadable");
                continue;
            };
            let definition_key = view["properties"]["policyDefinitionId"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !definitions.contains_key(&definition_key) {
                let loaded = self.stored_definition(&definition_key).await.ok();
                definitions.insert(definition_key.clone(), loaded);
            }
            let Some(Some(definition)) = definitions.get(&definition_key) else {
                tracing::warn!(assignment = %record.id, "the assignment's definition is gone; not in force");
                continue;
            };
            match ActiveAssignment::from_view(view, definition) {
                Ok(assignment) => active.push(assignment),
                Err(err) => tracing::warn!(assignment = %record.id, error = %err, "assignment not in force"),
            }
        }
        let count = active.len();
        let changed = self.policy.assignments.replace(active);
        Ok((count, changed))
    }
}

/// Whether `id` names a definition this service keeps and an assignment at `scope` may use: one of the
/// assignment's own subscription.
fn is_definition_of(id: &str, scope: &PolicyScope) -> bool {
    let Some((definition_scope, name)) = id
        .to_ascii_lowercase()
        .rsplit_once(&format!("/providers/{}/", DEFINITION_TYPE.to_ascii_lowercase()))
        .map(|(s, n)| (s.to_owned(), n.to_owned()))
    else {
        return false;
    };
    !name.is_empty()
        && !name.contains('/')
        && definition_scope
            == PolicyScope::subscription(scope.subscription_id()).map_or_else(|_| String::new(), |s| s.key())
}

/// The assignment's `identity`: SystemAssigned gets a principal (kept across updates), None or absent none.
fn identity_of(body: &Value, previous: Option<&Value>) -> Result<Option<Value>, ArmError> {
    let Some(identity) = body.get("identity").filter(|i| !i.is_null()) else {
        return Ok(None);
    };
    let kind = identity["type"].as_str().unwrap_or_default();
    if kind.eq_ignore_ascii_case("None") {
        return Ok(None);
    }
    if kind.eq_ignore_ascii_case("SystemAssigned") {
        let principal = previous
            .and_then(|p| p["identity"]["principalId"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        return Ok(Some(json!({
            "type": "SystemAssigned",
            "principalId": principal,
            "tenantId": uuid::Uuid::nil().to_string(),
        })));
    }
    if kind.eq_ignore_ascii_case("UserAssigned") {
        let ids = identity
            .get("userAssignedIdentities")
            .and_then(Value::as_object)
            .filter(|m| m.len() == 1)
            .ok_or_else(|| {
                ArmError::invalid_content(
                    "A UserAssigned identity names exactly one identity in 'userAssignedIdentities'.",
                )
                .with_target("identity.userAssignedIdentities")
            })?;
        let (identity_id, _) = ids.iter().next().expect("one");
        return Ok(Some(json!({
            "type": "UserAssigned",
            "userAssignedIdentities": {identity_id: {"principalId": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, identity_id.to_ascii_lowercase().as_bytes()).to_string(), "clientId": ""}},
        })));
    }
    Err(
        ArmError::invalid_content("'identity.type' must be SystemAssigned, UserAssigned or None.")
            .with_target("identity.type"),
    )
}
