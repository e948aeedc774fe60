//! Configuration: defaults, then a TOML file (`--config` or `CLUSTERCONFIG_CONFIG`), then environment variables
//! (`CLUSTERCONFIG_` + the key, `__` between nested keys, e.g. `CLUSTERCONFIG_STORE__KIND=postgres`), then
//! command-line flags. The README's configuration reference lists every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The token subject of Azure Resource Manager's own calls (`clusterconfig token arm --subject ...`).
pub const ARM_IDENTITY: &str = "Microsoft.Azure.ResourceManager";

/// The most a secret or a pending change may live: the service promises less than 48 hours.
pub const MAX_SECRET_RETENTION: Duration = Duration::from_secs(48 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store, the signing key and the local key file live.
    pub data_dir: PathBuf,
    /// The ARM API's address.
    pub arm_listen: SocketAddr,
    /// The agent data plane's address; the same as `arm_listen` serves both on one port.
    pub dataplane_listen: SocketAddr,
    /// Scheme of the URLs the service builds (`Azure-AsyncOperation`, `nextLink`) when ARM sends no `Referer`:
    /// `https` behind a TLS-terminating proxy.
    pub public_scheme: String,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `clusterconfig=debug,info` (`RUST_LOG` wins when set).
    pub log_level: String,
    /// The extension-type catalog; the built-in copy of `infra/extension-types.toml` when unset.
    pub catalog_path: Option<PathBuf>,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub lifetimes: Lifetimes,
    pub http: HttpConfig,
    pub arm: ArmConfig,
    pub dataplane: DataplaneConfig,
    pub crypto: CryptoConfig,
    pub tasks: TasksConfig,
    pub policy: PolicyConfig,
    pub telemetry: TelemetryConfig,
}

/// Where traces and metrics go (logs: `log_format`, `log_level`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// An OTLP/HTTP receiver (an OpenTelemetry Collector, Azure Monitor's agent): traces go to
    /// `{otlp_endpoint}/v1/traces`, metrics to `{otlp_endpoint}/v1/metrics`. Unset: no export (metrics are
    /// still served on `/metrics`).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the traces and metrics.
    pub service_name: String,
    /// How often metrics are exported over OTLP.
    #[serde(with = "humantime_serde")]
    pub metrics_export_interval: Duration,
    /// The longest a finished span waits in the batch before it is exported.
    #[serde(with = "humantime_serde")]
    pub trace_export_delay: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "clusterconfig".to_owned(),
            metrics_export_interval: Duration::from_secs(60),
            trace_export_delay: Duration::from_secs(5),
        }
    }
}

/// Where policy deployments resolve the Key Vault references of their `securestring` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySecretsKind {
    /// None: a deployment that needs a secret fails with KeyVaultParameterReferenceSecretRetrieveFailed.
    None,
    /// A JSON file `{"<vault name>": {"<secret name>": "<value>"}}` (`policy.local_secrets_file`), read on each use.
    Local,
    /// Azure Key Vault through the SDK's SecretClient, at `https://{vault}.{policy.keyvault.dns_suffix}`.
    Keyvault,
}

/// Azure Policy as the service runs it itself (definitions, assignments, remediations).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Under continuous remediation, the least time between two deployments of one assignment to one cluster.
    #[serde(with = "humantime_serde")]
    pub redeploy_backoff: Duration,
    /// Clusters evaluated at once.
    pub evaluation_concurrency: usize,
    /// How long one run of the remediation task works on one remediation before yielding (it keeps its lease).
    #[serde(with = "humantime_serde")]
    pub remediation_run_budget: Duration,
    /// A remediation stays with the instance running it this long without a renewal (renewed while it runs):
    /// how soon another instance takes over a dead one's.
    #[serde(with = "humantime_serde")]
    pub remediation_lease: Duration,
    pub secrets: PolicySecretsKind,
    /// The local secrets file; `{data_dir}/policy-secrets.json` when unset.
    pub local_secrets_file: Option<PathBuf>,
    pub keyvault: PolicyKeyVaultConfig,
}

