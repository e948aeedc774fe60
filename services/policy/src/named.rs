//! [`NamedValues`]: an ordered list of named JSON values, looked up case-insensitively.
//!
//! ARM and Azure Policy match parameter and variable names without regard to case (the built-in HTTPS
//! definition declares `repositoryHttpsCACert` and reads `parameters('repositoryhttpsCACert')`), so every name
//! lookup in the crate goes through here.

use serde_json::Value;

/// Named values in declaration order; [`NamedValues::get`] ignores ASCII case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedValues {
    entries: Vec<(String, Value)>,
}

impl NamedValues {
    pub fn new() -> NamedValues {
        NamedValues::default()
    }

    /// The value named `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Sets `name`, replacing an entry of the same name in any case.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
