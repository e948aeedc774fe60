//! The agent's loop: long-poll the cluster's desired state, apply it (keep the cluster's copy of secrets,
//! render objects, remove what left), report each new generation, and resume from the last version after
//! any failure, with backoff.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

use clusterconfig_model::dataplane::{
    AgentFacts, DesiredExtension, DesiredFluxConfiguration, DesiredSecretGroup, DesiredState,
    ExtensionStatusReport, FluxStatusReport, ReportedState,
};
use clusterconfig_model::extension::{ExtensionStatus, LevelType};
use clusterconfig_model::flux::wire::{FluxComplianceState, ObjectStatus, ObjectStatusCondition};

use crate::client::{DataPlane, Reported};
use crate::render::{self, Object, Secrets};
use crate::state::{AgentState, SecretCopy, write_private};
use clusterconfig_retry::RECONNECT;

pub struct Settings {
    pub render_dir: Option<PathBuf>,
    /// Where the state is kept between runs; `None` keeps it in memory only (the load mode's many agents).
    pub state_dir: Option<PathBuf>,
    pub simulate: bool,
    pub wait: Duration,
    pub facts: AgentFacts,
}

/// Told of every desired state the agent receives, as it arrives (the load mode times the answers).
pub type Observer = std::sync::Arc<dyn Fn(&DesiredState) + Send + Sync>;

pub struct Agent {
    settings: Settings,
    client: DataPlane,
    state: AgentState,
    observer: Option<Observer>,
}

/// The outcome of applying one resource, before it is reported.
struct Applied {
    state: ReportedState,
    message: Option<String>,
    objects: Vec<Object>,
}

impl Applied {
    /// A resource being deleted: its objects leave the cluster.
    fn removed() -> Self {
        Applied {
            state: ReportedState::Removed,
            message: None,
            objects: vec![],
        }
    }

    /// A resource's objects, applied; failed if secret values it needs are missing.
    fn rendered(objects: Vec<Object>, missing: Option<String>) -> Self {
        let state = if missing.is_some() {
            ReportedState::Failed
        } else {
            ReportedState::Succeeded
        };
        Applied {
            state,
            message: missing,
            objects,
        }
    }
}