/// The Entra ID credential and cloud of the vaults that policy deployments read secrets from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyKeyVaultConfig {
    /// `vault.azure.net` (public cloud), `vault.azure.cn`, `vault.usgovcloudapi.net`, ...
    pub dns_suffix: String,
    pub credential: CredentialKind,
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            redeploy_backoff: Duration::from_secs(30),
            evaluation_concurrency: 16,
            remediation_run_budget: Duration::from_secs(30),
            remediation_lease: Duration::from_secs(30),
            secrets: PolicySecretsKind::None,
            local_secrets_file: None,
            keyvault: PolicyKeyVaultConfig::default(),
        }
    }
}

impl Default for PolicyKeyVaultConfig {
    fn default() -> Self {
        Self {
            dns_suffix: "vault.azure.net".into(),
            credential: CredentialKind::ManagedIdentity,
            client_id: None,
            tenant_id: None,
            resource_id: None,
            token_file: None,
        }
    }
}

/// Who holds the key-encryption key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyProviderKind {
    /// A key file (`crypto.local_key_file`), made on first start.
    Local,
    /// A key in Azure Key Vault (`crypto.keyvault`).
    Keyvault,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoConfig {
    pub provider: KeyProviderKind,
    /// The local key file; `{data_dir}/kek.json` when unset. Every instance sharing a store needs the same file.
    pub local_key_file: Option<PathBuf>,
    /// How long an unwrapped data key stays in memory without being unwrapped again.
    #[serde(with = "humantime_serde")]
    pub key_cache_ttl: Duration,
    /// A data key seals new data for at most this long; then a new one takes over (old ones stay readable).
    #[serde(with = "humantime_serde")]
    pub data_key_max_age: Duration,
    /// A data key seals at most this many records on one instance before a new one takes over. AES-GCM with
    /// random 96-bit nonces stays within NIST SP 800-38D's bound while the total across instances stays under
    /// 2^32: keep this under 2^32 divided by the number of instances.
    pub data_key_max_seals: u64,
    /// Secret values are sealed under the key of their period (by expiry, rounded down to this), destroyed
    /// when the period ends: each value lives at most this much less than `lifetimes.secret_retention`.
    #[serde(with = "humantime_serde")]
    pub secret_key_period: Duration,
    pub keyvault: KeyVaultConfig,
}

impl CryptoConfig {
    pub fn keyring_settings(&self) -> crate::keyring::KeyringSettings {
        crate::keyring::KeyringSettings {
            cache_ttl: self.key_cache_ttl,
            secret_period: self.secret_key_period,
        }
    }
}

/// The Entra ID credential that reaches Key Vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ManagedIdentity,
    WorkloadIdentity,
    /// A service principal; its secret comes from the environment variable AZURE_CLIENT_SECRET only.
    ClientSecret,
    AzureCli,
    DeveloperTools,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyVaultConfig {
    /// e.g. `https://my-vault.vault.azure.net`
    pub vault_url: Option<String>,
    /// The RSA key that wraps data keys (`az keyvault key create --kty RSA --size 3072 --ops wrapKey unwrapKey`).
    pub key_name: Option<String>,
    pub credential: CredentialKind,
    /// A user-assigned managed identity or workload identity's client id; the service principal's for client_secret.
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    /// A user-assigned managed identity by resource id.
    pub resource_id: Option<String>,
    /// Workload identity's token file (AZURE_FEDERATED_TOKEN_FILE by default).
    pub token_file: Option<PathBuf>,
}

