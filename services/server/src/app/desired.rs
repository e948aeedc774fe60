//! A cluster's desired state, as its agent pulls it, and the long-poll that waits for the next one.
//! Secret values appear only while held and unexpired: every read checks expiry itself, so an expired value is
//! never served even if the expiry sweep is late.

use std::time::Duration;

use clusterconfig_model::dataplane::{
    DesiredExtension, DesiredFluxConfiguration, DesiredSecretGroup, DesiredState, UnreadableResource,
};
use clusterconfig_model::error::{ArmError, codes};
use clusterconfig_model::ids::ClusterId;
use clusterconfig_model::secrets::{SecretGroup, SecretMap};
use clusterconfig_store::{ClusterRecord, Partition, ResourceKind, ResourceRecord};

use super::documents::{Document, ExtensionDocument, FluxDocument, is_unreadable};
use super::shared_reads::SharedDesiredState;
use super::{App, store_error};
use crate::hub::Woken;

/// How long a long-poll woken by a newer version waits before reading again when the store does not show it yet.
const STALE_READ_PAUSE: Duration = Duration::from_millis(50);

impl App {
    /// `issued_at` is the agent token's: one issued before the cluster's tokens were revoked is refused.
    pub async fn desired_state(
        &self,
        cluster: &ClusterId,
        issued_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<DesiredState, ArmError> {
        let partition = self.partition(cluster).await?;
        super::reports::refuse_revoked(partition.cluster.as_ref(), issued_at)?;
        self.note_contact(cluster, partition.cluster.as_ref()).await;
        let secrets = self.hands_out_secrets(cluster).await?;
        self.build_desired_state(cluster, &partition, secrets)
    }

    /// The desired state once its version differs from `known`, or `None` if it does not within `wait`.
    /// Whether there is anything to send is decided on the cluster's record alone (one small read): an idle
    /// cluster's long-poll never reads or decrypts its resources. `issued_at` is the agent token's: a
    /// revocation while the long-poll waits ends it with 401.
    pub async fn desired_state_after(
        &self,
        cluster: &ClusterId,
        known: u64,
        wait: Duration,
        issued_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<std::sync::Arc<DesiredState>>, ArmError> {
        // Listen first: a change between the read below and the wait still wakes us.
        let mut subscription = self.hub.subscribe(&cluster.key()).map_err(|crowded| {
            ArmError::new(
                429,
                codes::TOO_MANY_WAITERS,
                format!(
                    "This cluster already has {} long-polls waiting on this instance; an agent needs one. Retry later, or raise dataplane.max_waiters_per_cluster.",
                    crowded.limit
                ),
            )
        })?;
        let record = self.cluster_record(cluster).await?;
        super::reports::refuse_revoked(record.as_ref(), issued_at)?;
        self.note_contact(cluster, record.as_ref()).await;
        if version_of(&record) != known {
            return self.current_desired_state(cluster).await.map(|s| Some(s.into()));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, subscription.wait_beyond(known)).await {
                // Shutting down: "nothing new" now, so the agent reconnects (to another instance) at once.
                Err(_) | Ok(Woken::Draining) => return Ok(None),
                Ok(Woken::Newer(published)) => {
                    let shared = self.shared_desired_state(cluster, published, deadline).await?;
                    super::reports::refuse_revoked(shared.record.as_ref(), issued_at)?;
                    if shared.state.version != known {
                        if let Some(at) = subscription.published_at() {
                            crate::telemetry::metrics().change_delivered(at.elapsed());
                        }
                        return Ok(Some(shared.state.clone()));
                    }
                    // The store did not show the change before the wait's end.
                    return Ok(None);
                }
                // Changes may have been missed: the store says whether the version moved.
                Ok(Woken::Recheck) => {
                    let record = self.cluster_record(cluster).await?;
                    super::reports::refuse_revoked(record.as_ref(), issued_at)?;
                    if version_of(&record) != known {
                        return self.current_desired_state(cluster).await.map(|s| Some(s.into()));
                    }
                }
            }
        }
    }

    /// The desired state at `published` (or later), read once for every long-poll of the cluster that this
    /// version woke. Another instance's write may not have reached the replica a read is served from (Cosmos
    /// DB's session consistency): the read is repeated shortly until it shows the version, or `deadline`.
    async fn shared_desired_state(
        &self,
        cluster: &ClusterId,
        published: u64,
        deadline: tokio::time::Instant,
    ) -> Result<std::sync::Arc<SharedDesiredState>, ArmError> {
        let build = self.shared_reads.build_for(&cluster.key(), published);
        build
            .get_or_init(|| async {
                loop {
                    let partition = self.partition(cluster).await?;
                    let caught_up = partition.version() >= published;
                    if caught_up || tokio::time::Instant::now() + STALE_READ_PAUSE >= deadline {
                        let secrets = self.hands_out_secrets(cluster).await?;
                        let state = self.build_desired_state(cluster, &partition, secrets)?;
                        return Ok(std::sync::Arc::new(SharedDesiredState {
                            record: partition.cluster,
                            state: state.into(),
                        }));
                    }
                    tokio::time::sleep(STALE_READ_PAUSE).await;
                }
            })
            .await
            .clone()
    }

    /// The desired state, read in full (the contact was noted already).
    async fn current_desired_state(&self, cluster: &ClusterId) -> Result<DesiredState, ArmError> {
        let partition = self.partition(cluster).await?;
        let secrets = self.hands_out_secrets(cluster).await?;
        self.build_desired_state(cluster, &partition, secrets)
    }

    /// A subscription ARM has warned or suspended keeps its resources, but its clusters get no secret values
    /// until it is registered again (their keys and generations still flow, so nothing is removed).
    async fn hands_out_secrets(&self, cluster: &ClusterId) -> Result<bool, ArmError> {
        use super::SubscriptionState::*;
        Ok(matches!(self.subscription_state(cluster).await?, Registered))
    }

    async fn cluster_record(&self, cluster: &ClusterId) -> Result<Option<ClusterRecord>, ArmError> {
        self.store.cluster(&cluster.key()).await.map_err(store_error)
    }

    fn build_desired_state(
        &self,
        cluster: &ClusterId,
        partition: &Partition,
        secrets: bool,
    ) -> Result<DesiredState, ArmError> {
        let withheld;
        let partition = if secrets {
            partition
        } else {
            withheld = Partition {
                secrets: Vec::new(),
                ..partition.clone()
            };
            &withheld
        };
        let mut state = DesiredState {
            cluster: cluster.to_string(),
            version: partition.version(),
            extensions: Vec::new(),
            flux_configurations: Vec::new(),
            unreadable: Vec::new(),
        };
        for record in &partition.resources {
            // A damaged record is listed as unreadable; the rest of the cluster's state still flows.
            if let Err(err) = self.add_desired(partition, record, &mut state) {
                if !is_unreadable(&err) {
                    return Err(err);
                }
                let kind = if record.kind == ResourceKind::Extension {
                    "extension"
                } else {
                    "fluxConfiguration"
                };
                state.unreadable.push(UnreadableResource {
                    kind: kind.to_owned(),
                    name: record.name.clone(),
                });
            }
        }
        Ok(state)
    }

    fn add_desired(
        &self,
        partition: &Partition,
        record: &ResourceRecord,
        state: &mut DesiredState,
    ) -> Result<(), ArmError> {
        match record.kind {
            ResourceKind::FluxConfiguration => {
                let doc: FluxDocument = self.codec.decode(record)?;
                let source_keys = doc.spec.source_secrets.iter().map(|s| s.key()).collect();
                state.flux_configurations.push(DesiredFluxConfiguration {
                    name: record.name.clone(),
                    generation: record.generation,
                    deleting: record.deleting,
                    spec: doc.spec.render(),
                    protected_settings: self.secret_group(
                        partition,
                        record,
                        &doc,
                        SecretGroup::ProtectedSettings,
                        doc.spec.protected_setting_keys.iter().cloned().collect(),
                    )?,
                    source_credentials: self.secret_group(
                        partition,
                        record,
                        &doc,
                        SecretGroup::SourceCredentials,
                        source_keys,
                    )?,
                });
            }
            ResourceKind::Extension => {
                let doc: ExtensionDocument = self.codec.decode(record)?;
                let rendered = doc.spec.render_envelope(false).properties.expect("rendered");
                state.extensions.push(DesiredExtension {
                    name: record.name.clone(),
                    generation: record.generation,
                    deleting: record.deleting,
                    extension_type: doc.spec.extension_type.clone(),
                    version: doc.spec.target_version.clone(),
                    release_train: doc.spec.release_train.clone(),
                    auto_upgrade_minor_version: doc.spec.auto_upgrade_minor_version,
                    scope: rendered.scope.unwrap_or_default(),
                    configuration_settings: doc.spec.configuration_settings.clone(),
                    protected_settings: self.secret_group(
                        partition,
                        record,
                        &doc,
                        SecretGroup::ProtectedSettings,
                        doc.spec.protected_setting_keys.iter().cloned().collect(),
                    )?,
                });
            }
            // Flux v1 configurations are kept for migration only; no agent applies them.
            ResourceKind::SourceControlConfiguration => {}
        }
        Ok(())
    }

    /// A secret group as the agent sees it: always its generation and keys; its values while held and unexpired.
    fn secret_group<S, T>(
        &self,
        partition: &Partition,
        record: &ResourceRecord,
        doc: &Document<S, T>,
        group: SecretGroup,
        keys: Vec<String>,
    ) -> Result<Option<DesiredSecretGroup>, ArmError> {
        let Some(meta) = doc.secrets.get(group.as_str()) else {
            return Ok(None);
        };
        let now = self.now();
        let held = partition.secrets.iter().find(|s| {
            s.kind == record.kind
                && s.name == record.name
                && s.group == group.as_str()
                && s.generation == meta.generation
                && s.expires_at > now
        });
        let values: Option<SecretMap> = held.map(|s| self.codec.decode_secret(s)).transpose()?;
        Ok(Some(DesiredSecretGroup {
            generation: meta.generation,
            keys,
            values,
        }))
    }
}

/// A cluster's version: 0 until its first change.
fn version_of(record: &Option<ClusterRecord>) -> u64 {
    record.as_ref().map_or(0, |c| c.version)
}
