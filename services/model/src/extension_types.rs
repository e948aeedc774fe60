//! extensionTypes: the catalog as ARM serves it (`ExtensionTypes_*` of the extensionTypes spec, api-versions
//! 2023-05-01-preview and later): the extension types a cluster or a location offers, and the versions of a
//! type's release train that can be installed (the N-2 supported ones; for a cluster, also only those its
//! reported facts allow).

use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{Catalog, ExtensionType, ExtensionVersion, FLUX_EXTENSION_TYPE};
use crate::error::ArmError;
use crate::extension::{DEFAULT_RELEASE_TRAIN, FLUX_MIN_ARM64_VERSION};
use crate::ids::printable;

/// The api-versions of the extensionTypes API (the Azure CLI's `k8s-extension extension-types` uses the first).
pub const EXTENSION_TYPES_API_VERSIONS: &[&str] = &[
    "2023-05-01-preview",
    "2024-11-01-preview",
    "2026-04-01",
    "2026-05-01",
];

pub const EXTENSION_TYPE_RESOURCE_TYPE: &str = "Microsoft.KubernetesConfiguration/extensionTypes";
pub const EXTENSION_TYPE_VERSION_RESOURCE_TYPE: &str =
    "Microsoft.KubernetesConfiguration/extensionTypes/versions";

/// An extension type (`ExtensionType`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionTypeResource {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: ExtensionTypeProperties,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionTypeProperties {
    /// The type's name, as Azure's service also returns it.
    pub extension_type: String,
    pub description: String,
    pub is_system_extension: bool,
    pub is_managed_identity_required: bool,
    pub publisher: String,
    /// Marketplace plan; none of the catalog's types has one.
    pub plan_info: Option<PlanInfo>,
    pub supported_cluster_types: Vec<String>,
    pub supported_scopes: SupportedScopes,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanInfo {
    pub publisher_id: Option<String>,
    pub plan_id: Option<String>,
    pub offer_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupportedScopes {
    /// `cluster` or `namespace`: the scope of an instance created without one.
    pub default_scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_scope_settings: Option<ClusterScopeSettings>,
}

/// A proxy resource in the spec: its members sit under `properties`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterScopeSettings {
    pub properties: ClusterScopeSettingsProperties,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterScopeSettingsProperties {
    pub allow_multiple_instances: bool,
    pub default_release_namespace: Option<String>,
}

/// A version of an extension type (`ExtensionTypeVersionForReleaseTrain`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionTypeVersion {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub properties: ExtensionTypeVersionProperties,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionTypeVersionProperties {
    pub version: String,
    pub supported_cluster_types: Vec<String>,
}

/// Who is asking: a cluster (its resource type and CPU architecture narrow the answer) or a location.
#[derive(Debug, Clone, Default)]
pub struct Asker {
    /// `connectedClusters`, ... : only types that install there; for a location, the `clusterType` filter.
    pub cluster_type: Option<String>,
    /// The cluster's agent reported arm64 nodes.
    pub arm64: bool,
}

/// The filters of the list operations.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Default `Stable`.
    pub release_train: Option<String>,
    /// Any of `publisherId`, `offerId`, `planId`: marketplace filters, which no catalog type matches.
    pub marketplace: bool,
    pub major_version: Option<u64>,
    pub show_latest: bool,
}

impl Filters {
    fn train(&self) -> &str {
        self.release_train.as_deref().unwrap_or(DEFAULT_RELEASE_TRAIN)
    }
}

/// The catalog's answers under one scope: ids start with `prefix` (`{scope}/providers/Microsoft.KubernetesConfiguration`).
pub struct CatalogView<'a> {
    pub catalog: &'a Catalog,
    pub prefix: String,
    pub asker: Asker,
}

