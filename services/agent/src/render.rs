//! The Kubernetes objects an in-cluster controller creates for a cluster's desired state, as Flux's v1 APIs
//! define them (see ../shared/reference/flux-crds/): per fluxConfiguration its source (GitRepository, Bucket or
//! OCIRepository; AzureBlob is a Bucket with provider `azure`), one Kustomization per kustomization named
//! `{config}-{kustomization}`, the Secret Flux reads (`{config}-auth`), and under multi-tenancy the
//! `flux-applier` ServiceAccount with its binding. Per extension, its namespace and settings.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use clusterconfig_model::dataplane::{DesiredExtension, DesiredFluxConfiguration, DesiredState};
use clusterconfig_model::flux::wire::{FluxConfigurationProperties, GitProvider, ScopeType, SourceKind};

use crate::state::SshKeyPair;

pub const MANAGED_BY: &str = "clusterconfig-agent";
pub const APPLIER: &str = "flux-applier";
const DEFAULT_KNOWN_HOSTS: &str = include_str!("known_hosts");

/// One object, ready to be written as `{file}`. `Debug` leaves out the body: a Secret's holds values.
#[derive(Clone, PartialEq)]
pub struct Object {
    pub file: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub body: Value,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("file", &self.file)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Object {
    fn new(
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
        labels: Value,
        spec: (&str, Value),
    ) -> Self {
        let mut metadata = json!({"name": name, "labels": labels});
        if let Some(namespace) = namespace {
            metadata["namespace"] = json!(namespace);
        }
        let mut body = json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
        body[spec.0] = spec.1;
        let file = format!(
            "{}--{}--{name}.yaml",
            namespace.unwrap_or("cluster"),
            kind.to_ascii_lowercase()
        );
        Object {
            file,
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(str::to_owned),
            body,
        }
    }

    pub fn yaml(&self) -> String {
        serde_norway::to_string(&self.body).expect("objects serialize")
    }
}

/// Secret values a configuration's objects need, as the cluster holds them.
#[derive(Default)]
pub struct Secrets<'a> {
    pub protected_settings: BTreeMap<String, String>,
    pub source_credentials: BTreeMap<String, String>,
    pub ssh_key: Option<&'a SshKeyPair>,
}

fn labels(owner: &str, generation: u64) -> Value {
    json!({
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "clusterconfig.azure.com/owner": owner,
        "clusterconfig.azure.com/generation": generation.to_string(),
    })
}

fn seconds(value: Option<i64>) -> String {
    format!("{}s", value.unwrap_or(600))
}

