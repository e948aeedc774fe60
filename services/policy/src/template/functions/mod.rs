//! The template functions: their names, arities, where they may be called, and their dispatch.
//!
//! [`FUNCTIONS`] is the one table of names (search it for `"toLower"`, `"resourceId"`, ...). Names are matched
//! case-insensitively, as ARM does. Availability follows Microsoft Learn "Policy functions"
//! (<https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule#policy-functions>):
//! `field` exists only in policy rules; `variables` and `resourceId` are not available in policy rules but are in
//! the `details.deployment.properties.template` of a `deployIfNotExists` definition, which ARM evaluates.
//!
//! The implementations live by theme: [`logical`], [`strings`], [`collections`], [`conversion`], [`scope`].

mod collections;
mod conversion;
mod logical;
mod scope;
mod strings;

use serde_json::Value;

use crate::template::ContextKind;
use crate::template::ast::Expr;
use crate::template::eval::{EvalContext, Failure};

/// A template function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    And,
    Bool,
    Coalesce,
    Concat,
    Contains,
    CreateArray,
    CreateObject,
    Empty,
    EndsWith,
    Equals,
    False,
    Field,
    First,
    Format,
    Greater,
    GreaterOrEquals,
    If,
    Int,
    Json,
    Last,
    Length,
    Less,
    LessOrEquals,
    Not,
    Null,
    Or,
    Parameters,
    Replace,
    ResourceGroup,
    ResourceId,
    Split,
    StartsWith,
    String,
    Subscription,
    Substring,
    ToLower,
    ToUpper,
    Trim,
    True,
    Union,
    Variables,
}

/// Where a function may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Availability {
    Everywhere,
    PolicyOnly,
    TemplateOnly,
}

/// A function's name, arity and availability.
#[derive(Debug, Clone, Copy)]
pub struct FunctionInfo {
    pub name: &'static str,
    pub function: Function,
    min_args: usize,
    /// `None`: any number of arguments from `min_args` up.
    max_args: Option<usize>,
    availability: Availability,
}

const fn function(
    name: &'static str,
    function: Function,
    min_args: usize,
    max_args: Option<usize>,
    availability: Availability,
) -> FunctionInfo {
    FunctionInfo {
        name,
        function,
        min_args,
        max_args,
        availability,
    }
}

use Availability::{Everywhere, PolicyOnly, TemplateOnly};

/// Every supported function, by the name ARM documents it under.
pub const FUNCTIONS: &[FunctionInfo] = &[
    function("and", Function::And, 2, None, Everywhere),
    function("bool", Function::Bool, 1, Some(1), Everywhere),
    function("coalesce", Function::Coalesce, 1, None, Everywhere),
    function("concat", Function::Concat, 1, None, Everywhere),
    function("contains", Function::Contains, 2, Some(2), Everywhere),
    function("createArray", Function::CreateArray, 0, None, Everywhere),
    function("createObject", Function::CreateObject, 0, None, Everywhere),
    function("empty", Function::Empty, 1, Some(1), Everywhere),
    function("endsWith", Function::EndsWith, 2, Some(2), Everywhere),
    function("equals", Function::Equals, 2, Some(2), Everywhere),
    function("false", Function::False, 0, Some(0), Everywhere),
    function("field", Function::Field, 1, Some(1), PolicyOnly),
    function("first", Function::First, 1, Some(1), Everywhere),
    function("format", Function::Format, 1, None, Everywhere),
    function("greater", Function::Greater, 2, Some(2), Everywhere),
    function(
        "greaterOrEquals",
        Function::GreaterOrEquals,
        2,
        Some(2),
        Everywhere,
    ),
    function("if", Function::If, 3, Some(3), Everywhere),
    function("int", Function::Int, 1, Some(1), Everywhere),
    function("json", Function::Json, 1, Some(1), Everywhere),
    function("last", Function::Last, 1, Some(1), Everywhere),
    function("length", Function::Length, 1, Some(1), Everywhere),
    function("less", Function::Less, 2, Some(2), Everywhere),
    function("lessOrEquals", Function::LessOrEquals, 2, Some(2), Everywhere),
    function("not", Function::Not, 1, Some(1), Everywhere),
    function("null", Function::Null, 0, Some(0), Everywhere),
    function("or", Function::Or, 2, None, Everywhere),
    function("parameters", Function::Parameters, 1, Some(1), Everywhere),
    function("replace", Function::Replace, 3, Some(3), Everywhere),
    function("resourceGroup", Function::ResourceGroup, 0, Some(0), Everywhere),
    function("resourceId", Function::ResourceId, 2, None, TemplateOnly),
    function("split", Function::Split, 2, Some(2), Everywhere),
    function("startsWith", Function::StartsWith, 2, Some(2), Everywhere),
    function("string", Function::String, 1, Some(1), Everywhere),
    function("subscription", Function::Subscription, 0, Some(0), Everywhere),
    function("substring", Function::Substring, 2, Some(3), Everywhere),
    function("toLower", Function::ToLower, 1, Some(1), Everywhere),
    function("toUpper", Function::ToUpper, 1, Some(1), Everywhere),
    function("trim", Function::Trim, 1, Some(1), Everywhere),
    function("true", Function::True, 0, Some(0), Everywhere),
    function("union", Function::Union, 1, None, Everywhere),
    function("variables", Function::Variables, 1, Some(1), TemplateOnly),
];