impl CatalogView<'_> {
    /// `ExtensionTypes_List` / `ExtensionTypes_LocationList`: the types offered on the release train.
    pub fn list(&self, filters: &Filters) -> Vec<ExtensionTypeResource> {
        if filters.marketplace {
            return Vec::new();
        }
        self.catalog
            .types()
            .iter()
            .filter(|t| self.offered(t))
            .filter(|t| t.train(filters.train()).is_ok())
            .map(|t| self.resource(t))
            .collect()
    }

    /// `ExtensionTypes_Get` / `ExtensionTypes_LocationGet`.
    pub fn get(&self, name: &str) -> Result<ExtensionTypeResource, ArmError> {
        Ok(self.resource(self.find(name)?))
    }

    /// `ExtensionTypes_ClusterListVersions` / `ExtensionTypes_ListVersions`: the versions of the train that can
    /// be installed, newest first; with `showLatest`, only the newest of them.
    pub fn versions(&self, name: &str, filters: &Filters) -> Result<Vec<ExtensionTypeVersion>, ArmError> {
        let extension_type = self.find(name)?;
        let Ok(train) = extension_type.train(filters.train()) else {
            return Ok(Vec::new());
        };
        let mut versions: Vec<ExtensionTypeVersion> = train
            .supported()
            .into_iter()
            .filter(|v| filters.major_version.is_none_or(|major| v.major() == major))
            .filter(|v| self.installable(extension_type, v))
            .map(|v| self.version(extension_type, v))
            .collect();
        if filters.show_latest {
            versions.truncate(1);
        }
        Ok(versions)
    }

    /// `ExtensionTypes_ClusterGetVersion` / `ExtensionTypes_GetVersion`: a version any train offers for install.
    pub fn get_version(&self, name: &str, version: &str) -> Result<ExtensionTypeVersion, ArmError> {
        let extension_type = self.find(name)?;
        extension_type
            .release_trains
            .iter()
            .flat_map(|train| train.supported())
            .find(|v| v.as_str().eq_ignore_ascii_case(version) && self.installable(extension_type, v))
            .map(|v| self.version(extension_type, v))
            .ok_or_else(|| {
                ArmError::not_found(format!(
                    "Version '{}' of extension type '{}' was not found, or cannot be installed here.",
                    printable(version),
                    extension_type.name
                ))
            })
    }

    fn find(&self, name: &str) -> Result<&ExtensionType, ArmError> {
        self.catalog
            .types()
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name) && self.offered(t))
            .ok_or_else(|| {
                ArmError::not_found(format!("Extension type '{}' was not found.", printable(name)))
            })
    }

    fn offered(&self, extension_type: &ExtensionType) -> bool {
        self.asker
            .cluster_type
            .as_deref()
            .is_none_or(|c| extension_type.installs_on(c))
    }

    /// The rules of a PUT that depend only on the cluster's facts (see `extension::build`).
    fn installable(&self, extension_type: &ExtensionType, version: &ExtensionVersion) -> bool {
        !(self.asker.arm64
            && extension_type.name == FLUX_EXTENSION_TYPE
            && *version < ExtensionVersion::parse(FLUX_MIN_ARM64_VERSION).expect("constant parses"))
    }

    fn type_id(&self, extension_type: &ExtensionType) -> String {
        format!("{}/extensionTypes/{}", self.prefix, extension_type.name)
    }

    fn resource(&self, t: &ExtensionType) -> ExtensionTypeResource {
        ExtensionTypeResource {
            id: self.type_id(t),
            name: t.name.clone(),
            resource_type: EXTENSION_TYPE_RESOURCE_TYPE.to_owned(),
            properties: ExtensionTypeProperties {
                extension_type: t.name.clone(),
                description: t.description.clone(),
                is_system_extension: false,
                is_managed_identity_required: t.managed_identity_required,
                publisher: t.publisher.clone(),
                plan_info: None,
                supported_cluster_types: t.cluster_types.clone(),
                supported_scopes: SupportedScopes {
                    default_scope: if t.cluster_scope { "cluster" } else { "namespace" }.to_owned(),
                    cluster_scope_settings: t.cluster_scope.then(|| ClusterScopeSettings {
                        properties: ClusterScopeSettingsProperties {
                            allow_multiple_instances: t.allow_multiple_instances,
                            default_release_namespace: t.default_release_namespace.clone(),
                        },
                    }),
                },
            },
        }
    }

    fn version(&self, t: &ExtensionType, version: &ExtensionVersion) -> ExtensionTypeVersion {
        ExtensionTypeVersion {
            id: format!("{}/versions/{version}", self.type_id(t)),
            name: version.to_string(),
            resource_type: EXTENSION_TYPE_VERSION_RESOURCE_TYPE.to_owned(),
            properties: ExtensionTypeVersionProperties {
                version: version.to_string(),
                supported_cluster_types: t.cluster_types.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_toml(
            r#"
            [[extension_type]]
            name = "microsoft.flux"
            scopes = ["cluster"]
            default_release_namespace = "flux-system"
            fixed_release_namespace = true
            allow_multiple_instances = false
            [[extension_type.release_train]]
            name = "Stable"
            versions = ["1.6.0", "1.7.0", "1.8.0", "1.8.1"]

            [[extension_type]]
            name = "example.app"
            scopes = ["namespace"]
            cluster_types = ["managedClusters"]
            [[extension_type.release_train]]
            name = "Preview"
            versions = ["2.0.0-beta", "3.0.0", "3.1.0"]
            "#,
        )
        .unwrap()
    }

    fn view<'a>(catalog: &'a Catalog, cluster_type: Option<&str>, arm64: bool) -> CatalogView<'a> {
        CatalogView {
            catalog,
            prefix: "/x/providers/Microsoft.KubernetesConfiguration".into(),
            asker: Asker {
                cluster_type: cluster_type.map(str::to_owned),
                arm64,
            },
        }
    }

    fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
        items.iter().map(name).collect()
    }

    #[test]
    fn types_by_train_and_cluster_type() {
        let catalog = catalog();
        let any = view(&catalog, None, false);
        assert_eq!(
            names(&any.list(&Filters::default()), |t| &t.name),
            ["microsoft.flux"]
        );
        let preview = Filters {
            release_train: Some("preview".into()),
            ..Filters::default()
        };
        assert_eq!(names(&any.list(&preview), |t| &t.name), ["example.app"]);
        let connected = view(&catalog, Some("ConnectedClusters"), false);
        assert!(
            connected.list(&preview).is_empty(),
            "example.app installs on AKS only"
        );
        assert_eq!(connected.get("EXAMPLE.APP").unwrap_err().status, 404);
        let marketplace = Filters {
            marketplace: true,
            ..Filters::default()
        };
        assert!(any.list(&marketplace).is_empty());

        let flux = serde_json::to_value(any.get("microsoft.flux").unwrap()).unwrap();
        assert_eq!(
            flux["id"],
            "/x/providers/Microsoft.KubernetesConfiguration/extensionTypes/microsoft.flux"
        );
        assert_eq!(
            flux["properties"]["supportedScopes"],
            serde_json::json!({"defaultScope": "cluster", "clusterScopeSettings": {"properties":
                {"allowMultipleInstances": false, "defaultReleaseNamespace": "flux-system"}}})
        );
    }

    #[test]
    fn versions_are_the_installable_ones_newest_first() {
        let catalog = catalog();
        let any = view(&catalog, None, false);
        let all = any.versions("microsoft.flux", &Filters::default()).unwrap();
        assert_eq!(names(&all, |v| &v.name), ["1.8.1", "1.8.0", "1.7.0", "1.6.0"]);
        assert_eq!(
            all[0].id,
            "/x/providers/Microsoft.KubernetesConfiguration/extensionTypes/microsoft.flux/versions/1.8.1"
        );
        let latest = Filters {
            show_latest: true,
            ..Filters::default()
        };
        assert_eq!(
            names(&any.versions("microsoft.flux", &latest).unwrap(), |v| &v.name),
            ["1.8.1"]
        );
        let arm = view(&catalog, None, true);
        assert_eq!(
            names(
                &arm.versions("microsoft.flux", &Filters::default()).unwrap(),
                |v| &v.name
            ),
            ["1.8.1", "1.8.0", "1.7.0"],
            "no arm64 images before 1.7.0"
        );
        assert_eq!(
            arm.get_version("microsoft.flux", "1.6.0").unwrap_err().status,
            404
        );
        assert_eq!(
            any.get_version("microsoft.flux", "1.6.0")
                .unwrap()
                .properties
                .version,
            "1.6.0"
        );
        let major = Filters {
            release_train: Some("Preview".into()),
            major_version: Some(3),
            ..Filters::default()
        };
        assert_eq!(
            names(&any.versions("example.app", &major).unwrap(), |v| &v.name),
            ["3.1.0", "3.0.0"]
        );
        assert!(
            any.versions("microsoft.flux", &major).unwrap().is_empty(),
            "no Preview train"
        );
    }
}
