use base64::Engine;
use serde_json::{Value, json};

use super::spec::*;
use super::wire::SourceKind;
use crate::error::codes;
use crate::ids::ResourceName;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn name() -> ResourceName {
    ResourceName::flux_configuration("cfg").unwrap()
}

fn git(extra: Value) -> Value {
    let mut props = json!({
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
        "kustomizations": {"infra": {"path": "./infra"}, "apps": {"path": "./apps", "dependsOn": ["infra"]}}
    });
    crate::merge_patch::apply(&mut props, &extra);
    props
}

fn put(props: &Value) -> Result<FluxWrite, crate::ArmError> {
    FluxConfigSpec::from_put(&name(), props, None)
}

#[test]
fn defaults_follow_the_reference() {
    let spec = put(&git(json!({}))).unwrap().spec;
    assert_eq!(spec.namespace, "default");
    let Source::GitRepository(g) = &spec.source else {
        panic!()
    };
    assert_eq!((g.timeout_in_seconds, g.sync_interval_in_seconds), (600, 600));
    let k = &spec.kustomizations["infra"];
    assert_eq!(
        (
            k.timeout_in_seconds,
            k.prune,
            k.force,
            k.wait,
            k.retry_interval_in_seconds
        ),
        (600, false, false, true, None)
    );
    let rendered = serde_json::to_value(spec.render()).unwrap();
    assert_eq!(rendered["kustomizations"]["apps"]["name"], "apps");
    assert_eq!(rendered["gitRepository"]["repositoryRef"]["branch"], "main");
}

#[test]
fn source_body_must_match_kind() {
    let err = put(&json!({"sourceKind": "Bucket", "gitRepository": {"url": "https://x"}})).unwrap_err();
    assert_eq!(err.code, codes::VALIDATION_FAILED);
    assert!(
        err.message.contains("Invalid source kind match"),
        "{}",
        err.message
    );
    let err = put(&git(json!({"bucket": {"url": "https://b"}}))).unwrap_err();
    assert_eq!(err.target.as_deref(), Some("properties.bucket"));
}

#[test]
fn url_schemes_per_kind() {
    for (url, ok) in [
        ("ssh://git@github.com/x/y", true),
        ("git@github.com:x/y", true),
        ("ftp://x", false),
        ("github.com/x", false),
    ] {
        let body = git(json!({"gitRepository": {"url": url}}));
        assert_eq!(put(&body).is_ok(), ok, "{url}");
    }
    let oci = json!({"sourceKind": "OCIRepository", "ociRepository": {"url": "https://registry/x"}});
    assert_eq!(
        put(&oci).unwrap_err().target.as_deref(),
        Some("properties.ociRepository.url")
    );
    let oci = json!({"sourceKind": "OCIRepository", "ociRepository": {"url": "oci://ghcr.io/x/y"}});
    let Source::OciRepository(o) = put(&oci).unwrap().spec.source else {
        panic!()
    };
    assert_eq!(o.reference, OciRef::Tag("latest".into()));
}

#[test]
fn exactly_one_repository_ref() {
    let none = git(json!({"gitRepository": {"repositoryRef": {"branch": null}}}));
    assert!(put(&none).unwrap_err().message.contains("exactly one"));
    let two = git(json!({"gitRepository": {"repositoryRef": {"tag": "v1"}}}));
    assert_eq!(
        put(&two).unwrap_err().target.as_deref(),
        Some("properties.gitRepository.repositoryRef")
    );
    let empty_strings = git(
        json!({"gitRepository": {"repositoryRef": {"branch": "", "tag": "v1", "semver": "", "commit": ""}}}),
    );
    assert!(
        put(&empty_strings).is_ok(),
        "Azure Policy sends empty strings for the refs it does not use"
    );
}

#[test]
fn auth_combinations() {
    let key = b64("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n");
    let ssh_on_https = git(json!({"configurationProtectedSettings": {"sshPrivateKey": key}}));
    assert!(put(&ssh_on_https).unwrap_err().message.contains("http(s)"));
    let user_without_key = git(json!({"gitRepository": {"httpsUser": "me"}}));
    assert!(put(&user_without_key).unwrap_err().message.contains("together"));
    let both = git(
        json!({"gitRepository": {"httpsUser": "me"}, "configurationProtectedSettings": {"httpsKey": b64("pat")}}),
    );
    assert!(put(&both).is_ok());
    let https_on_ssh = git(
        json!({"gitRepository": {"url": "ssh://git@host/x", "httpsUser": "me"}, "configurationProtectedSettings": {"httpsKey": b64("pat")}}),
    );
    assert!(put(&https_on_ssh).is_err());
    let bad_key = git(
        json!({"gitRepository": {"url": "ssh://git@host/x"}, "configurationProtectedSettings": {"sshPrivateKey": "CANARY-not-base64!"}}),
    );
    let err = put(&bad_key).unwrap_err();
    assert!(!err.message.contains("CANARY") && !err.target.clone().unwrap().contains("CANARY"));
    let known_hosts = git(
        json!({"gitRepository": {"url": "ssh://git@host/x", "sshKnownHosts": b64("host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")}}),
    );
    assert!(put(&known_hosts).is_ok());
    let bad_hosts =
        git(json!({"gitRepository": {"url": "ssh://git@host/x", "sshKnownHosts": b64("nonsense")}}));
    assert!(put(&bad_hosts).is_err());
}

