//! The OpenAPI documents of the two APIs, derived from the handlers: each handler's `#[utoipa::path]` names
//! its route, request body and responses with the headers they carry (`routes::api_routes` collects them);
//! this module adds what every route of an API shares (path parameter rules, api-versions, the ARM query and
//! header parameters, security, the ARM error answer, what each header means). They are committed in
//! `api-specs/` and a test keeps them equal to what this generates, so they cannot drift.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder,
};

use clusterconfig_model::error::ErrorResponse;

use clusterconfig_model::api_version::{ApiSurface, SUBSCRIPTION_NOTIFICATION_VERSION};
use clusterconfig_model::ids::{ClusterKind, ResourceType};

use super::routes::{Api, api_routes};

/// The answer of a write that started an operation.
pub const ACCEPTED: &str =
    "Accepted: the operation runs; poll the Azure-AsyncOperation URL (or the Location URL).";

/// What each response header a handler names means.
const HEADERS: &[(&str, &str)] = &[
    (
        "ETag",
        "The resource's etag (If-Match takes it); for the desired state, its version.",
    ),
    (
        "Azure-AsyncOperation",
        "The operation's status URL: poll it until its status is Succeeded, Failed or Canceled.",
    ),
    (
        "Location",
        "The operation's result URL: 202 while it runs, then its outcome (ARM requires it on every 202).",
    ),
    ("Retry-After", "Seconds to wait before polling again."),
    (
        "x-ms-async-operation-timeout",
        "How long the operation may run (ISO 8601): the pending-change timeout.",
    ),
    ("Cache-Control", "no-store: the body may carry secret values."),
];

/// Registers `T` and every schema it refers to.
trait WithSchema {
    fn with<T: utoipa::ToSchema>(self) -> Self;
}

impl WithSchema for ComponentsBuilder {
    fn with<T: utoipa::ToSchema>(self) -> Self {
        let mut dependencies = Vec::new();
        T::schemas(&mut dependencies);
        self.schema_from::<T>().schemas_from_iter(dependencies)
    }
}

fn parameter(
    name: &str,
    location: ParameterIn,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    parameter_with(
        name,
        location,
        required,
        description,
        ObjectBuilder::new().schema_type(Type::String),
    )
}

fn parameter_with(
    name: &str,
    location: ParameterIn,
    required: bool,
    description: &str,
    schema: ObjectBuilder,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// A string parameter's schema with the rule the server enforces, so that a request the description allows is
/// one the server takes (names as `clusterconfig_model::ids` checks them).
fn path_schema(name: &str, path: &str) -> ObjectBuilder {
    let string = ObjectBuilder::new().schema_type(Type::String);
    let (providers, types): (Vec<&str>, Vec<&str>) = ClusterKind::ALL
        .iter()
        .filter_map(|kind| kind.as_str().split_once('/'))
        .unzip();
    // DNS-1123 names: letters (matched case-insensitively), digits, '-' (and '.' where allowed), alphanumeric
    // at both ends.
    let dns = |max: usize, dots: bool| {
        let middle = if dots { "A-Za-z0-9.-" } else { "A-Za-z0-9-" };
        format!("^[A-Za-z0-9]([{middle}]{{0,{}}}[A-Za-z0-9])?$", max - 2)
    };
    match name {
        "subscriptionId" => string.pattern(Some("^[A-Za-z0-9-]{1,64}$")),
        "resourceGroupName" => string.pattern(Some("^[-\\w._()]{0,89}[-\\w_()]$")),
        "clusterRp" => string.enum_values(Some(providers)),
        "clusterResourceName" => string.enum_values(Some(types)),
        "clusterName" => string
            .min_length(Some(1))
            .max_length(Some(260))
            .pattern(Some("^[^<>%&:\\\\?/\\u0000-\\u001f\\u007f]+$")),
        "name" if path.contains("/fluxConfigurations/") => string.pattern(Some(dns(63, true))),
        "name" if path.contains("/extensions/") => string.pattern(Some(dns(253, true))),
        "name" if path.contains("/sourceControlConfigurations/") => string.pattern(Some(dns(63, false))),
        "operationId" => string.pattern(Some(
            "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
        )),
        _ => string,
    }
}

/// A value of a path parameter that addresses a real cluster (for the examples a tool tries).
fn path_example(name: &str) -> Option<serde_json::Value> {
    Some(serde_json::Value::from(match name {
        "subscriptionId" => "00000000-0000-0000-0000-000000000000",
        "resourceGroupName" => "examples",
        "clusterRp" => "Microsoft.Kubernetes",
        "clusterResourceName" => "connectedClusters",
        "clusterName" => "example-cluster",
        "name" => "example",
        "extensionTypeName" => "microsoft.flux",
        "versionNumber" => "1.23.0",
        "location" => "eastus",
        _ => return None,
    }))
}

fn path_parameters(path: &str) -> Vec<utoipa::openapi::path::Parameter> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let description = match name {
                "subscriptionId" => "The subscription of the cluster.",
                "resourceGroupName" => "The resource group of the cluster.",
                "clusterRp" => "The cluster's resource provider; with clusterResourceName, one of Microsoft.ContainerService/managedClusters, Microsoft.Kubernetes/connectedClusters, Microsoft.HybridContainerService/provisionedClusters or Microsoft.ResourceConnector/appliances (400 ClusterNotSupported otherwise).",
                "clusterResourceName" => "The cluster's resource type (see clusterRp for the pairs).",
                "clusterName" => "The cluster's name.",
                "name" => "The resource's name (matched case-insensitively).",
                "operationId" => "The operation's id, from the Azure-AsyncOperation URL.",
                "extensionTypeName" => "The extension type (matched case-insensitively).",
                "versionNumber" => "A version of the extension type.",
                "location" => "An Azure location.",
                _ => "",
            };
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(path_schema(name, path)))
                .example(path_example(name))
                .build()
        })
        .collect()
}

