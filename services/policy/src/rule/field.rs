//! Policy fields: what a condition's `"field"` (and the `field()` function) names, and how it is read from a
//! resource in ARM's JSON shape `{id, name, type, location, kind, tags, identity, properties}`.
//!
//! Supported fields (Microsoft Learn "Azure Policy definition structure policy rule", section Fields,
//! <https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-policy-rule#fields>):
//! `name`, `fullName`, `kind`, `type`, `location` (normalized, so `East US 2` equals `eastus2`), `id`,
//! `identity.type`, `tags`, `tags.<name>`, `tags['<name>']` (with `''` for an apostrophe), `tags[<name>]`, and the
//! aliases of [`crate::rule::aliases`]. Field names and tag names compare case-insensitively.
//!
//! A field reads as *absent* when the property is missing or `null`. An array alias (`…/items[*].name`) selects a
//! collection; a condition on it must hold for every member (none: it holds), as Azure's `[*]` aliases do.

use serde_json::Value;

use crate::parameters::get_ignore_case;
use crate::rule::aliases::resolve_alias;

/// A parsed field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    Type,
    Name,
    FullName,
    Kind,
    Location,
    Id,
    IdentityType,
    Tags,
    Tag(String),
    /// A property alias of `resource_type`, read at `path` in the resource JSON.
    Alias {
        alias: String,
        resource_type: &'static str,
        path: Vec<PathSegment>,
    },
}

/// One step of an alias's property path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Property(String),
    /// `[*]`: every element of an array.
    AllElements,
}

/// The values a field selects from a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// One value, or `None` when absent (missing or `null`).
    Single(Option<Value>),
    /// The members selected through `[*]`.
    Many(Vec<Value>),
}

impl Selection {
    /// What `field()` returns for this selection: the value, `""` when absent, an array for a collection.
    pub fn into_function_value(self) -> Value {
        match self {
            Selection::Single(Some(value)) => value,
            Selection::Single(None) => Value::String(String::new()),
            Selection::Many(values) => Value::Array(values),
        }
    }
}

impl FieldPath {
    /// Parses a field name; the error says why it is not one.
    pub fn parse(field: &str) -> Result<FieldPath, String> {
        const SIMPLE: [(&str, FieldPath); 8] = [
            ("type", FieldPath::Type),
            ("name", FieldPath::Name),
            ("fullName", FieldPath::FullName),
            ("kind", FieldPath::Kind),
            ("location", FieldPath::Location),
            ("id", FieldPath::Id),
            ("identity.type", FieldPath::IdentityType),
            ("tags", FieldPath::Tags),
        ];
        if let Some((_, path)) = SIMPLE.iter().find(|(name, _)| name.eq_ignore_ascii_case(field)) {
            return Ok(path.clone());
        }
        if let Some(tag) = parse_tag(field) {
            return tag.map(FieldPath::Tag);
        }
        let alias = resolve_alias(field).ok_or_else(|| {
            format!(
                "the field '{field}' is neither a resource field (type, name, fullName, kind, location, id, \
                 identity.type, tags) nor an alias of {}",
                crate::rule::aliases::ALIASED_RESOURCE_TYPES.join(", ")
            )
        })?;
        let path = parse_property_path(&alias.property_path)
            .ok_or_else(|| format!("the alias '{field}' has an unreadable property path"))?;
        Ok(FieldPath::Alias {
            alias: field.to_owned(),
            resource_type: alias.resource_type,
            path,
        })
    }

    /// Whether this is `location`, whose values are compared normalized.
    pub fn is_location(&self) -> bool {
        matches!(self, FieldPath::Location)
    }

    /// Reads this field from `resource`.
    pub fn resolve(&self, resource: &Value) -> Selection {
        let top = |key: &str| present(resource.get(key).cloned());
        match self {
            FieldPath::Type => Selection::Single(top("type")),
            FieldPath::Name => Selection::Single(top("name")),
            FieldPath::Kind => Selection::Single(top("kind")),
            FieldPath::Id => Selection::Single(top("id")),
            FieldPath::Location => Selection::Single(top("location").map(|location| match location {
                Value::String(s) => Value::String(normalize_location(&s)),
                other => other,
            })),
            FieldPath::IdentityType => Selection::Single(present(
                resource.get("identity").and_then(|i| i.get("type")).cloned(),
            )),
            FieldPath::FullName => Selection::Single(full_name(resource).map(Value::String)),
            FieldPath::Tags => Selection::Single(top("tags")),
            FieldPath::Tag(tag) => Selection::Single(present(
                resource
                    .get("tags")
                    .and_then(Value::as_object)
                    .and_then(|tags| get_ignore_case(tags, tag))
                    .cloned(),
            )),
            FieldPath::Alias {
                resource_type, path, ..
            } => {
                let of_other_type = resource
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.eq_ignore_ascii_case(resource_type));
                let is_collection = path.contains(&PathSegment::AllElements);
                if of_other_type {
                    return if is_collection {
                        Selection::Many(Vec::new())
                    } else {
                        Selection::Single(None)
                    };
                }
                let mut selected = vec![resource];
                for segment in path {
                    selected = match segment {
                        PathSegment::Property(name) => selected
                            .into_iter()
                            .filter_map(|v| v.as_object().and_then(|o| get_ignore_case(o, name)))
                            .collect(),
                        PathSegment::AllElements => selected
                            .into_iter()
                            .filter_map(Value::as_array)
                            .flatten()
                            .collect(),
                    };
                }
                if is_collection {
                    Selection::Many(selected.into_iter().cloned().collect())
                } else {
                    Selection::Single(present(selected.into_iter().next().cloned()))
                }
            }
        }
    }
}

