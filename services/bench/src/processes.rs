//! The processes a run starts and measures: the service (`clusterconfig serve`, fresh data each time), the
//! load-mode agent fleet (`clusterconfig-agent --load`), and etcd, the peer. Memory and open files are read
//! from `/proc`, as an operator would.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, Notify};

use clusterconfig_testkit::postgres::TestDatabase;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Resident memory of a process, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time a process has used so far (user and system), in seconds: fields 14 and 15 of `/proc/{pid}/stat`,
/// in clock ticks of 1/100 s (Linux's USER_HZ).
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Open file descriptors of a process.
pub fn open_files(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

async fn wait_until_ok(url: &str, what: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{what} did not become ready at {url}")
}

/// Which store a service run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    Sqlite,
    /// A database of its own on the PostgreSQL server `CLUSTERCONFIG_TEST_POSTGRES_URL` names (127.0.0.1:5432
    /// when unset), dropped after the run.
    Postgres,
}

impl StoreChoice {
    pub fn name(&self) -> &'static str {
        match self {
            StoreChoice::Sqlite => "SQLite",
            StoreChoice::Postgres => "PostgreSQL",
        }
    }
}

pub struct Service {
    child: Child,
    pub pid: u32,
    pub url: String,
    pub data_dir: PathBuf,
    pub arm_token: String,
    binaries: PathBuf,
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts the service on fresh data (a new SQLite file, or a new PostgreSQL database), ARM and data plane on
    /// one port, logging warnings only.
    pub async fn start(binaries: &Path, store: &StoreChoice) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().join("data");
        let port = free_port();
        let (store_section, database) = match store {
            StoreChoice::Sqlite => ("[store]\nkind = \"sqlite\"\n".to_owned(), None),
            StoreChoice::Postgres => {
                let database = TestDatabase::create().await;
                (
                    format!(
                        "[store]\nkind = \"postgres\"\n[store.postgres]\nurl = \"{}\"\n",
                        database.url
                    ),
                    Some(database),
                )
            }
        };
        let config = format!(
            "data_dir = \"{}\"\narm_listen = \"127.0.0.1:{port}\"\ndataplane_listen = \"127.0.0.1:{port}\"\nlog_level = \"warn\"\n{store_section}[dataplane]\nmax_waiters_per_cluster = 5000\n",
            data_dir.display()
        );
        let config_path = dir.path().join("clusterconfig.toml");
        std::fs::write(&config_path, config)?;
        let child = Command::new(binaries.join("clusterconfig"))
            .arg("--config")
            .arg(&config_path)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start clusterconfig (build it: cargo build --release)")?;
        let pid = child.id().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        wait_until_ok(&format!("{url}/readyz"), "the service").await?;
        let mut service = Service {
            child,
            pid,
            url,
            data_dir,
            arm_token: String::new(),
            binaries: binaries.to_owned(),
            _database: database,
            _dir: dir,
        };
        service.arm_token = service
            .cli(&["token", "arm", "--subject", "bench", "--valid-for", "1d"], "")
            .await?
            .trim()
            .to_owned();
        Ok(service)
    }

    async fn cli(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let mut child = Command::new(self.binaries.join("clusterconfig"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        // Written while the output is read: a large input and output would otherwise fill both pipes.
        let mut input = child.stdin.take().expect("piped");
        let stdin = stdin.to_owned();
        let writer = tokio::spawn(async move { input.write_all(stdin.as_bytes()).await });
        let output = child.wait_with_output().await?;
        writer.await??;
        anyhow::ensure!(output.status.success(), "clusterconfig {args:?} failed");
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `<id> <token>` lines for these clusters (`clusterconfig token agents`).
    pub async fn agent_tokens(&self, clusters: &[String]) -> anyhow::Result<String> {
        self.cli(
            &["token", "agents", "--valid-for", "1d"],
            &(clusters.join("\n") + "\n"),
        )
        .await
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    pub fn open_files(&self) -> u64 {
        open_files(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The load-mode fleet: one process playing many clusters' agents, reporting each desired state it receives.
pub struct Fleet {
    child: Child,
    /// The latest version each cluster's agent received, and when (Unix nanoseconds).
    received: Arc<Mutex<HashMap<String, (u64, u128)>>>,
    /// How many desired states arrived in all.
    arrivals: Arc<Mutex<Vec<(String, u64, u128)>>>,
    moved: Arc<Notify>,
}

impl Fleet {
    /// Starts `clusterconfig-agent --load` for `tokens` and waits until every member has its first desired
    /// state and has had a moment to park its long-poll.
    /// With `watch_only`, the members are passive watchers (they never report).
    pub async fn start(
        binaries: &Path,
        server: &str,
        tokens: &str,
        watch_only: bool,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("tokens");
        std::fs::write(&file, tokens)?;
        let members = tokens.lines().filter(|l| !l.trim().is_empty()).count();
        let mut child = Command::new(binaries.join("clusterconfig-agent"))
            .arg("--server")
            .arg(server)
            .arg("--load")
            .arg(&file)
            .arg("--events")
            .args(["--start-rate", "4000", "--wait", "300"])
            .args(watch_only.then_some("--watch-only"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start clusterconfig-agent")?;
        let stdout = child.stdout.take().expect("piped");
        let received: Arc<Mutex<HashMap<String, (u64, u128)>>> = Arc::default();
        let arrivals: Arc<Mutex<Vec<(String, u64, u128)>>> = Arc::default();
        let moved = Arc::new(Notify::new());
        {
            let (received, arrivals, moved) = (received.clone(), arrivals.clone(), moved.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    let cluster = event["cluster"].as_str().unwrap_or_default().to_ascii_lowercase();
                    let version = event["version"].as_u64().unwrap_or_default();
                    let at = event["receivedUnixNanos"]
                        .as_u64()
                        .map(u128::from)
                        .unwrap_or_default();
                    received.lock().await.insert(cluster.clone(), (version, at));
                    arrivals.lock().await.push((cluster, version, at));
                    moved.notify_waiters();
                }
            });
        }
        let fleet = Fleet {
            child,
            received,
            arrivals,
            moved,
        };
        let _dir = dir;
        let distinct = tokens
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let answered = fleet.arrivals.lock().await.len();
            if answered >= members && fleet.received.lock().await.len() >= distinct {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "only {answered} of {members} agents got their first desired state"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Their long-polls go out right after the first answer.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(fleet)
    }

    /// Waits until `count` desired states of `cluster` newer than `after` arrived; returns when the last did.
    pub async fn arrivals_after(
        &self,
        cluster: &str,
        after: u64,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<u128> {
        let cluster = cluster.to_ascii_lowercase();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.moved.notified();
            {
                let arrivals = self.arrivals.lock().await;
                let newer: Vec<u128> = arrivals
                    .iter()
                    .filter(|(c, v, _)| *c == cluster && *v > after)
                    .map(|(_, _, at)| *at)
                    .collect();
                if newer.len() >= count {
                    return Ok(newer.into_iter().max().unwrap_or_default());
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => bail!("no new desired state reached {cluster} in time"),
            }
        }
    }

    /// The version a cluster's agents last received.
    pub async fn version_of(&self, cluster: &str) -> u64 {
        self.received
            .lock()
            .await
            .get(&cluster.to_ascii_lowercase())
            .map_or(0, |(v, _)| *v)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// etcd, the peer: a fresh data directory, its HTTP/JSON gateway on a free port.
pub struct Etcd {
    child: Child,
    pub pid: u32,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// `None` when no etcd binary is installed (Debian's `etcd-server` package provides one).
    pub fn binary() -> Option<PathBuf> {
        ["/usr/bin/etcd", "/usr/local/bin/etcd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    }

    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(dir.path().join("etcd"))
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start etcd")?;
        let pid = child.id().unwrap_or_default();
        wait_until_ok(&format!("{url}/health"), "etcd").await?;
        Ok(Etcd {
            child,
            pid,
            url,
            _dir: dir,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
