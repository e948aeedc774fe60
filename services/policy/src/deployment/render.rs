//! Rendering a [`PreparedDeployment`]'s template into [`PlannedResource`]s, as ARM evaluates a template deployment:
//! parameters first (given value, else default; type and allowed values checked), then variables in order, then
//! each resource.
//!
//! Errors name the template parameter, variable or resource path; a value — in particular a `securestring` one —
//! is never part of a message.

use std::collections::HashMap;

use serde_json::Value;

use crate::deployment::resource_id::place;
use crate::deployment::{PlannedResource, PreparedDeployment, PreparedParameter};
use crate::error::{EvalError, EvalStage};
use crate::named::NamedValues;
use crate::secret::{KeyVaultReference, SecretValue};
use crate::template::value::child_path;
use crate::template::values::deep_equals;
use crate::template::{EvalContext, ScopeInfo, TemplateResource};

const TEMPLATE: &str = "template";

pub(super) fn render(
    deployment: &PreparedDeployment,
    resolved: &HashMap<KeyVaultReference, SecretValue>,
) -> Result<Vec<PlannedResource>, EvalError> {
    let invalid =
        |location: String, message: String| EvalError::invalid(EvalStage::Template, &location, message);
    let context = &deployment.context;
    let scope = ScopeInfo {
        subscription_id: context.subscription_id.clone(),
        resource_group: Some(context.resource_group.clone()),
        location: context.location.clone(),
    };
    let no_variables = NamedValues::new();

    let mut parameters = NamedValues::new();
    for declared in &deployment.template.parameters {
        let location = child_path(&format!("{TEMPLATE}.parameters"), &declared.name);
        let given = deployment
            .parameters
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&declared.name));
        let value = match given {
            Some((_, PreparedParameter::Value(value))) => value.clone(),
            Some((name, PreparedParameter::KeyVault(reference))) => match resolved.get(reference) {
                Some(secret) => Value::String(secret.expose().to_owned()),
                None => {
                    return Err(EvalError::UnresolvedKeyVaultReference {
                        parameter: name.clone(),
                    });
                }
            },
            None => match &declared.default_value {
                Some(default) => {
                    default.evaluate(&EvalContext::template(&parameters, &no_variables, scope.clone()))?
                }
                None => {
                    return Err(invalid(
                        location,
                        "the template parameter has no value and no default".to_owned(),
                    ));
                }
            },
        };
        if !declared.parameter_type.accepts(&value) {
            return Err(invalid(
                location,
                format!(
                    "the template parameter expects a value of type '{}'",
                    declared.parameter_type.name()
                ),
            ));
        }
        if let Some(allowed) = &declared.allowed_values
            && !allowed.iter().any(|a| deep_equals(a, &value))
        {
            return Err(invalid(
                location,
                "the template parameter's value is not one of its allowed values".to_owned(),
            ));
        }
        parameters.insert(declared.name.clone(), value);
    }

    let mut variables = NamedValues::new();
    for (name, value) in &deployment.template.variables {
        let evaluated = value.evaluate(&EvalContext::template(&parameters, &variables, scope.clone()))?;
        variables.insert(name.clone(), evaluated);
    }

    let ctx = EvalContext::template(&parameters, &variables, scope);
    let mut planned = Vec::new();
    for resource in &deployment.template.resources {
        if let Some(resource) = render_resource(resource, &ctx, deployment)? {
            planned.push(resource);
        }
    }
    Ok(planned)
}

/// One resource, or `None` when its `condition` is false.
fn render_resource(
    resource: &TemplateResource,
    ctx: &EvalContext<'_>,
    deployment: &PreparedDeployment,
) -> Result<Option<PlannedResource>, EvalError> {
    let at = |key: &str| format!("{}.{key}", resource.location);
    let invalid =
        |location: String, message: &str| EvalError::invalid(EvalStage::Template, &location, message);
    if let Some(condition) = &resource.condition {
        match condition.evaluate(ctx)? {
            Value::Bool(true) => {}
            Value::Bool(false) => return Ok(None),
            _ => {
                return Err(invalid(
                    at("condition"),
                    "the condition must evaluate to a boolean",
                ));
            }
        }
    }
    let string = |value: &crate::template::TemplateValue, key: &str| match value.evaluate(ctx)? {
        Value::String(s) => Ok(s),
        _ => Err(invalid(at(key), "must evaluate to a string")),
    };
    let resource_type = string(&resource.resource_type, "type")?;
    let name = string(&resource.name, "name")?;
    let api_version = string(&resource.api_version, "apiVersion")?;
    let scope = resource
        .scope
        .as_ref()
        .map(|scope| string(scope, "scope"))
        .transpose()?;
    let place = place(scope.as_deref(), &resource_type, &name, &deployment.context)
        .map_err(|reason| invalid(resource.location.clone(), &reason))?;
    let body = match resource.body.evaluate(ctx)? {
        body @ Value::Object(_) => body,
        _ => {
            return Err(invalid(
                resource.location.clone(),
                "the resource must evaluate to an object",
            ));
        }
    };
    Ok(Some(PlannedResource {
        id: place.id,
        scope: place.scope,
        resource_type: place.resource_type,
        name: place.name,
        api_version,
        body,
    }))
}
