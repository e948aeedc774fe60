//! `then.details` of an `auditIfNotExists` / `deployIfNotExists` rule: which related resources to look at, the
//! condition one of them must meet, and the deployment that remediates.
//!
//! Semantics from Microsoft Learn "Azure Policy definitions deployIfNotExists effect"
//! (<https://learn.microsoft.com/azure/governance/policy/concepts/effect-deploy-if-not-exists>):
//! - related resources are those of `type` (for the built-ins, under the `if` resource: the cluster's
//!   fluxConfigurations or extensions); with `name`, only that resource counts (a last name segment `?` matches any);
//! - "If any matching related resource evaluates to true, the effect is satisfied"; without `existenceCondition`,
//!   any related resource satisfies it;
//! - in the `existenceCondition`, `"field"` reads the related resource and the `field()` function reads the `if`
//!   resource;
//! - `evaluationDelay` is `AfterProvisioning`, `AfterProvisioningSuccess`, `AfterProvisioningFailure` or an ISO 8601
//!   duration of 0 to 360 minutes (default `PT10M`, applied by the caller).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::deployment::Deployment;
use crate::error::{EvalError, EvalStage, PolicyError};
use crate::parameters::{BoundParameters, get_ignore_case};
use crate::rule::condition::Condition;
use crate::template::{ContextKind, EvalContext, Expression, TemplateValue};

/// When the existence of related resources is checked after a create or update of the `if` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvaluationDelay {
    AfterProvisioning,
    AfterProvisioningSuccess,
    AfterProvisioningFailure,
    After(Duration),
}

impl EvaluationDelay {
    /// The default when `evaluationDelay` is absent.
    pub const DEFAULT: EvaluationDelay = EvaluationDelay::After(Duration::from_secs(600));

    fn parse(text: &str) -> Option<EvaluationDelay> {
        let named = [
            ("AfterProvisioning", EvaluationDelay::AfterProvisioning),
            (
                "AfterProvisioningSuccess",
                EvaluationDelay::AfterProvisioningSuccess,
            ),
            (
                "AfterProvisioningFailure",
                EvaluationDelay::AfterProvisioningFailure,
            ),
        ];
        if let Some((_, delay)) = named.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(text)) {
            return Some(delay);
        }
        parse_iso8601_duration(text)
            .filter(|d| *d <= Duration::from_secs(360 * 60))
            .map(EvaluationDelay::After)
    }
}

/// `existenceScope` / `deploymentScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeLevel {
    ResourceGroup,
    Subscription,
}

impl ScopeLevel {
    fn parse(text: &str) -> Option<ScopeLevel> {
        if text.eq_ignore_ascii_case("ResourceGroup") {
            Some(ScopeLevel::ResourceGroup)
        } else if text.eq_ignore_ascii_case("Subscription") {
            Some(ScopeLevel::Subscription)
        } else {
            None
        }
    }
}

/// `then.details`.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    /// `type`: the related resources' type.
    pub resource_type: String,
    /// `name`: only the related resource of this name counts (a policy expression, e.g. `[field('name')]`).
    pub name: Option<TemplateValue>,
    pub existence_condition: Option<Condition>,
    pub evaluation_delay: Option<EvaluationDelay>,
    pub existence_scope: Option<ScopeLevel>,
    pub deployment_scope: Option<ScopeLevel>,
    pub resource_group_name: Option<TemplateValue>,
    pub role_definition_ids: Vec<String>,
    pub deployment: Option<Deployment>,
}

