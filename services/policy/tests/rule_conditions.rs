//! The policy rule language's conditions, compared as Azure Policy compares: strings without regard to case,
//! booleans and their text as equal, fields through aliases.

use clusterconfig_policy::Condition;
use clusterconfig_policy::parameters::ParameterDefinitions;
use serde_json::{Value, json};

fn holds(condition: Value) -> bool {
    let cluster = json!({
        "id": "/subscriptions/s/resourceGroups/fleet/providers/Microsoft.Kubernetes/connectedClusters/Edge-1",
        "name": "Edge-1", "type": "Microsoft.Kubernetes/connectedClusters", "location": "westeurope",
        "tags": {"env": "Prod", "tier": "2"}
    });
    let parameters = ParameterDefinitions::parse(
        Some(&json!({"envs": {"type": "Array", "defaultValue": ["prod", "stage"]}})),
        "parameters",
    )
    .unwrap()
    .bind(&Default::default())
    .unwrap();
    Condition::parse(&condition, "policyRule.if")
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
        .evaluate(&parameters, &cluster)
        .unwrap_or_else(|e| panic!("{condition}: {e}"))
}

#[test]
fn operators() {
    assert!(holds(
        json!({"field": "type", "equals": "microsoft.kubernetes/CONNECTEDclusters"})
    ));
    assert!(holds(json!({"field": "name", "notEquals": "edge-2"})));
    assert!(holds(
        json!({"field": "type", "in": ["Microsoft.ContainerService/managedClusters", "Microsoft.Kubernetes/connectedClusters"]})
    ));
    assert!(holds(json!({"field": "location", "notIn": ["eastus"]})));
    assert!(holds(
        json!({"field": "tags['env']", "in": "[parameters('envs')]"})
    ));
    assert!(holds(json!({"field": "tags.env", "exists": true})));
    assert!(holds(json!({"field": "tags.owner", "exists": "false"})));
    assert!(holds(json!({"field": "name", "like": "edge-*"})));
    assert!(holds(json!({"field": "name", "notLike": "core-*"})));
    assert!(holds(json!({"field": "name", "contains": "DGE"})));
    assert!(holds(json!({"field": "name", "notContains": "core"})));
    assert!(holds(json!({"field": "tags", "containsKey": "ENV"})));
    assert!(holds(json!({"field": "tags.tier", "greater": "1"})));
    assert!(holds(json!({"field": "tags.tier", "lessOrEquals": "2"})));
    assert!(holds(json!({"field": "tags.tier", "greaterOrEquals": "2"})));
    assert!(holds(json!({"field": "tags.tier", "less": "3"})));
}

#[test]
fn logic() {
    let arc = json!({"field": "type", "equals": "Microsoft.Kubernetes/connectedClusters"});
    let aks = json!({"field": "type", "equals": "Microsoft.ContainerService/managedClusters"});
    assert!(holds(json!({"anyOf": [aks, arc]})));
    assert!(!holds(json!({"allOf": [aks, arc]})));
    assert!(holds(json!({"not": aks})));
    assert!(holds(json!({"value": "[field('name')]", "equals": "EDGE-1"})));
}

#[test]
fn booleans_and_their_text_compare_equal() {
    assert!(holds(json!({"value": true, "equals": "True"})));
    assert!(holds(json!({"value": "false", "equals": false})));
    assert!(!holds(json!({"value": true, "equals": "false"})));
}

#[test]
fn malformed_conditions_are_refused_with_their_path() {
    let error = Condition::parse(
        &json!({"allOf": [{"field": "name", "sortOf": "x"}]}),
        "policyRule.if",
    )
    .unwrap_err();
    assert!(error.to_string().contains("policyRule.if"), "{error}");
}