#[test]
fn bucket_and_azure_blob_rules() {
    let bucket = |extra: Value| {
        let mut body = json!({"sourceKind": "Bucket", "bucket": {"url": "https://s3.amazonaws.com", "bucketName": "my-bucket"}});
        crate::merge_patch::apply(&mut body, &extra);
        put(&body)
    };
    assert!(bucket(json!({})).is_err(), "a bucket needs credentials");
    assert!(bucket(json!({"bucket": {"accessKey": "AK"}, "configurationProtectedSettings": {"bucketSecretKey": b64("sk")}})).is_ok());
    assert!(bucket(json!({"bucket": {"localAuthRef": "my-secret"}})).is_ok());
    let spec = bucket(json!({"bucket": {"localAuthRef": "my-secret"}}))
        .unwrap()
        .spec;
    let Source::Bucket(b) = spec.source else { panic!() };
    assert!(b.insecure, "the API's default for bucket.insecure is true");

    let blob = |extra: Value| {
        let mut body = json!({"sourceKind": "AzureBlob", "azureBlob": {"url": "https://acct.blob.core.windows.net", "containerName": "flux"}});
        crate::merge_patch::apply(&mut body, &extra);
        put(&body)
    };
    assert!(blob(json!({})).is_ok());
    let two = blob(json!({"azureBlob": {"accountKey": "k", "sasToken": "s"}})).unwrap_err();
    assert!(two.message.contains("Only one way"), "{}", two.message);
    let sp_without_secret =
        blob(json!({"azureBlob": {"servicePrincipal": {"clientId": "c", "tenantId": "t"}}})).unwrap_err();
    assert!(sp_without_secret.message.contains("exactly one"));
    let sp = blob(json!({"azureBlob": {"servicePrincipal": {"clientId": "c", "tenantId": "t", "clientSecret": "CANARY"}}})).unwrap();
    assert!(
        sp.spec
            .source_secrets
            .contains(&SourceSecret::AzureBlobClientSecret)
    );
    assert_eq!(
        sp.secrets
            .source_credentials
            .unwrap()
            .get("azureBlob.servicePrincipal.clientSecret")
            .map(String::as_str),
        Some("CANARY")
    );
    let rendered = serde_json::to_string(&sp.spec.render()).unwrap();
    assert!(!rendered.contains("CANARY") && !format!("{:?}", sp.spec).contains("CANARY"));
}

#[test]
fn depends_on_names_existing_kustomizations_without_cycles() {
    let missing = git(json!({"kustomizations": {"apps": {"dependsOn": ["nope"]}}}));
    assert!(put(&missing).unwrap_err().message.contains("'nope'"));
    let cycle =
        git(json!({"kustomizations": {"infra": {"dependsOn": ["db"]}, "db": {"dependsOn": ["apps"]}}}));
    let err = put(&cycle).unwrap_err();
    assert!(
        err.message.contains("apps -> infra -> db -> apps"),
        "{}",
        err.message
    );
    let own = git(json!({"kustomizations": {"infra": {"dependsOn": ["infra"]}}}));
    assert!(put(&own).unwrap_err().message.contains("itself"));
}

#[test]
fn names_and_lengths() {
    let long = "k".repeat(60);
    let body = git(json!({"kustomizations": {long.clone(): {"path": "x"}}}));
    assert!(put(&body).unwrap_err().message.contains("combined length"));
    let bad = git(json!({"kustomizations": {"Bad_Name": {}}}));
    assert!(put(&bad).is_err());
    let ns = git(json!({"namespace": "has.dot"}));
    assert_eq!(
        put(&ns).unwrap_err().target.as_deref(),
        Some("properties.namespace")
    );
    let interval = git(json!({"gitRepository": {"syncIntervalInSeconds": 0}}));
    assert_eq!(
        put(&interval).unwrap_err().target.as_deref(),
        Some("properties.gitRepository.syncIntervalInSeconds")
    );
    let duration = git(json!({"reconciliationWaitDuration": "30m"}));
    assert!(put(&duration).is_err());
}