impl Details {
    /// Reads `then.details`; `path` is its JSON path.
    pub fn parse(json: &Value, path: &str) -> Result<Details, PolicyError> {
        let object = json
            .as_object()
            .ok_or_else(|| PolicyError::rule(path, "'details' must be an object"))?;
        let here = |key: &str| format!("{path}.{key}");
        let string = |key: &str| -> Result<Option<&str>, PolicyError> {
            match get_ignore_case(object, key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(PolicyError::rule(&here(key), "must be a string")),
            }
        };
        let policy_value = |key: &str| -> Result<Option<TemplateValue>, PolicyError> {
            get_ignore_case(object, key)
                .map(|v| TemplateValue::parse(v, &here(key), ContextKind::Policy))
                .transpose()
        };
        let scope = |key: &str| -> Result<Option<ScopeLevel>, PolicyError> {
            string(key)?
                .map(|s| {
                    ScopeLevel::parse(s).ok_or_else(|| {
                        PolicyError::rule(&here(key), "must be 'ResourceGroup' or 'Subscription'")
                    })
                })
                .transpose()
        };
        let resource_type = string("type")?
            .filter(|t| t.contains('/'))
            .ok_or_else(|| PolicyError::rule(&here("type"), "'type' must name a resource type"))?
            .to_owned();
        let evaluation_delay = string("evaluationDelay")?
            .map(|text| {
                EvaluationDelay::parse(text).ok_or_else(|| {
                    PolicyError::rule(
                        &here("evaluationDelay"),
                        "must be AfterProvisioning, AfterProvisioningSuccess, AfterProvisioningFailure or an ISO 8601 \
                         duration of at most 360 minutes",
                    )
                })
            })
            .transpose()?;
        let role_definition_ids = match get_ignore_case(object, "roleDefinitionIds") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    PolicyError::rule(&here("roleDefinitionIds"), "must be an array of strings")
                })?,
            Some(_) => {
                return Err(PolicyError::rule(
                    &here("roleDefinitionIds"),
                    "must be an array of strings",
                ));
            }
        };
        let existence_condition = get_ignore_case(object, "existenceCondition")
            .filter(|c| !c.as_object().is_some_and(Map::is_empty))
            .map(|c| Condition::parse(c, &here("existenceCondition")))
            .transpose()?;
        let deployment = get_ignore_case(object, "deployment")
            .map(|d| Deployment::parse(d, &here("deployment")))
            .transpose()?;
        Ok(Details {
            resource_type,
            name: policy_value("name")?,
            existence_condition,
            evaluation_delay,
            existence_scope: scope("existenceScope")?,
            deployment_scope: scope("deploymentScope")?,
            resource_group_name: policy_value("resourceGroupName")?,
            role_definition_ids,
            deployment,
        })
    }

    /// The related resource's name to look for (`details.name` evaluated against the `if` resource), if any.
    pub fn related_name(
        &self,
        parameters: &BoundParameters,
        target: &Value,
    ) -> Result<Option<String>, EvalError> {
        let Some(name) = &self.name else { return Ok(None) };
        match name.evaluate(&EvalContext::policy(parameters, target))? {
            Value::String(name) => Ok(Some(name)),
            _ => Err(EvalError::invalid(
                EvalStage::Policy,
                "policyRule.then.details.name",
                "must evaluate to a string",
            )),
        }
    }

    /// Whether `related` meets the `existenceCondition` (`"field"` reads `related`, `field()` reads `target`, the
    /// `if` resource). Without a condition, any related resource does.
    pub fn is_satisfied_by(
        &self,
        parameters: &BoundParameters,
        target: &Value,
        related: &Value,
    ) -> Result<bool, EvalError> {
        match &self.existence_condition {
            None => Ok(true),
            Some(condition) => condition.evaluate_on(parameters, related, target),
        }
    }

    /// The index of the first resource in `related` that counts (its `type` is `details.type`, its name is
    /// `details.name` when given) and meets the existence condition; `None` means non-compliant.
    pub fn find_satisfying<'a>(
        &self,
        parameters: &BoundParameters,
        target: &Value,
        related: impl IntoIterator<Item = &'a Value>,
    ) -> Result<Option<usize>, EvalError> {
        let wanted_name = self.related_name(parameters, target)?;
        for (index, resource) in related.into_iter().enumerate() {
            let type_matches = resource
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(|t| t.eq_ignore_ascii_case(&self.resource_type));
            let name_matches = match &wanted_name {
                None => true,
                Some(wanted) => resource
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| names_match(wanted, name)),
            };
            if type_matches && name_matches && self.is_satisfied_by(parameters, target, resource)? {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    /// Whether some resource in `related` satisfies the details: the `if` resource is compliant.
    pub fn is_compliant<'a>(
        &self,
        parameters: &BoundParameters,
        target: &Value,
        related: impl IntoIterator<Item = &'a Value>,
    ) -> Result<bool, EvalError> {
        Ok(self.find_satisfying(parameters, target, related)?.is_some())
    }

    /// Calls `visit` for every policy-language expression (not the template's).
    pub fn for_each_policy_expression(&self, visit: &mut impl FnMut(&Expression)) {
        for value in [&self.name, &self.resource_group_name].into_iter().flatten() {
            value.for_each_expression(visit);
        }
        if let Some(condition) = &self.existence_condition {
            condition.for_each_expression(visit);
        }
        if let Some(deployment) = &self.deployment {
            deployment.for_each_policy_expression(visit);
        }
    }
}

