//! The effect of a rule (`then.effect`), usually `"[parameters('effect')]"`, resolved with the bound parameters.
//!
//! Effect names are case-insensitive (the Flux v1 built-ins allow both `deployIfNotExists` and
//! `DeployIfNotExists`). This service acts on `deployIfNotExists`, `auditIfNotExists` and `disabled`; Azure's other
//! effects (Microsoft Learn "Azure Policy definitions effect basics",
//! <https://learn.microsoft.com/azure/governance/policy/concepts/effect-basics>) resolve to
//! [`Effect::Unsupported`] so the caller can refuse them by name; anything else is an error.

use std::fmt;

/// A policy effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    DeployIfNotExists,
    AuditIfNotExists,
    Disabled,
    /// An Azure Policy effect this service does not carry out, by its canonical name (`audit`, `deny`, ...).
    Unsupported(&'static str),
}

/// Effects this service does not carry out, by canonical name.
const UNSUPPORTED_EFFECTS: [&str; 8] = [
    "audit",
    "deny",
    "modify",
    "append",
    "denyAction",
    "manual",
    "mutate",
    "addToNetworkGroup",
];

impl Effect {
    /// The effect called `name`, ignoring case; `None` if Azure Policy has no such effect.
    pub fn from_name(name: &str) -> Option<Effect> {
        let supported = [
            ("deployIfNotExists", Effect::DeployIfNotExists),
            ("auditIfNotExists", Effect::AuditIfNotExists),
            ("disabled", Effect::Disabled),
        ];
        if let Some((_, effect)) = supported.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Some(effect);
        }
        UNSUPPORTED_EFFECTS
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(|n| Effect::Unsupported(n))
    }

    /// The canonical name (`deployIfNotExists`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Effect::DeployIfNotExists => "deployIfNotExists",
            Effect::AuditIfNotExists => "auditIfNotExists",
            Effect::Disabled => "disabled",
            Effect::Unsupported(name) => name,
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
