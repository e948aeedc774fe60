//! The ARM template language: expressions (`"[...]"`), their evaluation, and the template document of a
//! `deployIfNotExists` deployment.
//!
//! Azure Policy reuses ARM's expression language for its own expressions (`"[parameters('effect')]"`,
//! `"[field('name')]"`), so both go through the same parser ([`parser`]) and evaluator ([`eval`]); the
//! [`ContextKind`] decides which functions exist ([`functions`]).

pub mod ast;
pub mod document;
pub mod eval;
pub mod functions;
pub mod parser;
pub mod value;
pub mod values;

pub use ast::{Expr, Expression};
pub use document::{Template, TemplateParameter, TemplateParameterType, TemplateResource};
pub use eval::{EvalContext, ScopeInfo};
pub use functions::{FUNCTIONS, Function, FunctionInfo};
pub use value::{TemplateKey, TemplateValue};

/// Which language an expression belongs to, and so which functions it may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextKind {
    /// A policy rule: `field()` exists; `variables()` and `resourceId()` do not.
    Policy,
    /// A deployment template: `variables()` and `resourceId()` exist; `field()` does not.
    Template,
}
