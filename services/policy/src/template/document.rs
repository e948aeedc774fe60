//! The deployment template of a `deployIfNotExists` definition, read once: its parameters, variables and resources.
//!
//! Supported: `parameters` (types `string`, `securestring`, `int`, `bool`, `object`, `secureObject`, `array`, in any
//! case, with `defaultValue` and `allowedValues`), `variables`, and `resources` as an array, each with `type`,
//! `name`, `apiVersion`, optional `condition` and `scope`; `comments` and `dependsOn` are read and dropped (the
//! resources are planned in order). `$schema`, `contentVersion`, `metadata` and `outputs` are ignored.
//! Refused, with the path: `copy` loops, nested child `resources`, user-defined `functions`, and symbolic-name
//! resource objects (language version 2.0) — none of the built-ins use them.
//!
//! `parameters('x')` and `variables('x')` with a literal name are checked against the declarations here, so a
//! template that reads an undeclared parameter fails when the definition is read.

use serde_json::{Map, Value};

use crate::error::PolicyError;
use crate::parameters::get_ignore_case;
use crate::template::ContextKind;
use crate::template::ast::{Expr, Expression};
use crate::template::functions::Function;
use crate::template::value::{TemplateValue, child_path};

/// The type of a template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateParameterType {
    String,
    SecureString,
    Int,
    Bool,
    Object,
    SecureObject,
    Array,
}

impl TemplateParameterType {
    const ALL: [(&'static str, TemplateParameterType); 7] = [
        ("string", TemplateParameterType::String),
        ("securestring", TemplateParameterType::SecureString),
        ("int", TemplateParameterType::Int),
        ("bool", TemplateParameterType::Bool),
        ("object", TemplateParameterType::Object),
        ("secureObject", TemplateParameterType::SecureObject),
        ("array", TemplateParameterType::Array),
    ];

    /// Reads a declared type, ignoring case.
    pub fn parse(declared: &str) -> Option<TemplateParameterType> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(declared))
            .map(|&(_, t)| t)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|&&(_, t)| t == self)
            .map(|&(name, _)| name)
            .unwrap_or("string")
    }

    /// `securestring` and `secureObject`: values ARM never logs or returns.
    pub fn is_secure(self) -> bool {
        matches!(
            self,
            TemplateParameterType::SecureString | TemplateParameterType::SecureObject
        )
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            TemplateParameterType::String | TemplateParameterType::SecureString => value.is_string(),
            TemplateParameterType::Int => {
                value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            TemplateParameterType::Bool => value.is_boolean(),
            TemplateParameterType::Object | TemplateParameterType::SecureObject => value.is_object(),
            TemplateParameterType::Array => value.is_array(),
        }
    }
}

/// A template parameter declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateParameter {
    pub name: String,
    pub parameter_type: TemplateParameterType,
    /// May be an expression over earlier parameters.
    pub default_value: Option<TemplateValue>,
    pub allowed_values: Option<Vec<Value>>,
}

/// One entry of the template's `resources`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateResource {
    /// The JSON path of the resource, for errors.
    pub location: String,
    pub condition: Option<TemplateValue>,
    pub resource_type: TemplateValue,
    pub name: TemplateValue,
    pub api_version: TemplateValue,
    pub scope: Option<TemplateValue>,
    /// Every other property (`properties`, `identity`, `location`, `tags`, ...): the PUT body.
    pub body: TemplateValue,
}

/// A deployment template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parameters: Vec<TemplateParameter>,
    /// In declaration order; a variable may read parameters and the variables before it.
    pub variables: Vec<(String, TemplateValue)>,
    pub resources: Vec<TemplateResource>,
}

/// Resource properties that are not part of the PUT body.
const RESOURCE_CONTROL_KEYS: [&str; 7] = [
    "type",
    "name",
    "apiVersion",
    "scope",
    "condition",
    "comments",
    "dependsOn",
];

impl Template {
    /// Reads a template object; `path` is its JSON path in the definition.
    pub fn parse(json: &Value, path: &str) -> Result<Template, PolicyError> {
        let object = json
            .as_object()
            .ok_or_else(|| PolicyError::rule(path, "the template must be an object"))?;
        if get_ignore_case(object, "functions").is_some() {
            return Err(PolicyError::rule(
                &format!("{path}.functions"),
                "user-defined template functions are not supported",
            ));
        }
        let parameters = parse_parameters(
            get_ignore_case(object, "parameters"),
            &format!("{path}.parameters"),
        )?;
        let variables = parse_variables(get_ignore_case(object, "variables"), &format!("{path}.variables"))?;
        let resources_path = format!("{path}.resources");
        let resources = match get_ignore_case(object, "resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_resource(item, &format!("{resources_path}[{index}]")))
                .collect::<Result<_, _>>()?,
            Some(Value::Object(_)) => {
                return Err(PolicyError::rule(
                    &resources_path,
                    "symbolic-name resources (an object) are not supported",
                ));
            }
            Some(_) => return Err(PolicyError::rule(&resources_path, "'resources' must be an array")),
        };
        let template = Template {
            parameters,
            variables,
            resources,
        };
        template.check_references()?;
        Ok(template)
    }

