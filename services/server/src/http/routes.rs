//! Every route the service serves, registered with `utoipa_axum::routes!`: each handler's `#[utoipa::path]`
//! gives both its route and its OpenAPI description (`openapi` adds the rules all routes of an API share), so
//! the router and the documents in `api-specs/` cannot drift from each other or from the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::arm::{
    extension_types, extensions, flux_configurations, operations, source_control_configurations,
    subscriptions,
};
use super::dataplane::{desired_state, status};
use super::policy::{assignments, definitions, inventory, remediations, states};
use super::{AppState, health};

/// Which API a route belongs to (each can listen on its own address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Arm,
    /// Azure Policy's surface and the cluster inventory, served beside the ARM API (on its listener).
    Policy,
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
            .routes(routes!(extension_types::list_by_cluster))
            .routes(routes!(extension_types::get_by_cluster))
            .routes(routes!(extension_types::versions_by_cluster))
            .routes(routes!(extension_types::version_by_cluster))
            .routes(routes!(extension_types::list_by_location))
            .routes(routes!(extension_types::get_by_location))
            .routes(routes!(extension_types::versions_by_location))
            .routes(routes!(extension_types::version_by_location))
            .routes(routes!(extension_types::list_by_subscription))
            .routes(routes!(extension_types::get_by_subscription))
            .routes(routes!(source_control_configurations::list))
            .routes(routes!(
                source_control_configurations::get,
                source_control_configurations::create_or_update,
                source_control_configurations::delete
            )),
        Api::Policy => OpenApiRouter::new()
            .routes(routes!(definitions::list_at_subscription))
            .routes(routes!(
                definitions::get,
                definitions::create_or_update,
                definitions::delete
            ))
            .routes(routes!(assignments::list_at_subscription))
            .routes(routes!(assignments::list_at_resource_group))
            .routes(routes!(
                assignments::get_at_subscription,
                assignments::create_at_subscription,
                assignments::delete_at_subscription
            ))
            .routes(routes!(
                assignments::get_at_resource_group,
                assignments::create_at_resource_group,
                assignments::delete_at_resource_group
            ))
            .routes(routes!(remediations::list_at_subscription))
            .routes(routes!(remediations::list_at_resource_group))
            .routes(routes!(
                remediations::get_at_subscription,
                remediations::create_at_subscription,
                remediations::delete_at_subscription
            ))
            .routes(routes!(
                remediations::get_at_resource_group,
                remediations::create_at_resource_group,
                remediations::delete_at_resource_group
            ))
            .routes(routes!(remediations::cancel_at_subscription))
            .routes(routes!(remediations::cancel_at_resource_group))
            .routes(routes!(remediations::deployments_at_subscription))
            .routes(routes!(remediations::deployments_at_resource_group))
            .routes(routes!(states::query_at_subscription))
            .routes(routes!(states::query_at_resource_group))
            .routes(routes!(states::summarize_at_subscription))
            .routes(routes!(states::summarize_at_resource_group))
            .routes(routes!(states::query_for_assignment_at_subscription))
            .routes(routes!(states::query_for_assignment_at_resource_group))
            .routes(routes!(states::summarize_for_assignment_at_subscription))
            .routes(routes!(states::summarize_for_assignment_at_resource_group))
            .routes(routes!(states::trigger_at_subscription))
            .routes(routes!(states::trigger_at_resource_group))
            .routes(routes!(states::evaluation_result))
            .routes(routes!(inventory::import))
            .routes(routes!(inventory::list))
            .routes(routes!(inventory::forget)),
        Api::DataPlane => OpenApiRouter::new()
            .routes(routes!(desired_state::get))
            .routes(routes!(status::flux))
            .routes(routes!(status::extension))
            .routes(routes!(status::agent)),
        Api::Health => OpenApiRouter::new()
            .routes(routes!(health::live))
            .routes(routes!(health::ready))
            .routes(routes!(health::tasks))
            .routes(routes!(health::metrics)),
    }
}

/// The routes of the given APIs. ARM routes answer within `arm_deadline` (ARM waits 60 s for a resource
/// provider, then fails the request itself); the data plane's long-polls wait longer by design.
pub fn router(apis: &[Api], arm_deadline: Duration) -> Router<Arc<AppState>> {
    // The policy surface goes wherever the ARM API does.
    let apis = apis
        .iter()
        .flat_map(|&api| match api {
            Api::Arm => vec![Api::Arm, Api::Policy],
            other => vec![other],
        })
        .collect::<Vec<_>>();
    // The operator's fleet page goes with the ARM API (the same callers, the same tokens).
    let pages = if apis.contains(&Api::Arm) {
        super::fleet::router()
    } else {
        Router::new()
    };
    apis.iter().fold(pages, |router, &api| {
        let mut routes = api_routes(api);
        if matches!(api, Api::Arm | Api::Policy) {
            routes = routes.route_layer(axum::middleware::from_fn(move |request, next| {
                super::deadline(arm_deadline, request, next)
            }));
        }
        router.merge(routes.split_for_parts().0)
    })
}

