//! A canary scan: after a run that writes known secret values (and known spec values), neither the store's files
//! nor the service's log nor any ARM response contains them, in clear or in base64.

use base64::Engine;
use serde_json::json;

use clusterconfig_testkit::ARC;

use crate::{EXTENSION_VERSION, Env, FLUX_VERSION, LRO_TIMEOUT};

/// The text of `canary` as it would appear in base64 at any alignment (standard and URL-safe alphabets).
fn base64_forms(canary: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3 {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(canary.as_bytes());
            let encoded = engine.encode(&bytes);
            // Drop the characters that mix in bytes before or after the canary.
            let start = (offset * 4).div_ceil(3);
            forms.push(encoded[start..encoded.len() - 1].to_owned());
        }
    }
    forms
}

fn leaks(haystack: &[u8], canary: &str) -> Vec<String> {
    let mut needles = vec![canary.to_owned()];
    needles.extend(base64_forms(canary));
    needles
        .into_iter()
        .filter(|needle| haystack.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .collect()
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    let canary = "CANARY-selfcheck-42";
    for prefix in ["", "a", "ab", "abc"] {
        let blob =
            base64::engine::general_purpose::STANDARD.encode(format!("{{\"k\":\"{prefix}{canary}\"}}"));
        assert!(!leaks(blob.as_bytes(), canary).is_empty(), "prefix {prefix:?}");
    }
    assert!(!leaks(format!("x{canary}y").as_bytes(), canary).is_empty());
    assert!(leaks(b"nothing here", canary).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_or_resource_data_in_clear_in_the_store_the_logs_or_responses() {
    let secrets = [
        "CANARY-https-key-7d1f",
        "CANARY-account-key-92ab",
        "CANARY-extension-setting-4c0e",
        "CANARY-pending-token-66e1",
    ];
    let spec = ["CANARY-spec-path-5b3a", "CANARY-substitute-value-e8d2"];
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);

    let env = Env::start(ARC);
    let agent = env.agent(&[]);
    let mut responses = Vec::new();
    let git = json!({"properties": {
        "gitRepository": {"url": "https://github.com/org/private", "repositoryRef": {"branch": "main"}, "httpsUser": "flux"},
        "configurationProtectedSettings": {"httpsKey": b64(secrets[0])},
        "kustomizations": {"apps": {"path": format!("./{}", spec[0]), "postBuild": {"substitute": {"VALUE": spec[1]}}}}
    }});
    let created = env.arm.put(&env.flux("git"), &git).await;
    responses.push(created.text.clone());
    responses.push(
        env.arm
            .wait_operation(created.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
            .await
            .to_string(),
    );
    let blob = json!({"properties": {"sourceKind": "AzureBlob", "azureBlob": {"url": "https://account.blob.core.windows.net", "containerName": "flux", "accountKey": secrets[1]},
        "kustomizations": {"k": {"path": "./"}}}});
    let created = env.arm.put(&env.flux("blob"), &blob).await;
    responses.push(created.text.clone());
    responses.push(
        env.arm
            .wait_operation(created.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
            .await
            .to_string(),
    );
    let extension = env
        .arm
        .patch(
            &env.extension("flux"),
            &json!({"properties": {"configurationProtectedSettings": {"token": secrets[2]}}}),
        )
        .await;
    responses.push(extension.text.clone());
    env.arm
        .wait_operation(extension.header("azure-asyncoperation").unwrap(), LRO_TIMEOUT)
        .await;

    // A second cluster whose agent never comes: its values stay in the store, sealed.
    let other = clusterconfig_testkit::cluster_id(ARC);
    let mut pending = git.clone();
    pending["properties"]["configurationProtectedSettings"]["httpsKey"] = json!(b64(secrets[3]));
    responses.push(
        env.arm
            .put(
                &crate::resource(&other, "fluxConfigurations", "pending", FLUX_VERSION),
                &pending,
            )
            .await
            .text,
    );

    for path in [
        env.flux("git"),
        env.flux("blob"),
        env.extension("flux"),
        env.list("fluxConfigurations", FLUX_VERSION),
        env.list("extensions", EXTENSION_VERSION),
    ] {
        responses.push(env.arm.get(&path).await.text);
    }
    assert!(
        agent.rendered().iter().any(|f| f.contains("git-auth")),
        "the agent took the values"
    );

    // Stop the server (as a crash would: no clean shutdown), then read everything it left: its data directory
    // and everything its store holds (SQLite files, PostgreSQL columns or Cosmos DB items).
    let mut env = env;
    env.server.kill();
    let logs = env.server.logs();
    let store = env.server.store.contents(&env.server.data_dir);
    let store_bytes: usize = store.iter().map(|(_, b)| b.len()).sum();
    assert!(
        store_bytes > 4 * 1024,
        "the {} store was written: {store_bytes} bytes",
        env.server.store.name()
    );
    let mut files = store;
    for entry in std::fs::read_dir(&env.server.data_dir).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    for canary in secrets.iter().chain(spec.iter()) {
        for (name, bytes) in &files {
            assert!(
                leaks(bytes, canary).is_empty(),
                "{canary} is in {name}: {:?}",
                leaks(bytes, canary)
            );
        }
        assert!(
            leaks(logs.as_bytes(), canary).is_empty(),
            "{canary} is in the server's log"
        );
    }
    for canary in secrets {
        for response in &responses {
            assert!(
                leaks(response.as_bytes(), canary).is_empty(),
                "{canary} came back in a response: {response}"
            );
        }
    }
    assert!(
        responses.iter().any(|r| r.contains(spec[0])),
        "spec values are returned to ARM readers, as they should be"
    );
    drop(agent);
}
