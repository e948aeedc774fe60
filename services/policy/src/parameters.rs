//! Policy parameters: their definitions (`properties.parameters` of a definition) and their binding to the values
//! an assignment gives (`properties.parameters` of an assignment, ARM's `{"name": {"value": ...}}` shape).
//!
//! Semantics, from Microsoft Learn "Azure Policy definition structure parameters"
//! (<https://learn.microsoft.com/azure/governance/policy/concepts/definition-structure-parameters>):
//! - the types are `String`, `Array`, `Object`, `Boolean`, `Integer`, `Float`, `DateTime`; the built-ins write them
//!   in any case (`"string"`, `"String"`, `"integer"`), so they are read case-insensitively;
//! - an assignment must give every parameter that has no `defaultValue`, and nothing the definition does not
//!   declare (Azure's `UndefinedPolicyParameter`);
//! - "allowed value comparisons are case-sensitive when assigning a policy" — so `allowedValues` is checked with
//!   exact string equality (the retired Flux v1 definitions list both `"deployIfNotExists"` and
//!   `"DeployIfNotExists"` for that reason). For an `Array` parameter whose allowed values are not arrays, each
//!   element must be allowed.
//!
//! Parameter names are matched case-insensitively, as Azure does.

use std::fmt;

use serde_json::{Map, Value};

use crate::datetime::parse_iso8601;
use crate::error::PolicyError;
use crate::named::NamedValues;
use crate::template::values::deep_equals;

/// The type of a policy parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterType {
    String,
    Array,
    Object,
    Boolean,
    Integer,
    Float,
    DateTime,
}

impl ParameterType {
    const ALL: [(&'static str, ParameterType); 7] = [
        ("String", ParameterType::String),
        ("Array", ParameterType::Array),
        ("Object", ParameterType::Object),
        ("Boolean", ParameterType::Boolean),
        ("Integer", ParameterType::Integer),
        ("Float", ParameterType::Float),
        ("DateTime", ParameterType::DateTime),
    ];

    /// Reads a declared type, ignoring case; `None` for anything Azure Policy does not have (e.g. ARM's `"int"`).
    pub fn parse(declared: &str) -> Option<ParameterType> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(declared))
            .map(|&(_, t)| t)
    }

    /// The type's name as Azure spells it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|&&(_, t)| t == self)
            .map(|&(name, _)| name)
            .unwrap_or("String")
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ParameterType::String => value.is_string(),
            ParameterType::Array => value.is_array(),
            ParameterType::Object => value.is_object(),
            ParameterType::Boolean => value.is_boolean(),
            ParameterType::Integer => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            ParameterType::Float => value.is_number(),
            ParameterType::DateTime => value.as_str().is_some_and(|s| parse_iso8601(s).is_some()),
        }
    }
}

impl fmt::Display for ParameterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parameter of a policy definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDefinition {
    pub name: String,
    pub parameter_type: ParameterType,
    pub default_value: Option<Value>,
    pub allowed_values: Option<Vec<Value>>,
    /// `metadata` as written (`displayName`, `description`, `strongType`, `assignPermissions`, ...), or `Null`.
    pub metadata: Value,
}

impl ParameterDefinition {
    /// `metadata.strongType`, e.g. `Microsoft.KeyVault/vaults` for the Key Vault parameters of the built-ins.
    pub fn strong_type(&self) -> Option<&str> {
        self.metadata.get("strongType").and_then(Value::as_str)
    }

    /// `metadata.displayName`.
    pub fn display_name(&self) -> Option<&str> {
        self.metadata.get("displayName").and_then(Value::as_str)
    }

    /// Whether an assignment must give this parameter (it has no default).
    pub fn is_required(&self) -> bool {
        self.default_value.is_none()
    }

    fn allows(&self, value: &Value) -> bool {
        let Some(allowed) = &self.allowed_values else {
            return true;
        };
        let is_allowed = |candidate: &Value| allowed.iter().any(|a| deep_equals(a, candidate));
        match value {
            Value::Array(items) if !allowed.iter().any(Value::is_array) => items.iter().all(is_allowed),
            other => is_allowed(other),
        }
    }
}

/// The parameters of a policy definition, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParameterDefinitions {
    definitions: Vec<ParameterDefinition>,
}

