//! `Microsoft.PolicyInsights/policyStates/latest`: `queryResults` (the clusters' states, filtered and paged),
//! `summarize` (counts per assignment) and `triggerEvaluation`, in the shapes `azure-mgmt-policyinsights` reads.
//! `$filter` takes what operators ask of these in practice: `field eq 'value'` and `ne`, joined with `and`, over
//! complianceState, policyAssignmentId, policyDefinitionId, resourceId, resourceType, resourceLocation and
//! isCompliant.

use serde_json::{Value, json};

use clusterconfig_model::error::ArmError;
use clusterconfig_store::PolicyStateRecord;

use super::super::{App, store_error};
use super::assignments::ActiveAssignment;
use super::evaluation::{StateBody, read_state};
use super::inventory::cluster_resource;
use super::{PolicyScope, Trigger, codes, name_of, within};

/// Where a query or summary looks.
#[derive(Debug, Clone)]
pub enum SummaryScope {
    /// A subscription or a resource group: every assignment that covers clusters there.
    Scope(PolicyScope),
    /// One assignment (lowercase id), wherever its clusters are.
    Assignment(String),
}

/// `$filter` and `$top` of a request.
#[derive(Debug, Clone, Default)]
pub struct StatesQuery {
    pub filter: Option<String>,
    pub top: Option<usize>,
    /// Where the previous page ended (from `@odata.nextLink`).
    pub skip_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    field: String,
    equal: bool,
    value: String,
}

const FILTER_FIELDS: &[&str] = &[
    "complianceState",
    "policyAssignmentId",
    "policyDefinitionId",
    "resourceId",
    "resourceType",
    "resourceLocation",
    "isCompliant",
];

/// Parses `a eq 'x' and b ne 'y'`; values in single quotes (`''` escapes one), or bare (`true`).
fn parse_filter(filter: &str) -> Result<Vec<Clause>, ArmError> {
    let invalid = |why: &str| {
        ArmError::new(
            400,
            codes::INVALID_FILTER,
            format!("The $filter is invalid: {why}."),
        )
        .with_target("$filter")
    };
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (field, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid("expected 'field eq value'"))?;
        let field = FILTER_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(field))
            .ok_or_else(|| {
                invalid(&format!(
                    "'{}' cannot be filtered on",
                    clusterconfig_model::ids::printable(field)
                ))
            })?;
        let after = after.trim_start();
        let (op, after) = after
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid("expected an operator"))?;
        let equal = match op.to_ascii_lowercase().as_str() {
            "eq" => true,
            "ne" => false,
            _ => return Err(invalid("only 'eq' and 'ne' are supported")),
        };
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                        chars.next();
                        value.push('\'');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or_else(|| invalid("a quoted value is not closed"))?;
            (value, &quoted[end..])
        } else {
            let (value, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            (value.to_owned(), after)
        };
        clauses.push(Clause {
            field: (*field).to_owned(),
            equal,
            value,
        });
        rest = after.trim_start();
        if !rest.is_empty() {
            let (and, after) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| invalid("expected 'and'"))?;
            if !and.eq_ignore_ascii_case("and") {
                return Err(invalid("clauses are joined with 'and'"));
            }
            rest = after.trim_start();
        }
    }
    Ok(clauses)
}

