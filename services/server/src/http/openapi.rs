//! The OpenAPI documents of the two APIs, generated from the route table and the model's types. They are
//! committed in `api-specs/` and a test keeps them equal to what this generates, so they cannot drift.

use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    RefOr, Required, ResponseBuilder, Schema,
};

use clusterconfig_model::arm::{OperationStatusResult, ProviderOperation};
use clusterconfig_model::dataplane::{AgentFacts, DesiredState, ExtensionStatusReport, FluxStatusReport};
use clusterconfig_model::error::ErrorResponse;
use clusterconfig_model::extension::Extension;
use clusterconfig_model::flux::wire::FluxConfiguration;
use clusterconfig_model::scc::SourceControlConfiguration;

use clusterconfig_model::api_version::{ApiSurface, SUBSCRIPTION_NOTIFICATION_VERSION};
use clusterconfig_model::ids::{ClusterKind, ResourceType};

use super::routes::{Api, ROUTES, Route};

/// What a route takes and answers, for its documentation.
struct Shape {
    request: Option<&'static str>,
    responses: &'static [(u16, Option<Body>, &'static str)],
}

#[derive(Clone, Copy)]
enum Body {
    Schema(&'static str),
    ListOf(&'static str),
}

use Body::*;

fn shape(operation_id: &str) -> Shape {
    const ACCEPTED: &str =
        "Accepted: the operation runs; poll the Azure-AsyncOperation URL (or the Location URL).";
    match operation_id {
        "Operations_List" => Shape {
            request: None,
            responses: &[(
                200,
                Some(ListOf("ProviderOperation")),
                "The provider's operations.",
            )],
        },
        "Subscriptions_Notify" => Shape {
            request: Some("SubscriptionNotification"),
            responses: &[(
                200,
                Some(Schema("SubscriptionNotification")),
                "Recorded; the body is echoed.",
            )],
        },
        "OperationStatus_List" => Shape {
            request: None,
            responses: &[(
                200,
                Some(ListOf("OperationStatusResult")),
                "The cluster's running operations.",
            )],
        },
        "FluxConfigurations_List" => Shape {
            request: None,
            responses: &[(
                200,
                Some(ListOf("FluxConfiguration")),
                "One page of Flux configurations.",
            )],
        },
        "FluxConfigurations_Get" => Shape {
            request: None,
            responses: &[(200, Some(Schema("FluxConfiguration")), "The Flux configuration.")],
        },
        "FluxConfigurations_CreateOrUpdate" => Shape {
            request: Some("FluxConfiguration"),
            responses: &[
                (
                    200,
                    Some(Schema("FluxConfiguration")),
                    "Updated (with Azure-AsyncOperation), or unchanged (without).",
                ),
                (
                    201,
                    Some(Schema("FluxConfiguration")),
                    "Created; poll the Azure-AsyncOperation URL.",
                ),
            ],
        },
        "FluxConfigurations_Update" => Shape {
            request: Some("FluxConfiguration"),
            responses: &[
                (200, Some(Schema("FluxConfiguration")), "Nothing changed."),
                (202, Some(Schema("FluxConfiguration")), ACCEPTED),
            ],
        },
        "FluxConfigurations_Delete" | "Extensions_Delete" => Shape {
            request: None,
            responses: &[
                (200, None, "Deleted at once (forceDelete=true)."),
                (202, None, ACCEPTED),
                (204, None, "There was nothing to delete."),
            ],
        },
        "FluxConfigOperationStatus_Get" | "OperationStatus_Get" => Shape {
            request: None,
            responses: &[(
                200,
                Some(Schema("OperationStatusResult")),
                "The operation's status.",
            )],
        },
        "FluxConfigOperationResults_Get" | "ExtensionOperationResults_Get" => Shape {
            request: None,
            responses: &[
                (
                    200,
                    None,
                    "Succeeded: the resource as a GET returns it (PUT and PATCH).",
                ),
                (202, None, "Still running: poll again after Retry-After."),
                (204, None, "Succeeded: the resource was deleted."),
            ],
        },
        "Extensions_List" => Shape {
            request: None,
            responses: &[(200, Some(ListOf("Extension")), "One page of extensions.")],
        },
        "Extensions_Get" => Shape {
            request: None,
            responses: &[(200, Some(Schema("Extension")), "The extension.")],
        },
        "Extensions_Create" => Shape {
            request: Some("Extension"),
            responses: &[
                (
                    200,
                    Some(Schema("Extension")),
                    "Updated (with Azure-AsyncOperation), or unchanged (without).",
                ),
                (
                    201,
                    Some(Schema("Extension")),
                    "Created; poll the Azure-AsyncOperation URL.",
                ),
            ],
        },
        "Extensions_Update" => Shape {
            request: Some("Extension"),
            responses: &[
                (200, Some(Schema("Extension")), "Nothing changed."),
                (202, Some(Schema("Extension")), ACCEPTED),
            ],
        },
        "SourceControlConfigurations_List" => Shape {
            request: None,
            responses: &[(
                200,
                Some(ListOf("SourceControlConfiguration")),
                "One page of Flux v1 configurations.",
            )],
        },
        "SourceControlConfigurations_Get" => Shape {
            request: None,
            responses: &[(
                200,
                Some(Schema("SourceControlConfiguration")),
                "The Flux v1 configuration.",
            )],
        },
        "SourceControlConfigurations_CreateOrUpdate" => Shape {
            request: Some("SourceControlConfiguration"),
            responses: &[(
                400,
                Some(Schema("ErrorResponse")),
                "Always: FluxV1ConfigurationsRetired.",
            )],
        },
        "SourceControlConfigurations_Delete" => Shape {
            request: None,
            responses: &[
                (200, None, "Deleted."),
                (204, None, "There was nothing to delete."),
            ],
        },
        "DesiredState_Get" => Shape {
            request: None,
            responses: &[
                (
                    200,
                    Some(Schema("DesiredState")),
                    "The desired state; the ETag header is its version. Cache-Control: no-store (it may carry secret values).",
                ),
                (
                    304,
                    None,
                    "With If-None-Match: the version did not move (within the Prefer: wait time).",
                ),
            ],
        },
        "FluxConfigurationStatus_Report" => Shape {
            request: Some("FluxStatusReport"),
            responses: &[
                (200, Some(Schema("ReportOutcome")), "Recorded."),
                (
                    404,
                    Some(Schema("ErrorResponse")),
                    "The configuration no longer exists: remove its objects.",
                ),
                (
                    409,
                    Some(Schema("ErrorResponse")),
                    "StaleGeneration: a newer generation was already reported; this one is ignored.",
                ),
            ],
        },
        "ExtensionStatus_Report" => Shape {
            request: Some("ExtensionStatusReport"),
            responses: &[
                (200, Some(Schema("ReportOutcome")), "Recorded."),
                (
                    404,
                    Some(Schema("ErrorResponse")),
                    "The extension no longer exists.",
                ),
                (
                    409,
                    Some(Schema("ErrorResponse")),
                    "StaleGeneration: a newer generation was already reported; this one is ignored.",
                ),
            ],
        },
        "Agent_Report" => Shape {
            request: Some("AgentFacts"),
            responses: &[(204, None, "Recorded.")],
        },
        "Tasks_Status" => Shape {
            request: None,
            responses: &[(
                200,
                None,
                "Each task's period, runs, failures, last run and outcome.",
            )],
        },
        "Health_Live" | "Health_Ready" => Shape {
            request: None,
            responses: &[
                (200, None, "Healthy."),
                (503, None, "The store does not answer (readiness only)."),
            ],
        },
        other => unreachable!("no documentation for operation '{other}'"),
    }
}

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

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn body_schema(body: Body) -> RefOr<Schema> {
    match body {
        Schema(name) => reference(name),
        ListOf(item) => ObjectBuilder::new()
            .property("value", ArrayBuilder::new().items(reference(item)))
            .required("value")
            .property(
                "nextLink",
                ObjectBuilder::new().schema_type(Type::String).description(Some(
                    "The next page, with an opaque $skipToken; absent on the last page.",
                )),
            )
            .into(),
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

/// A request body the service accepts, for readers and for tools that try the examples (schemathesis then
/// creates real resources and checks the answers that describe them).
fn request_example(operation_id: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    match operation_id {
        "FluxConfigurations_CreateOrUpdate" => Some(json!({"properties": {
            "scope": "cluster",
            "namespace": "cluster-config",
            "sourceKind": "GitRepository",
            "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
            "kustomizations": {"infra": {"path": "./infrastructure", "prune": true}}
        }})),
        "FluxConfigurations_Update" => Some(json!({"properties": {"suspend": true}})),
        "Extensions_Create" => Some(json!({"properties": {
            "extensionType": "microsoft.flux",
            "autoUpgradeMinorVersion": true,
            "releaseTrain": "Stable",
            "scope": {"cluster": {"releaseNamespace": "flux-system"}}
        }})),
        "Extensions_Update" => Some(json!({"properties": {"autoUpgradeMinorVersion": false}})),
        "Subscriptions_Notify" => Some(json!({"state": "Registered", "properties": {"tenantId": "t"}})),
        _ => None,
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
fn api_versions(route: &Route) -> Vec<&'static str> {
    let surface = if route.path.starts_with("/providers/") {
        ApiSurface::ProviderOperations
    } else if route.path.contains("/fluxConfigurations") {
        ApiSurface::Resource(ResourceType::FluxConfigurations)
    } else if route.path.contains("/sourceControlConfigurations") {
        ApiSurface::Resource(ResourceType::SourceControlConfigurations)
    } else if route.path.contains("/extensions") {
        ApiSurface::Resource(ResourceType::Extensions)
    } else {
        ApiSurface::ClusterOperations
    };
    surface.supported().iter().map(|v| v.as_str()).collect()
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let shape = shape(route.operation_id);
    let mut builder = OperationBuilder::new()
        .operation_id(Some(route.operation_id))
        .summary(Some(route.summary));
    let mut parameters = path_parameters(route.path);
    match route.api {
        Api::Arm => {
            let versions = if route.operation_id == "Subscriptions_Notify" {
                vec![SUBSCRIPTION_NOTIFICATION_VERSION]
            } else {
                api_versions(route)
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
            if route.method == "DELETE" {
                parameters.push(parameter(
                    "forceDelete",
                    ParameterIn::Query,
                    false,
                    "true: delete at once, without the cluster's agent.",
                ));
            }
            if route.operation_id.ends_with("_List") {
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
            if matches!(route.method, "PUT" | "PATCH" | "DELETE")
                && route.operation_id != "Subscriptions_Notify"
            {
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
            builder = builder.security(SecurityRequirement::new("armToken", Vec::<String>::new()));
        }
        Api::DataPlane => {
            if route.operation_id == "DesiredState_Get" {
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
            builder = builder.security(SecurityRequirement::new("agentToken", Vec::<String>::new()));
        }
        Api::Health => {}
    }
    builder = builder.parameters(Some(parameters));
    if let Some(request) = shape.request {
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(reference(request)))
                        .example(request_example(route.operation_id))
                        .build(),
                )
                .required(Some(Required::True))
                .build(),
        ));
    }
    for (status, body, description) in shape.responses {
        let mut response = ResponseBuilder::new().description(*description);
        if let Some(body) = body {
            response = response.content(
                "application/json",
                ContentBuilder::new().schema(Some(body_schema(*body))).build(),
            );
        }
        builder = builder.response(status.to_string(), response.build());
    }
    let error = ResponseBuilder::new()
        .description("An ARM error: {\"error\": {\"code\", \"message\", \"target\"}}.")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(reference("ErrorResponse")))
                .build(),
        );
    builder.response("default", error.build()).build()
}

fn method(text: &str) -> HttpMethod {
    match text {
        "GET" => HttpMethod::Get,
        "PUT" => HttpMethod::Put,
        "POST" => HttpMethod::Post,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => unreachable!("route table uses method {other}"),
    }
}

fn document(title: &str, description: &str, apis: &[Api], components: ComponentsBuilder) -> OpenApi {
    let mut items: Vec<(&str, PathItemBuilder)> = Vec::new();
    for route in ROUTES.iter().filter(|r| apis.contains(&r.api)) {
        match items.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, item)) => *item = std::mem::take(item).operation(method(route.method), operation(route)),
            None => items.push((
                route.path,
                PathItemBuilder::new().operation(method(route.method), operation(route)),
            )),
        }
    }
    let paths = items
        .into_iter()
        .fold(PathsBuilder::new(), |paths, (path, item)| {
            paths.path(path, item.build())
        });
    let bearer = || {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        )
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            components
                .with::<ErrorResponse>()
                .security_scheme("armToken", bearer())
                .security_scheme("agentToken", bearer())
                .build(),
        ))
        .build()
}