/// The resource a report is for.
enum Subject<'a> {
    Extension(&'a DesiredExtension),
    Flux(&'a DesiredFluxConfiguration),
}

impl Agent {
    pub fn new(settings: Settings, client: DataPlane) -> anyhow::Result<Self> {
        let state = match &settings.state_dir {
            Some(dir) => AgentState::load(dir)?,
            None => AgentState::default(),
        };
        Ok(Self {
            settings,
            client,
            state,
            observer: None,
        })
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    fn save_state(&self) -> anyhow::Result<()> {
        match &self.settings.state_dir {
            Some(dir) => self.state.save(dir),
            None => Ok(()),
        }
    }

    /// Runs until `stop` resolves. After any failure (a report that did not arrive, a server that restarted
    /// between apply and report), the next round reads the whole desired state again instead of waiting for a
    /// newer one, and re-sends every report the server has not acknowledged: nothing is left pending on a
    /// lost report. The server takes repeated reports of a generation as the same report.
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(stop);
        let mut delays = RECONNECT.delays();
        let mut facts_sent = false;
        let mut reconcile = true;
        loop {
            let step = async {
                // Facts go once per run (and again only if sending them failed), not after every error.
                if !facts_sent {
                    self.client.report_facts(&self.settings.facts).await?;
                    facts_sent = true;
                }
                self.sync_once(reconcile).await
            };
            let result = tokio::select! {
                _ = &mut stop => return Ok(()),
                result = step => result,
            };
            match result {
                Ok(()) => {
                    delays = RECONNECT.delays();
                    reconcile = false;
                }
                Err(err) => {
                    reconcile = true;
                    let delay = delays.next().unwrap_or(RECONNECT.max);
                    tracing::warn!(error = %format!("{err:#}"), retry_in_ms = delay.as_millis() as u64, "sync failed; reconnecting");
                    tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// One long-poll, and applying what it brought. With `reconcile`, the desired state is read at once
    /// (whatever its version) and applied again: what was applied stays, and unacknowledged reports go out.
    pub async fn sync_once(&mut self, reconcile: bool) -> anyhow::Result<()> {
        let known = if reconcile { None } else { self.state.version };
        if let Some(desired) = self.client.desired_state(known, self.settings.wait).await? {
            if let Some(observer) = &self.observer {
                observer(&desired);
            }
            tracing::info!(
                version = desired.version,
                extensions = desired.extensions.len(),
                configurations = desired.flux_configurations.len(),
                reconcile,
                "desired state"
            );
            self.apply(&desired).await?;
        }
        Ok(())
    }

    pub async fn apply(&mut self, desired: &DesiredState) -> anyhow::Result<()> {
        let multi_tenancy = render::multi_tenancy(desired);
        let mut objects: BTreeMap<String, Vec<Object>> = BTreeMap::new();
        let mut reports: Vec<(String, Applied, Subject)> = Vec::new();

        for extension in &desired.extensions {
            let key = format!("extension/{}", extension.name);
            let copy = self.update_secrets(&key, extension.protected_settings.as_ref());
            let applied = if extension.deleting {
                Applied::removed()
            } else {
                let objects = render::extension(extension, &copy.protected_settings.values);
                Applied::rendered(objects, copy.missing)
            };
            objects.insert(key.clone(), applied.objects.clone());
            reports.push((key, applied, Subject::Extension(extension)));
        }
        for config in &desired.flux_configurations {
            let key = format!("flux/{}", config.name);
            let copy = self.update_flux_secrets(&key, config);
            let applied = if config.deleting {
                self.state.ssh_keys.remove(&config.name);
                Applied::removed()
            } else {
                if render::needs_generated_key(config) && !self.state.ssh_keys.contains_key(&config.name) {
                    self.state.ssh_keys.insert(
                        config.name.clone(),
                        crate::keys::generate(&format!("flux-{}", config.name))?,
                    );
                }
                let secrets = Secrets {
                    protected_settings: copy.protected_settings.values.clone(),
                    source_credentials: copy.source_credentials.values.clone(),
                    ssh_key: self.state.ssh_keys.get(&config.name),
                };
                let objects = render::flux_configuration(config, &secrets, multi_tenancy);
                Applied::rendered(objects, copy.missing)
            };
            objects.insert(key.clone(), applied.objects.clone());
            reports.push((key, applied, Subject::Flux(config)));
        }

        // Resources the service cannot read right now keep what they have in the cluster.
        let unreadable: BTreeSet<String> = desired
            .unreadable
            .iter()
            .map(|u| {
                format!(
                    "{}/{}",
                    if u.kind == "extension" {
                        "extension"
                    } else {
                        "flux"
                    },
                    u.name
                )
            })
            .collect();
        for key in &unreadable {
            tracing::warn!(resource = %key, "the service cannot read this resource; leaving its objects as they are");
        }
        self.write_objects(objects, &unreadable)?;
        self.forget_departed(desired, &unreadable);
        self.state.version = Some(desired.version);
        self.save_state()?;

        for (key, applied, subject) in reports {
            let generation = match subject {
                Subject::Extension(extension) => extension.generation,
                Subject::Flux(config) => config.generation,
            };
            if self.state.reported.get(&key) == Some(&generation) {
                continue;
            }
            let outcome = match subject {
                Subject::Flux(config) => {
                    let report = self.flux_report(config, &applied);
                    self.client.report_flux(&config.name, &report).await?
                }
                Subject::Extension(extension) => {
                    let report = ExtensionStatusReport {
                        generation,
                        provisioning_state: Some(applied.state),
                        message: applied.message.clone(),
                        installed_version: (applied.state == ReportedState::Succeeded)
                            .then(|| extension.version.clone()),
                        statuses: Some(vec![ExtensionStatus {
                            code: Some(format!("{:?}", applied.state)),
                            display_status: Some(self.mode().to_owned()),
                            level: Some(if applied.state == ReportedState::Failed {
                                LevelType::Error
                            } else {
                                LevelType::Information
                            }),
                            message: Some(applied.message.clone().unwrap_or_else(|| {
                                format!(
                                    "{} {} by {}",
                                    extension.extension_type,
                                    extension.version,
                                    self.mode()
                                )
                            })),
                            time: Some(chrono::Utc::now().to_rfc3339()),
                        }]),
                    };
                    self.client.report_extension(&extension.name, &report).await?
                }
            };
            tracing::info!(resource = %key, generation, state = applied.state.as_str(), outcome = ?outcome, "reported");
            match outcome {
                Reported::Accepted | Reported::Stale => {
                    self.state.reported.insert(key, generation);
                }
                Reported::Gone => {
                    self.state.reported.remove(&key);
                }
            }
            self.save_state()?;
        }
        Ok(())
    }

    fn mode(&self) -> &'static str {
        if self.settings.simulate {
            "Simulated"
        } else {
            "Rendered"
        }
    }

    fn flux_report(&self, config: &DesiredFluxConfiguration, applied: &Applied) -> FluxStatusReport {
        let public_key = self
            .state
            .ssh_keys
            .get(&config.name)
            .map(|k| k.public_openssh.clone());
        if applied.state != ReportedState::Succeeded {
            return FluxStatusReport {
                generation: config.generation,
                provisioning_state: Some(applied.state),
                message: applied.message.clone(),
                repository_public_key: public_key,
                ..Default::default()
            };
        }
        let now = chrono::Utc::now();
        let (compliance, condition_status, reason, revision) = if self.settings.simulate {
            let revision = simulated_revision(config);
            (
                FluxComplianceState::Compliant,
                "True",
                "Simulated",
                Some(revision),
            )
        } else {
            (FluxComplianceState::Unknown, "Unknown", "Rendered", None)
        };
        let statuses = applied
            .objects
            .iter()
            .filter(|o| matches!(o.kind.as_str(), "GitRepository" | "Bucket" | "OCIRepository" | "Kustomization"))
            .map(|o| {
                let message = match (&revision, self.settings.simulate) {
                    (Some(revision), true) => format!(
                        "Simulated by clusterconfig-agent --simulate: no cluster applied this object. Revision: {revision}"
                    ),
                    _ => format!("Rendered to {}; applying it is the cluster's job.", o.file),
                };
                ObjectStatus {
                    name: Some(o.name.clone()),
                    namespace: o.namespace.clone(),
                    kind: Some(o.kind.clone()),
                    compliance_state: Some(compliance),
                    applied_by: None,
                    status_conditions: Some(vec![ObjectStatusCondition {
                        last_transition_time: Some(now),
                        message: Some(message),
                        reason: Some(reason.to_owned()),
                        status: Some(condition_status.to_owned()),
                        condition_type: Some("Ready".to_owned()),
                    }]),
                    helm_release_properties: None,
                }
            })
            .collect();
        FluxStatusReport {
            generation: config.generation,
            provisioning_state: Some(ReportedState::Succeeded),
            message: None,
            compliance_state: Some(compliance),
            statuses: Some(statuses),
            source_synced_commit_id: revision,
            source_updated_at: self.settings.simulate.then_some(now),
            repository_public_key: public_key,
        }
    }

    /// Brings the cluster's copy of one secret group up to date: it is rewritten only when the group's
    /// generation differs from the one held; keys without a value keep the value held.
    fn update_group(
        &mut self,
        key: &str,
        group: Option<&DesiredSecretGroup>,
    ) -> (SecretCopy, Option<String>) {
        let Some(group) = group else {
            self.state.secrets.remove(key);
            return (SecretCopy::default(), None);
        };
        let held = self.state.secrets.get(key).cloned().unwrap_or_default();
        if held.generation == group.generation {
            return (held, None);
        }
        let Some(values) = &group.values else {
            return (
                held,
                Some(format!(
                    "The secret values of generation {} are no longer held by the service (they expire after at most 48 hours); re-apply the configuration with its protected settings.",
                    group.generation
                )),
            );
        };
        let mut copy = SecretCopy {
            generation: group.generation,
            values: BTreeMap::new(),
        };
        for name in &group.keys {
            if let Some(value) = values
                .get(name)
                .map(str::to_owned)
                .or_else(|| held.values.get(name).cloned())
            {
                copy.values.insert(name.clone(), value);
            }
        }
        self.state.secrets.insert(key.to_owned(), copy.clone());
        (copy, None)
    }

    fn update_secrets(&mut self, key: &str, protected: Option<&DesiredSecretGroup>) -> Copies {
        let (copy, missing) = self.update_group(&format!("{key}/configurationProtectedSettings"), protected);
        Copies {
            protected_settings: copy,
            source_credentials: SecretCopy::default(),
            missing,
        }
    }

    fn update_flux_secrets(&mut self, key: &str, config: &DesiredFluxConfiguration) -> Copies {
        let (protected, missing_protected) = self.update_group(
            &format!("{key}/configurationProtectedSettings"),
            config.protected_settings.as_ref(),
        );
        let (source, missing_source) = self.update_group(
            &format!("{key}/sourceCredentials"),
            config.source_credentials.as_ref(),
        );
        Copies {
            protected_settings: protected,
            source_credentials: source,
            missing: missing_protected.or(missing_source),
        }
    }

    /// Writes the objects whose files changed and removes the files no resource wants any more (keeping those
    /// of unreadable resources).
    fn write_objects(
        &mut self,
        objects: BTreeMap<String, Vec<Object>>,
        unreadable: &BTreeSet<String>,
    ) -> anyhow::Result<()> {
        let Some(dir) = self.settings.render_dir.clone() else {
            return Ok(());
        };
        std::fs::create_dir_all(&dir)?;
        let mut rendered: BTreeMap<String, BTreeSet<String>> = self
            .state
            .rendered
            .iter()
            .filter(|(owner, _)| unreadable.contains(*owner))
            .map(|(owner, files)| (owner.clone(), files.clone()))
            .collect();
        for (owner, owned) in &objects {
            rendered.insert(owner.clone(), owned.iter().map(|o| o.file.clone()).collect());
        }
        for (file, object) in render::all(objects.into_values().flatten()) {
            let path = dir.join(&file);
            let yaml = object.yaml();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(yaml.as_str()) {
                write_private(&path, yaml.as_bytes())?;
            }
        }
        let wanted: BTreeSet<&String> = rendered.values().flatten().collect();
        for gone in self
            .state
            .rendered
            .values()
            .flatten()
            .filter(|f| !wanted.contains(f))
            .collect::<BTreeSet<_>>()
        {
            match std::fs::remove_file(dir.join(gone)) {
                Ok(()) => tracing::info!(file = %gone, "removed"),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            }
        }
        self.state.rendered = rendered;
        Ok(())
    }

    /// Drops what the agent kept for resources that are no longer in the desired state.
    fn forget_departed(&mut self, desired: &DesiredState, unreadable: &BTreeSet<String>) {
        let present: BTreeSet<String> = desired
            .extensions
            .iter()
            .map(|e| format!("extension/{}", e.name))
            .chain(
                desired
                    .flux_configurations
                    .iter()
                    .map(|c| format!("flux/{}", c.name)),
            )
            .chain(unreadable.iter().cloned())
            .collect();
        self.state.reported.retain(|key, _| present.contains(key));
        self.state
            .secrets
            .retain(|key, _| present.iter().any(|p| key.starts_with(&format!("{p}/"))));
        self.state
            .ssh_keys
            .retain(|name, _| present.contains(&format!("flux/{name}")));
    }
}

/// The cluster's copies of a resource's secret groups.
struct Copies {
    protected_settings: SecretCopy,
    source_credentials: SecretCopy,
    /// Why a group could not be brought up to date.
    missing: Option<String>,
}

/// A made-up commit id for simulated compliance: stable for a generation, shaped like Flux's revisions.
fn simulated_revision(config: &DesiredFluxConfiguration) -> String {
    let mut hash = Sha256::new();
    hash.update(config.name.as_bytes());
    hash.update(config.generation.to_be_bytes());
    hash.update(serde_json::to_vec(&config.spec).unwrap_or_default());
    let hex: String = hash
        .finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    let reference = config
        .spec
        .git_repository
        .as_ref()
        .and_then(|g| g.repository_ref.as_ref())
        .and_then(|r| {
            r.branch
                .clone()
                .or_else(|| r.tag.clone())
                .or_else(|| r.semver.clone())
        })
        .unwrap_or_else(|| "main".into());
    format!("{reference}@sha1:{hex}")
}
