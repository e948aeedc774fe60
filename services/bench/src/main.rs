//! `clusterconfig-bench`: the benchmark suite (`scripts/bench`). Every scenario runs against a freshly started
//! service and its peer in the same run, `--runs` times (3); one table of min/median/max and the ratio of the
//! medians to the peer is printed and kept under `benchmarks/` with the date, the commit and the machine.
//! Peers: etcd (Debian's `etcd-server`; skipped with a note when not installed), the bare store doing the same
//! commits, and the service's cheapest route. The figures are ratios within one run: this machine is shared.

mod processes;
mod remediation;
mod scenarios;
mod stats;
mod store_peer;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use processes::{Etcd, StoreChoice};
use scenarios::Settings;

#[derive(Parser)]
#[command(name = "clusterconfig-bench", about = "The benchmark suite of clusterconfig.")]
struct Cli {
    /// The service's store: sqlite or postgres (the server CLUSTERCONFIG_TEST_POSTGRES_URL names, else
    /// 127.0.0.1:5432; a database of its own per run).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// How many times each scenario runs.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The large fleet: waiting agents held by one process.
    #[arg(long, default_value_t = 18_000)]
    fleet: usize,
    /// The small fleet of the latency figure.
    #[arg(long, default_value_t = 1_000)]
    small_fleet: usize,
    /// Long-polls of one cluster.
    #[arg(long, default_value_t = 1_000)]
    crowd: usize,
    /// Seconds each throughput scenario runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Clusters of the policy remediation scenario.
    #[arg(long, default_value_t = 10_000)]
    remediation_fleet: usize,
    /// Only these scenarios (held, latency, crowd, puts, reports, remediation); all when not given.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the built binaries are.
    #[arg(long, default_value = "target/release")]
    binaries: PathBuf,
    /// Where the results are kept.
    #[arg(long, default_value = "benchmarks")]
    out: PathBuf,
    /// A line for the report's header (what was measured, e.g. "before the fast paths").
    #[arg(long)]
    note: Option<String>,
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!(
        "{} cores ({cpu}), {memory}, Linux {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        command_output("uname", &["-r"])
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let store = match cli.store.as_str() {
        "sqlite" => StoreChoice::Sqlite,
        "postgres" => StoreChoice::Postgres,
        other => anyhow::bail!("--store {other}: expected sqlite or postgres"),
    };
    let etcd = Etcd::binary();
    let mut notes: Vec<String> = cli.note.iter().cloned().collect();
    match &etcd {
        Some(binary) => notes.push(format!(
            "etcd: {} ({})",
            command_output(&binary.display().to_string(), &["--version"])
                .lines()
                .next()
                .unwrap_or(""),
            binary.display()
        )),
        None => notes.push("etcd is not installed (Debian: etcd-server): its figures are skipped".to_owned()),
    }
    let settings = Settings {
        binaries: cli.binaries.clone(),
        store,
        throughput_for: Duration::from_secs(cli.seconds),
        etcd,
    };
    let wanted = |name: &str| cli.only.is_empty() || cli.only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    for run in 0..cli.runs {
        let tag = format!(
            "r{run}-{}",
            uuid::Uuid::new_v4().simple().to_string().split_at(6).0
        );
        eprintln!("== run {} of {}", run + 1, cli.runs);
        if wanted("held") {
            eprintln!("   {} waiting agents", cli.fleet);
            rows.extend(scenarios::waiting_agents(&settings, &tag, cli.fleet, true).await?);
        }
        if wanted("latency") {
            eprintln!("   {} waiting agents", cli.small_fleet);
            rows.extend(scenarios::waiting_agents(&settings, &tag, cli.small_fleet, false).await?);
        }
        if wanted("crowd") {
            eprintln!("   {} long-polls of one cluster", cli.crowd);
            rows.extend(scenarios::one_cluster_waiters(&settings, &tag, cli.crowd, true).await?);
            rows.extend(scenarios::one_cluster_waiters(&settings, &tag, cli.crowd, false).await?);
        }
        if wanted("puts") {
            for connections in [16, 64] {
                eprintln!("   ARM PUTs, {connections} connections");
                rows.extend(scenarios::arm_puts(&settings, &tag, connections).await?);
            }
        }
        if wanted("reports") {
            eprintln!("   status reports, 64 connections");
            rows.extend(scenarios::status_reports(&settings, &tag, 64).await?);
        }
        if wanted("remediation") {
            eprintln!("   policy remediation of {} clusters", cli.remediation_fleet);
            rows.extend(remediation::remediation(&settings, &tag, cli.remediation_fleet).await?);
        }
    }
    let table = stats::table(&rows);
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let date = chrono::Utc::now();
    let report = format!(
        "# Benchmarks, {} ({})\n\n- commit: {commit}{}\n- machine: {}\n- runs: {} of each scenario; figures are min / **median** / max; ratios compare medians of the same runs\n- {}\n\n{table}",
        date.format("%Y-%m-%d %H:%M UTC"),
        store.name(),
        if dirty { " (with uncommitted changes)" } else { "" },
        machine(),
        cli.runs,
        notes.join("\n- "),
    );
    println!("{report}");
    std::fs::create_dir_all(&cli.out)?;
    let file = cli.out.join(format!(
        "{}-{commit}-{}.md",
        date.format("%Y-%m-%dT%H%M"),
        cli.store
    ));
    std::fs::write(&file, report)?;
    eprintln!("kept in {}", file.display());
    Ok(())
}