    /// The declaration of parameter `name`, compared case-insensitively.
    pub fn parameter(&self, name: &str) -> Option<&TemplateParameter> {
        self.parameters.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Rejects `parameters('x')` / `variables('x')` with literal names that are not declared (a variable must be
    /// declared before the variable that reads it).
    fn check_references(&self) -> Result<(), PolicyError> {
        let mut problem: Option<PolicyError> = None;
        let mut check = |expression: &Expression, visible_variables: usize| {
            expression
                .root
                .for_each_call(&mut |function, args: &[Expr], position| {
                    let Some(Expr::String(name)) = args.first() else {
                        return;
                    };
                    let (declared, what) = match function {
                        Function::Parameters => (self.parameter(name).is_some(), "parameter"),
                        Function::Variables => (
                            self.variables[..visible_variables]
                                .iter()
                                .any(|(v, _)| v.eq_ignore_ascii_case(name)),
                            "variable",
                        ),
                        _ => return,
                    };
                    if !declared && problem.is_none() {
                        problem = Some(PolicyError::InvalidExpression {
                            path: expression.location.clone(),
                            expression: expression.text.clone(),
                            position,
                            reason: format!("the template {what} '{name}' is not declared"),
                        });
                    }
                });
        };
        // Defaults may read parameters but no variables.
        for default in self.parameters.iter().filter_map(|p| p.default_value.as_ref()) {
            default.for_each_expression(&mut |e| check(e, 0));
        }
        for (index, (_, value)) in self.variables.iter().enumerate() {
            value.for_each_expression(&mut |e| check(e, index));
        }
        let all = self.variables.len();
        for resource in &self.resources {
            let parts = [
                Some(&resource.resource_type),
                Some(&resource.name),
                Some(&resource.api_version),
            ];
            let optional = [
                resource.condition.as_ref(),
                resource.scope.as_ref(),
                Some(&resource.body),
            ];
            for part in parts.into_iter().chain(optional).flatten() {
                part.for_each_expression(&mut |e| check(e, all));
            }
        }
        problem.map_or(Ok(()), Err)
    }
}

fn parse_parameters(json: Option<&Value>, path: &str) -> Result<Vec<TemplateParameter>, PolicyError> {
    let entries = match json {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err(PolicyError::rule(path, "'parameters' must be an object")),
    };
    let mut parameters: Vec<TemplateParameter> = Vec::with_capacity(entries.len());
    for (name, body) in entries {
        let here = child_path(path, name);
        if parameters.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
            return Err(PolicyError::rule(
                &here,
                "the parameter is declared twice (names ignore case)",
            ));
        }
        let body = body
            .as_object()
            .ok_or_else(|| PolicyError::rule(&here, "must be an object"))?;
        let declared = get_ignore_case(body, "type")
            .and_then(Value::as_str)
            .ok_or_else(|| PolicyError::rule(&here, "'type' must be a string"))?;
        let parameter_type = TemplateParameterType::parse(declared).ok_or_else(|| {
            PolicyError::rule(
                &format!("{here}.type"),
                format!(
                    "'{declared}' is not a template parameter type (string, securestring, int, bool, object, \
                     secureObject, array)"
                ),
            )
        })?;
        let default_value = get_ignore_case(body, "defaultValue")
            .map(|value| TemplateValue::parse(value, &format!("{here}.defaultValue"), ContextKind::Template))
            .transpose()?;
        let allowed_values = match get_ignore_case(body, "allowedValues") {
            None | Some(Value::Null) => None,
            Some(Value::Array(values)) => Some(values.clone()),
            Some(_) => {
                return Err(PolicyError::rule(
                    &format!("{here}.allowedValues"),
                    "must be an array",
                ));
            }
        };
        parameters.push(TemplateParameter {
            name: name.clone(),
            parameter_type,
            default_value,
            allowed_values,
        });
    }
    Ok(parameters)
}

fn parse_variables(json: Option<&Value>, path: &str) -> Result<Vec<(String, TemplateValue)>, PolicyError> {
    let entries = match json {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(entries)) => entries,
        Some(_) => return Err(PolicyError::rule(path, "'variables' must be an object")),
    };
    entries
        .iter()
        .map(|(name, value)| {
            let here = child_path(path, name);
            if name.eq_ignore_ascii_case("copy") {
                return Err(PolicyError::rule(
                    &here,
                    "variable 'copy' loops are not supported",
                ));
            }
            Ok((
                name.clone(),
                TemplateValue::parse(value, &here, ContextKind::Template)?,
            ))
        })
        .collect()
}

fn parse_resource(json: &Value, path: &str) -> Result<TemplateResource, PolicyError> {
    let object = json
        .as_object()
        .ok_or_else(|| PolicyError::rule(path, "a resource must be an object"))?;
    for unsupported in ["copy", "resources"] {
        if get_ignore_case(object, unsupported).is_some() {
            let reason = match unsupported {
                "copy" => "resource 'copy' loops are not supported",
                _ => "nested child resources are not supported; declare them at the top level",
            };
            return Err(PolicyError::rule(&format!("{path}.{unsupported}"), reason));
        }
    }
    let parse = |key: &str| -> Result<Option<TemplateValue>, PolicyError> {
        get_ignore_case(object, key)
            .map(|value| TemplateValue::parse(value, &format!("{path}.{key}"), ContextKind::Template))
            .transpose()
    };
    let required = |key: &str| -> Result<TemplateValue, PolicyError> {
        parse(key)?.ok_or_else(|| PolicyError::rule(path, format!("a resource needs '{key}'")))
    };
    let body: Map<String, Value> = object
        .iter()
        .filter(|(key, _)| {
            !RESOURCE_CONTROL_KEYS
                .iter()
                .any(|control| control.eq_ignore_ascii_case(key))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Ok(TemplateResource {
        location: path.to_owned(),
        condition: parse("condition")?,
        resource_type: required("type")?,
        name: required("name")?,
        api_version: required("apiVersion")?,
        scope: parse("scope")?,
        body: TemplateValue::parse(&Value::Object(body), path, ContextKind::Template)?,
    })
}
