//! Bad input gets a clear ARM error (4xx with code, message and target) and stores nothing.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::AKS;

use crate::{Env, FLUX_VERSION, assert_arm_error, git_config};

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn with(patch: Value) -> Value {
    let mut body = git_config();
    merge(&mut body, &patch);
    body
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_rule_is_refused_with_its_target() {
    let env = Env::start(AKS);
    let ssh = || json!({"gitRepository": {"url": "ssh://git@github.com/org/repo"}});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "source body missing",
            json!({"properties": {"sourceKind": "Bucket"}}),
            "ValidationFailed",
            "properties.bucket",
        ),
        (
            "foreign source body",
            with(json!({"properties": {"bucket": {"url": "https://s3"}}})),
            "ValidationFailed",
            "properties.bucket",
        ),
        (
            "git url scheme",
            with(json!({"properties": {"gitRepository": {"url": "ftp://x/y"}}})),
            "ValidationFailed",
            "properties.gitRepository.url",
        ),
        (
            "no repository ref",
            with(json!({"properties": {"gitRepository": {"repositoryRef": null}}})),
            "ValidationFailed",
            "properties.gitRepository.repositoryRef",
        ),
        (
            "two repository refs",
            with(json!({"properties": {"gitRepository": {"repositoryRef": {"tag": "v1"}}}})),
            "ValidationFailed",
            "properties.gitRepository.repositoryRef",
        ),
        (
            "ssh key on https",
            with(
                json!({"properties": {"configurationProtectedSettings": {"sshPrivateKey": b64("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----")}}}),
            ),
            "ValidationFailed",
            "properties.configurationProtectedSettings.sshPrivateKey",
        ),
        (
            "https user without key",
            with(json!({"properties": {"gitRepository": {"httpsUser": "me"}}})),
            "ValidationFailed",
            "properties.configurationProtectedSettings.httpsKey",
        ),
        (
            "https credentials on ssh",
            with(
                json!({"properties": {"gitRepository": {"url": "ssh://git@github.com/org/repo", "httpsUser": "me"}, "configurationProtectedSettings": {"httpsKey": b64("pat")}}}),
            ),
            "ValidationFailed",
            "properties.gitRepository.httpsUser",
        ),
        (
            "known hosts not base64 lines",
            with(
                json!({"properties": ssh()})
                    .tap(|b| b["properties"]["gitRepository"]["sshKnownHosts"] = json!(b64("garbage"))),
            ),
            "ValidationFailed",
            "properties.gitRepository.sshKnownHosts",
        ),
        (
            "bucket without credentials",
            json!({"properties": {"sourceKind": "Bucket", "bucket": {"url": "https://s3.example.com", "bucketName": "flux-bucket"}}}),
            "ValidationFailed",
            "properties.bucket.accessKey",
        ),
        (
            "bucket url scheme",
            json!({"properties": {"sourceKind": "Bucket", "bucket": {"url": "s3://x", "bucketName": "flux-bucket", "localAuthRef": "creds"}}}),
            "ValidationFailed",
            "properties.bucket.url",
        ),
        (
            "blob with two auth methods",
            json!({"properties": {"sourceKind": "AzureBlob", "azureBlob": {"url": "https://a.blob.core.windows.net", "containerName": "flux", "accountKey": "k", "sasToken": "s"}}}),
            "ValidationFailed",
            "properties.azureBlob.sasToken",
        ),
        (
            "service principal without secret",
            json!({"properties": {"sourceKind": "AzureBlob", "azureBlob": {"url": "https://a.blob.core.windows.net", "containerName": "flux", "servicePrincipal": {"clientId": "c", "tenantId": "t"}}}}),
            "ValidationFailed",
            "properties.azureBlob.servicePrincipal.clientSecret",
        ),
        (
            "oci url scheme",
            json!({"properties": {"sourceKind": "OCIRepository", "ociRepository": {"url": "https://ghcr.io/x"}}}),
            "ValidationFailed",
            "properties.ociRepository.url",
        ),
        (
            "oci digest",
            json!({"properties": {"sourceKind": "OCIRepository", "ociRepository": {"url": "oci://ghcr.io/x", "repositoryRef": {"digest": "sha256:nothex"}}}}),
            "ValidationFailed",
            "properties.ociRepository.repositoryRef.digest",
        ),
        (
            "dependsOn unknown",
            with(json!({"properties": {"kustomizations": {"apps": {"dependsOn": ["nope"]}}}})),
            "ValidationFailed",
            "properties.kustomizations.apps.dependsOn",
        ),
        (
            "dependsOn cycle",
            with(json!({"properties": {"kustomizations": {"infra": {"dependsOn": ["apps"]}}}})),
            "ValidationFailed",
            "properties.kustomizations.apps.dependsOn",
        ),
        (
            "kustomization name",
            with(json!({"properties": {"kustomizations": {"Bad_Name": {"path": "./"}}}})),
            "ValidationFailed",
            "properties.kustomizations.Bad_Name",
        ),
        (
            "combined name too long",
            with(json!({"properties": {"kustomizations": {"k".repeat(60): {"path": "./"}}}})),
            "ValidationFailed",
            "",
        ),
        (
            "namespace",
            with(json!({"properties": {"namespace": "Not_A_Namespace"}})),
            "ValidationFailed",
            "properties.namespace",
        ),
        (
            "interval",
            with(json!({"properties": {"gitRepository": {"syncIntervalInSeconds": 0}}})),
            "ValidationFailed",
            "properties.gitRepository.syncIntervalInSeconds",
        ),
        (
            "wait duration",
            with(json!({"properties": {"reconciliationWaitDuration": "thirty minutes"}})),
            "ValidationFailed",
            "properties.reconciliationWaitDuration",
        ),
        (
            "substitute variable",
            with(
                json!({"properties": {"kustomizations": {"apps": {"postBuild": {"substitute": {"1bad": "x"}}}}}}),
            ),
            "ValidationFailed",
            "properties.kustomizations.apps.postBuild.substitute.1bad",
        ),
        (
            "unknown enum value",
            with(json!({"properties": {"sourceKind": "Subversion"}})),
            "InvalidRequestContent",
            "properties.sourceKind",
        ),
        (
            "wrong type",
            with(json!({"properties": {"suspend": "yes"}})),
            "InvalidRequestContent",
            "properties.suspend",
        ),
        (
            "unknown property",
            with(json!({"properties": {"gitRepository": {"branch": "main"}}})),
            "PropertyNotSupportedInApiVersion",
            "properties.gitRepository.branch",
        ),
        (
            "NUL in a branch",
            with(json!({"properties": {"gitRepository": {"repositoryRef": {"branch": "ma\u{0}in"}}}})),
            "ValidationFailed",
            "properties.gitRepository.repositoryRef.branch",
        ),
        (
            "newline in a branch",
            with(json!({"properties": {"gitRepository": {"repositoryRef": {"branch": "main\nextra: x"}}}})),
            "ValidationFailed",
            "properties.gitRepository.repositoryRef.branch",
        ),
        (
            "newline in a kustomization path",
            with(json!({"properties": {"kustomizations": {"infra": {"path": "./infra\nprune: false"}}}})),
            "ValidationFailed",
            "properties.kustomizations.infra.path",
        ),
        (
            "an id that is not a string",
            with(json!({"id": false})),
            "InvalidRequestContent",
            "id",
        ),
        (
            "a name that is not a string",
            with(json!({"name": 0})),
            "InvalidRequestContent",
            "name",
        ),
        (
            "a name other than the URL's",
            with(json!({"name": "someone-else"})),
            "InvalidRequestContent",
            "name",
        ),
        (
            "a type other than the URL's",
            with(json!({"type": "Microsoft.KubernetesConfiguration/extensions"})),
            "InvalidRequestContent",
            "type",
        ),
    ];
    for (i, (what, body, code, target)) in cases.iter().enumerate() {
        let path = env.flux(&format!("case-{i}"));
        let response = env.arm.put(&path, body).await;
        assert_eq!(response.status, 400, "{what}: {}", response.text);
        assert_eq!(response.error_code(), *code, "{what}: {}", response.text);
        if !target.is_empty() {
            assert_eq!(response.error_target(), *target, "{what}: {}", response.text);
        }
        assert_eq!(env.arm.get(&path).await.status, 404, "{what}: nothing was stored");
    }
    let listed = env.arm.get(&env.list("fluxConfigurations", FLUX_VERSION)).await;
    assert_eq!(listed.body["value"], json!([]));
    let extensions = env
        .arm
        .get(&env.list("extensions", crate::EXTENSION_VERSION))
        .await;
    assert_eq!(
        extensions.body["value"],
        json!([]),
        "no microsoft.flux was installed half-way"
    );
}