/// The api-versions a route serves, as its request names them.
fn api_versions(path: &str) -> Vec<&'static str> {
    if path.starts_with(
        "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/extensionTypes",
    ) {
        return super::arm::extension_types::SUBSCRIPTION_EXTENSION_TYPES_VERSIONS.to_vec();
    }
    if path.contains("/extensionTypes") {
        return clusterconfig_model::extension_types::EXTENSION_TYPES_API_VERSIONS.to_vec();
    }
    let surface = if path.starts_with("/providers/") {
        ApiSurface::ProviderOperations
    } else if path.contains("/fluxConfigurations") {
        ApiSurface::Resource(ResourceType::FluxConfigurations)
    } else if path.contains("/sourceControlConfigurations") {
        ApiSurface::Resource(ResourceType::SourceControlConfigurations)
    } else if path.contains("/extensions") {
        ApiSurface::Resource(ResourceType::Extensions)
    } else {
        ApiSurface::ClusterOperations
    };
    surface.supported().iter().map(|v| v.as_str()).collect()
}

/// The parameters every route of `api` shares, by method and kind of operation.
fn shared_parameters(
    api: Api,
    path: &str,
    method: &str,
    operation: &Operation,
) -> Vec<utoipa::openapi::path::Parameter> {
    let operation_id = operation.operation_id.as_deref().unwrap_or_default();
    let mut parameters = path_parameters(path);
    match api {
        Api::Arm => {
            let versions = if operation_id == "Subscriptions_Notify" {
                vec![SUBSCRIPTION_NOTIFICATION_VERSION]
            } else {
                api_versions(path)
            };
            parameters.push(parameter_with(
                "api-version",
                ParameterIn::Query,
                true,
                "An api-version this resource type serves (400 MissingApiVersionParameter / InvalidApiVersionParameter list them).",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(versions)),
            ));
            if method == "DELETE" {
                parameters.push(parameter(
                    "forceDelete",
                    ParameterIn::Query,
                    false,
                    "true: delete at once, without the cluster's agent.",
                ));
            }
            // The catalog's lists are one page: they take no paging parameters.
            if operation_id.ends_with("_List") && !path.contains("/extensionTypes") {
                parameters.push(parameter(
                    "$skipToken",
                    ParameterIn::Query,
                    false,
                    "Where the previous page ended (from nextLink).",
                ));
                parameters.push(parameter(
                    "$top",
                    ParameterIn::Query,
                    false,
                    "Items per page, 1-1000.",
                ));
            }
            if matches!(method, "PUT" | "PATCH" | "DELETE") && operation_id != "Subscriptions_Notify" {
                parameters.push(parameter(
                    "If-Match",
                    ParameterIn::Header,
                    false,
                    "An ETag the resource must have, or * (it must exist).",
                ));
                parameters.push(parameter(
                    "If-None-Match",
                    ParameterIn::Header,
                    false,
                    "* : the resource must not exist.",
                ));
            }
        }
        Api::DataPlane if operation_id == "DesiredState_Get" => {
            parameters.push(parameter(
                "If-None-Match",
                ParameterIn::Header,
                false,
                "\"<version>\" the agent holds: answer 304 if it is still current.",
            ));
            parameters.push(parameter(
                "Prefer",
                ParameterIn::Header,
                false,
                "wait=<seconds> (at most 300): with If-None-Match, wait that long for a newer version.",
            ));
        }
        Api::Policy => {
            let versions = if path.contains("/remediations") {
                super::policy::REMEDIATION_VERSIONS.to_vec()
            } else if path.contains("/Microsoft.PolicyInsights/") {
                super::policy::POLICY_STATES_VERSIONS.to_vec()
            } else if path.starts_with("/operator/") {
                Vec::new()
            } else {
                super::policy::AUTHORIZATION_VERSIONS.to_vec()
            };
            if !versions.is_empty() {
                parameters.push(parameter_with(
                    "api-version",
                    ParameterIn::Query,
                    true,
                    "An api-version this surface serves (400 MissingApiVersionParameter / InvalidApiVersionParameter list them).",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(versions)),
                ));
            }
            if method == "GET" && operation_id.contains("_List") || operation_id.contains("ListDeployments") {
                parameters.push(parameter(
                    "$skipToken",
                    ParameterIn::Query,
                    false,
                    "Where the previous page ended (from nextLink).",
                ));
                parameters.push(parameter(
                    "$top",
                    ParameterIn::Query,
                    false,
                    "Items per page, 1-1000.",
                ));
            }
            if operation_id.starts_with("PolicyStates_ListQueryResults")
                || operation_id.starts_with("PolicyStates_Summarize")
            {
                parameters.push(parameter(
                    "$filter",
                    ParameterIn::Query,
                    false,
                    "OData: field eq 'value' (or ne), joined with and.",
                ));
                parameters.push(parameter(
                    "$top",
                    ParameterIn::Query,
                    false,
                    "At most this many results, 1-1000.",
                ));
                if operation_id.starts_with("PolicyStates_ListQueryResults") {
                    parameters.push(parameter(
                        "$skipToken",
                        ParameterIn::Query,
                        false,
                        "Where the previous page ended (from @odata.nextLink).",
                    ));
                }
            }
        }
        Api::DataPlane | Api::Health => {}
    }
    parameters
}

