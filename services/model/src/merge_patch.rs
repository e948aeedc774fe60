//! JSON merge patch (RFC 7396), the semantics of ARM PATCH on `properties`.

use serde_json::Value;

/// Applies `patch` to `target` in place: objects merge recursively, `null` removes a member, anything else replaces.
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            apply(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// What a patch says about one member: not mentioned, set to `null` (itself or an enclosing object), or given a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mention<'a> {
    Absent,
    Null,
    Value(&'a Value),
}

/// Looks up `path` in a patch document.
pub fn mention<'a>(patch: &'a Value, path: &[&str]) -> Mention<'a> {
    let mut node = patch;
    for segment in path {
        match node {
            Value::Null => return Mention::Null,
            Value::Object(map) => match map.get(*segment) {
                None => return Mention::Absent,
                Some(next) => node = next,
            },
            _ => return Mention::Absent,
        }
    }
    if node.is_null() {
        Mention::Null
    } else {
        Mention::Value(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        apply(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));

        let mut doc = json!({"a": ["b"]});
        apply(&mut doc, &json!({"a": "c"}));
        assert_eq!(doc, json!({"a": "c"}));
    }

    #[test]
    fn mentions() {
        let patch = json!({"properties": {"azureBlob": null, "kustomizations": {"k": {"path": "x"}}}});
        assert_eq!(
            mention(&patch, &["properties", "azureBlob", "accountKey"]),
            Mention::Null
        );
        assert_eq!(mention(&patch, &["properties", "bucket"]), Mention::Absent);
        assert!(matches!(
            mention(&patch, &["properties", "kustomizations", "k"]),
            Mention::Value(_)
        ));
    }
}
