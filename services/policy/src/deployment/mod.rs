//! The remediation deployment of a `deployIfNotExists` rule (`then.details.deployment`), in two steps:
//!
//! 1. [`Deployment::plan`] evaluates `properties.parameters` in the *policy* language (`[field('name')]` reads the
//!    `if` resource, `[parameters('x')]` the assignment) and leaves Key Vault references unresolved;
//! 2. [`PreparedDeployment::render`] takes the resolved secrets and evaluates the *template*: parameters (types
//!    checked, defaults applied), variables, and each resource's `condition`, `type`, `name`, `apiVersion`, `scope`
//!    and body, into [`PlannedResource`]s the server PUTs.
//!
//! Only `mode: incremental` is accepted (any case): a `Complete` deployment would delete what the template does not
//! list. Linked templates (`templateLink`) are refused, as Azure Policy refuses them.

mod planned;
mod render;
pub(crate) mod resource_id;

use std::collections::HashMap;

use serde_json::{Map, Value};

pub use planned::PlannedResource;

use crate::error::{EvalError, EvalStage, PolicyError};
use crate::parameters::{BoundParameters, get_ignore_case};
use crate::secret::{KeyVaultReference, SecretValue};
use crate::template::value::child_path;
use crate::template::{ContextKind, EvalContext, Expression, Template, TemplateValue};

/// `then.details.deployment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The JSON path of `deployment` in the definition, for errors.
    pub location: String,
    pub template: Template,
    /// `properties.parameters`, in order.
    pub parameters: Vec<(String, DeploymentParameter)>,
}

/// One entry of `properties.parameters`.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentParameter {
    /// `{"value": ...}`: a literal or a policy expression.
    Value(TemplateValue),
    /// `{"reference": {"keyVault": {"id": ...}, "secretName": ..., "secretVersion": ...}}`.
    KeyVault {
        vault_id: TemplateValue,
        secret_name: TemplateValue,
        secret_version: Option<TemplateValue>,
    },
}

/// Where a deployment runs: the subscription and resource group of the `if` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentContext {
    pub subscription_id: String,
    pub resource_group: String,
    /// The resource group's location, for `resourceGroup().location`.
    pub location: Option<String>,
}

impl DeploymentContext {
    pub fn new(subscription_id: impl Into<String>, resource_group: impl Into<String>) -> DeploymentContext {
        DeploymentContext {
            subscription_id: subscription_id.into(),
            resource_group: resource_group.into(),
            location: None,
        }
    }

    /// The subscription and resource group of a resource id.
    pub fn for_resource_id(id: &str) -> Option<DeploymentContext> {
        let scope = crate::template::ScopeInfo::from_resource_id(id)?;
        Some(DeploymentContext::new(
            scope.subscription_id,
            scope.resource_group?,
        ))
    }
}

impl Deployment {
    /// Reads `then.details.deployment`; `path` is its JSON path.
    pub fn parse(json: &Value, path: &str) -> Result<Deployment, PolicyError> {
        let properties_path = format!("{path}.properties");
        let properties = json
            .as_object()
            .and_then(|d| get_ignore_case(d, "properties"))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                PolicyError::rule(&properties_path, "the deployment needs a 'properties' object")
            })?;
        let mode_path = format!("{properties_path}.mode");
        match get_ignore_case(properties, "mode").and_then(Value::as_str) {
            Some(mode) if mode.eq_ignore_ascii_case("incremental") => {}
            Some(_) => {
                return Err(PolicyError::rule(
                    &mode_path,
                    "only the 'incremental' deployment mode is supported",
                ));
            }
            None => return Err(PolicyError::rule(&mode_path, "the deployment mode is missing")),
        }
        if get_ignore_case(properties, "templateLink").is_some() {
            return Err(PolicyError::rule(
                &format!("{properties_path}.templateLink"),
                "linked templates are not supported",
            ));
        }
        let template_path = format!("{properties_path}.template");
        let template = get_ignore_case(properties, "template")
            .ok_or_else(|| PolicyError::rule(&template_path, "the deployment has no template"))
            .and_then(|t| Template::parse(t, &template_path))?;
        let parameters_path = format!("{properties_path}.parameters");
        let parameters = match get_ignore_case(properties, "parameters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(name, entry)| {
                    let here = child_path(&parameters_path, name);
                    if template.parameter(name).is_none() {
                        return Err(PolicyError::rule(
                            &here,
                            "the template declares no parameter of this name",
                        ));
                    }
                    Ok((name.clone(), parse_parameter(entry, &here)?))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(PolicyError::rule(
                    &parameters_path,
                    "'parameters' must be an object",
                ));
            }
        };
        Ok(Deployment {
            location: path.to_owned(),
            template,
            parameters,
        })
    }

    /// Evaluates the deployment parameters against the assignment's `parameters` and the `if` resource `target`,
    /// for a deployment in `context`.
    pub fn plan(
        &self,
        parameters: &BoundParameters,
        target: &Value,
        context: &DeploymentContext,
    ) -> Result<PreparedDeployment, EvalError> {
        let ctx = EvalContext::policy(parameters, target);
        let mut prepared = Vec::with_capacity(self.parameters.len());
        for (name, parameter) in &self.parameters {
            let value = match parameter {
                DeploymentParameter::Value(value) => PreparedParameter::Value(value.evaluate(&ctx)?),
                DeploymentParameter::KeyVault {
                    vault_id,
                    secret_name,
                    secret_version,
                } => {
                    let text = |value: &TemplateValue, what: &str| -> Result<String, EvalError> {
                        match value.evaluate(&ctx)? {
                            Value::String(s) => Ok(s),
                            _ => Err(EvalError::invalid(
                                EvalStage::Policy,
                                &child_path(&format!("{}.properties.parameters", self.location), name),
                                format!("the Key Vault reference's {what} must evaluate to a string"),
                            )),
                        }
                    };
                    let secret_version = match secret_version {
                        None => None,
                        Some(version) => Some(text(version, "secretVersion")?).filter(|v| !v.is_empty()),
                    };
                    PreparedParameter::KeyVault(KeyVaultReference {
                        vault_id: text(vault_id, "keyVault.id")?,
                        secret_name: text(secret_name, "secretName")?,
                        secret_version,
                    })
                }
            };
            prepared.push((name.clone(), value));
        }
        Ok(PreparedDeployment {
            template: self.template.clone(),
            parameters: prepared,
            context: context.clone(),
        })
    }

    pub(crate) fn for_each_policy_expression(&self, visit: &mut impl FnMut(&Expression)) {
        for (_, parameter) in &self.parameters {
            match parameter {
                DeploymentParameter::Value(value) => value.for_each_expression(visit),
                DeploymentParameter::KeyVault {
                    vault_id,
                    secret_name,
                    secret_version,
                } => {
                    for value in [Some(vault_id), Some(secret_name), secret_version.as_ref()]
                        .into_iter()
                        .flatten()
                    {
                        value.for_each_expression(visit);
                    }
                }
            }
        }
    }
}

