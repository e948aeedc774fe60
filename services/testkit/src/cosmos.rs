//! Cosmos DB for tests: the emulator process of `tests/cosmos-emulator` (Node.js). `CLUSTERCONFIG_TEST_COSMOS_ENDPOINT`
//! names one that runs (scripts/test starts one for the whole run); otherwise each `TestCosmos` starts its own,
//! which exits with the test process. Each test gets a database of its own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

pub const ENDPOINT_VARIABLE: &str = "CLUSTERCONFIG_TEST_COSMOS_ENDPOINT";

/// The emulators' well-known account key (the emulator process does not check it; the SDK signs with it).
pub const KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

/// The directory of the emulator script and its `node_modules`.
pub fn emulator_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/cosmos-emulator")
}

/// A running emulator process, stopped when dropped.
pub struct Emulator {
    child: Child,
    /// Closing it tells the emulator to exit (`--exit-with-stdin`), also when this process dies.
    _stdin: ChildStdin,
    pub endpoint: String,
}

impl Emulator {
    pub fn start() -> Self {
        let dir = emulator_dir();
        assert!(
            dir.join("node_modules/@vercel/cosmosdb-server").exists(),
            "the Cosmos DB emulator is not installed: run `npm ci --prefix {}` (scripts/test does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("server.js"))
            .args([
                "--no-ssl",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--exit-with-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the Cosmos DB emulator (is Node.js 20+ installed?)");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(ready) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(port) = ready["port"].as_u64()
                {
                    let _ = sender.send(port);
                }
            }
        });
        let port = match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("the Cosmos DB emulator did not start within 30 seconds");
            }
        };
        Emulator {
            child,
            _stdin: stdin,
            endpoint: format!("http://127.0.0.1:{port}/"),
        }
    }

    /// Stops the emulator at once: an outage, for the tests of what the service does then.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A database for one test, on the shared emulator or on one of its own.
pub struct TestCosmos {
    pub endpoint: String,
    pub key: &'static str,
    pub database: String,
    emulator: std::sync::Mutex<Option<Emulator>>,
}

impl TestCosmos {
    /// On the emulator named by `CLUSTERCONFIG_TEST_COSMOS_ENDPOINT`, else on a new one.
    pub fn create() -> Self {
        match std::env::var(ENDPOINT_VARIABLE) {
            Ok(endpoint) => Self::on(endpoint, None),
            Err(_) => Self::own(),
        }
    }

    /// Always on an emulator of its own (for tests that stop it).
    pub fn own() -> Self {
        let emulator = Emulator::start();
        Self::on(emulator.endpoint.clone(), Some(emulator))
    }

    fn on(endpoint: String, emulator: Option<Emulator>) -> Self {
        TestCosmos {
            endpoint,
            key: KEY,
            database: format!("test-{}", uuid::Uuid::new_v4().simple()),
            emulator: std::sync::Mutex::new(emulator),
        }
    }

    /// Stops its own emulator at once (an outage); the shared one cannot be stopped.
    pub fn stop_emulator(&self) {
        let mut emulator = self.emulator.lock().expect("not poisoned");
        emulator
            .as_mut()
            .expect("only a TestCosmos::own() has an emulator to stop")
            .kill();
    }

    /// The server's configuration for this database (as `CLUSTERCONFIG_...` variables).
    pub fn server_env(&self) -> Vec<(String, String)> {
        [
            ("CLUSTERCONFIG_STORE__KIND", "cosmos"),
            ("CLUSTERCONFIG_STORE__COSMOS__ENDPOINT", self.endpoint.as_str()),
            ("CLUSTERCONFIG_STORE__COSMOS__KEY", self.key),
            ("CLUSTERCONFIG_STORE__COSMOS__DATABASE", self.database.as_str()),
            ("CLUSTERCONFIG_STORE__COSMOS__CREATE_IF_MISSING", "true"),
            ("CLUSTERCONFIG_STORE__COSMOS__EMULATOR", "true"),
            ("CLUSTERCONFIG_STORE__COSMOS__FEED_POLL_INTERVAL", "100ms"),
            ("COSMOS_DISABLE_IMDS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for TestCosmos {
    fn drop(&mut self) {
        if self.emulator.get_mut().is_ok_and(|e| e.is_some()) {
            return; // It goes with its emulator.
        }
        // The shared emulator keeps everything in memory until the run ends: drop the database now. The
        // emulator does not check authorization, so a bare DELETE does it.
        let url = format!("{}dbs/{}", self.endpoint, self.database);
        crate::block_on(async move {
            let _ = reqwest::Client::new()
                .delete(url)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
        });
    }
}