fn decoded(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Whether `multiTenancy.enforce` of the cluster's `microsoft.flux` is on (it is unless set to "false").
pub fn multi_tenancy(state: &DesiredState) -> bool {
    state
        .extensions
        .iter()
        .find(|e| e.extension_type == clusterconfig_model::catalog::FLUX_EXTENSION_TYPE)
        .and_then(|e| e.configuration_settings.get("multiTenancy.enforce"))
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"))
}

/// Whether a configuration needs an SSH key the agent makes: an SSH URL with no key and no Secret of its own.
pub fn needs_generated_key(config: &DesiredFluxConfiguration) -> bool {
    let spec = &config.spec;
    let Some(git) = spec
        .git_repository
        .as_ref()
        .filter(|_| spec.source_kind == Some(SourceKind::GitRepository))
    else {
        return false;
    };
    let url = git.url.as_deref().unwrap_or_default();
    let ssh = url.starts_with("ssh://") || url.starts_with("git@");
    let has_key = config
        .protected_settings
        .as_ref()
        .is_some_and(|g| g.keys.iter().any(|k| k == "sshPrivateKey"));
    ssh && !has_key && git.local_auth_ref.is_none()
}

/// `git@host:path` is how people write SSH URLs; Flux needs `ssh://git@host/path`.
pub fn flux_git_url(url: &str) -> String {
    match url.strip_prefix("git@").and_then(|rest| rest.split_once(':')) {
        Some((host, path)) if !url.starts_with("ssh://") => {
            format!("ssh://git@{host}/{}", path.trim_start_matches('/'))
        }
        _ => url.to_owned(),
    }
}

pub fn flux_configuration(
    config: &DesiredFluxConfiguration,
    secrets: &Secrets,
    multi_tenancy: bool,
) -> Vec<Object> {
    let spec = &config.spec;
    let name = config.name.as_str();
    let namespace = spec.namespace.as_deref().unwrap_or("default");
    let labels = labels(&format!("fluxconfiguration.{name}"), config.generation);
    let suspend = spec.suspend.unwrap_or(false);
    let mut objects = vec![Object::new(
        "v1",
        "Namespace",
        namespace,
        None,
        json!({"app.kubernetes.io/managed-by": MANAGED_BY}),
        ("spec", json!({})),
    )];
    let auth_name = format!("{name}-auth");
    let mut auth: Map<String, Value> = Map::new();
    let protected = |key: &str| secrets.protected_settings.get(key).and_then(|v| decoded(v));
    let credential = |key: &str| secrets.source_credentials.get(key).cloned();

    let (source_kind, source) = match spec.source_kind.unwrap_or(SourceKind::GitRepository) {
        SourceKind::GitRepository => {
            let git = spec.git_repository.clone().unwrap_or_default();
            let url = git.url.clone().unwrap_or_default();
            let mut source = json!({
                "url": flux_git_url(&url),
                "interval": seconds(git.sync_interval_in_seconds),
                "timeout": seconds(git.timeout_in_seconds),
                "ref": git_ref(&git),
            });
            if let Some(provider) = git.provider.filter(|p| *p != GitProvider::Generic) {
                source["provider"] = json!(provider.as_str().to_ascii_lowercase());
            }
            if url.starts_with("ssh://") || url.starts_with("git@") {
                let identity =
                    protected("sshPrivateKey").or_else(|| secrets.ssh_key.map(|k| k.private_openssh.clone()));
                if let Some(identity) = identity {
                    auth.insert("identity".into(), json!(b64(&identity)));
                }
                if let Some(public) = secrets.ssh_key.map(|k| k.public_openssh.clone()) {
                    auth.insert("identity.pub".into(), json!(b64(&public)));
                }
                let known_hosts = git
                    .ssh_known_hosts
                    .as_deref()
                    .and_then(decoded)
                    .unwrap_or_else(|| DEFAULT_KNOWN_HOSTS.to_owned());
                auth.insert("known_hosts".into(), json!(b64(&known_hosts)));
            }
            if let Some(user) = &git.https_user {
                auth.insert("username".into(), json!(b64(user)));
            }
            if let Some(password) = protected("httpsKey") {
                auth.insert("password".into(), json!(b64(&password)));
            }
            if let Some(ca) = git.https_ca_cert.as_deref().and_then(decoded) {
                auth.insert("ca.crt".into(), json!(b64(&ca)));
            }
            for key in [
                "githubAppID",
                "githubAppInstallationID",
                "githubAppPrivateKey",
                "githubAppBaseURL",
            ] {
                if let Some(value) = secrets.protected_settings.get(key) {
                    auth.insert(
                        key.into(),
                        json!(b64(&decoded(value).unwrap_or_else(|| value.clone()))),
                    );
                }
            }
            (
                "GitRepository",
                with_secret(source, git.local_auth_ref.as_deref(), &auth, &auth_name),
            )
        }
        SourceKind::Bucket => {
            let bucket = spec.bucket.clone().unwrap_or_default();
            let url = bucket.url.clone().unwrap_or_default();
            let source = json!({
                "bucketName": bucket.bucket_name,
                "endpoint": url.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/'),
                "insecure": url.starts_with("http://"),
                "provider": "generic",
                "interval": seconds(bucket.sync_interval_in_seconds),
                "timeout": seconds(bucket.timeout_in_seconds),
            });
            if let Some(access) = &bucket.access_key {
                auth.insert("accesskey".into(), json!(b64(access)));
            }
            if let Some(secret) = protected("bucketSecretKey") {
                auth.insert("secretkey".into(), json!(b64(&secret)));
            }
            (
                "Bucket",
                with_secret(source, bucket.local_auth_ref.as_deref(), &auth, &auth_name),
            )
        }
        SourceKind::AzureBlob => {
            let blob = spec.azure_blob.clone().unwrap_or_default();
            let source = json!({
                "bucketName": blob.container_name,
                "endpoint": blob.url.clone().unwrap_or_default().trim_end_matches('/'),
                "provider": "azure",
                "interval": seconds(blob.sync_interval_in_seconds),
                "timeout": seconds(blob.timeout_in_seconds),
            });
            for (field, key) in [
                ("azureBlob.accountKey", "accountKey"),
                ("azureBlob.sasToken", "sasKey"),
                ("azureBlob.servicePrincipal.clientSecret", "clientSecret"),
                (
                    "azureBlob.servicePrincipal.clientCertificate",
                    "clientCertificate",
                ),
                (
                    "azureBlob.servicePrincipal.clientCertificatePassword",
                    "clientCertificatePassword",
                ),
            ] {
                if let Some(value) = credential(field) {
                    let value = if key == "clientCertificate" {
                        decoded(&value).unwrap_or(value)
                    } else {
                        value
                    };
                    auth.insert(key.into(), json!(b64(&value)));
                }
            }
            if let Some(sp) = &blob.service_principal {
                if let Some(v) = &sp.client_id {
                    auth.insert("clientId".into(), json!(b64(v)));
                }
                if let Some(v) = &sp.tenant_id {
                    auth.insert("tenantId".into(), json!(b64(v)));
                }
                if sp.client_certificate_send_chain == Some(true) {
                    auth.insert("clientCertificateSendChain".into(), json!(b64("true")));
                }
            }
            if let Some(client_id) = blob.managed_identity.as_ref().and_then(|m| m.client_id.as_ref()) {
                auth.insert("clientId".into(), json!(b64(client_id)));
            }
            (
                "Bucket",
                with_secret(source, blob.local_auth_ref.as_deref(), &auth, &auth_name),
            )
        }
        SourceKind::OciRepository => {
            let oci = spec.oci_repository.clone().unwrap_or_default();
            let reference = oci.repository_ref.clone().unwrap_or_default();
            let mut source = json!({
                "url": oci.url,
                "interval": seconds(oci.sync_interval_in_seconds),
                "timeout": seconds(oci.timeout_in_seconds),
                "ref": drop_nulls(json!({"tag": reference.tag, "semver": reference.semver, "digest": reference.digest})),
                "insecure": oci.insecure.unwrap_or(false),
                "provider": if oci.use_workload_identity == Some(true) { "azure" } else { "generic" },
            });
            if let Some(selector) = &oci.layer_selector {
                source["layerSelector"] = drop_nulls(
                    json!({"mediaType": selector.media_type, "operation": selector.operation.map(|o| o.as_str())}),
                );
            }
            if let Some(account) = &oci.service_account_name {
                source["serviceAccountName"] = json!(account);
            }
            if let Some(verify) = &oci.verify {
                let mut v = json!({"provider": verify.provider});
                if let Some(identities) = &verify.match_oidc_identity {
                    v["matchOIDCIdentity"] = json!(
                        identities
                            .iter()
                            .map(|i| json!({"issuer": i.issuer, "subject": i.subject}))
                            .collect::<Vec<_>>()
                    );
                }
                if verify.verification_config.as_ref().is_some_and(|c| !c.is_empty()) {
                    v["secretRef"] = json!({"name": format!("{name}-verify")});
                }
                source["verify"] = v;
            }
            let mut tls = Map::new();
            for (field, key) in [
                ("ociRepository.tlsConfig.clientCertificate", "tls.crt"),
                ("ociRepository.tlsConfig.privateKey", "tls.key"),
                ("ociRepository.tlsConfig.caCertificate", "ca.crt"),
            ] {
                if let Some(value) = credential(field) {
                    tls.insert(key.into(), json!(b64(&decoded(&value).unwrap_or(value))));
                }
            }
            if !tls.is_empty() {
                source["certSecretRef"] = json!({"name": format!("{name}-tls")});
                objects.push(secret(&format!("{name}-tls"), namespace, &labels, tls));
            }
            if let Some(config) = oci
                .verify
                .as_ref()
                .and_then(|v| v.verification_config.clone())
                .filter(|c| !c.is_empty())
            {
                let data = config
                    .into_iter()
                    .map(|(k, v)| (k, json!(b64(&decoded(&v).unwrap_or(v)))))
                    .collect();
                objects.push(secret(&format!("{name}-verify"), namespace, &labels, data));
            }
            if let Some(local) = &oci.local_auth_ref {
                source["secretRef"] = json!({"name": local});
            }
            ("OCIRepository", source)
        }
    };
    let mut source = source;
    if suspend {
        source["suspend"] = json!(true);
    }
    if source
        .get("secretRef")
        .is_some_and(|r| r["name"] == json!(auth_name))
    {
        objects.push(secret(&auth_name, namespace, &labels, auth));
    }
    objects.push(Object::new(
        "source.toolkit.fluxcd.io/v1",
        source_kind,
        name,
        Some(namespace),
        labels.clone(),
        ("spec", source),
    ));

    for (k_name, k) in spec.kustomizations.iter().flatten() {
        let mut kustomization = json!({
            "sourceRef": {"kind": source_kind, "name": name},
            "path": k.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "./".into()),
            "interval": seconds(k.sync_interval_in_seconds),
            "timeout": seconds(k.timeout_in_seconds),
            "retryInterval": seconds(k.retry_interval_in_seconds.or(k.sync_interval_in_seconds)),
            "prune": k.prune.unwrap_or(false),
            "force": k.force.unwrap_or(false),
            "wait": k.wait.unwrap_or(true),
        });
        let depends_on: Vec<Value> = k
            .depends_on
            .iter()
            .flatten()
            .map(|d| json!({"name": format!("{name}-{d}")}))
            .collect();
        if !depends_on.is_empty() {
            kustomization["dependsOn"] = json!(depends_on);
        }
        if let Some(post_build) = &k.post_build {
            let mut pb = Map::new();
            if let Some(substitute) = post_build.substitute.as_ref().filter(|s| !s.is_empty()) {
                pb.insert("substitute".into(), json!(substitute));
            }
            if let Some(from) = post_build.substitute_from.as_ref().filter(|f| !f.is_empty()) {
                pb.insert(
                    "substituteFrom".into(),
                    json!(from.iter().map(|f| json!({"kind": f.kind.map(|k| k.as_str()), "name": f.name, "optional": f.optional.unwrap_or(false)})).collect::<Vec<_>>()),
                );
            }
            if !pb.is_empty() {
                kustomization["postBuild"] = Value::Object(pb);
            }
        }
        if multi_tenancy {
            kustomization["serviceAccountName"] = json!(APPLIER);
        }
        if suspend {
            kustomization["suspend"] = json!(true);
        }
        objects.push(Object::new(
            "kustomize.toolkit.fluxcd.io/v1",
            "Kustomization",
            &format!("{name}-{k_name}"),
            Some(namespace),
            labels.clone(),
            ("spec", kustomization),
        ));
    }
    if multi_tenancy {
        objects.extend(applier(namespace, spec));
    }
    objects
}

