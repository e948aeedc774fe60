//! Conversion functions: `bool`, `int`, `json`, `string`.
//!
//! `json('null')` yields JSON `null`, which the built-in templates use to send explicit nulls
//! (`"branch": null`); those nulls are kept all the way into the rendered body. `string` writes booleans as ARM
//! (.NET) does, `True`/`False`, and objects and arrays as compact JSON.

use serde_json::Value;

use super::Call;
use crate::template::eval::Failure;
use crate::template::values::{number_to_string, scalar_to_string, type_name};

/// `bool(value)`: a boolean, the strings `true`/`false` (any case), or an integer (non-zero is true).
pub(super) fn bool_(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let value = call.arg(0)?;
    let result = match &value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    };
    result
        .map(Value::Bool)
        .ok_or_else(|| call.fail(format_args!("cannot convert {} to a boolean", type_name(&value))))
}

/// `int(value)`: an integer, or a string holding one.
pub(super) fn int(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let value = call.arg(0)?;
    let result = match &value {
        Value::Number(n) if n.is_i64() => n.as_i64(),
        Value::Number(n) => n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    result.map(Value::from).ok_or_else(|| {
        call.fail(format_args!(
            "cannot convert its {} argument to an integer",
            type_name(&value)
        ))
    })
}

/// `json(text)`: parses a JSON document.
pub(super) fn json(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let text = call.string_arg(0)?;
    serde_json::from_str(&text).map_err(|_| call.fail("was given a string that is not valid JSON"))
}

/// `string(value)`.
pub(super) fn string(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let value = call.arg(0)?;
    let text = match &value {
        Value::Number(n) => number_to_string(n),
        Value::Array(_) | Value::Object(_) => value.to_string(),
        scalar => scalar_to_string(scalar).unwrap_or_default(),
    };
    Ok(Value::String(text))
}