/// The templates of the policy routes, for `canonical_path`.
fn policy_templates() -> &'static [Vec<String>] {
    static TEMPLATES: std::sync::OnceLock<Vec<Vec<String>>> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| {
        api_routes(Api::Policy)
            .into_openapi()
            .paths
            .paths
            .keys()
            .map(|path| path.split('/').map(str::to_owned).collect())
            .collect()
    })
}

/// A path rewritten to the policy route it matches with literals compared case-insensitively (the one with
/// the most literals, so `.../policyStates/latest/triggerEvaluation` wins over `{policyStatesResource}`).
fn canonical_policy_path(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &Vec<String>)> = None;
    for template in policy_templates() {
        if template.len() != segments.len() {
            continue;
        }
        let mut literals = 0;
        let fits = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else if t.eq_ignore_ascii_case(s) {
                literals += 1;
                true
            } else {
                false
            }
        });
        if fits && best.is_none_or(|(n, _)| literals > n) {
            best = Some((literals, template));
        }
    }
    let (_, template) = best?;
    let rewritten: Vec<&str> = template
        .iter()
        .zip(&segments)
        .map(|(t, s)| if t.starts_with('{') { *s } else { t.as_str() })
        .collect();
    let rewritten = rewritten.join("/");
    (rewritten != path).then_some(rewritten)
}

/// ARM matches the literal segments of a path case-insensitively; routes use their canonical spelling.
/// Only literal positions are rewritten, so names keep the caller's casing.
pub fn canonical_path(path: &str) -> Option<String> {
    // Some clients join a scope that starts with '/' to a template that does too.
    let collapsed = path.strip_prefix("//").map(|rest| format!("/{rest}"));
    let path = collapsed.as_deref().unwrap_or(path);
    let lowered = path.to_ascii_lowercase();
    if lowered.contains("/providers/microsoft.authorization/")
        || lowered.contains("/providers/microsoft.policyinsights/")
        || lowered.starts_with("/operator/")
    {
        return canonical_policy_path(path).or(collapsed);
    }
    canonical_cluster_path(path).or(collapsed)
}

fn canonical_cluster_path(path: &str) -> Option<String> {
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
    // ["", "subscriptions", s, "providers", NS, ("locations", l,)? "extensionTypes", t, "versions", v]
    if segments
        .get(3)
        .is_some_and(|s| s.eq_ignore_ascii_case("providers"))
    {
        fix(&mut segments, 1, &["subscriptions"]);
        fix(&mut segments, 3, &["providers"]);
        fix(&mut segments, 4, &[NS]);
        fix(&mut segments, 5, &["locations", "extensionTypes"]);
        let types = if segments.get(5) == Some(&"locations") {
            7
        } else {
            5
        };
        fix(&mut segments, types, &["extensionTypes"]);
        fix(&mut segments, types + 2, &["versions"]);
        return changed.then(|| segments.join("/"));
    }
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
                    "extensionTypes",
                ],
            );
            fix(
                &mut segments,
                base + 12,
                &["operations", "operationResults", "versions"],
            );
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
        assert_eq!(
            canonical_path("/SUBSCRIPTIONS/s/PROVIDERS/microsoft.kubernetesconfiguration/Locations/EastUS/EXTENSIONTYPES/Microsoft.Flux/Versions/1.0.0").unwrap(),
            "/subscriptions/s/providers/Microsoft.KubernetesConfiguration/locations/EastUS/extensionTypes/Microsoft.Flux/versions/1.0.0"
        );
        assert_eq!(
            canonical_path("/subscriptions/s/resourceGroups/rg/providers/a/b/c/providers/Microsoft.KubernetesConfiguration/EXTENSIONTYPES/t/VERSIONS").unwrap(),
            "/subscriptions/s/resourceGroups/rg/providers/a/b/c/providers/Microsoft.KubernetesConfiguration/extensionTypes/t/versions"
        );
    }

    #[test]
    fn policy_paths_are_canonicalised_by_their_templates() {
        assert_eq!(
            canonical_path("/subscriptions/S/resourcegroups/RG/providers/microsoft.authorization/policyassignments/A/providers/Microsoft.PolicyInsights/policyStates/latest/summarize").unwrap(),
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Authorization/policyAssignments/A/providers/Microsoft.PolicyInsights/policyStates/latest/summarize"
        );
        assert_eq!(
            canonical_path("//subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a")
                .unwrap(),
            "/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/a"
        );
        assert_eq!(
            canonical_path(
                "/SUBSCRIPTIONS/s/providers/microsoft.policyinsights/POLICYSTATES/LATEST/triggerevaluation"
            )
            .unwrap(),
            "/subscriptions/s/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation"
        );
        assert!(
            canonical_path("/subscriptions/s/providers/Microsoft.Authorization/policyDefinitions/d")
                .is_none()
        );
    }

    #[test]
    fn the_routes_of_all_apis_go_together() {
        let _ = router(&[Api::Arm, Api::DataPlane, Api::Health], Duration::from_secs(55));
    }
}
