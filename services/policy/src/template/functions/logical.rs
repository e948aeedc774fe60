//! Logical and comparison functions: `if`, `and`, `or`, `not`, `equals`, `less`, `lessOrEquals`, `greater`,
//! `greaterOrEquals` (ARM "Logical functions" and "Comparison functions").
//!
//! `if` evaluates only the branch it returns — ARM documents "when the condition is True, only the true value is
//! evaluated" — which is what lets `if(not(empty(x)), x, json('null'))` stand in the built-ins. `and`/`or` stop at
//! the first deciding argument. `equals` compares strings case-sensitively, as ARM does (Bicep's `==` compiles to it
//! and needs `=~` for case-insensitive comparison).

use std::cmp::Ordering;

use serde_json::Value;

use super::{Call, Function};
use crate::template::eval::Failure;
use crate::template::values::deep_equals;

/// `if(condition, trueValue, falseValue)`.
pub(super) fn if_(call: &Call<'_, '_>) -> Result<Value, Failure> {
    if call.bool_arg(0)? {
        call.arg(1)
    } else {
        call.arg(2)
    }
}

/// `and(arg1, arg2, ...)`.
pub(super) fn and(call: &Call<'_, '_>) -> Result<Value, Failure> {
    for index in 0..call.args.len() {
        if !call.bool_arg(index)? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

/// `or(arg1, arg2, ...)`.
pub(super) fn or(call: &Call<'_, '_>) -> Result<Value, Failure> {
    for index in 0..call.args.len() {
        if call.bool_arg(index)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `not(arg)`.
pub(super) fn not(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::Bool(!call.bool_arg(0)?))
}

/// `equals(arg1, arg2)`.
pub(super) fn equals(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::Bool(deep_equals(&call.arg(0)?, &call.arg(1)?)))
}

/// `less`, `lessOrEquals`, `greater`, `greaterOrEquals` on two integers or two strings (ordinal).
pub(super) fn compare(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let (left, right) = (call.arg(0)?, call.arg(1)?);
    let ordering = match (&left, &right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
    .ok_or_else(|| call.fail("compares two integers or two strings"))?;
    let result = match call.function {
        Function::Less => ordering == Ordering::Less,
        Function::LessOrEquals => ordering != Ordering::Greater,
        Function::Greater => ordering == Ordering::Greater,
        _ => ordering != Ordering::Less,
    };
    Ok(Value::Bool(result))
}