fn parse_parameter(entry: &Value, path: &str) -> Result<DeploymentParameter, PolicyError> {
    let object: &Map<String, Value> = entry
        .as_object()
        .ok_or_else(|| PolicyError::rule(path, "a deployment parameter must be an object"))?;
    let policy_value = |value: &Value, here: String| TemplateValue::parse(value, &here, ContextKind::Policy);
    if let Some(value) = get_ignore_case(object, "value") {
        return Ok(DeploymentParameter::Value(policy_value(
            value,
            format!("{path}.value"),
        )?));
    }
    let reference_path = format!("{path}.reference");
    let reference = get_ignore_case(object, "reference")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            PolicyError::rule(
                path,
                "a deployment parameter needs 'value' or a Key Vault 'reference'",
            )
        })?;
    let vault_id = get_ignore_case(reference, "keyVault")
        .and_then(Value::as_object)
        .and_then(|vault| get_ignore_case(vault, "id"))
        .ok_or_else(|| PolicyError::rule(&reference_path, "a Key Vault reference needs 'keyVault.id'"))?;
    let secret_name = get_ignore_case(reference, "secretName")
        .ok_or_else(|| PolicyError::rule(&reference_path, "a Key Vault reference needs 'secretName'"))?;
    Ok(DeploymentParameter::KeyVault {
        vault_id: policy_value(vault_id, format!("{reference_path}.keyVault.id"))?,
        secret_name: policy_value(secret_name, format!("{reference_path}.secretName"))?,
        secret_version: get_ignore_case(reference, "secretVersion")
            .filter(|v| !v.is_null())
            .map(|v| policy_value(v, format!("{reference_path}.secretVersion")))
            .transpose()?,
    })
}

/// A deployment parameter after [`Deployment::plan`].
#[derive(Debug, Clone, PartialEq)]
pub enum PreparedParameter {
    Value(Value),
    /// To be resolved by the caller and passed to [`PreparedDeployment::render`].
    KeyVault(KeyVaultReference),
}

/// A deployment whose parameters are evaluated, waiting for its Key Vault secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedDeployment {
    template: Template,
    parameters: Vec<(String, PreparedParameter)>,
    context: DeploymentContext,
}

impl PreparedDeployment {
    /// The Key Vault secrets the deployment needs, each once, in parameter order.
    pub fn key_vault_references(&self) -> Vec<&KeyVaultReference> {
        let mut references: Vec<&KeyVaultReference> = Vec::new();
        for (_, parameter) in &self.parameters {
            if let PreparedParameter::KeyVault(reference) = parameter
                && !references.contains(&reference)
            {
                references.push(reference);
            }
        }
        references
    }

    /// The evaluated deployment parameters.
    pub fn parameters(&self) -> &[(String, PreparedParameter)] {
        &self.parameters
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn context(&self) -> &DeploymentContext {
        &self.context
    }

    /// Evaluates the template with `resolved` secrets for the Key Vault references, into the resources to PUT,
    /// in template order (resources whose `condition` is false left out).
    pub fn render(
        &self,
        resolved: &HashMap<KeyVaultReference, SecretValue>,
    ) -> Result<Vec<PlannedResource>, EvalError> {
        render::render(self, resolved)
    }
}
