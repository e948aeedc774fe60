//! [`PolicyDefinition`]: a policy definition read once into typed parts — metadata, parameter definitions, and the
//! parsed rule (conditions, effect, details, deployment template).
//!
//! Reading checks what Azure checks when a definition is created: the parameter types, the rule's structure, every
//! expression's syntax and function availability, and that each `parameters('x')` with a literal name refers to a
//! declared parameter (names ignore case).

use serde_json::{Map, Value};

use crate::deployment::Deployment;
use crate::error::PolicyError;
use crate::parameters::{BoundParameters, ParameterDefinitions, get_ignore_case};
use crate::rule::{Details, PolicyRule};
use crate::template::{Expr, Expression, Function};

/// Which resources a definition evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyMode {
    /// Every resource type, resource groups and subscriptions included.
    All,
    /// Only resource types that support tags and location.
    Indexed,
}

impl PolicyMode {
    /// Reads a mode, ignoring case. A missing mode is `Indexed`: "A null mode is the same as using indexed to support
    /// backward compatibility" (Microsoft Learn "Azure Policy definition structure basics",
    /// <https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-basics#mode>). Resource
    /// Provider modes (`Microsoft.Kubernetes.Data`, ...) are not supported.
    fn parse(mode: Option<&Value>, path: &str) -> Result<PolicyMode, PolicyError> {
        match mode {
            None | Some(Value::Null) => Ok(PolicyMode::Indexed),
            Some(Value::String(mode)) if mode.eq_ignore_ascii_case("all") => Ok(PolicyMode::All),
            Some(Value::String(mode)) if mode.eq_ignore_ascii_case("indexed") => Ok(PolicyMode::Indexed),
            Some(Value::String(_)) => Err(PolicyError::definition(
                path,
                "the mode must be 'All' or 'Indexed'",
            )),
            Some(_) => Err(PolicyError::definition(path, "the mode must be a string")),
        }
    }
}

/// A policy definition.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDefinition {
    /// The definition's resource id, when read with [`PolicyDefinition::from_published`].
    pub id: Option<String>,
    /// The definition's name (a GUID for built-ins), when read with [`PolicyDefinition::from_published`].
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// `BuiltIn`, `Custom`, `Static`, ...
    pub policy_type: Option<String>,
    pub mode: PolicyMode,
    /// `metadata` as written (`version`, `category`, ...), or `Null`.
    pub metadata: Value,
    pub version: Option<String>,
    pub parameters: ParameterDefinitions,
    pub rule: PolicyRule,
}

impl PolicyDefinition {
    /// Reads a definition's `properties` object.
    pub fn parse(properties: &Value) -> Result<PolicyDefinition, PolicyError> {
        let object = properties.as_object().ok_or_else(|| {
            PolicyError::definition("properties", "the definition's properties must be an object")
        })?;
        let text = |key: &str| -> Result<Option<String>, PolicyError> {
            match get_ignore_case(object, key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(PolicyError::definition(key, "must be a string")),
            }
        };
        let parameters = ParameterDefinitions::parse(get_ignore_case(object, "parameters"), "parameters")?;
        let rule = get_ignore_case(object, "policyRule")
            .ok_or_else(|| PolicyError::definition("policyRule", "the definition has no policyRule"))
            .and_then(|rule| PolicyRule::parse(rule, "policyRule"))?;
        check_parameter_references(&rule, &parameters)?;
        Ok(PolicyDefinition {
            id: None,
            name: None,
            display_name: text("displayName")?,
            description: text("description")?,
            policy_type: text("policyType")?,
            mode: PolicyMode::parse(get_ignore_case(object, "mode"), "mode")?,
            metadata: get_ignore_case(object, "metadata")
                .cloned()
                .unwrap_or(Value::Null),
            version: text("version")?,
            parameters,
            rule,
        })
    }

    /// Reads a definition as Azure publishes it: `{"properties": {...}, "id": ..., "name": ...}`.
    pub fn from_published(document: &Value) -> Result<PolicyDefinition, PolicyError> {
        let object: &Map<String, Value> = document
            .as_object()
            .ok_or_else(|| PolicyError::definition("$", "a policy definition must be an object"))?;
        let properties = get_ignore_case(object, "properties")
            .ok_or_else(|| PolicyError::definition("properties", "the definition has no properties"))?;
        let mut definition = PolicyDefinition::parse(properties)?;
        let text = |key: &str| {
            get_ignore_case(object, key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        definition.id = text("id");
        definition.name = text("name");
        Ok(definition)
    }

    /// Binds an assignment's `parameters` (`{"name": {"value": ...}}`) to this definition: unknown, missing,
    /// mistyped and disallowed values are errors; defaults fill the rest.
    pub fn bind(&self, given: &Map<String, Value>) -> Result<BoundParameters, PolicyError> {
        self.parameters.bind(given)
    }

    /// `metadata.category` (`Kubernetes` for the GitOps built-ins), if given.
    pub fn category(&self) -> Option<&str> {
        self.metadata.get("category").and_then(Value::as_str)
    }

    /// `then.details`, if the rule has them.
    pub fn details(&self) -> Option<&Details> {
        self.rule.details.as_ref()
    }

    /// `then.details.deployment`, if the rule has one.
    pub fn deployment(&self) -> Option<&Deployment> {
        self.details().and_then(|d| d.deployment.as_ref())
    }
}

/// Every `parameters('x')` with a literal name in the policy language must name a declared parameter.
fn check_parameter_references(
    rule: &PolicyRule,
    parameters: &ParameterDefinitions,
) -> Result<(), PolicyError> {
    let mut problem = None;
    rule.for_each_policy_expression(&mut |expression: &Expression| {
        expression
            .root()
            .for_each_call(&mut |function, args: &[Expr], position| {
                if function == Function::Parameters
                    && let Some(Expr::String(name)) = args.first()
                    && parameters.get(name).is_none()
                    && problem.is_none()
                {
                    problem = Some(PolicyError::InvalidExpression {
                        path: expression.location().to_owned(),
                        expression: expression.text().to_owned(),
                        position,
                        reason: format!("the policy parameter '{name}' is not defined"),
                    });
                }
            });
    });
    problem.map_or(Ok(()), Err)
}
