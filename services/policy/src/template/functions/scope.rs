//! Functions that read the evaluation's surroundings: `parameters`, `variables`, `field`, `resourceGroup`,
//! `subscription`, `resourceId`.
//!
//! `field(name)` returns the field as the policy engine selects it, and `""` for a field that does not exist
//! (Microsoft Learn "Author policies for array properties": `[field('…/missingArray')]` returns `""`).
//! `resourceId` takes the forms `resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2, ...)`:
//! the resource type is the first argument containing `/`, and it needs one name per type segment after the
//! namespace (<https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource#resourceid>).

use serde_json::{Value, json};

use super::Call;
use crate::rule::field::FieldPath;
use crate::template::eval::Failure;

/// `parameters(name)`.
pub(super) fn parameters(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let name = call.string_arg(0)?;
    call.ctx.parameters().get(&name).cloned().ok_or_else(|| {
        call.fail(format_args!(
            "refers to the parameter '{name}', which is not defined"
        ))
    })
}

/// `variables(name)`: only variables declared before the one being evaluated are visible.
pub(super) fn variables(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let name = call.string_arg(0)?;
    call.ctx
        .variables()
        .and_then(|variables| variables.get(&name))
        .cloned()
        .ok_or_else(|| {
            call.fail(format_args!(
                "refers to the variable '{name}', which is not defined before this use"
            ))
        })
}

/// `field(name)`: a field of the resource under evaluation.
pub(super) fn field(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let name = call.string_arg(0)?;
    let path = FieldPath::parse(&name).map_err(|reason| call.fail(reason))?;
    let resource = call
        .ctx
        .field_resource()
        .ok_or_else(|| call.fail("has no resource to read"))?;
    Ok(path.resolve(resource).into_function_value())
}

/// `resourceGroup()`: `{id, name, type, location?, properties: {provisioningState}}`.
pub(super) fn resource_group(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let scope = call
        .ctx
        .scope()
        .ok_or_else(|| call.fail("has no subscription to read"))?;
    let name = scope
        .resource_group
        .as_deref()
        .ok_or_else(|| call.fail("has no resource group to read"))?;
    let mut group = json!({
        "id": format!("/subscriptions/{}/resourceGroups/{name}", scope.subscription_id),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "properties": {"provisioningState": "Succeeded"},
    });
    if let Some(location) = &scope.location {
        group["location"] = Value::String(location.clone());
    }
    Ok(group)
}

/// `subscription()`: `{id, subscriptionId}`.
pub(super) fn subscription(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let scope = call
        .ctx
        .scope()
        .ok_or_else(|| call.fail("has no subscription to read"))?;
    Ok(json!({
        "id": format!("/subscriptions/{}", scope.subscription_id),
        "subscriptionId": scope.subscription_id,
    }))
}

/// `resourceId([subscriptionId], [resourceGroupName], resourceType, resourceName1, ...)`.
pub(super) fn resource_id(call: &Call<'_, '_>) -> Result<Value, Failure> {
    let args = call.all_args()?;
    let mut strings = Vec::with_capacity(args.len());
    for (index, arg) in args.iter().enumerate() {
        match arg {
            Value::String(s) => strings.push(s.as_str()),
            other => return Err(call.wrong_type(index, "a string", other)),
        }
    }
    let type_index = strings
        .iter()
        .position(|s| s.contains('/'))
        .ok_or_else(|| call.fail("needs a resource type such as 'Namespace/type'"))?;
    let scope = call
        .ctx
        .scope()
        .ok_or_else(|| call.fail("has no subscription to read"))?;
    let (subscription, group) = match type_index {
        0 => (scope.subscription_id.as_str(), scope.resource_group.as_deref()),
        1 => (scope.subscription_id.as_str(), Some(strings[0])),
        2 => (strings[0], Some(strings[1])),
        _ => {
            return Err(
                call.fail("takes at most a subscription id and a resource group name before the type")
            );
        }
    };
    let group = group.ok_or_else(|| call.fail("has no resource group to build the id in"))?;
    let type_segments: Vec<&str> = strings[type_index].split('/').collect();
    let names = &strings[type_index + 1..];
    if type_segments.len() < 2 || names.len() != type_segments.len() - 1 {
        return Err(call.fail(format_args!(
            "needs one name per segment of the resource type: {} segment(s), {} name(s) given",
            type_segments.len().saturating_sub(1),
            names.len()
        )));
    }
    let mut id = format!(
        "/subscriptions/{subscription}/resourceGroups/{group}/providers/{}",
        type_segments[0]
    );
    for (segment, name) in type_segments[1..].iter().zip(names) {
        id.push_str(&format!("/{segment}/{name}"));
    }
    Ok(Value::String(id))
}
