//! Starting the service: open the store, load the encryption keys, build the application, start the background
//! tasks, bind the ARM API and the data plane (one listener when they share an address), and serve until shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::catalog::CatalogSource;
use clusterconfig_crypto::KeyProvider;
use clusterconfig_crypto::keyvault::{CredentialSource, KeyVaultProvider, credential};
use clusterconfig_crypto::local::LocalKeyProvider;
use clusterconfig_crypto::vault_secrets::{DeploymentSecrets, KeyVaultSecrets, LocalSecrets, NoSecrets};
use clusterconfig_store::FeedEvent;
use clusterconfig_store::Store;
use clusterconfig_store::cosmos::{CosmosAuth, CosmosSettings, CosmosStore};
use clusterconfig_store::postgres::{PoolSettings, PostgresStore};
use clusterconfig_store::sqlite::SqliteStore;

use crate::app::policy::PolicySettings;
use crate::app::{App, Codec, Settings};
use crate::auth::SigningKey;
use crate::clock::Clock;
use crate::config::{Config, CredentialKind, KeyProviderKind, PolicySecretsKind, StoreKind};
use crate::http::listener::{self, Limits};
use crate::http::{self, Api, AppState, HttpSettings};
use crate::hub::ChangeHub;
use crate::keyring::Keyring;
use crate::tasks::Driver;

/// Parts a test may supply instead of building them from configuration.
#[derive(Default)]
pub struct Overrides {
    /// The key provider (e.g. a Key Vault provider on a simulated transport).
    pub key_provider: Option<Arc<dyn KeyProvider>>,
    /// Wraps the configured store (e.g. to add the latency of a distant database).
    pub wrap_store: Option<StoreWrapper>,
    /// Where policy deployments resolve Key Vault references (e.g. the SDK's SecretClient on a simulated
    /// transport).
    pub deployment_secrets: Option<Arc<dyn DeploymentSecrets>>,
}

pub type StoreWrapper = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// The application and what it runs on.
pub struct Built {
    pub app: Arc<App>,
    pub keyring: Arc<Keyring>,
    pub key: Arc<SigningKey>,
}

/// A running service: where it listens, and how to stop it.
pub struct Running {
    pub arm_addr: SocketAddr,
    pub dataplane_addr: SocketAddr,
    pub state: Arc<AppState>,
    pub keyring: Arc<Keyring>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: JoinSet<anyhow::Result<()>>,
    background: JoinSet<()>,
}

impl Running {
    /// Serves until `signal` resolves, then finishes the requests in flight.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            _ = signal => {}
            Some(result) = self.tasks.join_next() => {
                result.context("a server task panicked")??;
            }
        }
        self.stop().await
    }

    /// Shuts down: readiness turns 503 and waiting long-polls are answered (304) at once, so agents and load
    /// balancers move to other instances; the listeners close, requests in flight finish (within
    /// `http.drain_timeout`), then the background tasks stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.state.app.hub().drain();
        let _ = self.shutdown.send(true);
        while self.background.join_next().await.is_some() {}
        while let Some(result) = self.tasks.join_next().await {
            result.context("a server task panicked")??;
        }
        Ok(())
    }
}

/// Opens the configured store; `migrate` applies pending schema migrations (SQLite always does).
pub async fn open_store_with(config: &Config, migrate: bool) -> anyhow::Result<Arc<dyn Store>> {
    match config.store.kind {
        StoreKind::Sqlite => {
            let path = config.sqlite_path();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let store = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open SQLite store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreKind::Postgres => {
            let pg = &config.store.postgres;
            let settings = PoolSettings {
                max_connections: pg.max_connections,
                min_connections: pg.min_connections,
                acquire_timeout: pg.acquire_timeout,
                idle_timeout: pg.idle_timeout,
            };
            let url = &pg.url.as_ref().expect("checked with the configuration").0;
            let store = PostgresStore::connect(url, &settings, migrate)
                .await
                .context("cannot open the PostgreSQL store")?;
            Ok(Arc::new(store))
        }
        StoreKind::Cosmos => {
            let store = CosmosStore::connect(&cosmos_settings(config)?)
                .await
                .context("cannot open the Cosmos DB store")?;
            Ok(Arc::new(store))
        }
    }
}

fn cosmos_settings(config: &Config) -> anyhow::Result<CosmosSettings> {
    let cosmos = &config.store.cosmos;
    let auth = match &cosmos.key {
        Some(key) => CosmosAuth::Key(key.0.clone()),
        None => CosmosAuth::Credential(credential(&credential_source(
            cosmos.credential,
            AzureIdentity {
                client_id: &cosmos.client_id,
                tenant_id: &cosmos.tenant_id,
                resource_id: &cosmos.resource_id,
                token_file: &cosmos.token_file,
            },
            "store.cosmos",
        )?)?),
    };
    Ok(CosmosSettings {
        endpoint: cosmos.endpoint.clone().expect("checked with the configuration"),
        database: cosmos.database.clone(),
        container: cosmos.container.clone(),
        auth,
        create_if_missing: cosmos.create_if_missing,
        emulator: cosmos.emulator,
        region: cosmos.region.clone(),
        request_timeout: cosmos.request_timeout,
        feed_poll_interval: cosmos.feed_poll_interval,
        checkpoint_interval: cosmos.checkpoint_interval,
        instance: cosmos.instance.clone().unwrap_or_else(host_name),
    })
}

/// This machine's (or pod's) name: what names its change-feed checkpoint unless configured.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("instance-{}", uuid::Uuid::new_v4().simple()))
}

