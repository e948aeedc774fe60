//! `extensionTypes`: the extension-type catalog as `az k8s-extension extension-types ...` reads it, by cluster
//! (`{cluster}/providers/Microsoft.KubernetesConfiguration/extensionTypes[/{type}[/versions[/{version}]]]`), by
//! location (`/subscriptions/{id}/providers/Microsoft.KubernetesConfiguration/locations/{location}/extensionTypes...`)
//! and, from 2026-05-01, by subscription. The answers come from `clusterconfig_model::extension_types`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Serialize;

use clusterconfig_model::api_version::check_listed;
use clusterconfig_model::arm::ListPage;
use clusterconfig_model::error::ArmError;
use clusterconfig_model::extension_types::{
    EXTENSION_TYPES_API_VERSIONS, ExtensionTypeResource, ExtensionTypeVersion, Filters,
};

use crate::app::CatalogScope;
use crate::http::AppState;
use crate::http::error::{HttpError, HttpResult};
use crate::http::extract::{ArmQuery, Caller, ClusterPath};

/// The subscription-wide operations came with this api-version.
pub const SUBSCRIPTION_EXTENSION_TYPES_VERSIONS: &[&str] = &["2026-05-01"];

fn check_version(query: &ArmQuery, supported: &[&'static str]) -> Result<(), HttpError> {
    check_listed(query.get("api-version"), supported)?;
    Ok(())
}

fn flag(query: &ArmQuery, name: &str) -> Result<bool, HttpError> {
    match query.get(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(
            ArmError::invalid_content(format!("'{name}' must be 'true' or 'false'."))
                .with_target(name)
                .into(),
        ),
    }
}

fn filters(query: &ArmQuery) -> Result<Filters, HttpError> {
    let major_version = query
        .get("majorVersion")
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ArmError::invalid_content("'majorVersion' must be a whole number, such as 1.")
                    .with_target("majorVersion")
            })
        })
        .transpose()?;
    Ok(Filters {
        release_train: query
            .get("releaseTrain")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        marketplace: ["publisherId", "offerId", "planId"]
            .iter()
            .any(|name| query.get(name).is_some_and(|v| !v.is_empty())),
        major_version,
        show_latest: flag(query, "showLatest")?,
    })
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

fn location_scope(params: &HashMap<String, String>, query: &ArmQuery) -> CatalogScope {
    CatalogScope::Location {
        subscription: param(params, "subscriptionId").to_owned(),
        location: param(params, "location").to_owned(),
        cluster_type: query
            .get("clusterType")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    }
}

fn list<T: Serialize>(value: Vec<T>) -> HttpResult {
    Ok(Json(ListPage {
        value,
        next_link: None,
    })
    .into_response())
}

fn one<T: Serialize>(value: T) -> HttpResult {
    Ok(Json(value).into_response())
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensionTypes"),
    operation_id = "ExtensionTypes_List",
    summary = "Lists the extension types a cluster can install.",
    params(
        ("releaseTrain" = Option<String>, Query, description = "Only types with this release train (default Stable)."),
        ("publisherId" = Option<String>, Query, description = "Marketplace publisher: no catalog type has a plan, so any value gives an empty list."),
        ("offerId" = Option<String>, Query, description = "Marketplace offer (see publisherId)."),
        ("planId" = Option<String>, Query, description = "Marketplace plan (see publisherId)."),
    ),
    responses((status = 200, body = ListPage<ExtensionTypeResource>, description = "The extension types.")),
)]
pub async fn list_by_cluster(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let filters = filters(&query)?;
    let scope = CatalogScope::Cluster(cluster);
    list(
        state
            .app
            .with_catalog_view(&scope, |view| Ok(view.list(&filters)))
            .await?,
    )
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensionTypes/{extensionTypeName}"),
    operation_id = "ExtensionTypes_Get",
    summary = "Gets an extension type a cluster can install.",
    responses((status = 200, body = ExtensionTypeResource, description = "The extension type.")),
)]
pub async fn get_by_cluster(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let name = param(&params, "extensionTypeName");
    let scope = CatalogScope::Cluster(cluster);
    one(state.app.with_catalog_view(&scope, |view| view.get(name)).await?)
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensionTypes/{extensionTypeName}/versions"),
    operation_id = "ExtensionTypes_ClusterListVersions",
    summary = "Lists the versions of an extension type's release train that a cluster can install, newest first.",
    params(
        ("releaseTrain" = Option<String>, Query, description = "The release train (default Stable)."),
        ("majorVersion" = Option<String>, Query, description = "Only versions of this major version."),
        ("showLatest" = Option<bool>, Query, description = "Only the newest version that matches."),
    ),
    responses((status = 200, body = ListPage<ExtensionTypeVersion>, description = "The versions.")),
)]
pub async fn versions_by_cluster(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let filters = filters(&query)?;
    let name = param(&params, "extensionTypeName");
    let scope = CatalogScope::Cluster(cluster);
    list(
        state
            .app
            .with_catalog_view(&scope, |view| view.versions(name, &filters))
            .await?,
    )
}

