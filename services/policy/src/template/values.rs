//! Helpers on JSON values shared by the template functions and the policy operators: type names for error
//! messages, and the string form ARM gives a value.

use serde_json::Value;

/// The name of a value's type, for error messages (which never show the value itself).
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// The string ARM makes of a scalar in `concat`, `format` and `string`: strings as they are, numbers in decimal,
/// booleans as .NET writes them (`True`/`False`), `null` as the empty string. `None` for arrays and objects.
pub(crate) fn scalar_to_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        Value::Number(n) => Some(number_to_string(n)),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A number in decimal, with integral floats written as integers (`600.0` → `600`).
pub(crate) fn number_to_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !(n.is_i64() || n.is_u64()) && f.fract() == 0.0 && f.abs() < 1e15 => {
            format!("{}", f as i64)
        }
        _ => n.to_string(),
    }
}

/// ARM's deep equality for `equals`, `contains` and `union`: same types, strings compared exactly, numbers by value.
pub(crate) fn deep_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equals(v, w)))
        }
        _ => a == b,
    }
}