/// The optional parts of an Entra ID credential's configuration.
struct AzureIdentity<'a> {
    client_id: &'a Option<String>,
    tenant_id: &'a Option<String>,
    resource_id: &'a Option<String>,
    token_file: &'a Option<PathBuf>,
}

/// The credential a configuration section (`crypto.keyvault`, `store.cosmos`) names.
fn credential_source(
    kind: CredentialKind,
    identity: AzureIdentity<'_>,
    section: &str,
) -> anyhow::Result<CredentialSource> {
    Ok(match kind {
        CredentialKind::ManagedIdentity => CredentialSource::ManagedIdentity {
            client_id: identity.client_id.clone(),
            resource_id: identity.resource_id.clone(),
        },
        CredentialKind::WorkloadIdentity => CredentialSource::WorkloadIdentity {
            client_id: identity.client_id.clone(),
            tenant_id: identity.tenant_id.clone(),
            token_file: identity.token_file.clone(),
        },
        CredentialKind::ClientSecret => CredentialSource::ClientSecret {
            tenant_id: identity
                .tenant_id
                .clone()
                .with_context(|| format!("{section}.tenant_id is needed for client_secret"))?,
            client_id: identity
                .client_id
                .clone()
                .with_context(|| format!("{section}.client_id is needed for client_secret"))?,
            secret: std::env::var("AZURE_CLIENT_SECRET")
                .context("the client_secret credential reads its secret from AZURE_CLIENT_SECRET")?
                .into(),
        },
        CredentialKind::AzureCli => CredentialSource::AzureCli,
        CredentialKind::DeveloperTools => CredentialSource::DeveloperTools,
    })
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let migrate = match config.store.kind {
        StoreKind::Postgres => config.store.postgres.migrate_on_start,
        // Cosmos DB has no schema; its database and container come from infra/ (or create_if_missing).
        StoreKind::Sqlite | StoreKind::Cosmos => true,
    };
    open_store_with(config, migrate).await
}

pub fn load_catalog(config: &Config) -> anyhow::Result<CatalogSource> {
    CatalogSource::load(config.catalog_path.clone())
}

/// The key provider the configuration names.
pub fn key_provider(config: &Config) -> anyhow::Result<Arc<dyn KeyProvider>> {
    Ok(match config.crypto.provider {
        KeyProviderKind::Local => Arc::new(LocalKeyProvider::open_or_create(&config.local_key_path())?),
        KeyProviderKind::Keyvault => {
            let kv = &config.crypto.keyvault;
            let identity = AzureIdentity {
                client_id: &kv.client_id,
                tenant_id: &kv.tenant_id,
                resource_id: &kv.resource_id,
                token_file: &kv.token_file,
            };
            let source = credential_source(kv.credential, identity, "crypto.keyvault")?;
            Arc::new(KeyVaultProvider::new(
                kv.vault_url.as_deref().expect("checked with the configuration"),
                kv.key_name.as_deref().expect("checked with the configuration"),
                credential(&source)?,
                None,
            )?)
        }
    })
}

