//! Evaluation of an [`Expression`] against an [`EvalContext`]: one evaluator for both languages, whose function set
//! depends on the [`ContextKind`].
//!
//! - [`ContextKind::Policy`]: `parameters()` reads the assignment's bound parameters and `field()` reads the resource
//!   under evaluation (the `if` resource, also inside an `existenceCondition`). `resourceGroup()` and
//!   `subscription()` come from that resource's id. A property that does not exist reads as `null`, which is what
//!   the built-in "Inherit a tag from the resource group" relies on (`resourceGroup().tags[name]` compared to `""`).
//! - [`ContextKind::Template`]: `parameters()` reads the template's parameters, `variables()` its variables, and the
//!   scope functions the deployment's subscription and resource group. A property that does not exist is an
//!   error, as in ARM.

use serde_json::Value;

use crate::error::{EvalError, EvalStage};
use crate::named::NamedValues;
use crate::parameters::{BoundParameters, get_ignore_case};
use crate::template::ContextKind;
use crate::template::ast::{Expr, Expression};
use crate::template::functions;
use crate::template::values::type_name;

/// The subscription and resource group an evaluation runs in: what `subscription()` and `resourceGroup()` return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeInfo {
    pub subscription_id: String,
    pub resource_group: Option<String>,
    /// The resource group's location, when known.
    pub location: Option<String>,
}

impl ScopeInfo {
    /// The subscription and resource group of an ARM resource id (`/subscriptions/{s}/resourceGroups/{rg}/...`).
    pub fn from_resource_id(id: &str) -> Option<ScopeInfo> {
        let mut segments = id.trim_start_matches('/').split('/');
        if !segments.next()?.eq_ignore_ascii_case("subscriptions") {
            return None;
        }
        let subscription_id = segments.next().filter(|s| !s.is_empty())?.to_owned();
        let resource_group = match (segments.next(), segments.next()) {
            (Some(kind), Some(name)) if kind.eq_ignore_ascii_case("resourceGroups") && !name.is_empty() => {
                Some(name.to_owned())
            }
            _ => None,
        };
        Some(ScopeInfo {
            subscription_id,
            resource_group,
            location: None,
        })
    }
}

/// What an expression can see while it is evaluated.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    kind: ContextKind,
    parameters: &'a NamedValues,
    variables: Option<&'a NamedValues>,
    field_resource: Option<&'a Value>,
    scope: Option<ScopeInfo>,
}

impl<'a> EvalContext<'a> {
    /// A policy-rule context: the assignment's parameters, and the resource `field()` reads.
    pub fn policy(parameters: &'a BoundParameters, resource: &'a Value) -> EvalContext<'a> {
        let scope = resource
            .get("id")
            .and_then(Value::as_str)
            .and_then(ScopeInfo::from_resource_id);
        EvalContext {
            kind: ContextKind::Policy,
            parameters: parameters.named(),
            variables: None,
            field_resource: Some(resource),
            scope,
        }
    }

    /// A deployment-template context: the template's parameters and variables, and the deployment's scope.
    pub fn template(
        parameters: &'a NamedValues,
        variables: &'a NamedValues,
        scope: ScopeInfo,
    ) -> EvalContext<'a> {
        EvalContext {
            kind: ContextKind::Template,
            parameters,
            variables: Some(variables),
            field_resource: None,
            scope: Some(scope),
        }
    }

    pub fn kind(&self) -> ContextKind {
        self.kind
    }

    pub(crate) fn stage(&self) -> EvalStage {
        match self.kind {
            ContextKind::Policy => EvalStage::Policy,
            ContextKind::Template => EvalStage::Template,
        }
    }

    pub(crate) fn parameters(&self) -> &NamedValues {
        self.parameters
    }

    pub(crate) fn variables(&self) -> Option<&NamedValues> {
        self.variables
    }

    pub(crate) fn field_resource(&self) -> Option<&Value> {
        self.field_resource
    }

    pub(crate) fn scope(&self) -> Option<&ScopeInfo> {
        self.scope.as_ref()
    }

    /// Evaluates one node.
    pub(crate) fn evaluate(&self, expr: &Expr) -> Result<Value, Failure> {
        match expr {
            Expr::String(s) => Ok(Value::String(s.clone())),
            Expr::Integer(n) => Ok(Value::from(*n)),
            Expr::Boolean(b) => Ok(Value::Bool(*b)),
            Expr::Call {
                function,
                args,
                position,
            } => functions::call(*function, args, self, *position),
            Expr::Property {
                target,
                name,
                position,
            } => {
                let target = self.evaluate(target)?;
                self.member(target, name, *position)
            }
            Expr::Index {
                target,
                index,
                position,
            } => {
                let target = self.evaluate(target)?;
                match (target, self.evaluate(index)?) {
                    (Value::Array(items), Value::Number(n)) => {
                        let len = items.len();
                        n.as_u64()
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| items.into_iter().nth(i))
                            .ok_or_else(|| {
                                Failure::at(
                                    *position,
                                    format!("the index is outside the array (length {len})"),
                                )
                            })
                    }
                    (target @ (Value::Object(_) | Value::Null), Value::String(key)) => {
                        self.member(target, &key, *position)
                    }
                    (target, index) => Err(Failure::at(
                        *position,
                        format!("cannot index {} with {}", type_name(&target), type_name(&index)),
                    )),
                }
            }
        }
    }

    /// `target.name` / `target['name']`; names compare case-insensitively.
    fn member(&self, target: Value, name: &str, position: usize) -> Result<Value, Failure> {
        match &target {
            Value::Object(object) => match get_ignore_case(object, name) {
                Some(value) => Ok(value.clone()),
                None if self.kind == ContextKind::Policy => Ok(Value::Null),
                None => Err(Failure::at(
                    position,
                    format!("the property '{name}' does not exist"),
                )),
            },
            Value::Null if self.kind == ContextKind::Policy => Ok(Value::Null),
            other => Err(Failure::at(
                position,
                format!("cannot read the property '{name}' of {}", type_name(other)),
            )),
        }
    }
}

impl Expression {
    /// Evaluates this expression; errors name the expression and where it stands, never a value.
    pub fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<Value, EvalError> {
        ctx.evaluate(&self.root).map_err(|failure| EvalError::Expression {
            stage: ctx.stage(),
            expression: self.text.clone(),
            location: self.location.clone(),
            message: format!("{} (position {})", failure.message, failure.position),
        })
    }
}

/// Why an expression node failed, before it is tied to its expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) position: usize,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Failure {
        Failure {
            position,
            message: message.into(),
        }
    }
}