trait Tap {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Value {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_4xx_never_5xx() {
    let env = Env::start(AKS);
    let path = env.flux("malformed");
    let raw = |body: &[u8]| body.to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "not json",
            raw(b"{\"properties\": "),
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "an array",
            raw(b"[1, 2]"),
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "empty",
            raw(b""),
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "not utf-8",
            vec![0xff, 0xfe, 0x7b],
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "a member twice (the second would win silently)",
            raw(br#"{"properties": {"suspend": false}, "properties": {"suspend": true}}"#),
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "xml",
            raw(b"<x/>"),
            "application/xml",
            415,
            "UnsupportedMediaType",
        ),
        (
            "deeply nested",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "application/json",
            400,
            "InvalidRequestContent",
        ),
        (
            "oversized",
            format!(
                "{{\"properties\": {{\"suspend\": false, \"x\": \"{}\"}}}}",
                "a".repeat(5 * 1024 * 1024)
            )
            .into_bytes(),
            "application/json",
            413,
            "RequestEntityTooLarge",
        ),
    ];
    for (what, body, content_type, status, code) in cases {
        let response = env.arm.send_raw(Method::PUT, &path, body, content_type).await;
        assert_eq!(
            response.status,
            status,
            "{what}: {}",
            &response.text[..response.text.len().min(300)]
        );
        assert_eq!(response.error_code(), code, "{what}");
        if status == 413 {
            // The unread rest of the body ends the connection; the client is told, so it opens a new one.
            assert_eq!(response.header("connection"), Some("close"), "{what}");
        }
    }
    let twice = env
        .arm
        .send_raw(
            Method::PUT,
            &path,
            br#"{"properties": {"suspend": false}, "properties": {}}"#.to_vec(),
            "application/json",
        )
        .await;
    assert!(
        twice.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("'properties'"),
        "{}",
        twice.text
    );
    // Agreeing envelope members are fine.
    let agreeing =
        with(json!({"name": "Agreeing", "type": "microsoft.kubernetesconfiguration/fluxconfigurations"}));
    let response = env.arm.put(&env.flux("agreeing"), &agreeing).await;
    assert_eq!(response.status, 201, "{}", response.text);
    for bad_name in ["-leading", "trailing-", "has_underscore", &"x".repeat(64)] {
        let response = env.arm.put(&env.flux(bad_name), &git_config()).await;
        assert_arm_error(&response, 400, "InvalidResourceName");
    }
    let bad_cluster = env.flux("ok").replace(
        "Microsoft.ContainerService/managedClusters",
        "Microsoft.Compute/virtualMachines",
    );
    assert_arm_error(
        &env.arm.put(&bad_cluster, &git_config()).await,
        400,
        "ClusterNotSupported",
    );
    assert_eq!(env.arm.get(&path).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_come_back() {
    const CANARY: &str = "CANARY-d41d8cd98f00b204";
    let env = Env::start(AKS);
    let _agent = env.agent(&[]);
    let path = env.flux("with-secrets");
    let body = with(json!({"properties": {
        "gitRepository": {"httpsUser": "flux"},
        "configurationProtectedSettings": {"httpsKey": b64(CANARY)}
    }}));
    let created = env.arm.put(&path, &body).await;
    let operation = env
        .arm
        .wait_operation(
            created.header("azure-asyncoperation").unwrap(),
            crate::LRO_TIMEOUT,
        )
        .await;
    let blob = env.flux("blob-secrets");
    let blob_created = env
        .arm
        .put(&blob, &json!({"properties": {"sourceKind": "AzureBlob", "azureBlob": {"url": "https://a.blob.core.windows.net", "containerName": "flux", "accountKey": CANARY}}}))
        .await;
    let texts = [
        created.text,
        blob_created.text,
        operation.to_string(),
        env.arm.get(&path).await.text,
        env.arm.get(&blob).await.text,
        env.arm
            .get(&env.list("fluxConfigurations", FLUX_VERSION))
            .await
            .text,
        env.arm
            .patch(
                &path,
                &json!({"properties": {"configurationProtectedSettings": {"httpsKey": 42}}}),
            )
            .await
            .text,
    ];
    let encoded = b64(CANARY);
    for text in texts {
        assert!(
            !text.contains(CANARY) && !text.contains(&encoded),
            "a secret came back: {text}"
        );
    }
    let logs = env.server.logs();
    assert!(!logs.is_empty());
    assert!(
        !logs.contains(CANARY) && !logs.contains(&encoded),
        "a secret reached the logs"
    );
}