/// Where policy deployments resolve Key Vault references, as the configuration names it.
pub fn deployment_secrets(config: &Config) -> anyhow::Result<Arc<dyn DeploymentSecrets>> {
    Ok(match config.policy.secrets {
        PolicySecretsKind::None => Arc::new(NoSecrets),
        PolicySecretsKind::Local => Arc::new(LocalSecrets::new(config.policy_secrets_path())),
        PolicySecretsKind::Keyvault => {
            let kv = &config.policy.keyvault;
            let identity = AzureIdentity {
                client_id: &kv.client_id,
                tenant_id: &kv.tenant_id,
                resource_id: &kv.resource_id,
                token_file: &kv.token_file,
            };
            let source = credential_source(kv.credential, identity, "policy.keyvault")?;
            Arc::new(KeyVaultSecrets::new(credential(&source)?, &kv.dns_suffix, None))
        }
    })
}

/// Builds the application (store, keys, catalog) without serving it.
pub async fn build(config: &Config, clock: Arc<dyn Clock>, overrides: Overrides) -> anyhow::Result<Built> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let key = Arc::new(SigningKey::load_or_create(&config.signing_key_path())?);
    let mut store = open_store(config).await?;
    if let Some(wrap) = overrides.wrap_store {
        store = wrap(store);
    }
    // Every call of the store and the key provider is a span and a timing (`telemetry`).
    let store = crate::telemetry::InstrumentedStore::wrap(store);
    let provider = crate::telemetry::InstrumentedKeyProvider::wrap(match overrides.key_provider {
        Some(provider) => provider,
        None => key_provider(config)?,
    });
    let keyring = Keyring::start(
        store.clone(),
        provider,
        config.crypto.keyring_settings(),
        clock.clone(),
    )
    .await
    .context("cannot load the data-encryption keys")?;
    let settings = Settings {
        pending_timeout: config.lifetimes.pending_timeout,
        secret_retention: config.lifetimes.secret_retention,
        operation_retention: config.lifetimes.operation_retention,
        contact_write_interval: config.dataplane.contact_write_interval,
        fingerprint_key: keyring
            .fingerprint_key(&key.derive("clusterconfig/secret-fingerprint/v1"))
            .await
            .context("cannot load the secret-fingerprint key")?
            .to_vec(),
    };
    let catalog = Arc::new(load_catalog(config)?);
    let secrets = match overrides.deployment_secrets {
        Some(secrets) => secrets,
        None => deployment_secrets(config)?,
    };
    let app = App::new(
        store,
        clock,
        ChangeHub::with_limit(config.dataplane.max_waiters_per_cluster),
        catalog,
        Codec::new(keyring.clone()),
        settings,
    )
    .with_policy(
        secrets,
        PolicySettings {
            redeploy_backoff: config.policy.redeploy_backoff,
            evaluation_concurrency: config.policy.evaluation_concurrency,
            remediation_lease: config.policy.remediation_lease,
        },
    );
    let app = Arc::new(app);
    // The assignments in force before anything is served; later changes come by writes and the refresh task.
    app.reload_assignments()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the policy assignments: {}", e.message))?;
    Ok(Built { app, keyring, key })
}

pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    start_with(config, clock, Overrides::default()).await
}

/// Builds everything, starts the background tasks and binds the listeners; serving starts at once.
pub async fn start_with(
    config: &Config,
    clock: Arc<dyn Clock>,
    overrides: Overrides,
) -> anyhow::Result<Running> {
    let Built { app, keyring, key } = build(config, clock, overrides).await?;
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    crate::telemetry::observe(&app);
    let driver = Driver::for_service(app.clone(), keyring.clone(), config);
    let board = driver.board();
    let mut background = driver.spawn(shutdown_rx.clone());
    if let Some(feed) = app.store().changes() {
        background.spawn(relay_changes(feed, app.clone(), shutdown_rx.clone()));
    }
    let arm = TcpListener::bind(config.arm_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.arm_listen))?;
    let arm_addr = arm.local_addr()?;
    let state = Arc::new(AppState {
        app,
        key,
        keyring: keyring.clone(),
        tasks: board,
        http: http_settings(config, arm_addr),
        entra: crate::auth::entra::EntraVerifier::new(&config.auth.entra).map(Arc::new),
    });
    let limits = Limits {
        header_read_timeout: config.http.header_read_timeout,
        max_connections: config.http.max_connections,
        drain_timeout: config.http.drain_timeout,
    };

    let mut tasks = JoinSet::new();
    let shared = config.arm_listen == config.dataplane_listen;
    let arm_apis: &[Api] = if shared {
        &[Api::Arm, Api::DataPlane, Api::Health]
    } else {
        &[Api::Arm, Api::Health]
    };
    tasks.spawn(listener::serve(
        arm,
        http::service(state.clone(), arm_apis),
        limits.clone(),
        shutdown_rx.clone(),
    ));
    let dataplane_addr = if shared {
        arm_addr
    } else {
        let listener = TcpListener::bind(config.dataplane_listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.dataplane_listen))?;
        let addr = listener.local_addr()?;
        tasks.spawn(listener::serve(
            listener,
            http::service(state.clone(), &[Api::DataPlane, Api::Health]),
            limits,
            shutdown_rx.clone(),
        ));
        addr
    };
    Ok(Running {
        arm_addr,
        dataplane_addr,
        state,
        keyring,
        shutdown,
        tasks,
        background,
    })
}

