//! The condition operators (`equals`, `in`, `like`, `containsKey`, `exists`, ...) and what each does with a
//! selected value and its operand; the comparison rules themselves are in [`crate::rule::compare`].
//!
//! Absent fields (missing or `null`): compare as `""` in `equals`/`notEquals`/`in`/`notIn`/`like`/`notLike`/
//! `match`/`contains`/`notContains` (so `equals ""` holds and `like "*"` holds); `containsKey` is false;
//! `exists` is false; `less`/`greater`... are false (an absent value has nothing to order — our choice, Azure does
//! not document it). A `not…` operator is always the negation of its positive form.

use std::cmp::Ordering;

use serde_json::Value;

use crate::rule::compare::{equal_ignoring_case, like, loosely_equal, order, pattern_match, scalar_form};
use crate::template::values::type_name;

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    NotEquals,
    Like,
    NotLike,
    Match,
    MatchInsensitively,
    NotMatch,
    NotMatchInsensitively,
    Contains,
    NotContains,
    In,
    NotIn,
    ContainsKey,
    NotContainsKey,
    Less,
    LessOrEquals,
    Greater,
    GreaterOrEquals,
    Exists,
}

/// Every operator by its JSON name (matched case-insensitively).
pub const OPERATORS: [(&str, Operator); 19] = [
    ("equals", Operator::Equals),
    ("notEquals", Operator::NotEquals),
    ("like", Operator::Like),
    ("notLike", Operator::NotLike),
    ("match", Operator::Match),
    ("matchInsensitively", Operator::MatchInsensitively),
    ("notMatch", Operator::NotMatch),
    ("notMatchInsensitively", Operator::NotMatchInsensitively),
    ("contains", Operator::Contains),
    ("notContains", Operator::NotContains),
    ("in", Operator::In),
    ("notIn", Operator::NotIn),
    ("containsKey", Operator::ContainsKey),
    ("notContainsKey", Operator::NotContainsKey),
    ("less", Operator::Less),
    ("lessOrEquals", Operator::LessOrEquals),
    ("greater", Operator::Greater),
    ("greaterOrEquals", Operator::GreaterOrEquals),
    ("exists", Operator::Exists),
];

impl Operator {
    /// The operator named `name`, ignoring case.
    pub fn from_name(name: &str) -> Option<Operator> {
        OPERATORS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, op)| op)
    }

    /// The operator's JSON name.
    pub fn name(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|&&(_, op)| op == self)
            .map(|&(n, _)| n)
            .unwrap_or("equals")
    }

    /// What the operand must be, checked before evaluation when the operand is a literal.
    pub(crate) fn operand_problem(self, operand: &Value) -> Option<String> {
        let expected = match self {
            Operator::In | Operator::NotIn if !operand.is_array() => "an array",
            Operator::Exists if exists_operand(operand).is_none() => "true or false",
            Operator::Like
            | Operator::NotLike
            | Operator::Match
            | Operator::MatchInsensitively
            | Operator::NotMatch
            | Operator::NotMatchInsensitively
            | Operator::ContainsKey
            | Operator::NotContainsKey
                if !operand.is_string() =>
            {
                "a string"
            }
            Operator::Contains | Operator::NotContains if scalar_form(Some(operand)).is_none() => "a string",
            _ => return None,
        };
        Some(format!(
            "the operand of '{}' must be {expected}, not {}",
            self.name(),
            type_name(operand)
        ))
    }

    /// Applies the operator to one selected value (`None`: absent) and its evaluated operand. `Err` says why the
    /// operand or the value cannot be used (types only, never values).
    pub(crate) fn apply(self, subject: Option<&Value>, operand: &Value) -> Result<bool, String> {
        if let Some(problem) = self.operand_problem(operand) {
            return Err(problem);
        }
        let subject = subject.filter(|v| !v.is_null());
        let text = || scalar_form(subject);
        let operand_text = || scalar_form(Some(operand)).unwrap_or_default();
        Ok(match self {
            Operator::Equals => loosely_equal(subject, operand),
            Operator::NotEquals => !loosely_equal(subject, operand),
            Operator::In => in_array(subject, operand),
            Operator::NotIn => !in_array(subject, operand),
            Operator::Like => text().is_some_and(|t| like(&t, &operand_text())),
            Operator::NotLike => !text().is_some_and(|t| like(&t, &operand_text())),
            Operator::Match => text().is_some_and(|t| pattern_match(&t, &operand_text(), false)),
            Operator::NotMatch => !text().is_some_and(|t| pattern_match(&t, &operand_text(), false)),
            Operator::MatchInsensitively => text().is_some_and(|t| pattern_match(&t, &operand_text(), true)),
            Operator::NotMatchInsensitively => {
                !text().is_some_and(|t| pattern_match(&t, &operand_text(), true))
            }
            Operator::Contains => contains(subject, operand),
            Operator::NotContains => !contains(subject, operand),
            Operator::ContainsKey => contains_key(subject, &operand_text()),
            Operator::NotContainsKey => !contains_key(subject, &operand_text()),
            Operator::Less | Operator::LessOrEquals | Operator::Greater | Operator::GreaterOrEquals => {
                let Some(subject) = subject else { return Ok(false) };
                let ordering = order(subject, operand).map_err(|(a, b)| {
                    format!(
                        "'{}' cannot order a value of type {a} against an operand of type {b}",
                        self.name()
                    )
                })?;
                match self {
                    Operator::Less => ordering == Ordering::Less,
                    Operator::LessOrEquals => ordering != Ordering::Greater,
                    Operator::Greater => ordering == Ordering::Greater,
                    _ => ordering != Ordering::Less,
                }
            }
            Operator::Exists => subject.is_some() == exists_operand(operand).unwrap_or(true),
        })
    }
}

/// `exists` takes `true`/`false` or the strings `"true"`/`"false"` (any case).
fn exists_operand(operand: &Value) -> Option<bool> {
    match operand {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn in_array(subject: Option<&Value>, operand: &Value) -> bool {
    operand
        .as_array()
        .is_some_and(|items| items.iter().any(|item| loosely_equal(subject, item)))
}

/// `contains`: a substring of a scalar's string form (ignoring case), or a member of an array.
fn contains(subject: Option<&Value>, operand: &Value) -> bool {
    let needle = scalar_form(Some(operand)).unwrap_or_default();
    match subject {
        Some(Value::Array(items)) => items.iter().any(|item| loosely_equal(Some(item), operand)),
        Some(Value::Object(_)) => false,
        scalar => {
            scalar_form(scalar).is_some_and(|text| text.to_lowercase().contains(&needle.to_lowercase()))
        }
    }
}

fn contains_key(subject: Option<&Value>, key: &str) -> bool {
    matches!(subject, Some(Value::Object(object)) if object.keys().any(|k| equal_ignoring_case(k, key)))
}