impl ParameterDefinitions {
    /// Reads `properties.parameters` (an object, or absent/`null` for none); `path` names it in errors.
    pub fn parse(parameters: Option<&Value>, path: &str) -> Result<ParameterDefinitions, PolicyError> {
        let entries = match parameters {
            None | Some(Value::Null) => return Ok(ParameterDefinitions::default()),
            Some(Value::Object(entries)) => entries,
            Some(_) => return Err(PolicyError::definition(path, "'parameters' must be an object")),
        };
        let mut definitions = Vec::with_capacity(entries.len());
        for (name, body) in entries {
            let here = format!("{path}.{name}");
            if definitions
                .iter()
                .any(|d: &ParameterDefinition| d.name.eq_ignore_ascii_case(name))
            {
                return Err(PolicyError::definition(
                    &here,
                    "the parameter is declared twice (names ignore case)",
                ));
            }
            let body = body
                .as_object()
                .ok_or_else(|| PolicyError::definition(&here, "must be an object"))?;
            let declared = get_ignore_case(body, "type")
                .and_then(Value::as_str)
                .ok_or_else(|| PolicyError::definition(&here, "'type' must be a string"))?;
            let parameter_type =
                ParameterType::parse(declared).ok_or_else(|| PolicyError::InvalidParameterType {
                    name: name.clone(),
                    declared: declared.to_owned(),
                })?;
            let inconsistent = |reason: &str| PolicyError::InvalidParameterDefinition {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            let default_value = get_ignore_case(body, "defaultValue").cloned();
            if let Some(default) = &default_value
                && !parameter_type.accepts(default)
            {
                return Err(inconsistent(&format!(
                    "'defaultValue' is not of the type '{parameter_type}'"
                )));
            }
            let allowed_values = match get_ignore_case(body, "allowedValues") {
                None | Some(Value::Null) => None,
                Some(Value::Array(values)) => Some(values.clone()),
                Some(_) => return Err(inconsistent("'allowedValues' must be an array")),
            };
            let metadata = get_ignore_case(body, "metadata").cloned().unwrap_or(Value::Null);
            definitions.push(ParameterDefinition {
                name: name.clone(),
                parameter_type,
                default_value,
                allowed_values,
                metadata,
            });
        }
        Ok(ParameterDefinitions { definitions })
    }

    /// The definition of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&ParameterDefinition> {
        self.definitions
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &ParameterDefinition> {
        self.definitions.iter()
    }

    pub fn len(&self) -> usize {
        self.definitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// Binds an assignment's `parameters` (`{"name": {"value": ...}}`) to these definitions: checks names, types and
    /// allowed values, and fills in defaults.
    pub fn bind(&self, given: &Map<String, Value>) -> Result<BoundParameters, PolicyError> {
        let undefined: Vec<String> = given
            .keys()
            .filter(|name| self.get(name).is_none())
            .cloned()
            .collect();
        if !undefined.is_empty() {
            return Err(PolicyError::UndefinedParameter { names: undefined });
        }
        let mut values = NamedValues::new();
        let mut missing = Vec::new();
        for definition in &self.definitions {
            let given_value = given
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&definition.name));
            let value = match given_value {
                Some((_, wrapper)) => {
                    let value = wrapper
                        .as_object()
                        .and_then(|w| get_ignore_case(w, "value"))
                        .ok_or_else(|| PolicyError::MalformedParameterValue {
                            name: definition.name.clone(),
                        })?;
                    if !definition.parameter_type.accepts(value) {
                        return Err(PolicyError::ParameterTypeMismatch {
                            name: definition.name.clone(),
                            expected: definition.parameter_type,
                        });
                    }
                    if !definition.allows(value) {
                        return Err(PolicyError::ParameterValueNotAllowed {
                            name: definition.name.clone(),
                        });
                    }
                    value.clone()
                }
                None => match &definition.default_value {
                    Some(default) => default.clone(),
                    None => {
                        missing.push(definition.name.clone());
                        continue;
                    }
                },
            };
            values.insert(definition.name.clone(), value);
        }
        if !missing.is_empty() {
            return Err(PolicyError::MissingParameter { names: missing });
        }
        Ok(BoundParameters { values })
    }
}

/// An assignment's parameter values after [`ParameterDefinitions::bind`]: every declared parameter, given or
/// defaulted. This is what `parameters('name')` reads in the policy rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundParameters {
    values: NamedValues,
}

impl BoundParameters {
    /// The value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// All values, in the definition's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter()
    }

    pub(crate) fn named(&self) -> &NamedValues {
        &self.values
    }
}

/// `object[name]` with `name` compared case-insensitively after an exact match fails (ARM reads JSON property names
/// without regard to case).
pub(crate) fn get_ignore_case<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}
