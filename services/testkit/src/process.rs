//! Starting and stopping the real binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The path of one of the workspace's binaries, built (once per test process) if needed so it is never stale.
/// Set `CLUSTERCONFIG_BINARIES_BUILT=1` when a test run has just built them (scripts/test does).
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    BUILT.get_or_init(|| {
        if std::env::var_os("CLUSTERCONFIG_BINARIES_BUILT").is_some() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.args([
            "build",
            "--quiet",
            "-p",
            "clusterconfig-server",
            "-p",
            "clusterconfig-agent",
            "--bins",
        ]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins`",
        path.display()
    );
    path
}

#[derive(Clone, Default)]
pub struct ServerOptions {
    /// The store; a fresh one of the kind `CLUSTERCONFIG_E2E_STORE` names when unset.
    pub store: Option<crate::TestStore>,
    /// Environment for the server (configuration keys as `CLUSTERCONFIG_...`).
    pub env: Vec<(String, String)>,
    /// Reuse a data directory (a restart); a fresh temporary one otherwise.
    pub data_dir: Option<PathBuf>,
    /// Listen here instead of a random port.
    pub arm_listen: Option<String>,
    pub extra_args: Vec<String>,
}

impl ServerOptions {
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running `clusterconfig serve`.
pub struct ServerProcess {
    child: Child,
    /// Where it keeps its data (pass it to a restarted server or a second instance).
    pub store: crate::TestStore,
    /// The environment it was started with (its store's configuration included); the CLI gets it too.
    env: Vec<(String, String)>,
    pub url: String,
    pub data_dir: PathBuf,
    /// Everything the server logged (stderr), for tests that read logs.
    pub log_path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl ServerProcess {
    pub fn start(options: ServerOptions) -> Self {
        let temp = options
            .data_dir
            .is_none()
            .then(|| tempfile::tempdir().expect("temporary directory"));
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.as_ref().expect("made above").path().join("data"));
        std::fs::create_dir_all(&data_dir).expect("data directory");
        let log_path = data_dir.with_extension(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("log file");
        let store = options.store.clone().unwrap_or_else(crate::TestStore::from_env);
        let mut env = store.server_env();
        env.extend(options.env.iter().cloned());
        let mut command = Command::new(binary("clusterconfig"));
        command
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("serve")
            .arg("--arm-listen")
            .arg(options.arm_listen.as_deref().unwrap_or("127.0.0.1:0"))
            .args(&options.extra_args)
            .env("CLUSTERCONFIG_ARM__RETRY_AFTER_SECONDS", "1")
            // Tests look at running operations often; a status answer waits little for them to end.
            .env("CLUSTERCONFIG_ARM__STATUS_WAIT", "200ms")
            .env("CLUSTERCONFIG_LOG_LEVEL", "info,clusterconfig_server=debug")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(log);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("clusterconfig starts");
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("ARM API:") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let url = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "clusterconfig did not start; its log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        ServerProcess {
            child,
            store,
            env,
            url,
            data_dir,
            log_path,
            _temp: temp,
        }
    }

    /// Runs `clusterconfig` with this server's data directory (and environment), returning its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(binary("clusterconfig"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("clusterconfig runs");
        assert!(
            output.status.success(),
            "clusterconfig {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
    }

    pub fn arm_token(&self) -> String {
        self.cli(&["token", "arm"])
    }

    pub fn agent_token(&self, cluster: &str) -> String {
        self.cli(&["token", "agent", "--cluster", cluster])
    }

    /// Agent tokens for many clusters, minted in one run (`token agents`), in the clusters' order.
    pub fn agent_tokens(&self, clusters: &[String]) -> Vec<String> {
        use std::io::Write as _;
        let mut child = Command::new(binary("clusterconfig"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["token", "agents"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("clusterconfig runs");
        let mut stdin = child.stdin.take().expect("piped");
        let input = clusters.join("\n");
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("clusterconfig runs");
        writer.join().expect("writer").expect("stdin written");
        assert!(output.status.success(), "token agents failed");
        let text = String::from_utf8(output.stdout).expect("utf-8");
        let tokens: Vec<String> = text
            .lines()
            .map(|line| line.rsplit_once(' ').expect("id and token").1.to_owned())
            .collect();
        assert_eq!(tokens.len(), clusters.len());
        tokens
    }

    pub fn arm(&self) -> crate::Arm {
        crate::Arm::new(&self.url, &self.arm_token())
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the server abruptly (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (as Kubernetes does to stop a pod) and waits up to `limit` for the process to exit;
    /// returns how long it took and whether it exited successfully, or `None` if it is still running.
    pub fn terminate(&mut self, limit: Duration) -> Option<(Duration, bool)> {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some((started.elapsed(), status.success()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// A running `clusterconfig-agent`.
pub struct AgentProcess {
    child: Child,
    pub state_dir: PathBuf,
    pub render_dir: PathBuf,
    pub log_path: PathBuf,
    _temp: tempfile::TempDir,
}

impl AgentProcess {
    /// Starts an agent for `cluster` against `server_url`, rendering and simulating, with `extra` arguments.
    pub fn start(server_url: &str, cluster: &str, token: &str, extra: &[&str]) -> Self {
        let temp = tempfile::tempdir().expect("temporary directory");
        let state_dir = temp.path().join("state");
        let render_dir = temp.path().join("render");
        let log_path = temp.path().join("agent.log");
        let child = Command::new(binary("clusterconfig-agent"))
            .args([
                "--server",
                server_url,
                "--cluster",
                cluster,
                "--token",
                token,
                "--wait",
                "20",
                "--simulate",
            ])
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--render-dir")
            .arg(&render_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("log file"))
            .spawn()
            .expect("clusterconfig-agent starts");
        AgentProcess {
            child,
            state_dir,
            render_dir,
            log_path,
            _temp: temp,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The rendered files, by name.
    pub fn rendered(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.render_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `condition` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
