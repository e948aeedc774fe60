//! Every route the service serves, registered with `utoipa_axum::routes!`: each handler's `#[utoipa::path]`
//! gives both its route and its OpenAPI description (`openapi` adds the rules all routes of an API share), so
//! the router and the documents in `api-specs/` cannot drift from each other or from the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::arm::{extensions, flux_configurations, operations, source_control_configurations, subscriptions};
use super::dataplane::{desired_state, status};
use super::{AppState, health};

/// Which API a route belongs to (each can listen on its own address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Arm,
    DataPlane,
    Health,
}

/// The routes of one API, with their descriptions.
pub fn api_routes(api: Api) -> OpenApiRouter<Arc<AppState>> {
    match api {
        Api::Arm => OpenApiRouter::new()
            .routes(routes!(operations::provider))
            .routes(routes!(subscriptions::notify))
            .routes(routes!(operations::cluster))
            .routes(routes!(flux_configurations::list))
            .routes(routes!(
                flux_configurations::get,
                flux_configurations::create_or_update,
                flux_configurations::update,
                flux_configurations::delete
            ))
            .routes(routes!(flux_configurations::operation_status))
            .routes(routes!(flux_configurations::operation_result))
            .routes(routes!(extensions::list))
            .routes(routes!(
                extensions::get,
                extensions::create_or_update,
                extensions::update,
                extensions::delete
            ))
            .routes(routes!(extensions::operation_status))
            .routes(routes!(extensions::operation_result))
            .routes(routes!(source_control_configurations::list))
            .routes(routes!(
                source_control_configurations::get,
                source_control_configurations::create_or_update,
                source_control_configurations::delete
            )),
        Api::DataPlane => OpenApiRouter::new()
            .routes(routes!(desired_state::get))
            .routes(routes!(status::flux))
            .routes(routes!(status::extension))
            .routes(routes!(status::agent)),
        Api::Health => OpenApiRouter::new()
            .routes(routes!(health::live))
            .routes(routes!(health::ready))
            .routes(routes!(health::tasks)),
    }
}

/// The routes of the given APIs. ARM routes answer within `arm_deadline` (ARM waits 60 s for a resource
/// provider, then fails the request itself); the data plane's long-polls wait longer by design.
pub fn router(apis: &[Api], arm_deadline: Duration) -> Router<Arc<AppState>> {
    apis.iter().fold(Router::new(), |router, &api| {
        let mut routes = api_routes(api);
        if api == Api::Arm {
            routes = routes.route_layer(axum::middleware::from_fn(move |request, next| {
                super::deadline(arm_deadline, request, next)
            }));
        }
        router.merge(routes.split_for_parts().0)
    })
}

/// ARM matches the literal segments of a path case-insensitively; routes use their canonical spelling.
/// Only literal positions are rewritten, so names keep the caller's casing.
pub fn canonical_path(path: &str) -> Option<String> {
    const NS: &str = "Microsoft.KubernetesConfiguration";
    let mut segments: Vec<&str> = path.split('/').collect();
    let mut changed = false;
    let mut fix = |segments: &mut Vec<&str>, index: usize, choices: &[&'static str]| {
        if let Some(segment) = segments.get(index).copied()
            && let Some(canonical) = choices.iter().find(|c| c.eq_ignore_ascii_case(segment))
            && *canonical != segment
        {
            segments[index] = canonical;
            changed = true;
        }
    };
    // ["", "providers", NS, "operations"]
    if segments
        .get(1)
        .is_some_and(|s| s.eq_ignore_ascii_case("providers"))
    {
        fix(&mut segments, 1, &["providers"]);
        fix(&mut segments, 2, &[NS]);
        fix(&mut segments, 3, &["operations"]);
    } else {
        let dataplane = segments
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case("dataplane"));
        let base = if dataplane { 3 } else { 1 };
        fix(&mut segments, 1, &["dataplane"]);
        fix(&mut segments, base, &["subscriptions"]);
        fix(&mut segments, base + 2, &["resourceGroups"]);
        fix(&mut segments, base + 4, &["providers"]);
        if dataplane {
            fix(
                &mut segments,
                base + 8,
                &["desiredState", "agent", "fluxConfigurations", "extensions"],
            );
            fix(&mut segments, base + 10, &["status"]);
        } else {
            fix(&mut segments, base + 8, &["providers"]);
            fix(&mut segments, base + 9, &[NS]);
            fix(
                &mut segments,
                base + 10,
                &[
                    "fluxConfigurations",
                    "extensions",
                    "sourceControlConfigurations",
                    "operations",
                ],
            );
            fix(&mut segments, base + 12, &["operations", "operationResults"]);
        }
    }
    changed.then(|| segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_canonicalised_and_names_kept() {
        let given = "/SUBSCRIPTIONS/Sub/resourcegroups/RG/providers/microsoft.kubernetes/ConnectedClusters/Providers/PROVIDERS/microsoft.kubernetesconfiguration/FLUXCONFIGURATIONS/Operations/operations/x";
        assert_eq!(
            canonical_path(given).unwrap(),
            "/subscriptions/Sub/resourceGroups/RG/providers/microsoft.kubernetes/ConnectedClusters/Providers/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/Operations/operations/x"
        );
        assert_eq!(
            canonical_path("/providers/MICROSOFT.KUBERNETESCONFIGURATION/Operations").unwrap(),
            "/providers/Microsoft.KubernetesConfiguration/operations"
        );
        assert_eq!(
            canonical_path("/dataplane/v1/subscriptions/s/resourcegroups/rg/providers/a/b/c/DesiredState")
                .unwrap(),
            "/dataplane/v1/subscriptions/s/resourceGroups/rg/providers/a/b/c/desiredState"
        );
        assert!(canonical_path("/healthz").is_none());
    }

    #[test]
    fn the_routes_of_all_apis_go_together() {
        let _ = router(&[Api::Arm, Api::DataPlane, Api::Health], Duration::from_secs(55));
    }
}