#[utoipa::path(
    get,
    path = cluster_path!("/providers/Microsoft.KubernetesConfiguration/extensionTypes/{extensionTypeName}/versions/{versionNumber}"),
    operation_id = "ExtensionTypes_ClusterGetVersion",
    summary = "Gets a version of an extension type that a cluster can install.",
    responses((status = 200, body = ExtensionTypeVersion, description = "The version.")),
)]
pub async fn version_by_cluster(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    ClusterPath(cluster): ClusterPath,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let (name, version) = (
        param(&params, "extensionTypeName"),
        param(&params, "versionNumber"),
    );
    let scope = CatalogScope::Cluster(cluster);
    one(state
        .app
        .with_catalog_view(&scope, |view| view.get_version(name, version))
        .await?)
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/locations/{location}/extensionTypes",
    operation_id = "ExtensionTypes_LocationList",
    summary = "Lists the extension types offered in a location.",
    params(
        ("releaseTrain" = Option<String>, Query, description = "Only types with this release train (default Stable)."),
        ("clusterType" = Option<String>, Query, description = "Only types that install on this cluster resource type (connectedClusters, managedClusters, provisionedClusters, appliances)."),
        ("publisherId" = Option<String>, Query, description = "Marketplace publisher: no catalog type has a plan, so any value gives an empty list."),
        ("offerId" = Option<String>, Query, description = "Marketplace offer (see publisherId)."),
        ("planId" = Option<String>, Query, description = "Marketplace plan (see publisherId)."),
    ),
    responses((status = 200, body = ListPage<ExtensionTypeResource>, description = "The extension types.")),
)]
pub async fn list_by_location(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let filters = filters(&query)?;
    let scope = location_scope(&params, &query);
    list(
        state
            .app
            .with_catalog_view(&scope, |view| Ok(view.list(&filters)))
            .await?,
    )
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/locations/{location}/extensionTypes/{extensionTypeName}",
    operation_id = "ExtensionTypes_LocationGet",
    summary = "Gets an extension type offered in a location.",
    responses((status = 200, body = ExtensionTypeResource, description = "The extension type.")),
)]
pub async fn get_by_location(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let name = param(&params, "extensionTypeName");
    let scope = location_scope(&params, &query);
    one(state.app.with_catalog_view(&scope, |view| view.get(name)).await?)
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/locations/{location}/extensionTypes/{extensionTypeName}/versions",
    operation_id = "ExtensionTypes_ListVersions",
    summary = "Lists the versions of an extension type's release train that can be installed, newest first.",
    params(
        ("releaseTrain" = Option<String>, Query, description = "The release train (default Stable)."),
        ("clusterType" = Option<String>, Query, description = "Only if the type installs on this cluster resource type."),
        ("majorVersion" = Option<String>, Query, description = "Only versions of this major version."),
        ("showLatest" = Option<bool>, Query, description = "Only the newest version that matches."),
    ),
    responses((status = 200, body = ListPage<ExtensionTypeVersion>, description = "The versions.")),
)]
pub async fn versions_by_location(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let filters = filters(&query)?;
    let name = param(&params, "extensionTypeName");
    let scope = location_scope(&params, &query);
    list(
        state
            .app
            .with_catalog_view(&scope, |view| view.versions(name, &filters))
            .await?,
    )
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/locations/{location}/extensionTypes/{extensionTypeName}/versions/{versionNumber}",
    operation_id = "ExtensionTypes_GetVersion",
    summary = "Gets a version of an extension type that can be installed.",
    responses((status = 200, body = ExtensionTypeVersion, description = "The version.")),
)]
pub async fn version_by_location(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, EXTENSION_TYPES_API_VERSIONS)?;
    let (name, version) = (
        param(&params, "extensionTypeName"),
        param(&params, "versionNumber"),
    );
    let scope = location_scope(&params, &query);
    one(state
        .app
        .with_catalog_view(&scope, |view| view.get_version(name, version))
        .await?)
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/extensionTypes",
    operation_id = "SubscriptionExtensionTypes_List",
    summary = "Lists the extension types offered to a subscription (api-version 2026-05-01).",
    params(
        ("releaseTrain" = Option<String>, Query, description = "Only types with this release train (default Stable)."),
        ("clusterType" = Option<String>, Query, description = "Only types that install on this cluster resource type."),
        ("publisherId" = Option<String>, Query, description = "Marketplace publisher: no catalog type has a plan, so any value gives an empty list."),
    ),
    responses((status = 200, body = ListPage<ExtensionTypeResource>, description = "The extension types.")),
)]
pub async fn list_by_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, SUBSCRIPTION_EXTENSION_TYPES_VERSIONS)?;
    let filters = filters(&query)?;
    let scope = CatalogScope::Subscription {
        subscription: param(&params, "subscriptionId").to_owned(),
        cluster_type: query
            .get("clusterType")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    };
    list(
        state
            .app
            .with_catalog_view(&scope, |view| Ok(view.list(&filters)))
            .await?,
    )
}

#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.KubernetesConfiguration/extensionTypes/{extensionTypeName}",
    operation_id = "SubscriptionExtensionTypes_GetByName",
    summary = "Gets an extension type offered to a subscription (api-version 2026-05-01).",
    responses((status = 200, body = ExtensionTypeResource, description = "The extension type.")),
)]
pub async fn get_by_subscription(
    State(state): State<Arc<AppState>>,
    _: Caller,
    query: ArmQuery,
    Path(params): Path<HashMap<String, String>>,
) -> HttpResult {
    check_version(&query, SUBSCRIPTION_EXTENSION_TYPES_VERSIONS)?;
    let scope = CatalogScope::Subscription {
        subscription: param(&params, "subscriptionId").to_owned(),
        cluster_type: None,
    };
    let name = param(&params, "extensionTypeName");
    one(state.app.with_catalog_view(&scope, |view| view.get(name)).await?)
}