/// How often each background task runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    #[serde(with = "humantime_serde")]
    pub secret_expiry: Duration,
    #[serde(with = "humantime_serde")]
    pub pending_timeouts: Duration,
    #[serde(with = "humantime_serde")]
    pub operation_retention: Duration,
    #[serde(with = "humantime_serde")]
    pub key_rotation: Duration,
    #[serde(with = "humantime_serde")]
    pub key_refresh: Duration,
    #[serde(with = "humantime_serde")]
    pub data_key_rollover: Duration,
    #[serde(with = "humantime_serde")]
    pub data_key_reseal: Duration,
    #[serde(with = "humantime_serde")]
    pub subscription_purge: Duration,
    /// Woken by every queued cluster; the period only bounds a missed wake-up.
    #[serde(with = "humantime_serde")]
    pub policy_evaluation: Duration,
    /// Woken when a remediation is created or cancelled; the period is how soon a dead instance's is taken over.
    #[serde(with = "humantime_serde")]
    pub policy_remediation: Duration,
    /// How soon assignments written through another instance take effect here.
    #[serde(with = "humantime_serde")]
    pub policy_assignments_refresh: Duration,
    /// How often the extension catalog file is checked for changes (SIGHUP checks at once); a changed catalog
    /// moves the auto-upgrading extensions of every cluster to the versions it allows.
    #[serde(with = "humantime_serde")]
    pub extension_auto_upgrade: Duration,
    /// The fleet page's index re-reads changed clusters when woken by their changes; the period only bounds a
    /// missed wake-up.
    #[serde(with = "humantime_serde")]
    pub fleet_index: Duration,
    /// How often the fleet index goes over every cluster (what changed unseen, clusters gone).
    #[serde(with = "humantime_serde")]
    pub fleet_rescan: Duration,
}

impl Default for CryptoConfig {
    fn default() -> Self {
        Self {
            provider: KeyProviderKind::Local,
            local_key_file: None,
            key_cache_ttl: Duration::from_secs(3600),
            data_key_max_age: Duration::from_secs(30 * 24 * 3600),
            data_key_max_seals: 100_000_000,
            secret_key_period: Duration::from_secs(3600),
            keyvault: KeyVaultConfig::default(),
        }
    }
}

impl Default for KeyVaultConfig {
    fn default() -> Self {
        Self {
            vault_url: None,
            key_name: None,
            credential: CredentialKind::ManagedIdentity,
            client_id: None,
            tenant_id: None,
            resource_id: None,
            token_file: None,
        }
    }
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            secret_expiry: Duration::from_secs(60),
            pending_timeouts: Duration::from_secs(60),
            operation_retention: Duration::from_secs(3600),
            subscription_purge: Duration::from_secs(60),
            key_rotation: Duration::from_secs(3600),
            key_refresh: Duration::from_secs(300),
            data_key_rollover: Duration::from_secs(60),
            data_key_reseal: Duration::from_secs(60),
            policy_evaluation: Duration::from_secs(5),
            policy_remediation: Duration::from_secs(5),
            policy_assignments_refresh: Duration::from_secs(30),
            extension_auto_upgrade: Duration::from_secs(60),
            fleet_index: Duration::from_secs(5),
            fleet_rescan: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// One SQLite file in the data directory: one instance.
    Sqlite,
    /// PostgreSQL: self-hosted, several instances.
    Postgres,
    /// Azure Cosmos DB: the service in Azure, several instances.
    Cosmos,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// The SQLite file; `{data_dir}/clusterconfig.db` when unset.
    pub sqlite_path: Option<PathBuf>,
    pub postgres: PostgresConfig,
    pub cosmos: CosmosConfig,
}

/// A secret from the configuration: serialized as is, but never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CosmosConfig {
    /// e.g. `https://my-account.documents.azure.com:443/`
    pub endpoint: Option<String>,
    pub database: String,
    /// Partitioned by `/pk`, with per-item TTL on (`defaultTtl: -1`); `infra/` provisions it.
    pub container: String,
    /// The account key: for emulators and tests. When unset, Entra ID through `credential`.
    pub key: Option<Redacted>,
    /// The Entra ID credential (it needs the "Cosmos DB Built-in Data Contributor" role on the account).
    pub credential: CredentialKind,
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Create the database and container when missing (key auth only); in Azure they come from `infra/`.
    pub create_if_missing: bool,
    /// An emulator on this machine: HTTP/1.1, plain JSON, its self-signed certificate accepted.
    pub emulator: bool,
    /// The Azure region this instance runs in (e.g. `West Europe`), to read from the nearest replica.
    pub region: Option<String>,
    /// The longest one call may take, retries of throttled (429) requests included; then 503.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How often the change feed is polled while quiet: how soon other instances' changes wake long-polls here.
    #[serde(with = "humantime_serde")]
    pub feed_poll_interval: Duration,
    /// The least time between saves of this instance's change-feed checkpoint.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Names this instance's change-feed checkpoint; the host name when unset (a StatefulSet's pod name).
    pub instance: Option<String>,
}

