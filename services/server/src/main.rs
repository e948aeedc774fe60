//! `clusterconfig`: the service, and its operator commands.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use clusterconfig_model::arm::CreatedByType;
use clusterconfig_model::ids::ClusterId;
use clusterconfig_server::auth::SigningKey;
use clusterconfig_server::clock::{Clock, SystemClock};
use clusterconfig_server::config::{Config, Overrides, StoreKind, StoreOverride};
use clusterconfig_server::{server, telemetry};

/// jemalloc, not the system allocator: it keeps no header inside an allocation, so the buffers a waiting
/// long-poll holds but has not written (hyper's write buffer, most of its read buffer) stay untouched pages,
/// not resident memory; and it fragments less across the runtime's threads.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "clusterconfig",
    version,
    about = "The Microsoft.KubernetesConfiguration resource provider and its agent data plane."
)]
struct Cli {
    /// A TOML configuration file (see the README's configuration reference).
    #[arg(long, global = true, env = "CLUSTERCONFIG_CONFIG")]
    config: Option<PathBuf>,
    /// Where the embedded store, the signing key and the local key file live.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Which store to use (overrides `store.kind`); its settings come from the configuration.
    #[arg(long, global = true, value_enum)]
    store: Option<StoreKind>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the service (the ARM API and the data plane).
    Serve {
        /// The ARM API's address, e.g. 127.0.0.1:8080.
        #[arg(long)]
        arm_listen: Option<std::net::SocketAddr>,
        /// The data plane's address; the same as the ARM API's serves both on one port.
        #[arg(long)]
        dataplane_listen: Option<std::net::SocketAddr>,
    },
    /// Prints a bearer token signed by this service's key.
    Token {
        #[command(subcommand)]
        kind: TokenKind,
    },
    /// Applies pending schema migrations to the configured store.
    Migrate,
    /// Manages the encryption keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The cluster inventory of the running service (what policy assignments see), through its API.
    Clusters {
        #[command(subcommand)]
        action: ClustersAction,
    },
    /// Imports Flux v1 configurations (sourceControlConfigurations) of a cluster, for migration.
    ImportFluxV1 {
        /// The cluster's resource id.
        #[arg(long)]
        cluster: String,
        /// A JSON array of {"name": ..., "properties": {...}} (the ARM shape of sourceControlConfigurations).
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClustersAction {
    /// Imports clusters so a fleet can be assigned before its agents connect: the JSON `az graph query` prints
    /// for connectedClusters and managedClusters (`id`, `name`, `type`, `location`, `tags`), or an array of them.
    /// New clusters, and those whose location or tags changed, are evaluated against the assignments at once.
    Import {
        /// The JSON file; `-` reads standard input.
        file: PathBuf,
        /// The running service's ARM API; `http://{arm_listen}` when unset.
        #[arg(long)]
        server: Option<String>,
    },
    /// Forgets a cluster: every record of it is purged, secrets and policy states included.
    Forget {
        /// The cluster's resource id.
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        server: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Re-wraps every data key under the newest key-encryption key. With the local provider, first adds a new
    /// key version to the key file, and afterwards removes versions nothing uses any more. With Key Vault, rotate
    /// the key in the vault first; this moves the data keys onto its current version. Safe while the service runs.
    Rotate,
    /// Lists the data keys and the key-encryption key versions that wrap them.
    Show,
}

#[derive(Subcommand)]
enum TokenKind {
    /// A token for the ARM API (what Azure Resource Manager would present).
    Arm {
        /// Recorded in systemData as the creator or last modifier.
        #[arg(long, default_value = "clusterconfig-cli")]
        subject: String,
        #[arg(long, default_value = "User", value_parser = parse_created_by)]
        subject_type: CreatedByType,
        /// How long the token is valid, e.g. 24h or 30d.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        valid_for: std::time::Duration,
    },
    /// A token for one cluster's agent on the data plane.
    Agent {
        /// The cluster's resource id.
        #[arg(long)]
        cluster: String,
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        valid_for: std::time::Duration,
    },
    /// Revokes every agent token issued so far for one cluster (a leaked token, a decommissioned cluster):
    /// its agent needs a token minted after this. Other clusters' tokens are not affected.
    Revoke {
        /// The cluster's resource id.
        #[arg(long)]
        cluster: String,
    },
    /// Tokens for many clusters' agents at once (fleets, load tests): reads cluster resource ids, one a line,
    /// from standard input and prints `<cluster id> <token>` for each, in order.
    Agents {
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        valid_for: std::time::Duration,
    },
}

fn parse_created_by(text: &str) -> Result<CreatedByType, String> {
    CreatedByType::parse(text).ok_or_else(|| format!("expected one of {}", CreatedByType::expected()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        store: cli.store.map(|kind| StoreOverride { kind }),
        ..Default::default()
    };
    if let Command::Serve {
        arm_listen,
        dataplane_listen,
    } = &cli.command
    {
        overrides.arm_listen = *arm_listen;
        overrides.dataplane_listen = dataplane_listen.or(*arm_listen);
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(config).await,
            Command::Token {
                kind: TokenKind::Revoke { cluster },
            } => revoke(&config, &cluster).await,
            Command::Token { kind } => token(&config, kind),
            Command::Keys { action } => keys(&config, action).await,
            Command::Migrate => {
                server::open_store_with(&config, true).await?;
                println!("the {} store is up to date", server::store_description(&config));
                Ok(())
            }
            Command::ImportFluxV1 { cluster, file } => import_flux_v1(&config, &cluster, &file).await,
            Command::Clusters { action } => clusters(&config, action).await,
        }
    })
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let running = server::start(&config, clock).await?;
    let data_dir = server::absolute(config.data_dir.clone());
    let data_dir_flag = format!(" --data-dir {}", data_dir.display());
    println!("clusterconfig is serving");
    println!("  ARM API:      http://{}", running.arm_addr);
    println!(
        "  data plane:   http://{}/dataplane/v1/...",
        running.dataplane_addr
    );
    println!("  data:         {}", data_dir.display());
    println!("  store:        {}", server::store_description(&config));
    println!(
        "  signing key:  {}",
        server::absolute(config.signing_key_path()).display()
    );
    println!("  encryption:   {}", server::key_description(&config));
    println!("Tokens (signed by the key above):");
    println!("  ARM API:      clusterconfig{data_dir_flag} token arm");
    println!("  agent:        clusterconfig{data_dir_flag} token agent --cluster <cluster resource id>");
    tracing::info!(arm = %running.arm_addr, dataplane = %running.dataplane_addr, "serving");
    reload_catalog_on_sighup(running.state.app.catalog().clone());
    let served = running.run_until(shutdown_signal()).await;
    // The last spans and metrics go out before the process ends (the exporters block: off the runtime).
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    served
}

/// SIGHUP reads the extension catalog again at once (it is also re-read when its file changes).
fn reload_catalog_on_sighup(catalog: Arc<clusterconfig_server::catalog::CatalogSource>) {
    #[cfg(unix)]
    if let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                catalog.request_reload();
            }
        });
    }
    #[cfg(not(unix))]
    let _ = catalog;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

