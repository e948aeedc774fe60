//! Microsoft's Python management SDK (azure-mgmt-kubernetesconfiguration-{fluxconfigurations,extensions} 1.0.0,
//! from PyPI, unmodified) creates, reads, lists, updates and deletes through the real server, while a simulating
//! agent completes the operations.

use std::path::{Path, PathBuf};
use std::process::Command;

use clusterconfig_testkit::ARC;

use crate::Env;

/// A virtualenv with the pinned SDK, made once under `target/` (or given by `CLUSTERCONFIG_TEST_PYTHON`).
fn sdk_python() -> PathBuf {
    if let Some(python) = std::env::var_os("CLUSTERCONFIG_TEST_PYTHON") {
        return PathBuf::from(python);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let requirements = root.join("tests/python/requirements.txt");
    let venv = root.join("target/sdk-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("requirements.installed");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let lock = venv.with_extension("lock");
    let _guard = FileLock::acquire(&lock);
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements));
        std::fs::write(&stamp, wanted).unwrap();
    }
    python
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An exclusive lock file, so test processes do not build the venv twice.
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path) -> Self {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for _ in 0..600 {
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .is_ok()
            {
                return FileLock(path.to_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        panic!("{} is held for too long", path.display());
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs one of `tests/python`'s scripts against `env`'s server and cluster (given as `CC_*` variables).
async fn run_script(python: &Path, script: &str, env: &Env) -> std::process::Output {
    let parts: Vec<&str> = env.cluster.split('/').collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    tokio::process::Command::new(python)
        .arg(script)
        .env("CC_BASE_URL", &env.server.url)
        .env("CC_TOKEN", env.server.arm_token())
        .env("CC_SUBSCRIPTION", parts[2])
        .env("CC_RESOURCE_GROUP", parts[4])
        .env("CC_CLUSTER_RP", parts[6])
        .env("CC_CLUSTER_TYPE", parts[7])
        .env("CC_CLUSTER_NAME", parts[8])
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn microsofts_python_sdk_works_unmodified() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let env = Env::start(ARC);
    let _agent = env.agent(&[]);
    let output = run_script(&python, "sdk_roundtrip.py", &env).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the SDK round trip failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("SDK round trip passed"));
    assert!(
        !env.server.logs().contains("Q0FOQVJZLXNkay1zZWNyZXQ="),
        "the secret did not reach the logs"
    );
}

/// A fast operation returns fast through Microsoft's clients with their own polling defaults, while the
/// service keeps ARM's Retry-After of 10 s: the first status poll (which the SDK sends at once) is answered
/// when the operation ends. Without that, each call waited for a second poll 10 or 30 s later.
#[tokio::test(flavor = "multi_thread")]
async fn fast_operations_return_fast_through_the_python_sdk() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let env = Env::start_with(
        ARC,
        clusterconfig_testkit::ServerOptions::default()
            .env("CLUSTERCONFIG_ARM__RETRY_AFTER_SECONDS", "10")
            .env("CLUSTERCONFIG_ARM__STATUS_WAIT", "5s"),
    );
    let _agent = env.agent(&[]);
    // microsoft.flux goes first, so the timed create waits for nothing but its own agent round trip.
    let extension = env.extension("flux");
    env.put_and_wait(
        &extension,
        &serde_json::json!({"properties": {"extensionType": "microsoft.flux"}}),
    )
    .await;
    let output = run_script(&python, "sdk_lro_timing.py", &env).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seconds: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("Python SDK, default polling: {seconds}");
    for verb in ["create", "update", "delete"] {
        let took = seconds[verb].as_f64().unwrap();
        assert!(took < 5.0, "{verb} took {took} s through the SDK: {seconds}");
    }
}

/// Microsoft's Azure Policy SDKs, unmodified (azure-mgmt-resource-policy 1.0.0's PolicyClient and
/// azure-mgmt-policyinsights 1.0.1's PolicyInsightsClient): a built-in definition created, assigned, evaluated,
/// remediated on an imported fleet whose agents are simulated, and summarized at 100 % compliance.
#[tokio::test(flavor = "multi_thread")]
async fn microsofts_policy_sdks_assign_remediate_and_summarize() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let clusters = crate::policy::cluster_ids(&[("sdk-east", 2), ("sdk-west", 1)]);
    let mut fleet =
        crate::policy::Fleet::start(clusters.clone(), clusterconfig_testkit::ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let subscription = clusters[0].split('/').nth(2).unwrap().to_owned();
    let definition = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../shared/reference/azure-policy/Deploy-GitOps-Flux2-to-Kubernetes-cluster-no-secrets_DINE.json",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/policy_roundtrip.py");
    let output = tokio::process::Command::new(&python)
        .arg(script)
        .env("CC_BASE_URL", &fleet.server.url)
        .env("CC_TOKEN", fleet.server.arm_token())
        .env("CC_SUBSCRIPTION", &subscription)
        .env("CC_DEFINITION_FILE", &definition)
        .env("CC_CLUSTERS", clusters.len().to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the policy SDK round trip failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("policy SDK round trip passed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn microsofts_extension_types_sdk_reads_the_catalog() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let env = Env::start(ARC);
    let output = run_script(&python, "extension_types.py", &env).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the extension-types SDK run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("extension types passed"));
}