/// Adds to every operation of `document` (the routes of `api`) what all of them share.
fn apply_shared_rules(api: Api, document: &mut OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        for (method, operation) in operations(item) {
            let parameters = shared_parameters(api, path, method, operation);
            let mut all = parameters;
            all.extend(operation.parameters.take().unwrap_or_default());
            operation.parameters = Some(all);
            let scheme = match api {
                Api::Arm | Api::Policy => Some("armToken"),
                Api::DataPlane => Some("agentToken"),
                Api::Health => None,
            };
            if let Some(scheme) = scheme {
                operation.security = Some(vec![SecurityRequirement::new(scheme, Vec::<String>::new())]);
            }
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    for (name, header) in response.headers.iter_mut() {
                        header.description = HEADERS
                            .iter()
                            .find(|(known, _)| known.eq_ignore_ascii_case(name))
                            .map(|(_, description)| description.to_string());
                    }
                }
            }
            let error = ResponseBuilder::new()
                .description("An ARM error: {\"error\": {\"code\", \"message\", \"target\"}}.")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorResponse"))))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert("default".to_owned(), RefOr::T(error));
        }
    }
}

/// A path item's operations with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("DELETE", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

fn document(title: &str, description: &str, api: Api) -> OpenApi {
    let mut document = api_routes(api).into_openapi();
    apply_shared_rules(api, &mut document);
    let mut health = api_routes(Api::Health).into_openapi();
    apply_shared_rules(Api::Health, &mut health);
    document.merge(health);
    let bearer = || {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        )
    };
    let mut components = document.components.take().unwrap_or_default();
    let shared = ComponentsBuilder::new()
        .with::<ErrorResponse>()
        .security_scheme("armToken", bearer())
        .security_scheme("agentToken", bearer())
        .build();
    components.schemas.extend(shared.schemas);
    components.security_schemes.extend(shared.security_schemes);
    document.components = Some(components);
    document.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .build();
    document
}

/// The ARM API of Microsoft.KubernetesConfiguration (in the newest api-versions: fluxConfigurations 2025-04-01,
/// extensions 2025-03-01).
pub fn arm() -> OpenApi {
    document(
        "Microsoft.KubernetesConfiguration (clusterconfig)",
        "GitOps (Flux v2) configurations and cluster extensions for AKS and Azure Arc-enabled Kubernetes. Writes are long-running operations that the cluster's agent completes.",
        Api::Arm,
    )
}

/// Azure Policy's surface as the service serves it, and the operator's cluster inventory.
pub fn policy() -> OpenApi {
    document(
        "Azure Policy at scale (clusterconfig)",
        "Microsoft.Authorization policy definitions and assignments, Microsoft.PolicyInsights remediations and policy states, evaluated and remediated by the service itself; and the cluster inventory (/operator/v1).",
        Api::Policy,
    )
}

/// The data plane agents use (pull only): desired state and reports.
pub fn dataplane() -> OpenApi {
    document(
        "clusterconfig agent data plane",
        "What in-cluster agents use: long-poll the cluster's desired state (GET desiredState with If-None-Match and Prefer: wait), apply it, and report each generation. Agent tokens are bound to one cluster.",
        Api::DataPlane,
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn spec_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../api-specs")
            .join(name)
    }

    /// `api-specs/` holds exactly what the code generates. After an API change, regenerate with
    /// `UPDATE_API_SPECS=1 cargo test -p clusterconfig-server openapi` and review the diff.
    #[test]
    fn api_specs_match_the_code() {
        for (file, document) in [
            ("arm.yaml", arm()),
            ("policy.yaml", policy()),
            ("dataplane.yaml", dataplane()),
        ] {
            let generated = document.to_yaml().expect("serializes");
            let path = spec_path(file);
            if std::env::var_os("UPDATE_API_SPECS").is_some() {
                std::fs::write(&path, &generated).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "api-specs/{file} is out of date: run UPDATE_API_SPECS=1 cargo test -p clusterconfig-server openapi"
            );
        }
    }
}
