//! [`TemplateValue`]: a JSON value in which strings may be expressions, parsed once.
//!
//! Used for everything the two languages evaluate: condition operands, `then.effect`, `details.name`, deployment
//! parameter values, template parameter defaults, variables and resource bodies. Object keys may be expressions too
//! (the built-ins key their Kustomization by `"[parameters('kustomizationName')]"`). Subtrees without any expression
//! are kept as one literal JSON value. Evaluation keeps explicit `null`s: `json('null')` in a body stays `null`.

use serde_json::{Map, Value};

use crate::error::{EvalError, PolicyError};
use crate::template::ContextKind;
use crate::template::ast::Expression;
use crate::template::eval::EvalContext;
use crate::template::parser::{StringKind, check_availability, classify};
use crate::template::values::type_name;

/// A JSON value whose strings may be template expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateValue {
    /// A value without expressions (a `[[`-escaped string already unescaped).
    Literal(Value),
    /// A `"[...]"` string.
    Expression(Expression),
    /// An array with at least one expression inside.
    Array(Vec<TemplateValue>),
    /// An object with at least one expression inside, in key order.
    Object(Vec<(TemplateKey, TemplateValue)>),
}

/// An object key: literal, or an expression that must evaluate to a string.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateKey {
    Literal(String),
    Expression(Expression),
}

impl TemplateValue {
    /// Reads `json`, parsing each expression string and checking its functions are available in `kind`; `path` is
    /// the JSON path of `json` in the definition.
    pub fn parse(json: &Value, path: &str, kind: ContextKind) -> Result<TemplateValue, PolicyError> {
        match json {
            Value::String(text) => match classify(text) {
                StringKind::Literal(literal) => {
                    Ok(TemplateValue::Literal(Value::String(literal.into_owned())))
                }
                StringKind::Expression => Ok(TemplateValue::Expression(parse_expression(text, path, kind)?)),
            },
            Value::Array(items) => {
                let parsed = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| TemplateValue::parse(item, &format!("{path}[{index}]"), kind))
                    .collect::<Result<Vec<_>, _>>()?;
                if parsed.iter().all(TemplateValue::is_literal) {
                    let literals = parsed
                        .into_iter()
                        .filter_map(TemplateValue::into_literal)
                        .collect();
                    return Ok(TemplateValue::Literal(Value::Array(literals)));
                }
                Ok(TemplateValue::Array(parsed))
            }
            Value::Object(object) => {
                let mut entries = Vec::with_capacity(object.len());
                for (key, value) in object {
                    let here = child_path(path, key);
                    let key = match classify(key) {
                        StringKind::Literal(literal) => TemplateKey::Literal(literal.into_owned()),
                        StringKind::Expression => {
                            TemplateKey::Expression(parse_expression(key, &here, kind)?)
                        }
                    };
                    entries.push((key, TemplateValue::parse(value, &here, kind)?));
                }
                let all_literal = entries
                    .iter()
                    .all(|(k, v)| matches!(k, TemplateKey::Literal(_)) && v.is_literal());
                if all_literal {
                    let object = entries
                        .into_iter()
                        .filter_map(|(k, v)| match k {
                            TemplateKey::Literal(k) => Some((k, v.into_literal()?)),
                            TemplateKey::Expression(_) => None,
                        })
                        .collect::<Map<_, _>>();
                    return Ok(TemplateValue::Literal(Value::Object(object)));
                }
                Ok(TemplateValue::Object(entries))
            }
            scalar => Ok(TemplateValue::Literal(scalar.clone())),
        }
    }

    /// Evaluates every expression inside, keeping the shape (and explicit `null`s).
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<Value, EvalError> {
        match self {
            TemplateValue::Literal(value) => Ok(value.clone()),
            TemplateValue::Expression(expression) => expression.evaluate(ctx),
            TemplateValue::Array(items) => items
                .iter()
                .map(|item| item.evaluate(ctx))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            TemplateValue::Object(entries) => {
                let mut object = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let key = match key {
                        TemplateKey::Literal(key) => key.clone(),
                        TemplateKey::Expression(expression) => match expression.evaluate(ctx)? {
                            Value::String(key) => key,
                            other => {
                                return Err(EvalError::Expression {
                                    stage: ctx.stage(),
                                    expression: expression.text.clone(),
                                    location: expression.location.clone(),
                                    message: format!(
                                        "a property name must be a string, not {}",
                                        type_name(&other)
                                    ),
                                });
                            }
                        },
                    };
                    object.insert(key, value.evaluate(ctx)?);
                }
                Ok(Value::Object(object))
            }
        }
    }

    /// The string, if this is a literal string.
    pub fn as_literal_str(&self) -> Option<&str> {
        match self {
            TemplateValue::Literal(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn is_literal(&self) -> bool {
        matches!(self, TemplateValue::Literal(_))
    }

    fn into_literal(self) -> Option<Value> {
        match self {
            TemplateValue::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// Calls `visit` for every expression inside (keys included).
    pub fn for_each_expression(&self, visit: &mut impl FnMut(&Expression)) {
        match self {
            TemplateValue::Literal(_) => {}
            TemplateValue::Expression(expression) => visit(expression),
            TemplateValue::Array(items) => items.iter().for_each(|item| item.for_each_expression(visit)),
            TemplateValue::Object(entries) => {
                for (key, value) in entries {
                    if let TemplateKey::Expression(expression) = key {
                        visit(expression);
                    }
                    value.for_each_expression(visit);
                }
            }
        }
    }
}

fn parse_expression(text: &str, path: &str, kind: ContextKind) -> Result<Expression, PolicyError> {
    let expression = Expression::parse(text, path)?;
    check_availability(&expression, kind)?;
    Ok(expression)
}

/// `path.key`, or `path['key']` when the key is not a plain identifier.
pub(crate) fn child_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}['{}']", key.replace('\'', "''"))
    }
}
