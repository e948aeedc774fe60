//! The Azure Policy rule language: `policyRule = {"if": <condition>, "then": {"effect", "details"}}`.
//!
//! [`PolicyRule::applies`] evaluates the `if` on a resource, [`PolicyRule::effect`] resolves `then.effect`, and
//! [`Details`] holds the related-resource check and the deployment of `auditIfNotExists`/`deployIfNotExists`.

pub mod aliases;
pub mod compare;
pub mod condition;
pub mod details;
pub mod effect;
pub mod field;
pub mod operators;

use serde_json::Value;

pub use condition::{Comparison, Condition, FieldRef, Subject};
pub use details::{Details, EvaluationDelay, ScopeLevel};
pub use effect::Effect;
pub use field::{FieldPath, PathSegment, Selection};
pub use operators::{OPERATORS, Operator};

use crate::error::{EvalError, EvalStage, PolicyError};
use crate::parameters::{BoundParameters, get_ignore_case};
use crate::template::{ContextKind, EvalContext, Expression, TemplateValue};

/// A parsed `policyRule`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    /// The `if` condition.
    pub condition: Condition,
    /// `then.effect`: a literal or a policy expression.
    pub effect: TemplateValue,
    /// `then.details`, for effects that have them.
    pub details: Option<Details>,
}

impl PolicyRule {
    /// Reads a `policyRule` object; `path` is its JSON path (`policyRule`).
    pub fn parse(json: &Value, path: &str) -> Result<PolicyRule, PolicyError> {
        let object = json
            .as_object()
            .ok_or_else(|| PolicyError::rule(path, "'policyRule' must be an object"))?;
        let condition = get_ignore_case(object, "if")
            .ok_or_else(|| PolicyError::rule(path, "'if' is missing"))
            .and_then(|c| Condition::parse(c, &format!("{path}.if")))?;
        let then_path = format!("{path}.then");
        let then = get_ignore_case(object, "then")
            .and_then(Value::as_object)
            .ok_or_else(|| PolicyError::rule(&then_path, "'then' must be an object"))?;
        let effect_path = format!("{then_path}.effect");
        let effect = get_ignore_case(then, "effect")
            .ok_or_else(|| PolicyError::rule(&effect_path, "'effect' is missing"))
            .and_then(|e| TemplateValue::parse(e, &effect_path, ContextKind::Policy))?;
        if let Some(name) = effect.as_literal_str()
            && Effect::from_name(name).is_none()
        {
            return Err(PolicyError::rule(
                &effect_path,
                format!("'{name}' is not a policy effect"),
            ));
        }
        let details = get_ignore_case(then, "details")
            .filter(|d| !d.is_null())
            .map(|d| Details::parse(d, &format!("{then_path}.details")))
            .transpose()?;
        Ok(PolicyRule {
            condition,
            effect,
            details,
        })
    }

    /// Whether the `if` condition holds for `resource` (ARM's JSON of the resource under evaluation).
    pub fn applies(&self, parameters: &BoundParameters, resource: &Value) -> Result<bool, EvalError> {
        self.condition.evaluate(parameters, resource)
    }

    /// The effect, with `then.effect` evaluated against the bound parameters (names ignore case).
    pub fn effect(&self, parameters: &BoundParameters) -> Result<Effect, EvalError> {
        let nothing = Value::Null;
        let location = "policyRule.then.effect";
        match self.effect.evaluate(&EvalContext::policy(parameters, &nothing))? {
            Value::String(name) => Effect::from_name(&name).ok_or_else(|| {
                EvalError::invalid(EvalStage::Policy, location, "the effect is not a policy effect")
            }),
            _ => Err(EvalError::invalid(
                EvalStage::Policy,
                location,
                "the effect must evaluate to a string",
            )),
        }
    }

    /// Calls `visit` for every policy-language expression in the rule (template expressions excluded).
    pub fn for_each_policy_expression(&self, visit: &mut impl FnMut(&Expression)) {
        self.condition.for_each_expression(visit);
        self.effect.for_each_expression(visit);
        if let Some(details) = &self.details {
            details.for_each_policy_expression(visit);
        }
    }
}
