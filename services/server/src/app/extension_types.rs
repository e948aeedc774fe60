//! The extension-type catalog through ARM (`extensionTypes`): what a cluster, a location or a subscription is
//! offered. A cluster's answer takes its resource type and its agent's reported facts into account.

use clusterconfig_model::error::ArmError;
use clusterconfig_model::extension_types::{Asker, CatalogView};
use clusterconfig_model::ids::{ClusterId, PROVIDER_NAMESPACE, SubscriptionId};

use super::{App, facts_of, store_error};

/// Where the catalog is asked about.
#[derive(Debug, Clone)]
pub enum CatalogScope {
    Cluster(ClusterId),
    /// `locations/{location}`; `cluster_type` is the `clusterType` filter.
    Location {
        subscription: String,
        location: String,
        cluster_type: Option<String>,
    },
    /// The subscription as a whole (2026-05-01); `cluster_type` is the `clusterType` filter.
    Subscription {
        subscription: String,
        cluster_type: Option<String>,
    },
}

impl App {
    /// Answers `answer` from the catalog in force, as seen from `scope`.
    pub async fn with_catalog_view<T>(
        &self,
        scope: &CatalogScope,
        answer: impl FnOnce(&CatalogView<'_>) -> Result<T, ArmError>,
    ) -> Result<T, ArmError> {
        let (prefix, asker) = match scope {
            CatalogScope::Cluster(cluster) => {
                let facts = self
                    .store
                    .cluster(&cluster.key())
                    .await
                    .map_err(store_error)?
                    .as_ref()
                    .and_then(facts_of);
                let cluster_type = cluster.kind().as_str().split_once('/').map(|(_, t)| t.to_owned());
                (
                    cluster.provider_scope(),
                    Asker {
                        cluster_type,
                        arm64: facts.is_some_and(|f| f.is_arm64()),
                    },
                )
            }
            CatalogScope::Location {
                subscription,
                location,
                cluster_type,
            } => {
                let subscription = SubscriptionId::parse(subscription)?;
                if location.trim().is_empty() {
                    return Err(ArmError::validation(
                        "location",
                        "The location must not be empty.",
                    ));
                }
                (
                    format!(
                        "/subscriptions/{}/providers/{PROVIDER_NAMESPACE}/locations/{location}",
                        subscription.as_str()
                    ),
                    Asker {
                        cluster_type: cluster_type.clone(),
                        arm64: false,
                    },
                )
            }
            CatalogScope::Subscription {
                subscription,
                cluster_type,
            } => {
                let subscription = SubscriptionId::parse(subscription)?;
                (
                    format!(
                        "/subscriptions/{}/providers/{PROVIDER_NAMESPACE}",
                        subscription.as_str()
                    ),
                    Asker {
                        cluster_type: cluster_type.clone(),
                        arm64: false,
                    },
                )
            }
        };
        let catalog = self.catalog.current();
        answer(&CatalogView {
            catalog: &catalog,
            prefix,
            asker,
        })
    }
}
