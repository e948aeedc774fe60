//! String functions: `toLower`, `toUpper`, `trim`, `format`, `replace`, `startsWith`, `endsWith`, `split`,
//! `substring` (ARM "String functions").
//!
//! `startsWith` and `endsWith` ignore case, as ARM documents; `replace` does not. `format` implements .NET composite
//! formatting's `{index}` items and `{{`/`}}` escapes; alignment and format specifiers are refused rather than
//! guessed.

use serde_json::Value;

use super::Call;
use crate::template::eval::Failure;
use crate::template::values::{scalar_to_string, type_name};

/// `toLower(text)`.
pub(super) fn to_lower(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::String(call.string_arg(0)?.to_lowercase()))
}

/// `toUpper(text)`.
pub(super) fn to_upper(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::String(call.string_arg(0)?.to_uppercase()))
}

/// `trim(text)`.
pub(super) fn trim(call: &Call<'_, '_>) -> Result<Value, Failure> {
    Ok(Value::String(call.string_arg(0)?.trim().to_owned()))
}

/// `format(formatString, arg0, arg1, ...)`.
pub(super) fn format(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let pattern = call.string_arg(0)?;
    let args = call.args.len() - 1;
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut item = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => item.push(c),
                        None => return Err(call.fail("was given a format string with an unclosed '{'")),
                    }
                }
                let index: usize = item.trim().parse().map_err(|_| {
                    call.fail("supports only '{index}' format items (no alignment or format specifier)")
                })?;
                if index >= args {
                    return Err(call.fail(format_args!(
                        "refers to argument {{{index}}} but has {args} to format"
                    )));
                }
                let value = call.arg(index + 1)?;
                let text = scalar_to_string(&value).unwrap_or_else(|| value.to_string());
                out.push_str(&text);
            }
            '}' => return Err(call.fail("was given a format string with an unmatched '}'")),
            c => out.push(c),
        }
    }
    Ok(Value::String(out))
}

/// `replace(originalString, oldString, newString)`: every occurrence, case-sensitively.
pub(super) fn replace(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let (text, old, new) = (call.string_arg(0)?, call.string_arg(1)?, call.string_arg(2)?);
    if old.is_empty() {
        return Err(call.fail("cannot replace an empty string"));
    }
    Ok(Value::String(text.replace(&old, &new)))
}

/// `startsWith(stringToSearch, stringToFind)`, ignoring case.
pub(super) fn starts_with(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let (text, prefix) = (
        call.string_arg(0)?.to_lowercase(),
        call.string_arg(1)?.to_lowercase(),
    );
    Ok(Value::Bool(text.starts_with(&prefix)))
}

/// `endsWith(stringToSearch, stringToFind)`, ignoring case.
pub(super) fn ends_with(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let (text, suffix) = (
        call.string_arg(0)?.to_lowercase(),
        call.string_arg(1)?.to_lowercase(),
    );
    Ok(Value::Bool(text.ends_with(&suffix)))
}

/// `split(inputString, delimiter)`: `delimiter` is a string or an array of strings.
pub(super) fn split(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let text = call.string_arg(0)?;
    let delimiters: Vec<String> = match call.arg(1)? {
        Value::String(d) => vec![d],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(d) => Ok(d),
                other => Err(call.fail(format_args!(
                    "expects string delimiters, not {}",
                    type_name(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(call.wrong_type(1, "a string or an array of strings", &other)),
    };
    let delimiters: Vec<&str> = delimiters
        .iter()
        .map(String::as_str)
        .filter(|d| !d.is_empty())
        .collect();
    let mut parts = Vec::new();
    let mut rest = text.as_str();
    loop {
        let next = delimiters
            .iter()
            .filter_map(|d| rest.find(d).map(|at| (at, d.len())))
            .min();
        match next {
            Some((at, len)) => {
                parts.push(Value::String(rest[..at].to_owned()));
                rest = &rest[at + len..];
            }
            None => {
                parts.push(Value::String(rest.to_owned()));
                return Ok(Value::Array(parts));
            }
        }
    }
}

/// `substring(stringToParse, startIndex, length?)`, in characters.
pub(super) fn substring(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let text: Vec<char> = call.string_arg(0)?.chars().collect();
    let start = call.int_arg(1)?;
    let length = if call.args.len() > 2 {
        call.int_arg(2)?
    } else {
        text.len() as i64 - start
    };
    let in_range = start >= 0
        && length >= 0
        && start
            .checked_add(length)
            .is_some_and(|end| end <= text.len() as i64);
    if !in_range {
        return Err(call.fail("was given an index and length outside the string"));
    }
    let (start, length) = (start as usize, length as usize);
    Ok(Value::String(text[start..start + length].iter().collect()))
}
