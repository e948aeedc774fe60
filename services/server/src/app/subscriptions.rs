//! ARM's subscription lifecycle notifications (`PUT /subscriptions/{id}?api-version=2.0`).
//! Registered: everything. Warned and Suspended: reads and deletes only. Unregistered: reads only.
//! Deleted: everything of the subscription is purged, secrets included; nothing may be written.

use serde_json::Value;

use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::{ClusterId, SubscriptionId};
use clusterconfig_store::SubscriptionRecord;

use super::{App, store_error};

clusterconfig_model::arm_enum! {
    pub enum SubscriptionState {
        Registered = "Registered",
        Unregistered = "Unregistered",
        Warned = "Warned",
        Suspended = "Suspended",
        Deleted = "Deleted",
    }
}

impl App {
    /// Records a notification; answers with the body ARM sent and the state it recorded.
    pub async fn notify_subscription(
        &self,
        subscription: &SubscriptionId,
        body: &Value,
    ) -> Result<(Value, SubscriptionState), ArmError> {
        let state_text = body.get("state").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_content("The subscription notification needs 'state'.").with_target("state")
        })?;
        let state = SubscriptionState::parse(state_text).ok_or_else(|| {
            ArmError::invalid_content(format!(
                "'{}' is not a subscription state; expected one of {}.",
                clusterconfig_model::ids::printable(state_text),
                SubscriptionState::expected()
            ))
            .with_target("state")
        })?;
        self.store
            .put_subscription(SubscriptionRecord {
                subscription: subscription.key(),
                state: state.as_str().to_owned(),
                body: body.to_string(),
                updated_at: self.now(),
            })
            .await
            .map_err(store_error)?;
        tracing::info!(
            subscription = subscription.as_str(),
            state = state.as_str(),
            "subscription notification"
        );
        // A deleted subscription is purged in the background (the caller starts it with `purge_subscription`,
        // and the subscription-purge task finishes what a crash or a late write left), never inside ARM's
        // request: a large subscription takes longer than ARM waits.
        Ok((body.clone(), state))
    }

    /// Purges every cluster of a subscription ARM deleted: records and secrets. Safe against writes racing
    /// it: once the state is recorded every write is refused (each attempt checks it), and a write that
    /// passed the check before is purged by the next run. Waiting agents are woken to read their (now empty)
    /// desired state. Returns how many clusters were purged.
    pub async fn purge_subscription(&self, subscription: &str) -> Result<usize, ArmError> {
        let clusters = self
            .store
            .clusters_in_subscription(subscription)
            .await
            .map_err(store_error)?;
        for cluster in &clusters {
            self.store.purge_cluster(cluster).await.map_err(store_error)?;
            self.hub.recheck(cluster);
        }
        if !clusters.is_empty() {
            tracing::info!(subscription, clusters = clusters.len(), "subscription purged");
        }
        Ok(clusters.len())
    }

    /// Purges every subscription recorded as Deleted (the subscription-purge task); returns the clusters purged.
    pub async fn purge_deleted_subscriptions(&self) -> Result<usize, ArmError> {
        let deleted = self
            .store
            .subscriptions_in_state(SubscriptionState::Deleted.as_str())
            .await
            .map_err(store_error)?;
        let mut purged = 0;
        for record in deleted {
            purged += self.purge_subscription(&record.subscription).await?;
        }
        Ok(purged)
    }

    pub(super) async fn subscription_state(
        &self,
        cluster: &ClusterId,
    ) -> Result<SubscriptionState, ArmError> {
        let record = self
            .store
            .subscription(&cluster.subscription_key())
            .await
            .map_err(store_error)?;
        // ARM forwards only requests of registered subscriptions; one never notified counts as registered.
        Ok(record
            .and_then(|r| SubscriptionState::parse(&r.state))
            .unwrap_or(SubscriptionState::Registered))
    }

    pub(super) async fn check_writable(&self, cluster: &ClusterId) -> Result<(), ArmError> {
        match self.subscription_state(cluster).await? {
            SubscriptionState::Registered => Ok(()),
            SubscriptionState::Warned | SubscriptionState::Suspended => Err(ArmError::new(
                409,
                codes::READ_ONLY_DISABLED_SUBSCRIPTION,
                format!(
                    "The subscription '{}' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled.",
                    cluster.subscription()
                ),
            )),
            SubscriptionState::Unregistered | SubscriptionState::Deleted => Err(not_registered(cluster)),
        }
    }

    pub(super) async fn check_deletable(&self, cluster: &ClusterId) -> Result<(), ArmError> {
        match self.subscription_state(cluster).await? {
            SubscriptionState::Unregistered => Err(not_registered(cluster)),
            _ => Ok(()),
        }
    }
}

fn not_registered(cluster: &ClusterId) -> ArmError {
    ArmError::new(
        409,
        codes::SUBSCRIPTION_NOT_REGISTERED,
        format!(
            "The subscription '{}' is not registered to use namespace 'Microsoft.KubernetesConfiguration'.",
            cluster.subscription()
        ),
    )
}
