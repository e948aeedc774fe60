//! How policy conditions compare values. Sources: Microsoft Learn "Azure Policy definition structure policy
//! rule", section Conditions
//! (<https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule#conditions>).
//!
//! - "All other conditions that evaluate a stringValue are case-insensitive" (only `match`/`notMatch` are not).
//! - Scalars compare by their string form: a boolean field `false` equals the operand `"false"` (and `"False"`),
//!   an integer field `600` equals `"600"` and `600`. The built-in extension definition depends on this: its
//!   existence condition compares the boolean `autoUpgradeMinorVersion` to the strings `"true"`/`"false"`.
//! - An absent field (missing or `null`) compares as the empty string. `field()` of a missing property returns
//!   `""` (Microsoft Learn "Author policies for array properties"), the built-in "Inherit a tag from the resource
//!   group" reads a missing tag as equal to `""`
//!   (<https://learn.microsoft.com/azure/governance/policy/samples/pattern-value-operator>), and the built-in SSH
//!   and HTTPS Flux definitions compare `gitRepository.sshKnownHosts`/`httpsCAFile` — sent as `null` when their
//!   parameter is `""` — to that `""` parameter, so they would never be compliant otherwise.
//! - `like` takes `*` wildcards; `match` takes `#` (digit), `?` (letter), `.` (any character).
//! - `less`/`greater`...: numbers numerically, dates (ISO 8601 strings on both sides) chronologically, other strings
//!   ordinally ignoring case ("String comparisons are made using InvariantCultureIgnoreCase"). A numeric string
//!   against a number compares as a number; any other type mismatch is an error, as Azure documents ("if the
//!   property type doesn't match the condition type, an error is thrown").

use std::cmp::Ordering;

use serde_json::Value;

use crate::datetime::parse_iso8601;
use crate::template::values::number_to_string;

/// The string form a scalar compares by; `None` (absent) is `""`. Arrays and objects have none.
pub(crate) fn scalar_form(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(number_to_string(n)),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(_) | Value::Object(_)) => None,
    }
}

/// `equals`: scalars by case-insensitive string form; arrays element-wise; objects key-wise (keys ignore case).
pub(crate) fn loosely_equal(subject: Option<&Value>, operand: &Value) -> bool {
    if let (Some(a), Some(b)) = (scalar_form(subject), scalar_form(Some(operand))) {
        return equal_ignoring_case(&a, &b);
    }
    match (subject, operand) {
        (Some(Value::Array(a)), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| loosely_equal(Some(x), y))
        }
        (Some(Value::Object(a)), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(key, x)| {
                    b.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(key))
                        .is_some_and(|(_, y)| loosely_equal(Some(x), y))
                })
        }
        _ => false,
    }
}

pub(crate) fn equal_ignoring_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// `like`: the whole text matches `pattern`, where `*` stands for any run of characters; case-insensitive.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// `match`: the whole text matches `pattern` character by character: `#` a digit, `?` a letter, `.` any character,
/// anything else itself (ignoring case when `ignore_case`).
pub(crate) fn pattern_match(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let (text, pattern): (Vec<char>, Vec<char>) = if ignore_case {
        (
            text.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    text.len() == pattern.len()
        && text.iter().zip(&pattern).all(|(&c, &p)| match p {
            '#' => c.is_ascii_digit(),
            '?' => c.is_alphabetic(),
            '.' => true,
            literal => c == literal,
        })
}

/// Orders `subject` against `operand` for `less`/`greater`...; `Err` names the types that cannot be ordered.
pub(crate) fn order(subject: &Value, operand: &Value) -> Result<Ordering, (&'static str, &'static str)> {
    use crate::template::values::type_name;
    let mismatch = || (type_name(subject), type_name(operand));
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (subject, operand) {
        (Value::String(a), Value::String(b)) => match (parse_iso8601(a), parse_iso8601(b)) {
            (Some(x), Some(y)) => Ok(x.cmp(&y)),
            _ => Ok(a.to_lowercase().cmp(&b.to_lowercase())),
        },
        (Value::Number(_), Value::Number(_) | Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            match (number(subject), number(operand)) {
                (Some(x), Some(y)) => x.partial_cmp(&y).ok_or_else(mismatch),
                _ => Err(mismatch()),
            }
        }
        _ => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    use super::{like, pattern_match};

    #[test]
    fn like_matches_wildcards_anywhere() {
        assert!(like("Microsoft.Network/publicIPAddresses", "microsoft.network/*"));
        assert!(like("rg-netrg", "*netrg"));
        assert!(like("abc", "a*b*c"));
        assert!(like("abc", "*"));
        assert!(like("", "*"));
        assert!(!like("ab", "a*b*c"));
        assert!(!like("aXb", "a*bc"));
        assert!(like("same", "SAME"));
        assert!(!like("aa", "a*a*a"));
    }

    #[test]
    fn match_reads_digit_letter_and_any() {
        assert!(pattern_match("ab12", "??##", false));
        assert!(pattern_match("x-9", "x.#", false));
        assert!(!pattern_match("AB12", "ab##", false));
        assert!(pattern_match("AB12", "ab##", true));
        assert!(!pattern_match("ab123", "??##", false));
    }
}
