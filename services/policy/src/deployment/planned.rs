//! [`PlannedResource`]: one resource a rendered deployment creates or updates, ready for the server's PUT.
//!
//! Its body carries resolved secrets (in `configurationProtectedSettings`), so its `Debug` shows the body's shape
//! — keys, numbers, booleans, nulls — with every string replaced by `"<redacted>"`.

use std::fmt;

use serde_json::Value;

/// A resource to PUT.
#[derive(Clone, PartialEq)]
pub struct PlannedResource {
    /// The full ARM id, e.g. `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c1/
    /// providers/Microsoft.KubernetesConfiguration/fluxConfigurations/cfg`.
    pub id: String,
    /// The id of the parent scope the resource is created under (the cluster for extension resources, else the
    /// resource group).
    pub scope: String,
    /// The resource's own type, e.g. `Microsoft.KubernetesConfiguration/fluxConfigurations`.
    pub resource_type: String,
    /// The resource's own name (`parent/child` for a nested resource).
    pub name: String,
    pub api_version: String,
    /// What ARM sends as the PUT body: every property of the template resource except `type`, `name`,
    /// `apiVersion`, `scope`, `condition`, `comments` and `dependsOn` — typically `properties` and `identity`.
    /// Explicit `null`s are kept.
    pub body: Value,
}

impl fmt::Debug for PlannedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlannedResource")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("resource_type", &self.resource_type)
            .field("name", &self.name)
            .field("api_version", &self.api_version)
            .field("body", &Redacted(&self.body))
            .finish()
    }
}

/// A JSON value printed with its strings hidden.
struct Redacted<'a>(&'a Value);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(_) => f.write_str("\"<redacted>\""),
            Value::Array(items) => f.debug_list().entries(items.iter().map(Redacted)).finish(),
            Value::Object(object) => f
                .debug_map()
                .entries(object.iter().map(|(k, v)| (k, Redacted(v))))
                .finish(),
            scalar => write!(f, "{scalar}"),
        }
    }
}
