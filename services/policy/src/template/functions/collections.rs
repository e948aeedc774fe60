//! Array, object and string-or-array functions: `concat`, `coalesce`, `contains`, `createArray`, `createObject`,
//! `empty`, `first`, `last`, `length`, `union` (ARM "Array functions" and "Object functions").
//!
//! `contains` follows ARM: "The string comparison is case-sensitive. However, when testing if an object contains a
//! key, the comparison is case-insensitive."

use serde_json::{Map, Value};

use super::Call;
use crate::template::eval::Failure;
use crate::template::values::{deep_equals, scalar_to_string, type_name};

/// `concat(...)`: arrays into one array, or strings (and integers, booleans) into one string.
pub(super) fn concat(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let values = call.all_args()?;
    if values.iter().all(Value::is_array) {
        let joined = values.into_iter().flat_map(|v| match v {
            Value::Array(items) => items,
            _ => Vec::new(),
        });
        return Ok(Value::Array(joined.collect()));
    }
    let mut text = String::new();
    for (index, value) in values.iter().enumerate() {
        let part = scalar_to_string(value).ok_or_else(|| {
            call.fail(format_args!(
                "joins strings or arrays, but argument {} is {} among non-arrays",
                index + 1,
                type_name(value)
            ))
        })?;
        text.push_str(&part);
    }
    Ok(Value::String(text))
}

/// `coalesce(...)`: the first argument that is not `null`, evaluating no further.
pub(super) fn coalesce(call: &Call<'_, '_>) -> Result<Value, Failure> {
    for index in 0..call.args.len() {
        let value = call.arg(index)?;
        if !value.is_null() {
            return Ok(value);
        }
    }
    Ok(Value::Null)
}

/// `contains(container, itemToFind)`.
pub(super) fn contains(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let (container, item) = (call.arg(0)?, call.arg(1)?);
    let found = match (&container, &item) {
        (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
        (Value::String(text), scalar @ (Value::Number(_) | Value::Bool(_))) => {
            scalar_to_string(scalar).is_some_and(|part| text.contains(&part))
        }
        (Value::Array(items), item) => items.iter().any(|candidate| deep_equals(candidate, item)),
        (Value::Object(object), Value::String(key)) => object.keys().any(|k| k.eq_ignore_ascii_case(key)),
        _ => {
            return Err(call.fail(format_args!(
                "cannot look for {} in {}",
                type_name(&item),
                type_name(&container)
            )));
        }
    };
    Ok(Value::Bool(found))
}

/// `createArray(...)`.
pub(super) fn create_array(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::Array(call.all_args()?))
}

/// `createObject(key1, value1, key2, value2, ...)`.
pub(super) fn create_object(call: &Call<'_, '_>) -> Result<Value, Failure> {
    if !call.args.len().is_multiple_of(2) {
        return Err(call.fail("takes an even number of arguments (key, value pairs)"));
    }
    let mut object = Map::new();
    for pair in (0..call.args.len()).step_by(2) {
        let key = call.string_arg(pair)?;
        object.insert(key, call.arg(pair + 1)?);
    }
    Ok(Value::Object(object))
}

/// `empty(value)`: true for `null`, `""`, `[]` and `{}`.
pub(super) fn empty(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let value = call.arg(0)?;
    let is_empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(object) => object.is_empty(),
        other => {
            return Err(call.fail(format_args!(
                "expects a string, array or object, not {}",
                type_name(other)
            )));
        }
    };
    Ok(Value::Bool(is_empty))
}

/// `first(value)` / `last(value)`: an array's first or last element, or a string's first or last character.
pub(super) fn first_or_last(call: &Call<'_, '_>, first: bool) -> Result<Value, Failure> {
    match call.arg(0)? {
        Value::Array(items) => {
            let item = if first {
                items.into_iter().next()
            } else {
                items.into_iter().last()
            };
            Ok(item.unwrap_or(Value::Null))
        }
        Value::String(text) => {
            let c = if first {
                text.chars().next()
            } else {
                text.chars().last()
            };
            Ok(Value::String(c.map(String::from).unwrap_or_default()))
        }
        other => Err(call.wrong_type(0, "an array or a string", &other)),
    }
}

/// `length(value)`: characters of a string, elements of an array, properties of an object.
pub(super) fn length(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let length = match call.arg(0)? {
        Value::String(text) => text.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(object) => object.len(),
        other => return Err(call.wrong_type(0, "a string, array or object", &other)),
    };
    Ok(Value::from(length))
}

/// `union(...)`: arrays without duplicates, or objects merged (a later argument's key wins).
pub(super) fn union(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let values = call.all_args()?;
    if values.iter().all(Value::is_array) {
        let mut merged: Vec<Value> = Vec::new();
        for item in values.into_iter().flat_map(|v| {
            if let Value::Array(items) = v {
                items
            } else {
                Vec::new()
            }
        }) {
            if !merged.iter().any(|existing| deep_equals(existing, &item)) {
                merged.push(item);
            }
        }
        return Ok(Value::Array(merged));
    }
    if values.iter().all(Value::is_object) {
        let mut merged = Map::new();
        for value in values {
            if let Value::Object(object) = value {
                merged.extend(object);
            }
        }
        return Ok(Value::Object(merged));
    }
    Err(call.fail("merges arrays or objects, not a mix of types"))
}
