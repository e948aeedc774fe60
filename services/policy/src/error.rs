//! The two error types of the crate: [`PolicyError`] for reading a definition and binding an assignment's
//! parameters, [`EvalError`] for evaluating a rule or rendering a deployment.
//!
//! Messages say *where* (the JSON path in the definition, the expression text and a 1-based character
//! position) and *what*, but never carry an evaluated value: a `securestring` parameter or a Key Vault
//! secret can flow through any expression, so only definition text and parameter names are quoted.

use crate::parameters::ParameterType;

/// A policy definition that cannot be read, or an assignment whose parameters do not fit it.
///
/// [`PolicyError::code`] gives the ARM error code the server answers with (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The definition document is not shaped like a policy definition (not an object, missing `policyRule`, bad
    /// `mode`, ...).
    #[error("invalid policy definition at {path}: {reason}")]
    InvalidDefinition { path: String, reason: String },

    /// The `policyRule` (conditions, effect, details, deployment template) cannot be read.
    #[error("invalid policy rule at {path}: {reason}")]
    InvalidRule { path: String, reason: String },

    /// A template-language expression (`"[...]"`) does not parse, or calls a function that is unknown or not
    /// available where it stands.
    #[error("{reason} at position {position} in '{expression}' (at {path})")]
    InvalidExpression {
        path: String,
        expression: String,
        /// 1-based character position in `expression`, counting the leading `[`.
        position: usize,
        reason: String,
    },

    /// A parameter definition declares a type Azure Policy does not have.
    #[error(
        "the policy parameter '{name}' has the type '{declared}'; the allowed parameter definition types are \
         'String,Array,Object,Boolean,Integer,Float,DateTime'"
    )]
    InvalidParameterType { name: String, declared: String },

    /// A parameter definition whose `defaultValue` or `allowedValues` does not fit its own type.
    #[error("the policy parameter '{name}' is defined inconsistently: {reason}")]
    InvalidParameterDefinition { name: String, reason: String },

    /// The assignment gives parameters the definition does not declare.
    #[error("the policy assignment has the parameter(s) '{}' which are not defined in the policy definition", names.join(","))]
    UndefinedParameter { names: Vec<String> },

    /// The assignment leaves out parameters that have no `defaultValue`.
    #[error("the policy assignment is missing the parameter(s) '{}' which have no default value", names.join(","))]
    MissingParameter { names: Vec<String> },

    /// An assignment parameter whose value is not of the declared type.
    #[error("the value of the policy parameter '{name}' is not of the expected type '{expected}'")]
    ParameterTypeMismatch { name: String, expected: ParameterType },

    /// An assignment parameter not written as `{"value": ...}`.
    #[error("the policy parameter '{name}' must be given as an object with a 'value' property")]
    MalformedParameterValue { name: String },

    /// An assignment parameter whose value is not one of the definition's `allowedValues`.
    #[error("the value of the policy parameter '{name}' is not one of its allowed values")]
    ParameterValueNotAllowed { name: String },
}

impl PolicyError {
    /// The ARM error code for this error, as Azure Policy returns it.
    ///
    /// `UndefinedPolicyParameter`, `MissingPolicyParameter`, `InvalidPolicyParameters`,
    /// `PolicyParameterValueNotAllowed`, `InvalidPolicyParameterType` and `InvalidPolicyRule` are the codes Azure
    /// Policy answers with (seen in Azure/azure-powershell's policy tests and in deployment logs quoted in
    /// Azure/data-management-zone#319); a definition document that is not shaped like one is ARM's generic
    /// `InvalidRequestContent`.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::InvalidDefinition { .. } => "InvalidRequestContent",
            PolicyError::InvalidRule { .. } | PolicyError::InvalidExpression { .. } => "InvalidPolicyRule",
            PolicyError::InvalidParameterType { .. } => "InvalidPolicyParameterType",
            PolicyError::InvalidParameterDefinition { .. } => "InvalidPolicyParameters",
            PolicyError::UndefinedParameter { .. } => "UndefinedPolicyParameter",
            PolicyError::MissingParameter { .. } => "MissingPolicyParameter",
            PolicyError::ParameterTypeMismatch { .. } | PolicyError::MalformedParameterValue { .. } => {
                "InvalidPolicyParameters"
            }
            PolicyError::ParameterValueNotAllowed { .. } => "PolicyParameterValueNotAllowed",
        }
    }

    pub(crate) fn rule(path: &str, reason: impl Into<String>) -> PolicyError {
        PolicyError::InvalidRule {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn definition(path: &str, reason: impl Into<String>) -> PolicyError {
        PolicyError::InvalidDefinition {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Which language an evaluation failed in: it decides the ARM code of an [`EvalError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalStage {
    /// The policy rule: `if`, `existenceCondition`, `details.name`, `then.effect`, deployment parameter values.
    Policy,
    /// The deployment template: parameters, variables, resources.
    Template,
}

/// Evaluating a rule or rendering a deployment failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An expression failed while evaluating (wrong argument type, missing parameter, ...).
    #[error("{message} in '{expression}' (at {location})")]
    Expression {
        stage: EvalStage,
        expression: String,
        location: String,
        message: String,
    },

    /// A condition, a template parameter or a resource is unusable as evaluated (operand of the wrong type, a
    /// resource name that is not a string, ...).
    #[error("{message} (at {location})")]
    Invalid {
        stage: EvalStage,
        location: String,
        message: String,
    },

    /// A Key Vault reference in the deployment parameters has no resolved secret in the map given to
    /// [`crate::PreparedDeployment::render`].
    #[error("the Key Vault reference for the template parameter '{parameter}' was not resolved")]
    UnresolvedKeyVaultReference { parameter: String },
}

impl EvalError {
    /// The ARM error code: `InvalidPolicyRule` for the policy side, `InvalidTemplate` for the template, and
    /// `KeyVaultParameterReferenceSecretRetrieveFailed` (ARM's code when a referenced secret cannot be read) for a
    /// Key Vault reference without a value.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::Expression { stage, .. } | EvalError::Invalid { stage, .. } => match stage {
                EvalStage::Policy => "InvalidPolicyRule",
                EvalStage::Template => "InvalidTemplate",
            },
            EvalError::UnresolvedKeyVaultReference { .. } => "KeyVaultParameterReferenceSecretRetrieveFailed",
        }
    }

    pub(crate) fn invalid(stage: EvalStage, location: &str, message: impl Into<String>) -> EvalError {
        EvalError::Invalid {
            stage,
            location: location.to_owned(),
            message: message.into(),
        }
    }
}