fn token(config: &Config, kind: TokenKind) -> anyhow::Result<()> {
    let key = SigningKey::load_or_create(&config.signing_key_path())?;
    let now = chrono::Utc::now();
    let token = match kind {
        TokenKind::Arm {
            subject,
            subject_type,
            valid_for,
        } => key.issue_arm(
            &subject,
            subject_type,
            now,
            chrono::Duration::from_std(valid_for)?,
        ),
        TokenKind::Agent { cluster, valid_for } => {
            let cluster = ClusterId::parse(&cluster).map_err(|e| anyhow::anyhow!(e.message))?;
            key.issue_agent(&cluster.key(), now, chrono::Duration::from_std(valid_for)?)
        }
        TokenKind::Revoke { .. } => unreachable!("revocation needs the store: handled in main"),
        TokenKind::Agents { valid_for } => {
            use std::io::{BufRead as _, Write as _};
            let valid_for = chrono::Duration::from_std(valid_for)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (number, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line?;
                let given = line.trim();
                if given.is_empty() {
                    continue;
                }
                let cluster = ClusterId::parse(given)
                    .map_err(|e| anyhow::anyhow!("line {}: {}", number + 1, e.message))?;
                writeln!(out, "{given} {}", key.issue_agent(&cluster.key(), now, valid_for))?;
            }
            out.flush()?;
            return Ok(());
        }
    };
    println!("{token}");
    Ok(())
}

