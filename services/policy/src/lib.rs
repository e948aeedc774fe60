//! The Azure Policy rule language and the ARM template language, as Microsoft's built-in GitOps policy definitions
//! use them, so the server can evaluate and remediate those definitions itself. No I/O.
//!
//! The flow for one definition, one assignment and one cluster:
//!
//! ```text
//! let definition = PolicyDefinition::from_published(&file)?;            // or ::parse(&properties)
//! let params = definition.bind(&assignment_parameters)?;                 // UndefinedPolicyParameter, ...
//! if definition.rule.applies(&params, &cluster)? {                       // the `if`
//!     match definition.rule.effect(&params)? {                           // DeployIfNotExists / Disabled / ...
//!         Effect::DeployIfNotExists => {
//!             let details = definition.details().unwrap();
//!             if !details.is_compliant(&params, &cluster, &related)? {   // any related resource satisfying?
//!                 let prepared = details.deployment.as_ref().unwrap()
//!                     .plan(&params, &cluster, &DeploymentContext::new(sub, rg))?;
//!                 let secrets = fetch(prepared.key_vault_references()); // HashMap<KeyVaultReference, SecretValue>
//!                 for resource in prepared.render(&secrets)? { /* PUT resource.id with resource.body */ }
//!             }
//!         }
//!         _ => {}
//!     }
//! }
//! ```
//!
//! Modules: [`definition`] and [`parameters`] (reading and binding), [`rule`] (conditions, fields, aliases,
//! operators, effect, details), [`template`] (the expression language and the template document), [`deployment`]
//! (planning and rendering), [`secret`] (Key Vault references, redacted secrets), [`error`].
//!
//! Errors never contain evaluated values — only definition text, JSON paths and parameter names — because a
//! secret can flow through any expression.

mod datetime;
mod named;

pub mod definition;
pub mod deployment;
pub mod error;
pub mod parameters;
pub mod rule;
pub mod secret;
pub mod template;

pub use definition::{PolicyDefinition, PolicyMode};
pub use deployment::{
    Deployment, DeploymentContext, DeploymentParameter, PlannedResource, PreparedDeployment,
    PreparedParameter,
};
pub use error::{EvalError, EvalStage, PolicyError};
pub use named::NamedValues;
pub use parameters::{BoundParameters, ParameterDefinition, ParameterDefinitions, ParameterType};
pub use rule::{Condition, Details, Effect, EvaluationDelay, Operator, PolicyRule};
pub use secret::{KeyVaultReference, SecretValue};
