//! A valid fluxConfiguration, and the rules that make one from an ARM request body.
//!
//! Write-only values (`configurationProtectedSettings` and the secret fields of AzureBlob and OCIRepository
//! sources) never enter a `FluxConfigSpec`: the spec only records which of them are set, and the values travel
//! separately (see `crate::secrets`) so they can be kept for less than 48 hours.
//! An omitted write-only field keeps its stored value; an explicit `null` clears it; a value replaces it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{self, GitProvider, LayerSelectorOperation, ScopeType, SourceKind, SubstituteFromKind};
use crate::error::ArmError;
use crate::ids::{ResourceName, check_dns_name, printable};
use crate::merge_patch::{self, Mention};
use crate::secrets::SecretGroups;
use crate::validate::{self, Field};

pub const DEFAULT_NAMESPACE: &str = "default";
pub const DEFAULT_INTERVAL_SECONDS: u64 = 600;
pub const DEFAULT_OCI_TAG: &str = "latest";
/// `{config}-{kustomization}` names a Kubernetes object: at most 63 characters.
pub const MAX_OBJECT_NAME: usize = 63;

/// A valid fluxConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxConfigSpec {
    pub scope: ScopeType,
    pub namespace: String,
    pub source: Source,
    pub suspend: bool,
    pub kustomizations: BTreeMap<String, Kustomization>,
    pub wait_for_reconciliation: Option<bool>,
    pub reconciliation_wait_duration: Option<String>,
    /// Names, never values, of the `configurationProtectedSettings` last written.
    pub protected_setting_keys: BTreeSet<String>,
    /// Which write-only fields of the source hold a value.
    pub source_secrets: BTreeSet<SourceSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Source {
    GitRepository(GitSource),
    Bucket(BucketSource),
    AzureBlob(AzureBlobSource),
    #[serde(rename = "OCIRepository")]
    OciRepository(OciSource),
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::GitRepository(_) => SourceKind::GitRepository,
            Source::Bucket(_) => SourceKind::Bucket,
            Source::AzureBlob(_) => SourceKind::AzureBlob,
            Source::OciRepository(_) => SourceKind::OciRepository,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    pub url: String,
    pub timeout_in_seconds: u64,
    pub sync_interval_in_seconds: u64,
    pub reference: GitRef,
    pub ssh_known_hosts: Option<String>,
    pub https_user: Option<String>,
    pub https_ca_cert: Option<String>,
    pub local_auth_ref: Option<String>,
    pub provider: Option<GitProvider>,
}

impl GitSource {
    pub fn is_ssh(&self) -> bool {
        !self.url.starts_with("http://") && !self.url.starts_with("https://")
    }
}

