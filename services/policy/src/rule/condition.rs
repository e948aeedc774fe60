//! The condition tree of a policy rule (`if`, `existenceCondition`): `allOf`, `anyOf`, `not`, and comparisons of a
//! `field` or a `value` with an operator and its operand. Read once by [`Condition::parse`], evaluated by
//! [`Condition::evaluate`].
//!
//! Property names (`allOf`, `field`, `equals`, ...) are matched case-insensitively, like Azure reads them. An empty
//! `allOf` holds and an empty `anyOf` does not. `count` expressions are refused when the definition is read.
//!
//! Operands may be expressions, and so may each element of an array operand (the Flux v1 built-ins write
//! `"in": ["[parameters('operatorParams')]", "[concat('--git-readonly ', parameters('operatorParams'))]"]`).

use serde_json::{Map, Value};

use crate::error::{EvalError, EvalStage, PolicyError};
use crate::parameters::BoundParameters;
use crate::rule::field::{FieldPath, Selection, normalize_location};
use crate::rule::operators::Operator;
use crate::template::parser::{StringKind, classify};
use crate::template::{ContextKind, EvalContext, Expression, TemplateValue};

/// A condition of a policy rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    AllOf(Vec<Condition>),
    AnyOf(Vec<Condition>),
    Not(Box<Condition>),
    Compare(Box<Comparison>),
}

/// `{"field"|"value": ..., "<operator>": operand}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub subject: Subject,
    pub operator: Operator,
    pub operand: TemplateValue,
    /// The JSON path of this condition, for errors.
    pub location: String,
}

/// What a comparison looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// `"field": "..."`: a field of the resource the condition is evaluated on.
    Field(FieldRef),
    /// `"value": ...`: a literal or an expression.
    Value(TemplateValue),
}

/// A field name, known when the definition is read or computed by an expression
/// (`"field": "[concat('tags[', parameters('tagName'), ']')]"`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    Path(FieldPath),
    Expression(Expression),
}

const LOGICAL: [&str; 3] = ["allOf", "anyOf", "not"];

impl Condition {
    /// Reads a condition; `path` is its JSON path (`policyRule.if`), extended for children (`…allOf[2]`).
    pub fn parse(json: &Value, path: &str) -> Result<Condition, PolicyError> {
        let object = json
            .as_object()
            .ok_or_else(|| PolicyError::rule(path, "a condition must be an object"))?;
        let logical: Vec<(&String, &Value)> = object
            .iter()
            .filter(|(k, _)| LOGICAL.iter().any(|l| l.eq_ignore_ascii_case(k)))
            .collect();
        match logical.as_slice() {
            [] => Comparison::parse(object, path).map(|c| Condition::Compare(Box::new(c))),
            [(key, value)] if object.len() == 1 => {
                let here = format!("{path}.{key}");
                if key.eq_ignore_ascii_case("not") {
                    return Ok(Condition::Not(Box::new(Condition::parse(value, &here)?)));
                }
                let items = value.as_array().ok_or_else(|| {
                    PolicyError::rule(&here, format!("'{key}' must be an array of conditions"))
                })?;
                let children = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| Condition::parse(item, &format!("{here}[{index}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if key.eq_ignore_ascii_case("allOf") {
                    Condition::AllOf(children)
                } else {
                    Condition::AnyOf(children)
                })
            }
            _ => Err(PolicyError::rule(
                path,
                "a logical operator (allOf, anyOf, not) must stand alone in its object",
            )),
        }
    }

    /// Whether the condition holds for `resource`, which both `"field"` and `field()` read.
    pub fn evaluate(&self, parameters: &BoundParameters, resource: &Value) -> Result<bool, EvalError> {
        self.evaluate_on(parameters, resource, resource)
    }

    /// Whether the condition holds, reading `"field"` from `subject_resource` and `field()` from
    /// `function_resource` — distinct in an `existenceCondition`, whose fields are the related resource's and
    /// whose `field()` calls read the `if` resource.
    pub fn evaluate_on(
        &self,
        parameters: &BoundParameters,
        subject_resource: &Value,
        function_resource: &Value,
    ) -> Result<bool, EvalError> {
        let ctx = EvalContext::policy(parameters, function_resource);
        self.evaluate_in(&ctx, subject_resource)
    }