/// Calls the running service's inventory API with an ARM token signed by this data directory's key.
async fn clusters(config: &Config, action: ClustersAction) -> anyhow::Result<()> {
    let key = SigningKey::load_or_create(&config.signing_key_path())?;
    let token = key.issue_arm(
        "clusterconfig-cli",
        CreatedByType::User,
        chrono::Utc::now(),
        chrono::Duration::minutes(10),
    );
    let base = |server: Option<String>| {
        server
            .unwrap_or_else(|| format!("http://{}", config.arm_listen))
            .trim_end_matches('/')
            .to_owned()
    };
    let client = reqwest::Client::new();
    let response = match action {
        ClustersAction::Import { file, server } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            let body: serde_json::Value = serde_json::from_str(&text).context("the file must hold JSON")?;
            client
                .post(format!("{}/operator/v1/clusters/import", base(server)))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await?
        }
        ClustersAction::Forget { cluster, server } => {
            let cluster = ClusterId::parse(&cluster).map_err(|e| anyhow::anyhow!(e.message))?;
            client
                .delete(format!("{}/operator/v1{cluster}", base(server)))
                .bearer_auth(&token)
                .send()
                .await?
        }
    };
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "the service answered {status}: {text}");
    match status.as_u16() {
        204 => println!("the cluster was not known"),
        _ if text.is_empty() => println!("done"),
        _ => println!("{text}"),
    }
    Ok(())
}

async fn revoke(config: &Config, cluster: &str) -> anyhow::Result<()> {
    let cluster = ClusterId::parse(cluster).map_err(|e| anyhow::anyhow!(e.message))?;
    let app = server::build(config, Arc::new(SystemClock), server::Overrides::default())
        .await?
        .app;
    let at = app
        .revoke_agent_tokens(&cluster)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    println!("agent tokens of {cluster} issued before {at} are revoked");
    Ok(())
}

async fn import_flux_v1(config: &Config, cluster: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let cluster = ClusterId::parse(cluster).map_err(|e| anyhow::anyhow!(e.message))?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&text).context("the file must hold a JSON array")?;
    let running_app = server::build(config, Arc::new(SystemClock), server::Overrides::default())
        .await?
        .app;
    for entry in &entries {
        let name = entry
            .get("name")
            .and_then(|v| v.as_str())
            .context("every entry needs a 'name'")?;
        let properties = entry
            .get("properties")
            .context("every entry needs 'properties'")?;
        running_app
            .import_source_control(&cluster, name, properties, None)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
        println!("imported {name}");
    }
    Ok(())
}

async fn keys(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    use clusterconfig_crypto::KeyProvider;
    use clusterconfig_crypto::local::LocalKeyProvider;
    use clusterconfig_server::config::KeyProviderKind;
    use clusterconfig_server::keyring::Keyring;

    let store = server::open_store(config).await?;
    let local = match config.crypto.provider {
        KeyProviderKind::Local => Some(Arc::new(LocalKeyProvider::open_or_create(
            &config.local_key_path(),
        )?)),
        KeyProviderKind::Keyvault => None,
    };
    let provider: Arc<dyn KeyProvider> = match &local {
        Some(local) => local.clone(),
        None => server::key_provider(config)?,
    };
    match action {
        KeysAction::Show => {
            for key in store.data_keys().await? {
                let what = if key.id == clusterconfig_server::keyring::FINGERPRINT_KEY_ID {
                    "secret-fingerprint key".to_owned()
                } else if let Some(at) = key.destroy_at {
                    format!("secret period key {} (destroyed at {at})", key.id)
                } else {
                    format!("data key {}", key.id)
                };
                println!(
                    "{what}: {} key-encryption key version {} (created {})",
                    key.provider, key.kek_version, key.created_at
                );
            }
            println!(
                "current key-encryption key version: {}",
                provider.current_version().await?
            );
        }
        KeysAction::Rotate => {
            if let Some(local) = &local {
                println!("added key-encryption key version {}", local.rotate()?);
            }
            let keyring = Keyring::start(
                store,
                provider,
                config.crypto.keyring_settings(),
                Arc::new(SystemClock),
            )
            .await?;
            let report = keyring.rotate().await?;
            println!(
                "re-wrapped {} data key(s) under version {} ({} already used it)",
                report.rewrapped, report.kek_version, report.already_current
            );
            if let Some(local) = &local {
                let removed = local.prune(&report.versions_in_use)?;
                if !removed.is_empty() {
                    println!(
                        "removed unused key-encryption key version(s): {}",
                        removed.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}
