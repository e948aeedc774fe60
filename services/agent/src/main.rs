//! `clusterconfig-agent`: the reference agent for one cluster.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use clusterconfig_agent::agent::{Agent, Settings};
use clusterconfig_agent::client::DataPlane;
use clusterconfig_agent::load::{self, LoadSettings};
use clusterconfig_model::dataplane::AgentFacts;
use clusterconfig_model::ids::ClusterId;

#[derive(Parser)]
#[command(
    name = "clusterconfig-agent",
    version,
    about = "Pulls one cluster's desired state from clusterconfig, renders the Flux objects, and reports back (or, with --load, plays many clusters' simulated agents)."
)]
struct Cli {
    /// The data plane's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "CLUSTERCONFIG_SERVER")]
    server: String,
    /// This cluster's resource id.
    #[arg(long, env = "CLUSTERCONFIG_CLUSTER", required_unless_present = "load")]
    cluster: Option<String>,
    /// An agent token for this cluster (`clusterconfig token agent --cluster ...`).
    #[arg(
        long,
        env = "CLUSTERCONFIG_AGENT_TOKEN",
        hide_env_values = true,
        required_unless_present = "load"
    )]
    token: Option<String>,
    /// Load mode: plays every cluster of FILE ("<cluster id> <token>" lines, as `clusterconfig token agents`
    /// prints them; `-` reads stdin), each its own simulated agent (state in memory) with its own long-poll.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cluster", "token", "render_dir", "state_dir"])]
    load: Option<PathBuf>,
    /// Load mode: agents started per second.
    #[arg(long, default_value_t = 2000)]
    start_rate: u32,
    /// Load mode: writes one JSON line per desired state received to stdout (cluster, version, time).
    #[arg(long)]
    events: bool,
    /// Load mode: members only long-poll (passive watchers: they never apply, report or post facts).
    #[arg(long, requires = "load")]
    watch_only: bool,
    /// Writes one YAML file per object here, and removes files of objects that leave the desired state.
    #[arg(long)]
    render_dir: Option<PathBuf>,
    /// Reports provisioning and a synthetic compliance (marked as simulated) without a cluster.
    #[arg(long)]
    simulate: bool,
    /// Where the agent keeps its state (version, reported generations, secret copies, SSH keys).
    #[arg(long, default_value = "./clusterconfig-agent-state")]
    state_dir: PathBuf,
    /// How long one long-poll waits, in seconds (the server caps it at 300).
    #[arg(long, default_value_t = 300)]
    wait: u64,
    /// The Kubernetes version to report (a real agent reads it from the API server).
    #[arg(long, default_value = "v1.31.2")]
    kubernetes_version: String,
    /// The CPU architecture to report; this machine's by default.
    #[arg(long)]
    cpu_architecture: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Many agents in one process log only what goes wrong, and the load mode's own progress.
    let default_filter = match cli.load {
        Some(_) => "warn,clusterconfig_agent::load=info",
        None => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    anyhow::ensure!(
        cli.render_dir.is_some() || cli.simulate || cli.load.is_some(),
        "give --render-dir DIR, --simulate, or both"
    );
    let architecture = cli.cpu_architecture.unwrap_or_else(|| {
        match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        }
        .to_owned()
    });
    let facts = AgentFacts {
        kubernetes_version: Some(cli.kubernetes_version),
        cpu_architecture: Some(architecture),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Some(file) = cli.load {
        let text = match file.to_str() {
            Some("-") => std::io::read_to_string(std::io::stdin())?,
            _ => std::fs::read_to_string(&file)?,
        };
        let members = load::read_members(&text)?;
        let settings = LoadSettings {
            server: cli.server,
            wait: Duration::from_secs(cli.wait),
            facts,
            start_rate: cli.start_rate,
            events: cli.events,
            watch_only: cli.watch_only,
        };
        return load::run(members, settings, stop).await;
    }
    let cluster = ClusterId::parse(cli.cluster.as_deref().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let settings = Settings {
        render_dir: cli.render_dir,
        state_dir: Some(cli.state_dir),
        simulate: cli.simulate,
        wait: Duration::from_secs(cli.wait),
        facts,
    };
    let client = DataPlane::new(&cli.server, &cluster, cli.token.unwrap_or_default())?;
    let mut agent = Agent::new(settings, client)?;
    tracing::info!(%cluster, server = %cli.server, "agent started");
    agent.run(stop).await
}
