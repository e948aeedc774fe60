//! The ARM template expression language as the deployments use it: parsed once, evaluated without I/O, errors
//! that name the position.

use clusterconfig_policy::template::{ContextKind, EvalContext, ScopeInfo, TemplateValue};
use clusterconfig_policy::{NamedValues, PolicyError};
use serde_json::{Value, json};

fn scope() -> ScopeInfo {
    ScopeInfo {
        subscription_id: "sub-1".into(),
        resource_group: Some("fleet".into()),
        location: Some("westeurope".into()),
    }
}

fn evaluate(expression: &str) -> Value {
    let mut parameters = NamedValues::new();
    parameters.insert("name", json!("Edge-1"));
    parameters.insert("count", json!(3));
    parameters.insert("enabled", json!(true));
    parameters.insert("empty", json!(""));
    parameters.insert("settings", json!({"a": {"b": [10, 20, 30]}}));
    let mut variables = NamedValues::new();
    variables.insert("prefix", json!("cfg-"));
    let parsed = TemplateValue::parse(&json!(expression), "test", ContextKind::Template)
        .unwrap_or_else(|e| panic!("{expression}: {e}"));
    parsed
        .evaluate(&EvalContext::template(&parameters, &variables, scope()))
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
}

fn parse_error(expression: &str) -> PolicyError {
    TemplateValue::parse(
        &json!(expression),
        "template.resources[0].name",
        ContextKind::Template,
    )
    .unwrap_err()
}

#[test]
fn functions_the_built_ins_use() {
    assert_eq!(
        evaluate("[concat(variables('prefix'), toLower(parameters('name')))]"),
        json!("cfg-edge-1")
    );
    assert_eq!(
        evaluate("[if(not(empty(parameters('empty'))), 'set', json('null'))]"),
        Value::Null
    );
    assert_eq!(
        evaluate("[and(parameters('enabled'), equals(parameters('count'), 3))]"),
        json!(true)
    );
    assert_eq!(
        evaluate("[or(false, contains('Microsoft.Kubernetes/connectedClusters', 'connected'))]"),
        json!(true)
    );
    assert_eq!(evaluate("[toUpper('flux')]"), json!("FLUX"));
    assert_eq!(evaluate("[string(parameters('count'))]"), json!("3"));
    assert_eq!(evaluate("[int('42')]"), json!(42));
    assert_eq!(evaluate("[bool('true')]"), json!(true));
    assert_eq!(
        evaluate("[coalesce(json('null'), 'fallback')]"),
        json!("fallback")
    );
    assert_eq!(evaluate("[format('{0}-{1}', 'a', 2)]"), json!("a-2"));
}

#[test]
fn literals_escapes_properties_and_indexes() {
    assert_eq!(evaluate("[concat('it''s', ' ', 'ok')]"), json!("it's ok"));
    assert_eq!(evaluate("[parameters('settings').a.b[1]]"), json!(20));
    assert_eq!(evaluate("[parameters('settings')['a']['b'][2]]"), json!(30));
    assert_eq!(evaluate("[json('{\"x\": [1, true]}').x[1]]"), json!(true));
    // `[[` escapes a literal that starts with a bracket.
    assert_eq!(evaluate("[[not an expression]"), json!("[not an expression]"));
    assert_eq!(evaluate("plain text"), json!("plain text"));
}

#[test]
fn scope_functions() {
    assert_eq!(evaluate("[subscription().subscriptionId]"), json!("sub-1"));
    assert_eq!(evaluate("[resourceGroup().name]"), json!("fleet"));
    assert_eq!(
        evaluate("[resourceId('Microsoft.Kubernetes/connectedClusters', 'edge-1')]"),
        json!(
            "/subscriptions/sub-1/resourceGroups/fleet/providers/Microsoft.Kubernetes/connectedClusters/edge-1"
        )
    );
}

#[test]
fn parse_errors_name_the_position() {
    let error = parse_error("[concat('a', ]");
    let PolicyError::InvalidExpression { position, path, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*position, 14, "{error}");
    assert_eq!(path, "template.resources[0].name");
    assert!(error.to_string().contains("position 14"), "{error}");

    let unterminated = parse_error("[concat('a]");
    assert!(
        matches!(unterminated, PolicyError::InvalidExpression { .. }),
        "{unterminated}"
    );
    let unknown = parse_error("[noSuchFunction(1)]");
    assert!(unknown.to_string().contains("noSuchFunction"), "{unknown}");
    // `field()` is the policy language's, not the template's.
    let wrong_language = parse_error("[field('name')]");
    assert!(
        matches!(wrong_language, PolicyError::InvalidExpression { .. }),
        "{wrong_language}"
    );
}