fn git_ref(git: &clusterconfig_model::flux::wire::GitRepositoryDefinition) -> Value {
    let reference = git.repository_ref.clone().unwrap_or_default();
    drop_nulls(
        json!({"branch": reference.branch, "tag": reference.tag, "semver": reference.semver, "commit": reference.commit}),
    )
}

/// Points the source at the user's Secret (`localAuthRef`) or, when there are credentials, at `{config}-auth`.
fn with_secret(
    mut source: Value,
    local_auth_ref: Option<&str>,
    auth: &Map<String, Value>,
    auth_name: &str,
) -> Value {
    if let Some(local) = local_auth_ref {
        source["secretRef"] = json!({"name": local});
    } else if !auth.is_empty() {
        source["secretRef"] = json!({"name": auth_name});
    }
    source
}

fn secret(name: &str, namespace: &str, labels: &Value, data: Map<String, Value>) -> Object {
    let mut object = Object::new(
        "v1",
        "Secret",
        name,
        Some(namespace),
        labels.clone(),
        ("data", Value::Object(data)),
    );
    object.body["type"] = json!("Opaque");
    object
}

/// The service account Kustomizations apply as under multi-tenancy, and its grant: cluster-wide for
/// cluster-scoped configurations, within the namespace for namespace-scoped ones.
fn applier(namespace: &str, spec: &FluxConfigurationProperties) -> Vec<Object> {
    let labels = json!({"app.kubernetes.io/managed-by": MANAGED_BY});
    let account = Object::new(
        "v1",
        "ServiceAccount",
        APPLIER,
        Some(namespace),
        labels.clone(),
        ("automountServiceAccountToken", json!(false)),
    );
    let subjects = json!([{"kind": "ServiceAccount", "name": APPLIER, "namespace": namespace}]);
    let role =
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"});
    let mut binding = if spec.scope == Some(ScopeType::Namespace) {
        Object::new(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &format!("{APPLIER}-binding"),
            Some(namespace),
            labels,
            ("roleRef", role),
        )
    } else {
        Object::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            &format!("{APPLIER}-binding-{namespace}"),
            None,
            labels,
            ("roleRef", role),
        )
    };
    binding.body["subjects"] = subjects;
    vec![account, binding]
}