#[test]
fn scope_and_namespace_are_fixed_at_creation() {
    let first = put(&git(json!({"namespace": "team-a"}))).unwrap().spec;
    let moved =
        FluxConfigSpec::from_put(&name(), &git(json!({"namespace": "team-b"})), Some(&first)).unwrap_err();
    assert_eq!(moved.target.as_deref(), Some("properties.namespace"));
    let rescoped = FluxConfigSpec::from_put(
        &name(),
        &git(json!({"namespace": "team-a", "scope": "namespace"})),
        Some(&first),
    );
    assert_eq!(rescoped.unwrap_err().target.as_deref(), Some("properties.scope"));
}

#[test]
fn patch_merges_and_null_removes_a_kustomization() {
    let spec = put(&git(json!({}))).unwrap().spec;
    let patched = spec
        .apply_patch(
            &name(),
            &json!({"suspend": true, "kustomizations": {"apps": null}}),
        )
        .unwrap()
        .spec;
    assert!(patched.suspend);
    assert_eq!(patched.kustomizations.keys().collect::<Vec<_>>(), vec!["infra"]);
    let removed_dep = spec
        .apply_patch(&name(), &json!({"kustomizations": {"infra": null}}))
        .unwrap_err();
    assert!(
        removed_dep.message.contains("'infra'"),
        "a dependency cannot be removed under its dependents"
    );
    let cleared = spec
        .apply_patch(&name(), &json!({"kustomizations": {"apps": {"dependsOn": null}}}))
        .unwrap()
        .spec;
    assert!(cleared.kustomizations["apps"].depends_on.is_empty());
    let post_build = spec
        .apply_patch(
            &name(),
            &json!({"kustomizations": {"apps": {"postBuild": {"substitute": {"a": "1"}}}}}),
        )
        .unwrap()
        .spec;
    let removed = post_build
        .apply_patch(&name(), &json!({"kustomizations": {"apps": {"postBuild": null}}}))
        .unwrap();
    assert!(
        removed.spec.kustomizations["apps"].post_build.is_none(),
        "removing postBuild is allowed (terraform #28570)"
    );
}

#[test]
fn patch_switching_source_kind_drops_the_old_body() {
    let spec = put(&git(json!({}))).unwrap().spec;
    let patch = json!({"sourceKind": "Bucket", "gitRepository": {}, "bucket": {"url": "https://minio:9000", "bucketName": "bucket-1", "localAuthRef": "creds"}});
    let patched = spec.apply_patch(&name(), &patch).unwrap().spec;
    assert_eq!(patched.source.kind(), SourceKind::Bucket);
}

#[test]
fn write_only_values_survive_writes_that_do_not_mention_them() {
    let body = json!({"sourceKind": "AzureBlob", "azureBlob": {"url": "https://a.blob.core.windows.net", "containerName": "flux", "accountKey": "K1"},
        "configurationProtectedSettings": {"extra": "P1"}});
    let first = put(&body).unwrap();
    assert_eq!(first.secrets.protected_settings.as_ref().unwrap()["extra"], "P1");

    // A PATCH about something else leaves both groups untouched.
    let patched = first
        .spec
        .apply_patch(&name(), &json!({"suspend": true}))
        .unwrap();
    assert_eq!(patched.secrets.protected_settings, None);
    assert_eq!(patched.secrets.source_credentials, None);
    assert!(
        patched
            .spec
            .source_secrets
            .contains(&SourceSecret::AzureBlobAccountKey)
    );
    assert!(patched.spec.protected_setting_keys.contains("extra"));

    // A PUT that omits them (a GET-modify-PUT round trip) keeps them too.
    let mut round_trip = serde_json::to_value(first.spec.render()).unwrap();
    strip_nulls(&mut round_trip);
    let again = FluxConfigSpec::from_put(&name(), &round_trip, Some(&first.spec)).unwrap();
    assert_eq!(again.spec, first.spec);
    assert_eq!(again.secrets.protected_settings, None);
    assert_eq!(again.secrets.source_credentials, None);

    // Naming another way to authenticate replaces the account key; an explicit null clears protected settings.
    let switched = first
        .spec
        .apply_patch(
            &name(),
            &json!({"azureBlob": {"sasToken": "S1"}, "configurationProtectedSettings": null}),
        )
        .unwrap();
    assert!(
        !switched
            .spec
            .source_secrets
            .contains(&SourceSecret::AzureBlobAccountKey)
    );
    assert!(
        switched
            .spec
            .source_secrets
            .contains(&SourceSecret::AzureBlobSasToken)
    );
    assert_eq!(switched.secrets.protected_settings, Some(Default::default()));
    assert!(switched.spec.protected_setting_keys.is_empty());
}