/// Location values are compared without case and spaces: `East US 2` is `eastus2`.
pub(crate) fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `null` reads as absent.
fn present(value: Option<Value>) -> Option<Value> {
    value.filter(|v| !v.is_null())
}

/// `tags.X`, `tags['X']`, `tags[X]` → `Some(Ok(X))`; not a tag field → `None`.
fn parse_tag(field: &str) -> Option<Result<String, String>> {
    let prefix = field.get(..4).filter(|p| p.eq_ignore_ascii_case("tags"))?;
    let rest = &field[prefix.len()..];
    if let Some(name) = rest.strip_prefix('.') {
        return Some(if name.is_empty() {
            Err("the tag name after 'tags.' is empty".to_owned())
        } else {
            Ok(name.to_owned())
        });
    }
    let inner = rest.strip_prefix('[')?;
    let Some(inner) = inner.strip_suffix(']') else {
        return Some(Err(format!("the tag field '{field}' has no closing ']'")));
    };
    let name = match inner.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')) {
        Some(quoted) => quoted.replace("''", "'"),
        None => inner.to_owned(),
    };
    Some(if name.is_empty() {
        Err(format!("the tag field '{field}' names no tag"))
    } else {
        Ok(name)
    })
}

/// `a.b[*].c` → `[a, b, *, c]`.
fn parse_property_path(path: &str) -> Option<Vec<PathSegment>> {
    let mut segments = Vec::new();
    for token in path.split('.') {
        let mut name = token;
        let mut arrays = 0;
        while let Some(stripped) = name.strip_suffix("[*]") {
            name = stripped;
            arrays += 1;
        }
        if name.is_empty() || name.contains(['[', ']']) {
            return None;
        }
        segments.push(PathSegment::Property(name.to_owned()));
        segments.extend(std::iter::repeat_n(PathSegment::AllElements, arrays));
    }
    Some(segments)
}

/// The name with its parents' names (`server/database`), from the id; a top-level or extension resource's is its
/// name.
fn full_name(resource: &Value) -> Option<String> {
    let from_id = resource.get("id").and_then(Value::as_str).and_then(|id| {
        let lower = id.to_ascii_lowercase();
        let start = lower.rfind("/providers/")? + "/providers/".len();
        let segments: Vec<&str> = id[start..].split('/').collect();
        // namespace, type1, name1, type2, name2, ...: keep the names.
        let names: Vec<&str> = segments.iter().skip(2).step_by(2).copied().collect();
        (!names.is_empty()).then(|| names.join("/"))
    });
    from_id.or_else(|| resource.get("name").and_then(Value::as_str).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{FieldPath, Selection};

    #[test]
    fn reads_resource_fields_and_tags() {
        let resource = json!({
            "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/srv/databases/db",
            "name": "db", "type": "Microsoft.Sql/servers/databases", "location": "East US 2",
            "tags": {"Cost.Center": "42", "it's": "yes"},
        });
        let read = |field: &str| FieldPath::parse(field).unwrap().resolve(&resource);
        assert_eq!(read("fullName"), Selection::Single(Some(json!("srv/db"))));
        assert_eq!(read("LOCATION"), Selection::Single(Some(json!("eastus2"))));
        assert_eq!(read("tags['cost.center']"), Selection::Single(Some(json!("42"))));
        assert_eq!(read("tags[Cost.Center]"), Selection::Single(Some(json!("42"))));
        assert_eq!(read("tags['it''s']"), Selection::Single(Some(json!("yes"))));
        assert_eq!(read("tags.missing"), Selection::Single(None));
        assert_eq!(read("kind"), Selection::Single(None));
        assert!(FieldPath::parse("properties.url").is_err());
        assert!(FieldPath::parse("tags[unclosed").is_err());
    }

    #[test]
    fn reads_array_aliases_as_collections() {
        let resource = json!({
            "type": "Microsoft.KubernetesConfiguration/fluxConfigurations",
            "properties": {"statuses": [{"name": "a"}, {"name": "b"}]},
        });
        let path = FieldPath::parse("Microsoft.KubernetesConfiguration/fluxConfigurations/statuses[*].name")
            .unwrap();
        assert_eq!(
            path.resolve(&resource),
            Selection::Many(vec![json!("a"), json!("b")])
        );
        let other =
            json!({"type": "Microsoft.KubernetesConfiguration/extensions", "properties": {"statuses": []}});
        assert_eq!(path.resolve(&other), Selection::Many(vec![]));
    }
}