/// `details.name` against a related resource's name: case-insensitive; a `?` segment matches any segment; when the
/// resource reports only its last segment, the last segments are compared.
fn names_match(wanted: &str, actual: &str) -> bool {
    let segment_matches = |w: &str, a: &str| w == "?" || w.eq_ignore_ascii_case(a);
    let wanted: Vec<&str> = wanted.split('/').collect();
    let actual: Vec<&str> = actual.split('/').collect();
    if wanted.len() == actual.len() {
        return wanted.iter().zip(&actual).all(|(w, a)| segment_matches(w, a));
    }
    match (wanted.last(), actual.last()) {
        (Some(w), Some(a)) => segment_matches(w, a),
        _ => false,
    }
}

/// `PT10M`, `PT1H30M`, `PT0S`, `P1DT2H` → a duration.
fn parse_iso8601_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix(['P', 'p'])?;
    let (date, time) = match rest.find(['T', 't']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let mut seconds = 0u64;
    let mut read = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
            } else {
                let (_, factor) = units.iter().find(|(u, _)| u.eq_ignore_ascii_case(&c))?;
                seconds = seconds.checked_add(number.parse::<u64>().ok()?.checked_mul(*factor)?)?;
                number.clear();
            }
        }
        number.is_empty().then_some(())
    };
    read(date, &[('D', 86_400)])?;
    if let Some(time) = time {
        if time.is_empty() {
            return None;
        }
        read(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    (!rest.is_empty()).then_some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{EvaluationDelay, names_match, parse_iso8601_duration};

    #[test]
    fn reads_evaluation_delays() {
        assert_eq!(
            EvaluationDelay::parse("afterProvisioning"),
            Some(EvaluationDelay::AfterProvisioning)
        );
        assert_eq!(
            EvaluationDelay::parse("PT10M"),
            Some(EvaluationDelay::After(Duration::from_secs(600)))
        );
        assert_eq!(
            EvaluationDelay::parse("PT6H"),
            Some(EvaluationDelay::After(Duration::from_secs(21_600)))
        );
        assert_eq!(EvaluationDelay::parse("PT6H1M"), None);
        assert_eq!(
            parse_iso8601_duration("P1DT2H"),
            Some(Duration::from_secs(93_600))
        );
        assert_eq!(parse_iso8601_duration("PT"), None);
        assert_eq!(parse_iso8601_duration("10M"), None);
    }

    #[test]
    fn matches_names_with_wildcard_segments() {
        assert!(names_match("cfg", "CFG"));
        assert!(names_match("server/?", "server/db"));
        assert!(names_match("server/db", "db"));
        assert!(!names_match("cfg", "other"));
    }
}