/// Relays changes other instances made (through the store's feed) to this instance's waiters and fleet index.
async fn relay_changes(
    mut feed: clusterconfig_store::ChangeFeed,
    app: Arc<App>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use futures::StreamExt;
    loop {
        let stop = async { drop(shutdown.wait_for(|stop| *stop).await) };
        tokio::select! {
            _ = stop => return,
            event = feed.next() => match event {
                Some(FeedEvent::Changed { cluster, version }) => {
                    app.hub().publish(&cluster, version);
                    app.fleet().touch(&cluster);
                }
                Some(FeedEvent::Resync) => app.hub().resync(),
                None => return,
            },
        }
    }
}

fn http_settings(config: &Config, arm_addr: SocketAddr) -> HttpSettings {
    HttpSettings {
        public_scheme: config.public_scheme.clone(),
        retry_after_seconds: config.arm.retry_after_seconds,
        page_size: config.arm.page_size,
        max_body_bytes: config.arm.max_body_bytes,
        max_wait_seconds: config.dataplane.max_wait_seconds,
        async_timeout: iso_duration(config.lifetimes.pending_timeout),
        body_read_timeout: config.http.body_read_timeout,
        arm_request_timeout: config.arm.request_timeout,
        status_wait: config.arm.status_wait,
        link_hosts: http::links::LinkHosts {
            allowed: config.arm.link_hosts.clone(),
            fallback: format!("{}://{arm_addr}", config.public_scheme),
        },
        arm_identities: config.arm.identities.clone(),
    }
}

/// `PT48H`, `PT30M`...
pub fn iso_duration(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, (seconds % 3600) / 60, seconds % 60) {
        (h, 0, 0) => format!("PT{h}H"),
        (0, m, 0) => format!("PT{m}M"),
        _ => format!("PT{seconds}S"),
    }
}

/// Where the store lives, for the start banner.
pub fn store_description(config: &Config) -> String {
    match config.store.kind {
        StoreKind::Sqlite => format!("sqlite {}", absolute(config.sqlite_path()).display()),
        StoreKind::Postgres => format!(
            "postgres {}",
            redact_password(
                config
                    .store
                    .postgres
                    .url
                    .as_ref()
                    .map_or("", |url| url.0.as_str())
            )
        ),
        StoreKind::Cosmos => format!(
            "cosmos {} database {} container {}",
            config.store.cosmos.endpoint.as_deref().unwrap_or_default(),
            config.store.cosmos.database,
            config.store.cosmos.container
        ),
    }
}

/// Where the key-encryption key is, for the start banner.
pub fn key_description(config: &Config) -> String {
    match config.crypto.provider {
        KeyProviderKind::Local => format!("local key file {}", absolute(config.local_key_path()).display()),
        KeyProviderKind::Keyvault => format!(
            "Key Vault {} key {}",
            config.crypto.keyvault.vault_url.as_deref().unwrap_or_default(),
            config.crypto.keyvault.key_name.as_deref().unwrap_or_default()
        ),
    }
}

pub fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// A database URL without its password (`user:password@` or a `password=` parameter), for banners and logs.
pub fn redact_password(url: &str) -> String {
    let (address, parameters) = url.split_once('?').map_or((url, None), |(a, p)| (a, Some(p)));
    let address = match address.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => address.to_owned(),
        },
        None => address.to_owned(),
    };
    match parameters {
        Some(parameters) => {
            let kept: Vec<&str> = parameters
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                address
            } else {
                format!("{address}?{}", kept.join("&"))
            }
        }
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn database_urls_lose_their_passwords() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db:5432/cc"),
            "postgres://app@db:5432/cc"
        );
        assert_eq!(
            redact_password("postgres://app@db/cc?sslmode=require&password=s3cret"),
            "postgres://app@db/cc?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://db/cc?PASSWORD=s3cret"),
            "postgres://db/cc"
        );
        assert_eq!(redact_password("postgres://db/cc"), "postgres://db/cc");
    }
}
