//! Shapes every resource of this provider shares: systemData, provisioning states, list pages, operation status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorDetail;

crate::arm_enum! {
    /// `provisioningState` of fluxConfigurations and extensions.
    pub enum ProvisioningState {
        Succeeded = "Succeeded",
        Failed = "Failed",
        Canceled = "Canceled",
        Creating = "Creating",
        Updating = "Updating",
        Deleting = "Deleting",
    }
}

impl ProvisioningState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

crate::arm_enum! {
    /// Who made a change, as ARM's `systemData` records it.
    pub enum CreatedByType {
        User = "User",
        Application = "Application",
        ManagedIdentity = "ManagedIdentity",
        Key = "Key",
    }
}

/// ARM `systemData`: who created and last changed the resource, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SystemData {
    pub created_by: Option<String>,
    pub created_by_type: Option<CreatedByType>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_modified_by: Option<String>,
    pub last_modified_by_type: Option<CreatedByType>,
    pub last_modified_at: Option<DateTime<Utc>>,
}

impl SystemData {
    /// The systemData after a user-visible change by `actor` (created fields kept from `previous`).
    pub fn changed(previous: Option<&SystemData>, actor: &SystemData) -> SystemData {
        match previous {
            None => SystemData {
                created_by: actor
                    .created_by
                    .clone()
                    .or_else(|| actor.last_modified_by.clone()),
                created_by_type: actor.created_by_type.or(actor.last_modified_by_type),
                created_at: actor.created_at.or(actor.last_modified_at),
                last_modified_by: actor
                    .last_modified_by
                    .clone()
                    .or_else(|| actor.created_by.clone()),
                last_modified_by_type: actor.last_modified_by_type.or(actor.created_by_type),
                last_modified_at: actor.last_modified_at.or(actor.created_at),
            },
            Some(previous) => SystemData {
                created_by: previous.created_by.clone(),
                created_by_type: previous.created_by_type,
                created_at: previous.created_at,
                last_modified_by: actor
                    .last_modified_by
                    .clone()
                    .or_else(|| actor.created_by.clone()),
                last_modified_by_type: actor.last_modified_by_type.or(actor.created_by_type),
                last_modified_at: actor.last_modified_at.or(actor.created_at),
            },
        }
    }
}

/// A page of a list: `{"value": [...], "nextLink": "..."}`; the last page has no `nextLink`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<T> {
    pub value: Vec<T>,
    /// The next page, with an opaque $skipToken; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// The body of an `Azure-AsyncOperation` status: `OperationStatusResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatusResult {
    pub id: String,
    pub name: String,
    /// `Succeeded`, `Failed`, `Canceled`, or while running the resource's state (`Creating`, `Updating`, `Deleting`).
    pub status: String,
    pub start_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// An item of `GET /providers/Microsoft.KubernetesConfiguration/operations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderOperation {
    pub name: String,
    pub display: ProviderOperationDisplay,
    pub is_data_action: bool,
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderOperationDisplay {
    pub provider: String,
    pub resource: String,
    pub operation: String,
    pub description: String,
}

/// The operations (RBAC actions) of this provider.
pub fn provider_operations() -> Vec<ProviderOperation> {
    const NS: &str = "Microsoft.KubernetesConfiguration";
    let entry = |name: &str, resource: &str, operation: &str, description: &str| ProviderOperation {
        name: format!("{NS}/{name}"),
        display: ProviderOperationDisplay {
            provider: NS.to_owned(),
            resource: resource.to_owned(),
            operation: operation.to_owned(),
            description: description.to_owned(),
        },
        is_data_action: false,
        origin: "user,system".to_owned(),
    };
    vec![
        entry(
            "register/action",
            "Microsoft.KubernetesConfiguration",
            "Register",
            "Registers the subscription for the Microsoft.KubernetesConfiguration resource provider.",
        ),
        entry(
            "fluxConfigurations/read",
            "fluxConfigurations",
            "Read",
            "Gets Flux configurations of a cluster.",
        ),
        entry(
            "fluxConfigurations/write",
            "fluxConfigurations",
            "Write",
            "Creates or updates a Flux configuration.",
        ),
        entry(
            "fluxConfigurations/delete",
            "fluxConfigurations",
            "Delete",
            "Deletes a Flux configuration.",
        ),
        entry(
            "fluxConfigurations/operations/read",
            "fluxConfigurations",
            "Read operation status",
            "Gets the status of an asynchronous operation on a Flux configuration.",
        ),
        entry(
            "extensions/read",
            "extensions",
            "Read",
            "Gets extensions of a cluster.",
        ),
        entry(
            "extensions/write",
            "extensions",
            "Write",
            "Creates or updates an extension.",
        ),
        entry(
            "extensions/delete",
            "extensions",
            "Delete",
            "Deletes an extension.",
        ),
        entry(
            "extensions/operations/read",
            "extensions",
            "Read operation status",
            "Gets the status of an asynchronous operation on an extension.",
        ),
        entry(
            "sourceControlConfigurations/read",
            "sourceControlConfigurations",
            "Read",
            "Gets Flux v1 source control configurations.",
        ),
        entry(
            "sourceControlConfigurations/write",
            "sourceControlConfigurations",
            "Write",
            "Flux v1 is retired: writes are refused.",
        ),
        entry(
            "sourceControlConfigurations/delete",
            "sourceControlConfigurations",
            "Delete",
            "Deletes a Flux v1 source control configuration.",
        ),
        entry(
            "extensionTypes/read",
            "extensionTypes",
            "Read",
            "Gets the extension types that can be installed.",
        ),
    ]
}
