//! `Microsoft.Authorization/policyDefinitions` at subscription scope. The body is a definition as Azure publishes
//! it (`properties` with `policyRule`, `parameters`, `mode`, ...); it is parsed by the policy engine at write time,
//! so a definition the service cannot evaluate is refused with a 400 that names the place, never stored.

use std::sync::Arc;

use serde_json::{Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_policy::PolicyDefinition;
use clusterconfig_store::{Expect, PolicyKind, PolicyRecord};

use super::super::{App, ArmCaller, Page, store_error};
use super::{DEFINITION_TYPE, PolicyScope, check_object_name, codes, name_of, object_id, properties_of};

/// A stored definition: its ARM view and the parsed form the engine evaluates.
#[derive(Debug, Clone)]
pub struct StoredDefinition {
    pub view: Value,
    pub parsed: Arc<PolicyDefinition>,
}

impl StoredDefinition {
    pub fn from_record(record: &PolicyRecord) -> Result<Self, ArmError> {
        let view: Value = serde_json::from_str(&record.body).map_err(|_| corrupt(&record.id))?;
        let parsed =
            parse(view.get("properties").unwrap_or(&Value::Null)).map_err(|_| corrupt(&record.id))?;
        Ok(Self {
            view,
            parsed: Arc::new(parsed),
        })
    }
}

fn corrupt(id: &str) -> ArmError {
    tracing::error!(definition = id, "stored policy definition unreadable");
    ArmError::internal(
        clusterconfig_model::error::codes::STORED_RESOURCE_UNREADABLE,
        "A stored policy definition cannot be read.",
    )
}

fn parse(properties: &Value) -> Result<PolicyDefinition, ArmError> {
    PolicyDefinition::parse(properties).map_err(|err| {
        ArmError::new(
            400,
            err.code(),
            format!("The policy definition is invalid: {err}"),
        )
        .with_target("properties")
    })
}

pub fn not_found(id: &str) -> ArmError {
    ArmError::new(
        404,
        codes::POLICY_DEFINITION_NOT_FOUND,
        format!("The policy definition '{}' could not be found.", name_of(id)),
    )
}

impl App {
    /// PUT: creates or replaces a definition; `true` when it was created.
    pub async fn put_policy_definition(
        &self,
        scope: &PolicyScope,
        name: &str,
        body: &Value,
        caller: &ArmCaller,
    ) -> Result<(Value, bool), ArmError> {
        check_object_name(name, "policyDefinitionName")?;
        let mut properties = properties_of(body)?;
        let parsed = parse(&Value::Object(properties.clone()))?;
        let id = object_id(scope, DEFINITION_TYPE, name);
        let key = id.to_ascii_lowercase();
        let existing = self
            .store
            .policy_record(PolicyKind::Definition, &key)
            .await
            .map_err(store_error)?;
        properties.entry("policyType").or_insert_with(|| json!("Custom"));
        let now = self.now();
        let previous = existing
            .as_ref()
            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
            .and_then(|v| v.get("systemData").cloned())
            .and_then(|v| serde_json::from_value(v).ok());
        let system_data =
            clusterconfig_model::arm::SystemData::changed(previous.as_ref(), &caller.change_data(now));
        let view = json!({
            "properties": properties,
            "id": id,
            "type": DEFINITION_TYPE,
            "name": name,
            "systemData": system_data,
        });
        // A definition in use must still bind every assignment of it: otherwise they would stop evaluating.
        let dependents = self.policy.assignments.using_definition(&key);
        for assignment in &dependents {
            parsed.bind(&assignment.given_parameters).map_err(|err| {
                ArmError::new(
                    400,
                    codes::INVALID_POLICY_DEFINITION,
                    format!(
                        "The policy definition cannot change this way: its assignment '{}' no longer fits it ({err}).",
                        assignment.name()
                    ),
                )
                .with_target("properties.parameters")
            })?;
        }
        let record = PolicyRecord {
            kind: PolicyKind::Definition,
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
        tracing::info!(definition = %id, "policy definition written");
        if !dependents.is_empty() {
            // Their rule changed: every cluster they cover is evaluated again.
            self.reload_assignments().await?;
            for assignment in dependents {
                self.evaluate_assignment_scope(&assignment.key).await?;
            }
        }
        Ok((view, existing.is_none()))
    }

    pub async fn policy_definition(&self, scope: &PolicyScope, name: &str) -> Result<Value, ArmError> {
        let id = object_id(scope, DEFINITION_TYPE, name);
        Ok(self.stored_definition(&id).await?.view)
    }

    /// A definition by its id (as an assignment names it).
    pub(crate) async fn stored_definition(&self, id: &str) -> Result<StoredDefinition, ArmError> {
        let record = self
            .store
            .policy_record(PolicyKind::Definition, &id.to_ascii_lowercase())
            .await
            .map_err(store_error)?
            .ok_or_else(|| not_found(id))?;
        StoredDefinition::from_record(&record)
    }

    pub async fn list_policy_definitions(
        &self,
        scope: &PolicyScope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        self.list_policy_views(PolicyKind::Definition, &scope.key(), after, limit)
            .await
    }

    /// Deletes a definition; one still assigned is kept (409), as its assignments would stop evaluating.
    pub async fn delete_policy_definition(&self, scope: &PolicyScope, name: &str) -> Result<bool, ArmError> {
        let key = object_id(scope, DEFINITION_TYPE, name).to_ascii_lowercase();
        if let Some(assignment) = self.policy.assignments.using_definition(&key).first() {
            return Err(ArmError::new(
                409,
                codes::POLICY_DEFINITION_IN_USE,
                format!(
                    "The policy definition '{name}' is assigned ('{}'); delete its assignments first.",
                    assignment.name()
                ),
            ));
        }
        self.store
            .delete_policy_record(PolicyKind::Definition, &key)
            .await
            .map_err(store_error)
    }

    /// Every stored record of a kind, across subscriptions, in id order (the assignments to put in force, the
    /// remediations to run: few, so read whole, a page of 500 at a time).
    pub(crate) async fn all_policy_records(&self, kind: PolicyKind) -> Result<Vec<PolicyRecord>, ArmError> {
        let mut all: Vec<PolicyRecord> = Vec::new();
        loop {
            let after = all.last().map(|r| r.id.clone());
            let page = self
                .store
                .policy_records(kind, "/subscriptions/", after.as_deref(), 500)
                .await
                .map_err(store_error)?;
            let done = page.len() < 500;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// One page of stored views of a kind under a scope (lowercase), in id order.
    pub(crate) async fn list_policy_views(
        &self,
        kind: PolicyKind,
        scope_key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ArmError> {
        let records = self
            .store
            .policy_records(kind, scope_key, after, limit + 1)
            .await
            .map_err(store_error)?;
        let more = records.len() > limit;
        let mut items = Vec::with_capacity(limit.min(records.len()));
        for record in records.iter().take(limit) {
            items.push(serde_json::from_str(&record.body).map_err(|_| corrupt(&record.id))?);
        }
        let next = more.then(|| records[limit - 1].id.clone());
        Ok(Page { items, next })
    }
}