impl FunctionInfo {
    /// The function called `name`, ignoring case.
    pub fn lookup(name: &str) -> Option<&'static FunctionInfo> {
        FUNCTIONS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The table entry of `function`.
    pub fn of(function: Function) -> &'static FunctionInfo {
        FUNCTIONS
            .iter()
            .find(|f| f.function == function)
            .expect("every Function has a FUNCTIONS entry")
    }

    /// Why `count` arguments do not fit, if they do not.
    pub(crate) fn arity_problem(&self, count: usize) -> Option<String> {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match self.max_args {
            Some(max) if max == self.min_args && count != max => Some(format!(
                "the function '{}' takes {max} {}, not {count}",
                self.name,
                plural(max)
            )),
            Some(max) if count < self.min_args || count > max => Some(format!(
                "the function '{}' takes {} to {max} arguments, not {count}",
                self.name, self.min_args
            )),
            None if count < self.min_args => Some(format!(
                "the function '{}' takes at least {} {}, not {count}",
                self.name,
                self.min_args,
                plural(self.min_args)
            )),
            _ => None,
        }
    }

    /// Why this function cannot be called in `kind`, if it cannot.
    pub(crate) fn unavailable_reason(&self, kind: ContextKind) -> Option<String> {
        match (self.availability, kind) {
            (PolicyOnly, ContextKind::Template) => Some(format!(
                "the function '{}' is not available in a deployment template",
                self.name
            )),
            (TemplateOnly, ContextKind::Policy) => Some(format!(
                "the function '{}' is not available in a policy rule",
                self.name
            )),
            _ => None,
        }
    }
}

/// Evaluates a call of `function` on the unevaluated `args` (so `if` can skip the branch it does not take).
pub(crate) fn call(
    function: Function,
    args: &[Expr],
    ctx: &EvalContext<'_>,
    position: usize,
) -> Result<Value, Failure> {
    if let Some(reason) = FunctionInfo::of(function).unavailable_reason(ctx.kind()) {
        return Err(Failure::at(position, reason));
    }
    let call = Call {
        function,
        args,
        ctx,
        position,
    };
    match function {
        Function::If => logical::if_(&call),
        Function::And => logical::and(&call),
        Function::Or => logical::or(&call),
        Function::Not => logical::not(&call),
        Function::True => Ok(Value::Bool(true)),
        Function::False => Ok(Value::Bool(false)),
        Function::Null => Ok(Value::Null),
        Function::Equals => logical::equals(&call),
        Function::Less | Function::LessOrEquals | Function::Greater | Function::GreaterOrEquals => {
            logical::compare(&call)
        }
        Function::Bool => conversion::bool_(&call),
        Function::Int => conversion::int(&call),
        Function::Json => conversion::json(&call),
        Function::String => conversion::string(&call),
        Function::Concat => collections::concat(&call),
        Function::Coalesce => collections::coalesce(&call),
        Function::Contains => collections::contains(&call),
        Function::CreateArray => collections::create_array(&call),
        Function::CreateObject => collections::create_object(&call),
        Function::Empty => collections::empty(&call),
        Function::First => collections::first_or_last(&call, true),
        Function::Last => collections::first_or_last(&call, false),
        Function::Length => collections::length(&call),
        Function::Union => collections::union(&call),
        Function::ToLower => strings::to_lower(&call),
        Function::ToUpper => strings::to_upper(&call),
        Function::Trim => strings::trim(&call),
        Function::Format => strings::format(&call),
        Function::Replace => strings::replace(&call),
        Function::StartsWith => strings::starts_with(&call),
        Function::EndsWith => strings::ends_with(&call),
        Function::Split => strings::split(&call),
        Function::Substring => strings::substring(&call),
        Function::Parameters => scope::parameters(&call),
        Function::Variables => scope::variables(&call),
        Function::Field => scope::field(&call),
        Function::ResourceGroup => scope::resource_group(&call),
        Function::Subscription => scope::subscription(&call),
        Function::ResourceId => scope::resource_id(&call),
    }
}

/// One call being evaluated: helpers to evaluate its arguments with errors that name the function.
pub(crate) struct Call<'c, 'a> {
    function: Function,
    args: &'c [Expr],
    ctx: &'c EvalContext<'a>,
    position: usize,
}

impl Call<'_, '_> {
    fn name(&self) -> &'static str {
        FunctionInfo::of(self.function).name
    }

    fn arg(&self, index: usize) -> Result<Value, Failure> {
        self.ctx.evaluate(&self.args[index])
    }

    fn all_args(&self) -> Result<Vec<Value>, Failure> {
        self.args.iter().map(|a| self.ctx.evaluate(a)).collect()
    }

    /// A failure of this call, naming the function and its position.
    fn fail(&self, reason: impl std::fmt::Display) -> Failure {
        Failure::at(self.position, format!("the function '{}' {reason}", self.name()))
    }

    fn string_arg(&self, index: usize) -> Result<String, Failure> {
        match self.arg(index)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(index, "a string", &other)),
        }
    }

    fn bool_arg(&self, index: usize) -> Result<bool, Failure> {
        match self.arg(index)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.wrong_type(index, "a boolean", &other)),
        }
    }

    fn int_arg(&self, index: usize) -> Result<i64, Failure> {
        let value = self.arg(index)?;
        value
            .as_i64()
            .ok_or_else(|| self.wrong_type(index, "an integer", &value))
    }

    /// Names the argument and the type it had, never its value.
    fn wrong_type(&self, index: usize, expected: &str, got: &Value) -> Failure {
        self.fail(format_args!(
            "expects {expected} as argument {}, not {}",
            index + 1,
            crate::template::values::type_name(got)
        ))
    }
}