/// Exactly one of the four ways to pick a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GitRef {
    Branch(String),
    Tag(String),
    Semver(String),
    Commit(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketSource {
    pub url: String,
    pub bucket_name: String,
    pub insecure: bool,
    pub timeout_in_seconds: u64,
    pub sync_interval_in_seconds: u64,
    pub access_key: Option<String>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureBlobSource {
    pub url: String,
    pub container_name: String,
    pub timeout_in_seconds: u64,
    pub sync_interval_in_seconds: u64,
    pub service_principal: Option<ServicePrincipal>,
    pub managed_identity: Option<ManagedIdentity>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub client_id: String,
    pub tenant_id: String,
    pub client_certificate_send_chain: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentity {
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciSource {
    pub url: String,
    pub timeout_in_seconds: u64,
    pub sync_interval_in_seconds: u64,
    pub reference: OciRef,
    pub layer_selector: Option<LayerSelector>,
    pub verify: Option<Verify>,
    pub insecure: bool,
    pub use_workload_identity: bool,
    pub service_account_name: Option<String>,
    pub local_auth_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OciRef {
    Tag(String),
    Semver(String),
    Digest(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerSelector {
    pub media_type: Option<String>,
    pub operation: Option<LayerSelectorOperation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verify {
    pub provider: String,
    pub verification_config: BTreeMap<String, String>,
    pub match_oidc_identity: Vec<OidcIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub path: String,
    pub depends_on: Vec<String>,
    pub timeout_in_seconds: u64,
    pub sync_interval_in_seconds: u64,
    pub retry_interval_in_seconds: Option<u64>,
    pub prune: bool,
    pub force: bool,
    pub wait: bool,
    pub post_build: Option<PostBuild>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    pub substitute: BTreeMap<String, String>,
    pub substitute_from: Vec<SubstituteFrom>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubstituteFrom {
    pub kind: SubstituteFromKind,
    pub name: String,
    pub optional: bool,
}

/// The write-only fields of a source. Their values live with the protected settings, never in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SourceSecret {
    #[serde(rename = "azureBlob.accountKey")]
    AzureBlobAccountKey,
    #[serde(rename = "azureBlob.sasToken")]
    AzureBlobSasToken,
    #[serde(rename = "azureBlob.servicePrincipal.clientSecret")]
    AzureBlobClientSecret,
    #[serde(rename = "azureBlob.servicePrincipal.clientCertificate")]
    AzureBlobClientCertificate,
    #[serde(rename = "azureBlob.servicePrincipal.clientCertificatePassword")]
    AzureBlobClientCertificatePassword,
    #[serde(rename = "ociRepository.tlsConfig.clientCertificate")]
    OciClientCertificate,
    #[serde(rename = "ociRepository.tlsConfig.privateKey")]
    OciPrivateKey,
    #[serde(rename = "ociRepository.tlsConfig.caCertificate")]
    OciCaCertificate,
}

impl SourceSecret {
    pub const ALL: [SourceSecret; 8] = [
        SourceSecret::AzureBlobAccountKey,
        SourceSecret::AzureBlobSasToken,
        SourceSecret::AzureBlobClientSecret,
        SourceSecret::AzureBlobClientCertificate,
        SourceSecret::AzureBlobClientCertificatePassword,
        SourceSecret::OciClientCertificate,
        SourceSecret::OciPrivateKey,
        SourceSecret::OciCaCertificate,
    ];

    /// The field's path under `properties`, which is also its key among the source credentials.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            SourceSecret::AzureBlobAccountKey => &["azureBlob", "accountKey"],
            SourceSecret::AzureBlobSasToken => &["azureBlob", "sasToken"],
            SourceSecret::AzureBlobClientSecret => &["azureBlob", "servicePrincipal", "clientSecret"],
            SourceSecret::AzureBlobClientCertificate => {
                &["azureBlob", "servicePrincipal", "clientCertificate"]
            }
            SourceSecret::AzureBlobClientCertificatePassword => {
                &["azureBlob", "servicePrincipal", "clientCertificatePassword"]
            }
            SourceSecret::OciClientCertificate => &["ociRepository", "tlsConfig", "clientCertificate"],
            SourceSecret::OciPrivateKey => &["ociRepository", "tlsConfig", "privateKey"],
            SourceSecret::OciCaCertificate => &["ociRepository", "tlsConfig", "caCertificate"],
        }
    }

    /// `azureBlob.accountKey` and so on.
    pub fn key(self) -> String {
        self.path().join(".")
    }

    pub fn kind(self) -> SourceKind {
        match self.path()[0] {
            "azureBlob" => SourceKind::AzureBlob,
            _ => SourceKind::OciRepository,
        }
    }

    /// AzureBlob accepts one way to authenticate; this is the one the field belongs to.
    fn azure_blob_method(self) -> Option<AzureBlobAuth> {
        match self {
            SourceSecret::AzureBlobAccountKey => Some(AzureBlobAuth::AccountKey),
            SourceSecret::AzureBlobSasToken => Some(AzureBlobAuth::SasToken),
            SourceSecret::AzureBlobClientSecret
            | SourceSecret::AzureBlobClientCertificate
            | SourceSecret::AzureBlobClientCertificatePassword => Some(AzureBlobAuth::ServicePrincipal),
            _ => None,
        }
    }

    fn value_in(self, properties: &wire::FluxConfigurationProperties) -> Option<&String> {
        let blob = properties.azure_blob.as_ref();
        let sp = blob.and_then(|b| b.service_principal.as_ref());
        let tls = properties
            .oci_repository
            .as_ref()
            .and_then(|o| o.tls_config.as_ref());
        match self {
            SourceSecret::AzureBlobAccountKey => blob?.account_key.as_ref(),
            SourceSecret::AzureBlobSasToken => blob?.sas_token.as_ref(),
            SourceSecret::AzureBlobClientSecret => sp?.client_secret.as_ref(),
            SourceSecret::AzureBlobClientCertificate => sp?.client_certificate.as_ref(),
            SourceSecret::AzureBlobClientCertificatePassword => sp?.client_certificate_password.as_ref(),
            SourceSecret::OciClientCertificate => tls?.client_certificate.as_ref(),
            SourceSecret::OciPrivateKey => tls?.private_key.as_ref(),
            SourceSecret::OciCaCertificate => tls?.ca_certificate.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AzureBlobAuth {
    ServicePrincipal,
    AccountKey,
    SasToken,
    ManagedIdentity,
    LocalAuthRef,
}

impl AzureBlobAuth {
    fn field(self) -> &'static str {
        match self {
            AzureBlobAuth::ServicePrincipal => "servicePrincipal",
            AzureBlobAuth::AccountKey => "accountKey",
            AzureBlobAuth::SasToken => "sasToken",
            AzureBlobAuth::ManagedIdentity => "managedIdentity",
            AzureBlobAuth::LocalAuthRef => "localAuthRef",
        }
    }
}

/// What a write made of a fluxConfiguration: the new spec and the secret values it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxWrite {
    pub spec: FluxConfigSpec,
    pub secrets: SecretGroups,
}

/// A write's view of the write-only fields: what the body said about each one.
struct SecretMentions<'a> {
    body: &'a Value,
}

impl SecretMentions<'_> {
    fn of(&self, path: &[&str]) -> Mention<'_> {
        merge_patch::mention(self.body, path)
    }
}

impl FluxConfigSpec {
    /// Parses the `properties` of a PUT. `previous` is the stored configuration, if any: scope and namespace must
    /// not change, and write-only values the body omits are kept.
    pub fn from_put(
        name: &ResourceName,
        properties: &Value,
        previous: Option<&FluxConfigSpec>,
    ) -> Result<FluxWrite, ArmError> {
        let wire: wire::FluxConfigurationProperties = validate::deserialize(properties, "properties")?;
        if let Some(previous) = previous {
            let scope = wire.scope.unwrap_or(ScopeType::Cluster);
            if scope != previous.scope {
                return Err(ArmError::validation(
                    "properties.scope",
                    format!(
                        "The scope of a Flux configuration cannot be changed after creation (it is '{}').",
                        previous.scope
                    ),
                ));
            }
            let namespace = wire.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
            if namespace != previous.namespace {
                return Err(ArmError::validation(
                    "properties.namespace",
                    format!(
                        "The namespace of a Flux configuration cannot be changed after creation (it is '{}').",
                        previous.namespace
                    ),
                ));
            }
        }
        build(name, &wire, previous, &SecretMentions { body: properties })
    }

    /// Applies the `properties` of a PATCH (JSON merge patch) to this configuration.
    pub fn apply_patch(&self, name: &ResourceName, patch: &Value) -> Result<FluxWrite, ArmError> {
        if !patch.is_object() {
            return Err(
                ArmError::invalid_content("'properties' must be a JSON object.").with_target("properties")
            );
        }
        let mut merged = serde_json::to_value(self.render()).expect("wire types serialize");
        strip_nulls(&mut merged);
        // Switching kinds replaces the source: the old kind's body is dropped, whatever the patch says of it
        // (the Azure CLI sends empty objects for the kinds it leaves).
        if let Some(kind) = patch
            .get("sourceKind")
            .and_then(Value::as_str)
            .and_then(SourceKind::parse)
            && kind != self.source.kind()
            && let Some(map) = merged.as_object_mut()
        {
            map.remove(source_field(self.source.kind()));
        }
        merge_patch::apply(&mut merged, patch);
        if let Some(map) = merged.as_object_mut() {
            let kind = map
                .get("sourceKind")
                .and_then(Value::as_str)
                .and_then(SourceKind::parse);
            for other in SourceKind::ALL.iter().filter(|k| Some(**k) != kind) {
                if map
                    .get(source_field(*other))
                    .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
                {
                    map.remove(source_field(*other));
                }
            }
        }
        let wire: wire::FluxConfigurationProperties = validate::deserialize(&merged, "properties")?;
        build(name, &wire, Some(self), &SecretMentions { body: patch })
    }

    /// The configuration as the newest api-version shows it (defaults filled in, no write-only values).
    pub fn render(&self) -> wire::FluxConfigurationProperties {
        let mut out = wire::FluxConfigurationProperties {
            scope: Some(self.scope),
            namespace: Some(self.namespace.clone()),
            source_kind: Some(self.source.kind()),
            suspend: Some(self.suspend),
            kustomizations: Some(
                self.kustomizations
                    .iter()
                    .map(|(name, k)| (name.clone(), k.render(name)))
                    .collect(),
            ),
            wait_for_reconciliation: self.wait_for_reconciliation,
            reconciliation_wait_duration: self.reconciliation_wait_duration.clone(),
            ..Default::default()
        };
        match &self.source {
            Source::GitRepository(git) => out.git_repository = Some(git.render()),
            Source::Bucket(bucket) => out.bucket = Some(bucket.render()),
            Source::AzureBlob(blob) => out.azure_blob = Some(blob.render()),
            Source::OciRepository(oci) => out.oci_repository = Some(oci.render()),
        }
        out
    }

    /// Whether `multiTenancy` rules apply to how this configuration is applied (namespace scope).
    pub fn is_namespace_scoped(&self) -> bool {
        self.scope == ScopeType::Namespace
    }
}

fn source_field(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::GitRepository => "gitRepository",
        SourceKind::Bucket => "bucket",
        SourceKind::AzureBlob => "azureBlob",
        SourceKind::OciRepository => "ociRepository",
    }
}

/// Removes `null` members recursively (rendered documents use absence, not null).
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn build(
    name: &ResourceName,
    wire: &wire::FluxConfigurationProperties,
    previous: Option<&FluxConfigSpec>,
    mentions: &SecretMentions<'_>,
) -> Result<FluxWrite, ArmError> {
    let scope = wire.scope.unwrap_or(ScopeType::Cluster);
    let namespace = wire
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    check_dns_name(&namespace, 63, false).map_err(|why| {
        ArmError::validation(
            "properties.namespace",
            format!("Invalid namespace '{}': {why}", printable(&namespace)),
        )
    })?;

    // Protected settings: a value replaces them, null clears them, absence keeps them.
    let (protected_values, protected_setting_keys) = match mentions.of(&["configurationProtectedSettings"]) {
        Mention::Value(_) => {
            let values = wire.configuration_protected_settings.clone().unwrap_or_default();
            let keys = values.keys().cloned().collect();
            (Some(values), keys)
        }
        Mention::Null => (Some(BTreeMap::new()), BTreeSet::new()),
        Mention::Absent => (
            None,
            previous
                .map(|p| p.protected_setting_keys.clone())
                .unwrap_or_default(),
        ),
    };
    if let Some(values) = &protected_values {
        check_protected_settings(values)?;
    }

    let kind = wire.source_kind.unwrap_or(SourceKind::GitRepository);
    check_source_bodies(kind, wire)?;

    // Source write-only fields: given values, plus the stored ones this write neither mentions nor supersedes.
    let given: BTreeMap<SourceSecret, String> = SourceSecret::ALL
        .iter()
        .filter(|s| s.kind() == kind)
        .filter_map(|s| s.value_in(wire).map(|v| (*s, v.clone())))
        .collect();
    let retained: BTreeSet<SourceSecret> = previous
        .filter(|p| p.source.kind() == kind)
        .map(|p| {
            p.source_secrets
                .iter()
                .copied()
                .filter(|s| !given.contains_key(s) && mentions.of(s.path()) == Mention::Absent)
                .collect()
        })
        .unwrap_or_default();
    let mut source_secrets: BTreeSet<SourceSecret> =
        given.keys().copied().chain(retained.iter().copied()).collect();

    let source = match kind {
        SourceKind::GitRepository => Source::GitRepository(build_git(wire, &protected_setting_keys)?),
        SourceKind::Bucket => Source::Bucket(build_bucket(wire, &protected_setting_keys)?),
        SourceKind::AzureBlob => {
            Source::AzureBlob(build_azure_blob(wire, &given, &retained, &mut source_secrets)?)
        }
        SourceKind::OciRepository => Source::OciRepository(build_oci(wire, &source_secrets)?),
    };

    let kustomizations = build_kustomizations(name, wire.kustomizations.as_ref())?;
    let suspend = wire.suspend.unwrap_or(false);
    if let Some(duration) = &wire.reconciliation_wait_duration {
        validate::iso8601_duration(duration, "properties.reconciliationWaitDuration")?;
    }

    // The source credentials change when this write gave values or the set of fields that hold one changed;
    // the stored values of fields it kept are carried over by the caller.
    let source_credentials = {
        let before = previous.map(|p| p.source_secrets.clone()).unwrap_or_default();
        (!given.is_empty() || before != source_secrets)
            .then(|| given.iter().map(|(s, v)| (s.key(), v.clone())).collect())
    };

    Ok(FluxWrite {
        spec: FluxConfigSpec {
            scope,
            namespace,
            source,
            suspend,
            kustomizations,
            wait_for_reconciliation: wire.wait_for_reconciliation,
            reconciliation_wait_duration: wire.reconciliation_wait_duration.clone(),
            protected_setting_keys,
            source_secrets,
        },
        secrets: SecretGroups {
            protected_settings: protected_values,
            source_credentials,
        },
    })
}

/// The body of the chosen kind must be there; the bodies of other kinds must not.
fn check_source_bodies(kind: SourceKind, wire: &wire::FluxConfigurationProperties) -> Result<(), ArmError> {
    let present = [
        (SourceKind::GitRepository, wire.git_repository.is_some()),
        (SourceKind::Bucket, wire.bucket.is_some()),
        (SourceKind::AzureBlob, wire.azure_blob.is_some()),
        (SourceKind::OciRepository, wire.oci_repository.is_some()),
    ];
    if !present.iter().any(|(k, p)| *k == kind && *p) {
        return Err(ArmError::validation(
            format!("properties.{}", source_field(kind)),
            format!(
                "Invalid source kind match. Config with specified source kind '{kind}' must contain corresponding body specified in the properties ('{}').",
                source_field(kind)
            ),
        ));
    }
    if let Some((other, _)) = present.iter().find(|(k, p)| *k != kind && *p) {
        return Err(ArmError::validation(
            format!("properties.{}", source_field(*other)),
            format!(
                "Invalid source kind match. 'properties.{}' cannot be specified when sourceKind is '{kind}'.",
                source_field(*other)
            ),
        ));
    }
    Ok(())
}

/// Known protected settings must be base64 (the Azure CLI encodes files and keys so).
fn check_protected_settings(values: &BTreeMap<String, String>) -> Result<(), ArmError> {
    for (key, value) in values {
        let target = format!("properties.configurationProtectedSettings.{key}");
        if key.is_empty() {
            return Err(ArmError::validation(
                target,
                "Protected setting names must not be empty.",
            ));
        }
        match key.as_str() {
            "sshPrivateKey" => {
                let pem = validate::base64_text(value).ok_or_else(|| {
                    ArmError::validation(
                        &target,
                        "'sshPrivateKey' must be the base64 encoding of a PEM private key.",
                    )
                })?;
                if !(pem.contains("-----BEGIN") && pem.contains("PRIVATE KEY-----")) {
                    return Err(ArmError::validation(
                        &target,
                        "'sshPrivateKey' must be the base64 encoding of a PEM private key (RSA, ECDSA, DSA or Ed25519).",
                    ));
                }
            }
            "httpsKey" | "bucketSecretKey" if validate::base64_bytes(value).is_none_or(|b| b.is_empty()) => {
                return Err(ArmError::validation(
                    &target,
                    format!("'{key}' must be a non-empty base64 value."),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn interval(value: Option<i64>, target: &str) -> Result<u64, ArmError> {
    validate::positive_seconds(value.unwrap_or(DEFAULT_INTERVAL_SECONDS as i64), target)
}

fn build_git(
    wire: &wire::FluxConfigurationProperties,
    protected_keys: &BTreeSet<String>,
) -> Result<GitSource, ArmError> {
    let git = wire
        .git_repository
        .as_ref()
        .expect("checked by check_source_bodies");
    let t = |field: &str| format!("properties.gitRepository.{field}");
    let url = Field::new(&t("url")).required(git.url.as_deref())?;
    let is_http = url.starts_with("http://") || url.starts_with("https://");
    let is_ssh = url.starts_with("ssh://") || url.starts_with("git@");
    if !is_http && !is_ssh {
        return Err(ArmError::validation(
            t("url"),
            "Invalid URL for a Git repository: it must start with 'http://', 'https://', 'ssh://' or 'git@'.",
        ));
    }
    validate::url_text(url, &t("url"))?;

    let reference = git_ref(git.repository_ref.as_ref())?;
    let provider = git.provider;
    let has_ssh_key = protected_keys.contains("sshPrivateKey");
    let has_https_key = protected_keys.contains("httpsKey");
    if let Some(known_hosts) = &git.ssh_known_hosts {
        validate::known_hosts(known_hosts, &t("sshKnownHosts"))?;
    }
    if let Some(ca) = &git.https_ca_cert {
        validate::base64_pem_certificate(ca, &t("httpsCACert"))?;
    }
    if is_http {
        if has_ssh_key {
            return Err(ArmError::validation(
                "properties.configurationProtectedSettings.sshPrivateKey",
                "An SSH private key cannot be used with an http(s) repository URL; use 'httpsUser' and the protected setting 'httpsKey'.",
            ));
        }
        if git.ssh_known_hosts.is_some() {
            return Err(ArmError::validation(
                t("sshKnownHosts"),
                "SSH known hosts cannot be used with an http(s) repository URL.",
            ));
        }
        if git.https_user.is_some() != has_https_key {
            return Err(ArmError::validation(
                if git.https_user.is_some() {
                    "properties.configurationProtectedSettings.httpsKey".into()
                } else {
                    t("httpsUser")
                },
                "'httpsUser' and the protected setting 'httpsKey' must be given together.",
            ));
        }
    } else {
        if git.https_user.is_some() || has_https_key {
            return Err(ArmError::validation(
                if git.https_user.is_some() {
                    t("httpsUser")
                } else {
                    "properties.configurationProtectedSettings.httpsKey".into()
                },
                "HTTPS credentials cannot be used with an SSH repository URL; use the protected setting 'sshPrivateKey'.",
            ));
        }
        if git.https_ca_cert.is_some() {
            return Err(ArmError::validation(
                t("httpsCACert"),
                "An HTTPS CA certificate cannot be used with an SSH repository URL.",
            ));
        }
    }
    if let Some(local) = &git.local_auth_ref {
        validate::secret_name(local, &t("localAuthRef"))?;
        if has_ssh_key || has_https_key || git.https_user.is_some() {
            return Err(ArmError::validation(
                t("localAuthRef"),
                "'localAuthRef' names a Secret that holds the credentials; it cannot be combined with 'httpsUser', 'httpsKey' or 'sshPrivateKey'.",
            ));
        }
    }
    match provider {
        Some(GitProvider::Azure) | Some(GitProvider::GitHub) => {
            if !url.starts_with("https://") {
                return Err(ArmError::validation(
                    t("provider"),
                    format!(
                        "The '{}' provider needs an https:// repository URL.",
                        provider.expect("matched")
                    ),
                ));
            }
            if provider == Some(GitProvider::Azure) && (has_https_key || git.https_user.is_some()) {
                return Err(ArmError::validation(
                    t("provider"),
                    "The 'Azure' provider authenticates with the cluster's workload identity; remove 'httpsUser' and 'httpsKey'.",
                ));
            }
        }
        Some(GitProvider::Generic) | None => {}
    }
    Ok(GitSource {
        url: url.to_owned(),
        timeout_in_seconds: interval(git.timeout_in_seconds, &t("timeoutInSeconds"))?,
        sync_interval_in_seconds: interval(git.sync_interval_in_seconds, &t("syncIntervalInSeconds"))?,
        reference,
        ssh_known_hosts: git.ssh_known_hosts.clone(),
        https_user: git.https_user.clone(),
        https_ca_cert: git.https_ca_cert.clone(),
        local_auth_ref: git.local_auth_ref.clone(),
        provider,
    })
}

fn git_ref(reference: Option<&wire::RepositoryRefDefinition>) -> Result<GitRef, ArmError> {
    const TARGET: &str = "properties.gitRepository.repositoryRef";
    let reference = reference.cloned().unwrap_or_default();
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    for (field, value) in [
        ("branch", &reference.branch),
        ("tag", &reference.tag),
        ("semver", &reference.semver),
        ("commit", &reference.commit),
    ] {
        if let Some(value) = value {
            validate::single_line(value, &format!("{TARGET}.{field}"))?;
        }
    }
    let given: Vec<GitRef> = [
        non_empty(reference.branch).map(GitRef::Branch),
        non_empty(reference.tag).map(GitRef::Tag),
        non_empty(reference.semver).map(GitRef::Semver),
        non_empty(reference.commit).map(GitRef::Commit),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ArmError::validation(
            TARGET,
            "A repository reference is required: set exactly one of 'branch', 'tag', 'semver' or 'commit'.",
        )),
        _ => Err(ArmError::validation(
            TARGET,
            "Set exactly one of 'branch', 'tag', 'semver' or 'commit' in the repository reference.",
        )),
    }
}

fn build_bucket(
    wire: &wire::FluxConfigurationProperties,
    protected_keys: &BTreeSet<String>,
) -> Result<BucketSource, ArmError> {
    let bucket = wire.bucket.as_ref().expect("checked by check_source_bodies");
    let t = |field: &str| format!("properties.bucket.{field}");
    let url = Field::new(&t("url")).required(bucket.url.as_deref())?;
    validate::http_url(url, &t("url"), "a Bucket")?;
    let bucket_name = Field::new(&t("bucketName")).required(bucket.bucket_name.as_deref())?;
    validate::bucket_name(bucket_name, &t("bucketName"))?;
    let has_secret_key = protected_keys.contains("bucketSecretKey");
    if let Some(local) = &bucket.local_auth_ref {
        validate::secret_name(local, &t("localAuthRef"))?;
        if bucket.access_key.is_some() || has_secret_key {
            return Err(ArmError::validation(
                t("localAuthRef"),
                "'localAuthRef' cannot be combined with 'accessKey' and 'bucketSecretKey'.",
            ));
        }
    } else if bucket.access_key.is_none() || !has_secret_key {
        return Err(ArmError::validation(
            t("accessKey"),
            "A Bucket source needs either 'accessKey' with the protected setting 'bucketSecretKey', or 'localAuthRef'.",
        ));
    }
    Ok(BucketSource {
        url: url.to_owned(),
        bucket_name: bucket_name.to_owned(),
        insecure: bucket.insecure.unwrap_or(true),
        timeout_in_seconds: interval(bucket.timeout_in_seconds, &t("timeoutInSeconds"))?,
        sync_interval_in_seconds: interval(bucket.sync_interval_in_seconds, &t("syncIntervalInSeconds"))?,
        access_key: bucket.access_key.clone(),
        local_auth_ref: bucket.local_auth_ref.clone(),
    })
}

fn build_azure_blob(
    wire: &wire::FluxConfigurationProperties,
    given: &BTreeMap<SourceSecret, String>,
    retained: &BTreeSet<SourceSecret>,
    source_secrets: &mut BTreeSet<SourceSecret>,
) -> Result<AzureBlobSource, ArmError> {
    let blob = wire.azure_blob.as_ref().expect("checked by check_source_bodies");
    let t = |field: &str| format!("properties.azureBlob.{field}");
    let url = Field::new(&t("url")).required(blob.url.as_deref())?;
    validate::http_url(url, &t("url"), "an Azure Blob container")?;
    let container_name = Field::new(&t("containerName")).required(blob.container_name.as_deref())?;
    validate::container_name(container_name, &t("containerName"))?;

    // Methods this write names explicitly. Retained secrets of any other method are dropped, so switching
    // from, say, an account key to a SAS token needs no explicit null.
    let mut explicit: Vec<AzureBlobAuth> = Vec::new();
    if blob.service_principal.is_some() {
        explicit.push(AzureBlobAuth::ServicePrincipal);
    }
    for (secret, method) in [
        (SourceSecret::AzureBlobAccountKey, AzureBlobAuth::AccountKey),
        (SourceSecret::AzureBlobSasToken, AzureBlobAuth::SasToken),
    ] {
        if given.contains_key(&secret) {
            explicit.push(method);
        }
    }
    if blob.managed_identity.is_some() {
        explicit.push(AzureBlobAuth::ManagedIdentity);
    }
    if blob.local_auth_ref.is_some() {
        explicit.push(AzureBlobAuth::LocalAuthRef);
    }
    if !explicit.is_empty() {
        for secret in retained {
            if secret.azure_blob_method().is_some_and(|m| !explicit.contains(&m)) {
                source_secrets.remove(secret);
            }
        }
    }
    let mut methods = explicit.clone();
    for secret in source_secrets.iter() {
        if let Some(method) = secret.azure_blob_method()
            && !methods.contains(&method)
        {
            methods.push(method);
        }
    }
    if methods.len() > 1 {
        return Err(ArmError::validation(
            t(methods[1].field()),
            format!(
                "Only one way to authenticate to Azure Blob may be set; found {}.",
                methods
                    .iter()
                    .map(|m| format!("'{}'", m.field()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ));
    }

    let service_principal = match &blob.service_principal {
        None => None,
        Some(sp) => {
            let st = |field: &str| t(&format!("servicePrincipal.{field}"));
            let client_id = Field::new(&st("clientId")).required(sp.client_id.as_deref())?;
            let tenant_id = Field::new(&st("tenantId")).required(sp.tenant_id.as_deref())?;
            let has_secret = source_secrets.contains(&SourceSecret::AzureBlobClientSecret);
            let has_cert = source_secrets.contains(&SourceSecret::AzureBlobClientCertificate);
            if has_secret == has_cert {
                return Err(ArmError::validation(
                    st("clientSecret"),
                    "A service principal needs exactly one of 'clientSecret' and 'clientCertificate'.",
                ));
            }
            if source_secrets.contains(&SourceSecret::AzureBlobClientCertificatePassword) && !has_cert {
                return Err(ArmError::validation(
                    st("clientCertificatePassword"),
                    "'clientCertificatePassword' needs 'clientCertificate'.",
                ));
            }
            if let Some(cert) = given.get(&SourceSecret::AzureBlobClientCertificate)
                && validate::base64_text(cert).is_none_or(|pem| !pem.contains("-----BEGIN"))
            {
                return Err(ArmError::validation(
                    st("clientCertificate"),
                    "'clientCertificate' must be the base64 encoding of a PEM certificate.",
                ));
            }
            Some(ServicePrincipal {
                client_id: client_id.to_owned(),
                tenant_id: tenant_id.to_owned(),
                client_certificate_send_chain: sp.client_certificate_send_chain.unwrap_or(false),
            })
        }
    };
    if service_principal.is_none()
        && let Some(orphan) = source_secrets
            .iter()
            .find(|s| s.azure_blob_method() == Some(AzureBlobAuth::ServicePrincipal))
    {
        return Err(ArmError::validation(
            format!("properties.{}", orphan.key()),
            "Service principal credentials need 'servicePrincipal' with 'clientId' and 'tenantId'.",
        ));
    }
    if let Some(local) = &blob.local_auth_ref {
        validate::secret_name(local, &t("localAuthRef"))?;
    }
    Ok(AzureBlobSource {
        url: url.to_owned(),
        container_name: container_name.to_owned(),
        timeout_in_seconds: interval(blob.timeout_in_seconds, &t("timeoutInSeconds"))?,
        sync_interval_in_seconds: interval(blob.sync_interval_in_seconds, &t("syncIntervalInSeconds"))?,
        service_principal,
        managed_identity: blob.managed_identity.as_ref().map(|mi| ManagedIdentity {
            client_id: mi.client_id.clone(),
        }),
        local_auth_ref: blob.local_auth_ref.clone(),
    })
}

fn build_oci(
    wire: &wire::FluxConfigurationProperties,
    source_secrets: &BTreeSet<SourceSecret>,
) -> Result<OciSource, ArmError> {
    let oci = wire
        .oci_repository
        .as_ref()
        .expect("checked by check_source_bodies");
    let t = |field: &str| format!("properties.ociRepository.{field}");
    let url = Field::new(&t("url")).required(oci.url.as_deref())?;
    if !url.starts_with("oci://") || url.len() <= "oci://".len() {
        return Err(ArmError::validation(
            t("url"),
            "Invalid URL for an OCI repository: it must start with 'oci://'.",
        ));
    }
    validate::url_text(url, &t("url"))?;
    let reference = {
        let r = oci.repository_ref.clone().unwrap_or_default();
        for (field, value) in [("tag", &r.tag), ("semver", &r.semver), ("digest", &r.digest)] {
            if let Some(value) = value {
                validate::single_line(value, &t(&format!("repositoryRef.{field}")))?;
            }
        }
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let given: Vec<OciRef> = [
            non_empty(r.tag).map(OciRef::Tag),
            non_empty(r.semver).map(OciRef::Semver),
            non_empty(r.digest).map(OciRef::Digest),
        ]
        .into_iter()
        .flatten()
        .collect();
        match given.as_slice() {
            [] => OciRef::Tag(DEFAULT_OCI_TAG.to_owned()),
            [OciRef::Digest(digest)] => {
                validate::oci_digest(digest, &t("repositoryRef.digest"))?;
                OciRef::Digest(digest.clone())
            }
            [one] => one.clone(),
            _ => {
                return Err(ArmError::validation(
                    t("repositoryRef"),
                    "Set at most one of 'tag', 'semver' or 'digest' in the repository reference.",
                ));
            }
        }
    };
    let verify = match &oci.verify {
        None => None,
        Some(v) => {
            let provider = Field::new(&t("verify.provider")).required(v.provider.as_deref())?;
            if !["cosign", "notation"].contains(&provider) {
                return Err(ArmError::validation(
                    t("verify.provider"),
                    format!(
                        "'{}' is not a verification provider; expected 'cosign' or 'notation'.",
                        printable(provider)
                    ),
                ));
            }
            let identities = v.match_oidc_identity.clone().unwrap_or_default();
            if provider != "cosign" && !identities.is_empty() {
                return Err(ArmError::validation(
                    t("verify.matchOidcIdentity"),
                    "'matchOidcIdentity' applies to the 'cosign' provider only.",
                ));
            }
            let mut match_oidc_identity = Vec::new();
            for (i, identity) in identities.iter().enumerate() {
                let at = |f: &str| t(&format!("verify.matchOidcIdentity[{i}].{f}"));
                match_oidc_identity.push(OidcIdentity {
                    issuer: Field::new(&at("issuer"))
                        .required(identity.issuer.as_deref())?
                        .to_owned(),
                    subject: Field::new(&at("subject"))
                        .required(identity.subject.as_deref())?
                        .to_owned(),
                });
            }
            Some(Verify {
                provider: provider.to_owned(),
                verification_config: v.verification_config.clone().unwrap_or_default(),
                match_oidc_identity,
            })
        }
    };
    let has_cert = source_secrets.contains(&SourceSecret::OciClientCertificate);
    let has_key = source_secrets.contains(&SourceSecret::OciPrivateKey);
    if has_cert != has_key {
        return Err(ArmError::validation(
            t("tlsConfig"),
            "'tlsConfig.clientCertificate' and 'tlsConfig.privateKey' must be given together.",
        ));
    }
    let use_workload_identity = oci.use_workload_identity.unwrap_or(false);
    if let Some(local) = &oci.local_auth_ref {
        validate::secret_name(local, &t("localAuthRef"))?;
        if use_workload_identity {
            return Err(ArmError::validation(
                t("localAuthRef"),
                "'localAuthRef' and 'useWorkloadIdentity' cannot be combined.",
            ));
        }
    }
    if let Some(sa) = &oci.service_account_name {
        check_dns_name(sa, 253, true).map_err(|why| {
            ArmError::validation(
                t("serviceAccountName"),
                format!("Invalid service account name: {why}"),
            )
        })?;
    }
    Ok(OciSource {
        url: url.to_owned(),
        timeout_in_seconds: interval(oci.timeout_in_seconds, &t("timeoutInSeconds"))?,
        sync_interval_in_seconds: interval(oci.sync_interval_in_seconds, &t("syncIntervalInSeconds"))?,
        reference,
        layer_selector: oci.layer_selector.as_ref().map(|l| LayerSelector {
            media_type: l.media_type.clone(),
            operation: l.operation,
        }),
        verify,
        insecure: oci.insecure.unwrap_or(false),
        use_workload_identity,
        service_account_name: oci.service_account_name.clone(),
        local_auth_ref: oci.local_auth_ref.clone(),
    })
}

fn build_kustomizations(
    config: &ResourceName,
    given: Option<&BTreeMap<String, wire::KustomizationDefinition>>,
) -> Result<BTreeMap<String, Kustomization>, ArmError> {
    let mut out = BTreeMap::new();
    for (name, k) in given.into_iter().flatten() {
        let t = |field: &str| format!("properties.kustomizations.{name}.{field}");
        check_dns_name(name, 63, true).map_err(|why| {
            ArmError::validation(
                format!("properties.kustomizations.{}", printable(name)),
                format!("Invalid kustomization name '{}': {why}", printable(name)),
            )
        })?;
        if config.key().len() + 1 + name.len() > MAX_OBJECT_NAME {
            return Err(ArmError::validation(
                format!("properties.kustomizations.{name}"),
                format!(
                    "The combined length of the configuration name and the kustomization name ('{}-{name}') must be at most {} characters.",
                    config.key(),
                    MAX_OBJECT_NAME - 1
                ),
            ));
        }
        if let Some(given_name) = &k.name
            && given_name != name
        {
            return Err(ArmError::validation(
                t("name"),
                format!(
                    "The kustomization's 'name' ('{}') must match its key ('{name}').",
                    printable(given_name)
                ),
            ));
        }
        let retry = k
            .retry_interval_in_seconds
            .map(|r| validate::positive_seconds(r, &t("retryIntervalInSeconds")))
            .transpose()?;
        let post_build = match &k.post_build {
            None => None,
            Some(pb) => {
                let substitute = pb.substitute.clone().unwrap_or_default();
                for var in substitute.keys() {
                    let ok = var
                        .chars()
                        .next()
                        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                        && var.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
                    if !ok {
                        return Err(ArmError::validation(
                            t(&format!("postBuild.substitute.{}", printable(var))),
                            format!(
                                "'{}' is not a valid variable name: use letters, digits and '_', not starting with a digit.",
                                printable(var)
                            ),
                        ));
                    }
                }
                let mut substitute_from = Vec::new();
                for (i, from) in pb.substitute_from.iter().flatten().enumerate() {
                    let at = |f: &str| t(&format!("postBuild.substituteFrom[{i}].{f}"));
                    let kind = from.kind.ok_or_else(|| {
                        ArmError::validation(at("kind"), "'kind' is required ('ConfigMap' or 'Secret').")
                    })?;
                    let from_name = Field::new(&at("name")).required(from.name.as_deref())?;
                    check_dns_name(from_name, 253, true)
                        .map_err(|why| ArmError::validation(at("name"), format!("Invalid name: {why}")))?;
                    substitute_from.push(SubstituteFrom {
                        kind,
                        name: from_name.to_owned(),
                        optional: from.optional.unwrap_or(false),
                    });
                }
                Some(PostBuild {
                    substitute,
                    substitute_from,
                })
            }
        };
        if let Some(path) = &k.path {
            validate::single_line(path, &t("path"))?;
        }
        let depends_on = k.depends_on.clone().unwrap_or_default();
        out.insert(
            name.clone(),
            Kustomization {
                path: k.path.clone().unwrap_or_default(),
                depends_on,
                timeout_in_seconds: interval(k.timeout_in_seconds, &t("timeoutInSeconds"))?,
                sync_interval_in_seconds: interval(k.sync_interval_in_seconds, &t("syncIntervalInSeconds"))?,
                retry_interval_in_seconds: retry,
                prune: k.prune.unwrap_or(false),
                force: k.force.unwrap_or(false),
                wait: k.wait.unwrap_or(true),
                post_build,
            },
        );
    }
    check_depends_on(&out)?;
    Ok(out)
}

/// `dependsOn` names kustomizations of the same configuration, never itself, and never closes a cycle.
fn check_depends_on(kustomizations: &BTreeMap<String, Kustomization>) -> Result<(), ArmError> {
    for (name, k) in kustomizations {
        let mut seen = BTreeSet::new();
        for dep in &k.depends_on {
            let target = format!("properties.kustomizations.{name}.dependsOn");
            if dep == name {
                return Err(ArmError::validation(
                    target,
                    format!("Kustomization '{name}' cannot depend on itself."),
                ));
            }
            if !kustomizations.contains_key(dep) {
                return Err(ArmError::validation(
                    target,
                    format!(
                        "Kustomization '{name}' depends on '{}', which is not a kustomization of this configuration.",
                        printable(dep)
                    ),
                ));
            }
            if !seen.insert(dep) {
                return Err(ArmError::validation(
                    target,
                    format!("Kustomization '{name}' lists '{dep}' twice in dependsOn."),
                ));
            }
        }
    }
    // Depth-first search; a node met again while on the path closes a cycle, which the error spells out.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, Kustomization>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), Vec<&'a str>> {
        match marks.get(node) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::OnPath) => {
                let start = path.iter().position(|n| *n == node).expect("on path");
                let mut cycle = path[start..].to_vec();
                cycle.push(node);
                return Err(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::OnPath);
        path.push(node);
        for dep in &graph[node].depends_on {
            visit(dep, graph, marks, path)?;
        }
        path.pop();
        marks.insert(node, Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for name in kustomizations.keys() {
        if let Err(cycle) = visit(name, kustomizations, &mut marks, &mut Vec::new()) {
            return Err(ArmError::validation(
                format!("properties.kustomizations.{}.dependsOn", cycle[0]),
                format!(
                    "The kustomizations' dependsOn form a cycle: {}.",
                    cycle.join(" -> ")
                ),
            ));
        }
    }
    Ok(())
}

impl GitSource {
    fn render(&self) -> wire::GitRepositoryDefinition {
        let mut reference = wire::RepositoryRefDefinition::default();
        match &self.reference {
            GitRef::Branch(v) => reference.branch = Some(v.clone()),
            GitRef::Tag(v) => reference.tag = Some(v.clone()),
            GitRef::Semver(v) => reference.semver = Some(v.clone()),
            GitRef::Commit(v) => reference.commit = Some(v.clone()),
        }
        wire::GitRepositoryDefinition {
            url: Some(self.url.clone()),
            timeout_in_seconds: Some(self.timeout_in_seconds as i64),
            sync_interval_in_seconds: Some(self.sync_interval_in_seconds as i64),
            repository_ref: Some(reference),
            ssh_known_hosts: self.ssh_known_hosts.clone(),
            https_user: self.https_user.clone(),
            https_ca_cert: self.https_ca_cert.clone(),
            local_auth_ref: self.local_auth_ref.clone(),
            provider: self.provider,
        }
    }
}

impl BucketSource {
    fn render(&self) -> wire::BucketDefinition {
        wire::BucketDefinition {
            url: Some(self.url.clone()),
            bucket_name: Some(self.bucket_name.clone()),
            insecure: Some(self.insecure),
            timeout_in_seconds: Some(self.timeout_in_seconds as i64),
            sync_interval_in_seconds: Some(self.sync_interval_in_seconds as i64),
            access_key: self.access_key.clone(),
            local_auth_ref: self.local_auth_ref.clone(),
        }
    }
}

impl AzureBlobSource {
    fn render(&self) -> wire::AzureBlobDefinition {
        wire::AzureBlobDefinition {
            url: Some(self.url.clone()),
            container_name: Some(self.container_name.clone()),
            timeout_in_seconds: Some(self.timeout_in_seconds as i64),
            sync_interval_in_seconds: Some(self.sync_interval_in_seconds as i64),
            service_principal: self
                .service_principal
                .as_ref()
                .map(|sp| wire::ServicePrincipalDefinition {
                    client_id: Some(sp.client_id.clone()),
                    tenant_id: Some(sp.tenant_id.clone()),
                    client_certificate_send_chain: Some(sp.client_certificate_send_chain),
                    ..Default::default()
                }),
            managed_identity: self
                .managed_identity
                .as_ref()
                .map(|mi| wire::ManagedIdentityDefinition {
                    client_id: mi.client_id.clone(),
                }),
            local_auth_ref: self.local_auth_ref.clone(),
            account_key: None,
            sas_token: None,
        }
    }
}

impl OciSource {
    fn render(&self) -> wire::OciRepositoryDefinition {
        let mut reference = wire::OciRepositoryRefDefinition::default();
        match &self.reference {
            OciRef::Tag(v) => reference.tag = Some(v.clone()),
            OciRef::Semver(v) => reference.semver = Some(v.clone()),
            OciRef::Digest(v) => reference.digest = Some(v.clone()),
        }
        wire::OciRepositoryDefinition {
            url: Some(self.url.clone()),
            timeout_in_seconds: Some(self.timeout_in_seconds as i64),
            sync_interval_in_seconds: Some(self.sync_interval_in_seconds as i64),
            repository_ref: Some(reference),
            layer_selector: self
                .layer_selector
                .as_ref()
                .map(|l| wire::LayerSelectorDefinition {
                    media_type: l.media_type.clone(),
                    operation: l.operation,
                }),
            verify: self.verify.as_ref().map(|v| wire::VerifyDefinition {
                provider: Some(v.provider.clone()),
                verification_config: (!v.verification_config.is_empty())
                    .then(|| v.verification_config.clone()),
                match_oidc_identity: (!v.match_oidc_identity.is_empty()).then(|| {
                    v.match_oidc_identity
                        .iter()
                        .map(|i| wire::MatchOidcIdentityDefinition {
                            issuer: Some(i.issuer.clone()),
                            subject: Some(i.subject.clone()),
                        })
                        .collect()
                }),
            }),
            insecure: Some(self.insecure),
            use_workload_identity: Some(self.use_workload_identity),
            service_account_name: self.service_account_name.clone(),
            tls_config: None,
            local_auth_ref: self.local_auth_ref.clone(),
        }
    }
}

impl Kustomization {
    fn render(&self, name: &str) -> wire::KustomizationDefinition {
        wire::KustomizationDefinition {
            name: Some(name.to_owned()),
            path: Some(self.path.clone()),
            depends_on: Some(self.depends_on.clone()),
            timeout_in_seconds: Some(self.timeout_in_seconds as i64),
            sync_interval_in_seconds: Some(self.sync_interval_in_seconds as i64),
            retry_interval_in_seconds: self.retry_interval_in_seconds.map(|v| v as i64),
            prune: Some(self.prune),
            force: Some(self.force),
            wait: Some(self.wait),
            post_build: self.post_build.as_ref().map(|pb| wire::PostBuildDefinition {
                substitute: (!pb.substitute.is_empty()).then(|| pb.substitute.clone()),
                substitute_from: (!pb.substitute_from.is_empty()).then(|| {
                    pb.substitute_from
                        .iter()
                        .map(|f| wire::SubstituteFromDefinition {
                            kind: Some(f.kind),
                            name: Some(f.name.clone()),
                            optional: Some(f.optional),
                        })
                        .collect()
                }),
            }),
        }
    }
}