impl Default for CosmosConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            database: "clusterconfig".into(),
            container: "clusterconfig".into(),
            key: None,
            credential: CredentialKind::ManagedIdentity,
            client_id: None,
            tenant_id: None,
            resource_id: None,
            token_file: None,
            create_if_missing: false,
            emulator: false,
            region: None,
            request_timeout: Duration::from_secs(10),
            feed_poll_interval: Duration::from_millis(250),
            checkpoint_interval: Duration::from_secs(5),
            instance: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// e.g. `postgres://clusterconfig@db.example:5432/clusterconfig` (a password may come from PGPASSWORD).
    pub url: Option<Redacted>,
    pub max_connections: u32,
    pub min_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Apply pending migrations at start (else run `clusterconfig migrate`).
    pub migrate_on_start: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        // The pool's defaults are the store's own.
        let pool = clusterconfig_store::postgres::PoolSettings::default();
        Self {
            url: None,
            max_connections: pool.max_connections,
            min_connections: pool.min_connections,
            acquire_timeout: pool.acquire_timeout,
            idle_timeout: pool.idle_timeout,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The key that signs ARM and agent tokens; `{data_dir}/signing-key` (made on first start, mode 0600) when
    /// unset. Every instance sharing a store needs the same key.
    pub signing_key_file: Option<PathBuf>,
    /// Entra ID (Azure AD) access tokens, as a resource provider behind ARM receives them, beside the service's
    /// own tokens.
    pub entra: EntraConfig,
}

/// Entra ID token validation: OpenID Connect discovery and signing keys from `authority`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EntraConfig {
    /// e.g. `https://login.microsoftonline.com/{tenant id}/v2.0`; discovery is read from
    /// `{authority}/.well-known/openid-configuration`. Unset: Entra tokens are not accepted.
    pub authority: Option<String>,
    /// Audiences (`aud`) of ARM API tokens: the provider's application id URI and/or client id.
    pub audiences: Vec<String>,
    /// Tenants (`tid`) whose tokens are accepted; empty: any the issuer check lets through.
    pub tenants: Vec<String>,
    /// Client ids (`appid` / `azp`) of Azure Resource Manager: only their tokens' `x-ms-client-*` and
    /// `x-ms-arm-resource-system-data` headers are believed.
    pub arm_app_ids: Vec<String>,
    /// Audiences of the agents' managed-identity tokens on the data plane; empty: agents use service tokens only.
    pub agent_audiences: Vec<String>,
    /// How far the token's `exp` and `nbf` may be off the service's clock.
    #[serde(with = "humantime_serde")]
    pub clock_skew: Duration,
    /// Signing keys are fetched again after this long (key rollover).
    #[serde(with = "humantime_serde")]
    pub keys_max_age: Duration,
    /// A token signed by an unknown key fetches the keys again, at most this often.
    #[serde(with = "humantime_serde")]
    pub unknown_key_refresh_interval: Duration,
}

