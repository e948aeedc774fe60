//! JSON as requests must be: like `serde_json::from_slice` into a `Value`, except that an object naming a
//! member twice is refused. serde_json keeps the last of duplicate members, so `{"properties": {..},
//! "properties": {..}}` would silently apply the second; a caller who sent two has made a mistake worth
//! hearing about.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The message of the error a duplicate member gives starts with this.
pub const DUPLICATE_MEMBER: &str = "duplicate member";

/// Parses `bytes` into a `Value`, refusing duplicate object members.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Whether a parse error is a duplicate member (its message names the member and where it is).
pub fn is_duplicate_member(err: &serde_json::Error) -> bool {
    err.to_string().starts_with(DUPLICATE_MEMBER)
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "{DUPLICATE_MEMBER} '{}'",
                    crate::ids::printable(&key)
                )));
            }
            let value = map.next_value_seed(Strict)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_json() {
        let text = br#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}, "d": 18446744073709551615}"#;
        assert_eq!(
            parse_strict(text).unwrap(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
    }

    #[test]
    fn refuses_duplicate_members_at_any_depth() {
        for text in [
            r#"{"properties": {}, "properties": {"x": 1}}"#,
            r#"{"properties": {"kustomizations": {"a": {}, "a": {}}}}"#,
            r#"[{"k": 1, "k": 2}]"#,
        ] {
            let err = parse_strict(text.as_bytes()).unwrap_err();
            assert!(is_duplicate_member(&err), "{text}: {err}");
        }
        let err = parse_strict(br#"{"a": 1, "a": 2}"#).unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");
    }

    #[test]
    fn refuses_trailing_content() {
        assert!(parse_strict(b"{} {}").is_err());
    }
}