fn drop_nulls(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}

/// An extension's namespace, its settings, and its protected settings as the cluster holds them.
pub fn extension(extension: &DesiredExtension, protected: &BTreeMap<String, String>) -> Vec<Object> {
    let namespace = extension
        .scope
        .cluster
        .as_ref()
        .and_then(|c| c.release_namespace.clone())
        .or_else(|| {
            extension
                .scope
                .namespace
                .as_ref()
                .and_then(|n| n.target_namespace.clone())
        })
        .unwrap_or_else(|| "default".into());
    let labels = labels(&format!("extension.{}", extension.name), extension.generation);
    let mut objects = vec![Object::new(
        "v1",
        "Namespace",
        &namespace,
        None,
        json!({"app.kubernetes.io/managed-by": MANAGED_BY}),
        ("spec", json!({})),
    )];
    objects.push(Object::new(
        "v1",
        "ConfigMap",
        &format!("{}-extension", extension.name),
        Some(&namespace),
        labels.clone(),
        (
            "data",
            json!({
                "extensionType": extension.extension_type,
                "version": extension.version,
                "releaseTrain": extension.release_train,
                "configurationSettings": serde_json::to_string(&extension.configuration_settings).expect("maps serialize"),
            }),
        ),
    ));
    if !protected.is_empty() {
        let data = protected
            .iter()
            .map(|(k, v)| (k.clone(), json!(b64(v))))
            .collect();
        objects.push(secret(
            &format!("{}-extension-protected", extension.name),
            &namespace,
            &labels,
            data,
        ));
    }
    objects
}

/// Every object of the desired state, one per file name (objects several resources share appear once).
pub fn all(objects: impl IntoIterator<Item = Object>) -> BTreeMap<String, Object> {
    objects.into_iter().map(|o| (o.file.clone(), o)).collect()
}