impl Default for EntraConfig {
    fn default() -> Self {
        Self {
            authority: None,
            audiences: Vec::new(),
            tenants: Vec::new(),
            arm_app_ids: Vec::new(),
            agent_audiences: Vec::new(),
            clock_skew: Duration::from_secs(300),
            keys_max_age: Duration::from_secs(24 * 3600),
            unknown_key_refresh_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifetimes {
    /// A change no agent acknowledges within this time fails and must be re-applied.
    #[serde(with = "humantime_serde")]
    pub pending_timeout: Duration,
    /// Protected settings are deleted this long after they were written, if no agent took them before.
    #[serde(with = "humantime_serde")]
    pub secret_retention: Duration,
    /// How long finished operation records stay readable.
    #[serde(with = "humantime_serde")]
    pub operation_retention: Duration,
}

/// Limits of the HTTP listeners (both APIs): what a slow, stalled or crowding client may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's head (request line and headers) must arrive within this; else the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this (408 `RequestTimeout` otherwise).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Open connections per process (long-polls included); beyond it new connections get 503
    /// `TooManyConnections`. Keep it under the process's open-file limit.
    pub max_connections: usize,
    /// On SIGTERM: how long requests in flight may take to finish before the process exits anyway.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmConfig {
    /// `Retry-After` on long-running operations (ARM asks for 10-600 seconds).
    pub retry_after_seconds: u32,
    /// Items per page of a list.
    pub page_size: usize,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// An ARM request not answered within this gets 503 `OperationTimedOut` (ARM itself gives a resource
    /// provider 60 seconds, then answers 504 on its own).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long an operation status request (Azure-AsyncOperation) waits for a running operation to end
    /// before answering that it still runs; keep it well under `request_timeout`.
    #[serde(with = "humantime_serde")]
    pub status_wait: Duration,
    /// The hosts the URLs the service hands out (Azure-AsyncOperation, Location, nextLink) may point to, taken
    /// from ARM's Referer or the request's Host: `management.azure.com`, `*.management.azure.com`, or a
    /// `host:port`. A request naming any other host gets links on the service's own address.
    pub link_hosts: Vec<String>,
    /// The token subjects that are Azure Resource Manager itself: only their requests' systemData header
    /// (`x-ms-arm-resource-system-data`) is recorded; anyone else's is ignored.
    pub identities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataplaneConfig {
    /// The longest `Prefer: wait=` a long-poll honours.
    pub max_wait_seconds: u64,
    /// How often an agent's last contact is written back to the store.
    #[serde(with = "humantime_serde")]
    pub contact_write_interval: Duration,
    /// Long-polls one cluster may hold on one instance at once (429 `TooManyWaiters` beyond).
    pub max_waiters_per_cluster: usize,
}

impl Default for Config {
    fn default() -> Self {
        let listen: SocketAddr = "127.0.0.1:8080".parse().expect("constant address");
        Self {
            data_dir: PathBuf::from("./clusterconfig-data"),
            arm_listen: listen,
            dataplane_listen: listen,
            public_scheme: "http".into(),
            log_format: "text".into(),
            log_level: "info".into(),
            catalog_path: None,
            store: StoreConfig::default(),
            auth: AuthConfig::default(),
            lifetimes: Lifetimes::default(),
            http: HttpConfig::default(),
            arm: ArmConfig::default(),
            dataplane: DataplaneConfig::default(),
            crypto: CryptoConfig::default(),
            tasks: TasksConfig::default(),
            policy: PolicyConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            sqlite_path: None,
            postgres: PostgresConfig::default(),
            cosmos: CosmosConfig::default(),
        }
    }
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            pending_timeout: Duration::from_secs(48 * 3600),
            secret_retention: Duration::from_secs(47 * 3600),
            operation_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 19_000,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for ArmConfig {
    fn default() -> Self {
        Self {
            retry_after_seconds: 10,
            page_size: 100,
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(55),
            status_wait: Duration::from_secs(5),
            link_hosts: [
                "management.azure.com",
                "*.management.azure.com",
                "localhost",
                "127.0.0.1",
                "::1",
            ]
            .map(str::to_owned)
            .to_vec(),
            identities: vec![ARM_IDENTITY.to_owned()],
        }
    }
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        Self {
            max_wait_seconds: 300,
            contact_write_interval: Duration::from_secs(300),
            max_waiters_per_cluster: crate::hub::DEFAULT_MAX_WAITERS_PER_CLUSTER,
        }
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm_listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane_listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreOverride>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreOverride {
    pub kind: StoreKind,
}

/// The top-level keys of `Config`, as environment variables spell them (after `CLUSTERCONFIG_`, lowercase).
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "arm_listen",
    "dataplane_listen",
    "public_scheme",
    "log_format",
    "log_level",
    "catalog_path",
    "store",
    "http",
    "auth",
    "lifetimes",
    "arm",
    "dataplane",
    "crypto",
    "tasks",
    "policy",
    "telemetry",
];

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "configuration file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only keys of this configuration: other CLUSTERCONFIG_* variables (the agent's, the tests') are not ours.
        let environment = Env::prefixed("CLUSTERCONFIG_")
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                TOP_LEVEL_KEYS
                    .iter()
                    .any(|top| key == *top || key.starts_with(&format!("{top}__")))
            })
            .split("__");
        let config: Config = figment
            .merge(environment)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let entra = &self.auth.entra;
        anyhow::ensure!(
            entra.authority.is_none() || !(entra.audiences.is_empty() && entra.agent_audiences.is_empty()),
            "auth.entra.authority needs auth.entra.audiences (ARM API) or auth.entra.agent_audiences (data plane)"
        );
        anyhow::ensure!(
            self.lifetimes.secret_retention <= MAX_SECRET_RETENTION,
            "lifetimes.secret_retention must be at most 48h (protected settings are kept for less than 48 hours)"
        );
        anyhow::ensure!(
            !self.lifetimes.secret_retention.is_zero(),
            "lifetimes.secret_retention must be positive"
        );
        anyhow::ensure!(
            !self.lifetimes.pending_timeout.is_zero(),
            "lifetimes.pending_timeout must be positive"
        );
        anyhow::ensure!(
            self.public_scheme == "http" || self.public_scheme == "https",
            "public_scheme must be 'http' or 'https'"
        );
        anyhow::ensure!(self.arm.page_size > 0, "arm.page_size must be positive");
        for (key, value) in [
            ("http.header_read_timeout", self.http.header_read_timeout),
            ("http.body_read_timeout", self.http.body_read_timeout),
            ("arm.request_timeout", self.arm.request_timeout),
        ] {
            anyhow::ensure!(!value.is_zero(), "{key} must be positive");
        }
        anyhow::ensure!(
            self.http.max_connections > 0,
            "http.max_connections must be positive"
        );
        anyhow::ensure!(
            self.arm.status_wait < self.arm.request_timeout,
            "arm.status_wait must be shorter than arm.request_timeout"
        );
        anyhow::ensure!(
            self.dataplane.max_waiters_per_cluster > 0,
            "dataplane.max_waiters_per_cluster must be positive"
        );
        anyhow::ensure!(
            self.log_format == "text" || self.log_format == "json",
            "log_format must be 'text' or 'json'"
        );
        anyhow::ensure!(
            !self.crypto.key_cache_ttl.is_zero(),
            "crypto.key_cache_ttl must be positive"
        );
        anyhow::ensure!(
            self.crypto.secret_key_period >= Duration::from_secs(1)
                && self.crypto.secret_key_period <= self.lifetimes.secret_retention,
            "crypto.secret_key_period must be between 1s and lifetimes.secret_retention"
        );
        anyhow::ensure!(
            (1..=1u64 << 32).contains(&self.crypto.data_key_max_seals),
            "crypto.data_key_max_seals must be between 1 and 2^32"
        );
        if self.crypto.provider == KeyProviderKind::Keyvault {
            anyhow::ensure!(
                self.crypto.keyvault.vault_url.is_some() && self.crypto.keyvault.key_name.is_some(),
                "crypto.keyvault.vault_url and crypto.keyvault.key_name are needed with crypto.provider = \"keyvault\""
            );
        }
        anyhow::ensure!(
            self.policy.remediation_lease >= Duration::from_secs(1),
            "policy.remediation_lease must be at least 1s"
        );
        anyhow::ensure!(
            self.policy.evaluation_concurrency > 0,
            "policy.evaluation_concurrency must be positive"
        );
        if self.store.kind == StoreKind::Postgres {
            anyhow::ensure!(
                self.store.postgres.url.is_some(),
                "store.postgres.url (CLUSTERCONFIG_STORE__POSTGRES__URL) is needed with store.kind = \"postgres\""
            );
        }
        if self.store.kind == StoreKind::Cosmos {
            let cosmos = &self.store.cosmos;
            anyhow::ensure!(
                cosmos.endpoint.is_some(),
                "store.cosmos.endpoint (CLUSTERCONFIG_STORE__COSMOS__ENDPOINT) is needed with store.kind = \"cosmos\""
            );
            anyhow::ensure!(
                !cosmos.request_timeout.is_zero() && !cosmos.feed_poll_interval.is_zero(),
                "store.cosmos.request_timeout and store.cosmos.feed_poll_interval must be positive"
            );
            anyhow::ensure!(
                !cosmos.create_if_missing || cosmos.key.is_some(),
                "store.cosmos.create_if_missing needs key auth (store.cosmos.key); with Entra ID, provision the \
                 database and container with infra/"
            );
        }
        Ok(())
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.store
            .sqlite_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("clusterconfig.db"))
    }

    pub fn local_key_path(&self) -> PathBuf {
        self.crypto
            .local_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("kek.json"))
    }

    pub fn policy_secrets_path(&self) -> PathBuf {
        self.policy
            .local_secrets_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("policy-secrets.json"))
    }

    pub fn signing_key_path(&self) -> PathBuf {
        self.auth
            .signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-key"))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    /// Every key of the configuration, as dotted paths (`store.cosmos.endpoint`).
    fn keys(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    keys(&path, value, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    /// The keys the README's configuration reference documents: the first column of its table, where
    /// `` `a.b.c`, `.d` `` stands for `a.b.c` and `a.b.d`.
    fn documented() -> Vec<String> {
        let readme = include_str!("../../../README.md");
        let start = readme.find("## Configuration reference").expect("the section");
        let reference = &readme[start..];
        let reference = &reference[..reference[3..]
            .find("\n## ")
            .map_or(reference.len(), |end| end + 3)];
        let mut out = Vec::new();
        for line in reference.lines().filter(|l| l.starts_with("| `")) {
            let first = line.split('|').nth(1).unwrap_or_default();
            let mut full = String::new();
            for token in first.split('`').skip(1).step_by(2) {
                if let Some(leaf) = token.strip_prefix('.') {
                    let parent = full.rsplit_once('.').map_or("", |(p, _)| p).to_owned();
                    full = format!("{parent}.{leaf}");
                } else {
                    full = token.to_owned();
                }
                out.push(full.clone());
            }
        }
        out
    }

    #[test]
    fn the_readme_documents_every_key() {
        let mut all = Vec::new();
        keys("", &serde_json::to_value(Config::default()).unwrap(), &mut all);
        let documented = documented();
        let missing: Vec<_> = all.iter().filter(|k| !documented.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from the README's configuration reference: {missing:?}"
        );
        let unknown: Vec<_> = documented.iter().filter(|k| !all.contains(k)).collect();
        assert!(
            unknown.is_empty(),
            "the README documents keys that do not exist: {unknown:?}"
        );
    }

    #[test]
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "log_level = \"debug\"\n[arm]\npage_size = 7\n[lifetimes]\npending_timeout = \"2h\"\n",
            )?;
            jail.set_env("CLUSTERCONFIG_ARM__PAGE_SIZE", "9");
            jail.set_env("CLUSTERCONFIG_AGENT_TOKEN", "not a configuration key");
            let overrides = Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            };
            let config = Config::load(Some(Path::new("c.toml")), &overrides).unwrap();
            assert_eq!(config.log_level, "debug");
            assert_eq!(config.arm.page_size, 9);
            assert_eq!(config.lifetimes.pending_timeout, Duration::from_secs(7200));
            assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
            Ok(())
        });
    }

    #[test]
    fn secrets_cannot_be_kept_48_hours_or_more() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLUSTERCONFIG_LIFETIMES__SECRET_RETENTION", "49h");
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }
}