/// The ARM API of Microsoft.KubernetesConfiguration (in the newest api-versions: fluxConfigurations 2025-04-01,
/// extensions 2025-03-01).
pub fn arm() -> OpenApi {
    let notification = ObjectBuilder::new()
        .property(
            "state",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Registered, Unregistered, Warned, Suspended or Deleted.")),
        )
        .required("state")
        .property("registrationDate", ObjectBuilder::new().schema_type(Type::String))
        .property("properties", ObjectBuilder::new())
        .description(Some("ARM's subscription lifecycle notification."));
    document(
        "Microsoft.KubernetesConfiguration (clusterconfig)",
        "GitOps (Flux v2) configurations and cluster extensions for AKS and Azure Arc-enabled Kubernetes. Writes are long-running operations that the cluster's agent completes.",
        &[Api::Arm, Api::Health],
        ComponentsBuilder::new()
            .with::<FluxConfiguration>()
            .with::<Extension>()
            .with::<SourceControlConfiguration>()
            .with::<OperationStatusResult>()
            .with::<ProviderOperation>()
            .schema("SubscriptionNotification", notification),
    )
}

/// The data plane agents use (pull only): desired state and reports.
pub fn dataplane() -> OpenApi {
    let outcome = ObjectBuilder::new()
        .property(
            "operationCompleted",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("The generation's ARM operation finished with this report.")),
        )
        .required("operationCompleted");
    document(
        "clusterconfig agent data plane",
        "What in-cluster agents use: long-poll the cluster's desired state (GET desiredState with If-None-Match and Prefer: wait), apply it, and report each generation. Agent tokens are bound to one cluster.",
        &[Api::DataPlane, Api::Health],
        ComponentsBuilder::new()
            .with::<DesiredState>()
            .with::<FluxStatusReport>()
            .with::<ExtensionStatusReport>()
            .with::<AgentFacts>()
            .schema("ReportOutcome", outcome),
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
        for (file, document) in [("arm.yaml", arm()), ("dataplane.yaml", dataplane())] {
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

    /// Every route the service serves is described in the committed documents, with its method.
    #[test]
    fn every_served_route_is_described() {
        let arm: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(spec_path("arm.yaml")).unwrap()).unwrap();
        let dataplane: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(spec_path("dataplane.yaml")).unwrap()).unwrap();
        for route in ROUTES {
            let documents: Vec<&serde_json::Value> = match route.api {
                Api::Arm => vec![&arm],
                Api::DataPlane => vec![&dataplane],
                Api::Health => vec![&arm, &dataplane],
            };
            for document in documents {
                let described = &document["paths"][route.path][route.method.to_ascii_lowercase()];
                assert!(
                    described.is_object(),
                    "{} {} is not described",
                    route.method,
                    route.path
                );
                assert_eq!(described["operationId"], route.operation_id);
            }
        }
    }
}