    fn evaluate_in(&self, ctx: &EvalContext<'_>, subject_resource: &Value) -> Result<bool, EvalError> {
        match self {
            Condition::AllOf(children) => {
                for child in children {
                    if !child.evaluate_in(ctx, subject_resource)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::AnyOf(children) => {
                for child in children {
                    if child.evaluate_in(ctx, subject_resource)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(child) => Ok(!child.evaluate_in(ctx, subject_resource)?),
            Condition::Compare(comparison) => comparison.evaluate(ctx, subject_resource),
        }
    }

    /// Calls `visit` for every expression in the tree (fields, values, operands).
    pub fn for_each_expression(&self, visit: &mut impl FnMut(&Expression)) {
        match self {
            Condition::AllOf(children) | Condition::AnyOf(children) => {
                children.iter().for_each(|c| c.for_each_expression(visit))
            }
            Condition::Not(child) => child.for_each_expression(visit),
            Condition::Compare(comparison) => {
                match &comparison.subject {
                    Subject::Field(FieldRef::Expression(expression)) => visit(expression),
                    Subject::Field(FieldRef::Path(_)) => {}
                    Subject::Value(value) => value.for_each_expression(visit),
                }
                comparison.operand.for_each_expression(visit);
            }
        }
    }
}

impl Comparison {
    fn parse(object: &Map<String, Value>, path: &str) -> Result<Comparison, PolicyError> {
        let mut subject = None;
        let mut operator = None;
        for (key, value) in object {
            let here = format!("{path}.{key}");
            if key.eq_ignore_ascii_case("field") {
                let name = value
                    .as_str()
                    .ok_or_else(|| PolicyError::rule(&here, "'field' must be a string"))?;
                let field = match classify(name) {
                    StringKind::Expression => FieldRef::Expression(parse_policy_expression(name, &here)?),
                    StringKind::Literal(name) => FieldRef::Path(
                        FieldPath::parse(&name).map_err(|reason| PolicyError::rule(&here, reason))?,
                    ),
                };
                set_once(&mut subject, Subject::Field(field), path)?;
            } else if key.eq_ignore_ascii_case("value") {
                set_once(
                    &mut subject,
                    Subject::Value(TemplateValue::parse(value, &here, ContextKind::Policy)?),
                    path,
                )?;
            } else if key.eq_ignore_ascii_case("count") {
                return Err(PolicyError::rule(&here, "'count' expressions are not supported"));
            } else if let Some(op) = Operator::from_name(key) {
                if operator.is_some() {
                    return Err(PolicyError::rule(path, "a condition takes exactly one operator"));
                }
                let operand = TemplateValue::parse(value, &here, ContextKind::Policy)?;
                if let TemplateValue::Literal(literal) = &operand
                    && let Some(problem) = op.operand_problem(literal)
                {
                    return Err(PolicyError::rule(&here, problem));
                }
                operator = Some((op, operand));
            } else {
                return Err(PolicyError::rule(
                    &here,
                    format!("'{key}' is not a condition property or operator"),
                ));
            }
        }
        let subject =
            subject.ok_or_else(|| PolicyError::rule(path, "a condition needs 'field' or 'value'"))?;
        let (operator, operand) =
            operator.ok_or_else(|| PolicyError::rule(path, "a condition needs an operator"))?;
        Ok(Comparison {
            subject,
            operator,
            operand,
            location: path.to_owned(),
        })
    }

    fn evaluate(&self, ctx: &EvalContext<'_>, subject_resource: &Value) -> Result<bool, EvalError> {
        let invalid = |message: String| EvalError::invalid(EvalStage::Policy, &self.location, message);
        let (selection, is_location) = match &self.subject {
            Subject::Field(FieldRef::Path(path)) => (path.resolve(subject_resource), path.is_location()),
            Subject::Field(FieldRef::Expression(expression)) => {
                let name = match expression.evaluate(ctx)? {
                    Value::String(name) => name,
                    _ => return Err(invalid("a computed 'field' must evaluate to a string".to_owned())),
                };
                let path = FieldPath::parse(&name).map_err(invalid)?;
                (path.resolve(subject_resource), path.is_location())
            }
            Subject::Value(value) => {
                let value = value.evaluate(ctx)?;
                (Selection::Single(Some(value).filter(|v| !v.is_null())), false)
            }
        };
        let mut operand = self.operand.evaluate(ctx)?;
        if is_location {
            normalize_locations(&mut operand);
        }
        let apply = |value: Option<&Value>| self.operator.apply(value, &operand).map_err(invalid);
        match selection {
            Selection::Single(value) => apply(value.as_ref()),
            // `exists` on a collection asks whether it has members; any other operator must hold for each.
            Selection::Many(values) if self.operator == Operator::Exists => {
                let holder = (!values.is_empty()).then_some(Value::Bool(true));
                apply(holder.as_ref())
            }
            Selection::Many(values) => {
                for value in &values {
                    if !apply(Some(value))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}

fn set_once(slot: &mut Option<Subject>, subject: Subject, path: &str) -> Result<(), PolicyError> {
    if slot.replace(subject).is_some() {
        return Err(PolicyError::rule(
            path,
            "a condition takes exactly one of 'field' and 'value'",
        ));
    }
    Ok(())
}

fn parse_policy_expression(text: &str, path: &str) -> Result<Expression, PolicyError> {
    let expression = Expression::parse(text, path)?;
    crate::template::parser::check_availability(&expression, ContextKind::Policy)?;
    Ok(expression)
}

/// Operands compared with `location` are normalized like the field (`East US 2` → `eastus2`).
fn normalize_locations(operand: &mut Value) {
    match operand {
        Value::String(s) => *s = normalize_location(s),
        Value::Array(items) => items.iter_mut().for_each(normalize_locations),
        _ => {}
    }
}
