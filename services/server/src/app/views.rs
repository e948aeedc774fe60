//! Resources and operations as ARM shows them, in the newest api-version (the HTTP layer cuts them to the
//! requested one). Write-only values are never here: specs do not hold them.

use serde_json::{Value, json};

use clusterconfig_model::arm::{OperationStatusResult, ProvisioningState};
use clusterconfig_model::catalog::Catalog;
use clusterconfig_model::error::ErrorDetail;
use clusterconfig_model::extension::ExtensionProperties;
use clusterconfig_model::flux::spec::strip_nulls;
use clusterconfig_model::flux::wire::{FluxComplianceState, FluxConfigurationProperties};
use clusterconfig_model::ids::{ClusterId, ResourceType};
use clusterconfig_store::{OperationRecord, ResourceRecord};

use super::documents::{ExtensionDocument, FluxDocument, SourceControlDocument};
use super::{ResourceView, type_of};

fn envelope(
    cluster: &ClusterId,
    resource_type: ResourceType,
    name: &str,
    system_data: &impl serde::Serialize,
) -> Value {
    json!({
        "id": cluster.resource_id(resource_type, name),
        "name": name,
        "type": resource_type.arm_type(),
        "systemData": system_data,
    })
}

fn finish(mut body: Value, record: &ResourceRecord) -> ResourceView {
    strip_nulls(&mut body);
    ResourceView {
        body,
        etag: quoted(&record.etag.0),
    }
}

/// An ETag header value.
pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub fn flux(cluster: &ClusterId, record: &ResourceRecord, doc: &FluxDocument) -> ResourceView {
    let pending = !doc.provisioning_state.is_terminal();
    let status = &doc.status;
    let properties = FluxConfigurationProperties {
        statuses: Some(status.statuses.clone()),
        repository_public_key: status.repository_public_key.clone(),
        source_synced_commit_id: status.source_synced_commit_id.clone(),
        source_updated_at: status.source_updated_at,
        status_updated_at: status.status_updated_at,
        // Until an agent acknowledges the current generation, its compliance is not known.
        compliance_state: Some(if pending {
            FluxComplianceState::Pending
        } else {
            status.compliance_state.unwrap_or(FluxComplianceState::Unknown)
        }),
        provisioning_state: Some(doc.provisioning_state),
        error_message: doc.error.as_ref().map(error_message),
        ..doc.spec.render()
    };
    let mut body = envelope(
        cluster,
        ResourceType::FluxConfigurations,
        &doc.name,
        &doc.system_data,
    );
    body["properties"] = serde_json::to_value(properties).expect("wire types serialize");
    finish(body, record)
}

/// An extension; the catalog in force says whether the version it runs is still supported.
pub fn extension(
    cluster: &ClusterId,
    record: &ResourceRecord,
    doc: &ExtensionDocument,
    catalog: &Catalog,
) -> ResourceView {
    let rendered = doc.spec.render_envelope(false);
    let status = &doc.status;
    let statuses = status
        .statuses
        .iter()
        .cloned()
        .chain(doc.spec.support_warning(catalog))
        .collect();
    let properties = ExtensionProperties {
        current_version: status.current_version.clone(),
        installed_version: status.current_version.clone(),
        provisioning_state: Some(doc.provisioning_state),
        statuses: Some(statuses),
        error_info: doc.error.clone(),
        is_system_extension: Some(false),
        ..rendered.properties.expect("rendered")
    };
    let mut body = envelope(cluster, ResourceType::Extensions, &doc.name, &doc.system_data);
    body["properties"] = serde_json::to_value(properties).expect("wire types serialize");
    if let Some(identity) = rendered.identity {
        body["identity"] = serde_json::to_value(identity).expect("serializes");
    }
    if let Some(plan) = rendered.plan {
        body["plan"] = serde_json::to_value(plan).expect("serializes");
    }
    if let Some(managed_by) = rendered.managed_by {
        body["managedBy"] = Value::String(managed_by);
    }
    finish(body, record)
}

pub fn source_control(
    cluster: &ClusterId,
    record: &ResourceRecord,
    doc: &SourceControlDocument,
) -> ResourceView {
    let mut body = envelope(
        cluster,
        ResourceType::SourceControlConfigurations,
        &doc.name,
        &doc.system_data,
    );
    body["properties"] = serde_json::to_value(&doc.spec.properties).expect("serializes");
    finish(body, record)
}

fn error_message(error: &ErrorDetail) -> String {
    error
        .details
        .first()
        .map(|d| d.message.clone())
        .unwrap_or_else(|| error.message.clone())
}

/// An operation's status document: `{id, name, status, startTime, endTime, properties, error}`.
#[derive(Debug, Clone)]
pub struct OperationView(pub OperationStatusResult);

pub fn operation(cluster: &ClusterId, op: &OperationRecord, display_name: &str) -> OperationView {
    let resource_id = cluster.resource_id(type_of(op.kind), display_name);
    OperationView(OperationStatusResult {
        id: format!("{resource_id}/operations/{}", op.id),
        name: op.id.to_string(),
        status: op.status.clone(),
        start_time: op.started_at,
        end_time: op.ended_at,
        properties: Default::default(),
        error: op
            .error
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok()),
    })
}

/// The provisioning state a new operation puts a resource in.
pub fn running_state(action: &str) -> ProvisioningState {
    match action {
        "create" => ProvisioningState::Creating,
        "delete" => ProvisioningState::Deleting,
        _ => ProvisioningState::Updating,
    }
}