fn matches(clauses: &[Clause], view: &Value) -> bool {
    clauses.iter().all(|clause| {
        let actual = match &view[clause.field.as_str()] {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        actual.eq_ignore_ascii_case(&clause.value) == clause.equal
    })
}

/// A policy state as Azure Policy Insights shows it.
fn state_view(
    assignment: &ActiveAssignment,
    record: &PolicyStateRecord,
    body: &StateBody,
    context: &str,
) -> Value {
    let resource_id = cluster_resource(&record.cluster, None)
        .and_then(|r| r["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| record.cluster.clone());
    let segments: Vec<&str> = resource_id.split('/').collect();
    json!({
        "@odata.id": null,
        "@odata.context": format!("{context}/$entity"),
        "timestamp": body.timestamp,
        "resourceId": resource_id,
        "policyAssignmentId": assignment.id(),
        "policyDefinitionId": body.policy_definition_id,
        "effectiveParameters": "",
        "isCompliant": body.is_compliant(),
        "subscriptionId": segments.get(2).copied().unwrap_or_default(),
        "resourceType": body.resource_type,
        "resourceLocation": body.resource_location.clone().unwrap_or_default(),
        "resourceGroup": segments.get(4).copied().unwrap_or_default(),
        "resourceTags": body.resource_tags.to_string(),
        "policyAssignmentName": assignment.name(),
        "policyAssignmentOwner": "tbd",
        "policyAssignmentParameters": Value::Object(assignment.given_parameters.clone()).to_string(),
        "policyAssignmentScope": assignment.scope.id(),
        "policyDefinitionName": name_of(&body.policy_definition_id),
        "policyDefinitionAction": body.policy_definition_action,
        "policyDefinitionCategory": assignment.definition.category().unwrap_or("tbd"),
        "policySetDefinitionId": "",
        "policySetDefinitionName": "",
        "policySetDefinitionOwner": "",
        "policySetDefinitionCategory": "",
        "policySetDefinitionParameters": "",
        "managementGroupIds": "",
        "policyDefinitionReferenceId": "",
        "complianceState": body.compliance_state,
    })
}

/// One page of query results, and where the next starts.
pub struct StatesPage {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

impl App {
    /// The assignments a query looks at, in id order, with the cluster prefix it keeps to (a resource group's).
    fn assignments_in(
        &self,
        scope: &SummaryScope,
    ) -> Result<(Vec<std::sync::Arc<ActiveAssignment>>, Option<String>), ArmError> {
        match scope {
            SummaryScope::Assignment(key) => {
                let assignment = self
                    .policy
                    .assignments
                    .get(key)
                    .ok_or_else(|| super::assignments::not_found(key))?;
                Ok((vec![assignment], None))
            }
            SummaryScope::Scope(scope) => {
                let mut all = self.policy.assignments.in_subscription(scope.subscription_id());
                let prefix = scope.resource_group_name().map(|_| scope.key());
                if let Some(prefix) = &prefix {
                    // Those made at the group, at its subscription, or at anything that contains the group.
                    all.retain(|a| within(prefix, &a.scope.key()) || within(&a.scope.key(), prefix));
                }
                all.sort_by(|a, b| a.key.cmp(&b.key));
                Ok((all, prefix))
            }
        }
    }

    /// `queryResults`: states in the scope that match the filter, `top` at most, after the skip token.
    pub async fn query_policy_states(
        &self,
        scope: &SummaryScope,
        query: &StatesQuery,
        context: &str,
    ) -> Result<StatesPage, ArmError> {
        let clauses = query
            .filter
            .as_deref()
            .map(parse_filter)
            .transpose()?
            .unwrap_or_default();
        let top = query.top.unwrap_or(1000).clamp(1, 1000);
        let (assignments, prefix) = self.assignments_in(scope)?;
        let (mut start_assignment, mut start_cluster) =
            match query.skip_token.as_deref().and_then(|t| t.split_once('|')) {
                Some((a, c)) => (Some(a.to_owned()), Some(c.to_owned())),
                None => (None, None),
            };
        let mut items = Vec::new();
        for assignment in assignments {
            if let Some(start) = &start_assignment {
                if assignment.key < *start {
                    continue;
                }
                if assignment.key > *start {
                    start_cluster = None;
                }
                start_assignment = None;
            }
            let mut after = start_cluster.take();
            loop {
                let records = self
                    .store
                    .policy_states(&assignment.key, after.as_deref(), 500)
                    .await
                    .map_err(store_error)?;
                let done = records.len() < 500;
                for record in &records {
                    after = Some(record.cluster.clone());
                    if prefix.as_ref().is_some_and(|p| !within(&record.cluster, p)) {
                        continue;
                    }
                    let Some(body) = read_state(record) else { continue };
                    let view = state_view(&assignment, record, &body, context);
                    if matches(&clauses, &view) {
                        if items.len() == top {
                            let token = format!("{}|{}", assignment.key, items_last_cluster(&items));
                            return Ok(StatesPage {
                                items,
                                next: Some(token),
                            });
                        }
                        items.push(view);
                    }
                }
                if done {
                    break;
                }
            }
        }
        Ok(StatesPage { items, next: None })
    }

    /// `summarize`: compliant and non-compliant clusters per assignment in the scope.
    pub async fn summarize_policy_states(
        &self,
        scope: &SummaryScope,
        query: &StatesQuery,
        context: &str,
        query_results_uri: &str,
    ) -> Result<Value, ArmError> {
        let clauses = query
            .filter
            .as_deref()
            .map(parse_filter)
            .transpose()?
            .unwrap_or_default();
        let (assignments, prefix) = self.assignments_in(scope)?;
        let mut summaries = Vec::new();
        let mut total_compliant = std::collections::BTreeSet::new();
        let mut total_non_compliant = std::collections::BTreeSet::new();
        let mut non_compliant_policies = 0;
        for assignment in assignments.iter().take(query.top.unwrap_or(usize::MAX)) {
            let (mut compliant, mut non_compliant) = (0u64, 0u64);
            let mut after: Option<String> = None;
            loop {
                let records = self
                    .store
                    .policy_states(&assignment.key, after.as_deref(), 1000)
                    .await
                    .map_err(store_error)?;
                let done = records.len() < 1000;
                for record in &records {
                    after = Some(record.cluster.clone());
                    if prefix.as_ref().is_some_and(|p| !within(&record.cluster, p)) {
                        continue;
                    }
                    if !clauses.is_empty() {
                        let Some(body) = read_state(record) else { continue };
                        if !matches(&clauses, &state_view(assignment, record, &body, context)) {
                            continue;
                        }
                    }
                    if record.compliance == super::evaluation::COMPLIANT {
                        compliant += 1;
                        total_compliant.insert(record.cluster.clone());
                    } else {
                        non_compliant += 1;
                        total_non_compliant.insert(record.cluster.clone());
                    }
                }
                if done {
                    break;
                }
            }
            if non_compliant > 0 {
                non_compliant_policies += 1;
            }
            let results = summary_results(
                &format!(
                    "{query_results_uri}&$filter=policyAssignmentId eq '{}'",
                    assignment.id()
                ),
                compliant,
                non_compliant,
                u64::from(non_compliant > 0),
            );
            summaries.push(json!({
                "policyAssignmentId": assignment.id(),
                "policySetDefinitionId": "",
                "results": results,
                "policyDefinitions": [{
                    "policyDefinitionId": assignment.definition_id,
                    "policyDefinitionReferenceId": "",
                    "policyDefinitionGroupNames": [],
                    "effect": assignment.definition.rule.effect(&assignment.parameters)
                        .map(|e| super::evaluation::effect_name(e).to_ascii_lowercase())
                        .unwrap_or_default(),
                    "results": results,
                }],
                "policyGroups": [],
            }));
        }
        // A cluster non-compliant with any assignment is non-compliant overall.
        let compliant_clusters = total_compliant.difference(&total_non_compliant).count() as u64;
        let results = summary_results(
            query_results_uri,
            compliant_clusters,
            total_non_compliant.len() as u64,
            non_compliant_policies,
        );
        Ok(json!({
            "@odata.context": format!("{context}/$entity"),
            "@odata.count": 1,
            "value": [{
                "@odata.id": null,
                "@odata.context": format!("{context}/$entity"),
                "results": results,
                "policyAssignments": summaries,
            }],
        }))
    }

    /// `triggerEvaluation`: every cluster in the scope is evaluated again against the assignments covering it.
    /// Returns how many clusters were queued.
    pub async fn trigger_policy_evaluation(&self, scope: &PolicyScope) -> Result<usize, ArmError> {
        let clusters = self
            .store
            .clusters_in_subscription(&scope.subscription_id().to_ascii_lowercase())
            .await
            .map_err(store_error)?;
        let mut queued = 0;
        for cluster in clusters.iter().filter(|c| scope.covers(c)) {
            self.policy.queue.push(cluster, Trigger::Scan);
            queued += 1;
        }
        Ok(queued)
    }

    /// Queues every cluster an assignment covers (a new or changed assignment).
    pub async fn evaluate_assignment_scope(&self, assignment_key: &str) -> Result<usize, ArmError> {
        let Some(assignment) = self.policy.assignments.get(assignment_key) else {
            return Ok(0);
        };
        let clusters = self
            .store
            .clusters_in_subscription(&assignment.scope.subscription_id().to_ascii_lowercase())
            .await
            .map_err(store_error)?;
        let mut queued = 0;
        for cluster in clusters.iter().filter(|c| assignment.covers(c)) {
            self.policy.queue.push(cluster, Trigger::Scan);
            queued += 1;
        }
        Ok(queued)
    }
}

fn items_last_cluster(items: &[Value]) -> String {
    items
        .last()
        .and_then(|v| v["resourceId"].as_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default()
}

fn summary_results(
    query_results_uri: &str,
    compliant: u64,
    non_compliant: u64,
    non_compliant_policies: u64,
) -> Value {
    json!({
        "queryResultsUri": query_results_uri,
        "nonCompliantResources": non_compliant,
        "nonCompliantPolicies": non_compliant_policies,
        "resourceDetails": [
            {"complianceState": "compliant", "count": compliant},
            {"complianceState": "noncompliant", "count": non_compliant},
        ],
        "policyDetails": [
            {"complianceState": "compliant", "count": u64::from(non_compliant_policies == 0)},
            {"complianceState": "noncompliant", "count": non_compliant_policies},
        ],
        "policyGroupDetails": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_odata_says() {
        let clauses = parse_filter(
            "complianceState eq 'NonCompliant' and PolicyAssignmentId eq '/subscriptions/s/x''y'",
        )
        .unwrap();
        assert_eq!(clauses.len(), 2);
        assert_eq!(clauses[1].field, "policyAssignmentId");
        assert_eq!(clauses[1].value, "/subscriptions/s/x'y");
        assert!(parse_filter("isCompliant ne true").unwrap()[0].value == "true");
        assert_eq!(
            parse_filter("owner eq 'x'").unwrap_err().code,
            codes::INVALID_FILTER
        );
        assert!(parse_filter("complianceState gt 'a'").is_err());
        assert!(parse_filter("complianceState eq 'open").is_err());
        assert!(parse_filter("complianceState eq 'a' or resourceId eq 'b'").is_err());
    }

    #[test]
    fn clauses_compare_case_insensitively() {
        let view = json!({"complianceState": "NonCompliant", "isCompliant": false});
        assert!(matches(
            &parse_filter("complianceState eq 'noncompliant'").unwrap(),
            &view
        ));
        assert!(matches(&parse_filter("isCompliant eq false").unwrap(), &view));
        assert!(!matches(
            &parse_filter("complianceState ne 'NonCompliant'").unwrap(),
            &view
        ));
    }
}
