//! The extension-type catalog through ARM (`extensionTypes`, api-version 2023-05-01-preview and later), as
//! `az k8s-extension extension-types ...` and Microsoft's Python SDK read it: by cluster, by location and by
//! subscription; versions are the installable (N-2) ones, and for a cluster only those its facts allow.

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::ARC;

use crate::{Env, assert_arm_error};

const PREVIEW: &str = "2023-05-01-preview";

fn names(list: &Value) -> Vec<&str> {
    list["value"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

fn subscription(env: &Env) -> &str {
    env.cluster.split('/').nth(2).unwrap()
}

async fn get(env: &Env, path: &str) -> Value {
    let response = env.arm.get(&format!("{}{path}", env.server.url)).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text);
    response.body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalog_is_served_by_cluster_location_and_subscription() {
    let env = Env::start(ARC);
    let types = format!(
        "{}/providers/Microsoft.KubernetesConfiguration/extensionTypes",
        env.cluster
    );

    let listed = get(&env, &format!("{types}?api-version={PREVIEW}")).await;
    assert_eq!(names(&listed), ["microsoft.flux"]);
    let flux = &listed["value"][0];
    assert_eq!(flux["id"], format!("{types}/microsoft.flux"));
    assert_eq!(flux["type"], "Microsoft.KubernetesConfiguration/extensionTypes");
    assert_eq!(
        flux["properties"]["supportedScopes"],
        json!({"defaultScope": "cluster", "clusterScopeSettings": {"properties":
            {"allowMultipleInstances": false, "defaultReleaseNamespace": "flux-system"}}})
    );
    let shown = get(
        &env,
        &format!("{}/PROVIDERS/microsoft.kubernetesconfiguration/EXTENSIONTYPES/Microsoft.Flux?api-version=2024-11-01-preview", env.cluster),
    )
    .await;
    assert_eq!(shown["name"], "microsoft.flux", "matched case-insensitively");

    // Versions: the three newest minor lines of Stable, newest first (the CLI always sends showLatest).
    let versions = get(
        &env,
        &format!("{types}/microsoft.flux/versions?showLatest=false&api-version={PREVIEW}"),
    )
    .await;
    assert_eq!(
        names(&versions),
        ["1.23.0", "1.22.2", "1.22.1", "1.21.1", "1.21.0"]
    );
    assert_eq!(
        versions["value"][0]["type"],
        "Microsoft.KubernetesConfiguration/extensionTypes/versions"
    );
    let latest = get(
        &env,
        &format!("{types}/microsoft.flux/versions?showLatest=true&api-version={PREVIEW}"),
    )
    .await;
    assert_eq!(names(&latest), ["1.23.0"]);
    let major = get(
        &env,
        &format!("{types}/microsoft.flux/versions?majorVersion=2&api-version={PREVIEW}"),
    )
    .await;
    assert!(names(&major).is_empty());
    let one = get(
        &env,
        &format!("{types}/microsoft.flux/versions/1.22.2?api-version=2026-04-01"),
    )
    .await;
    assert_eq!(one["properties"]["version"], "1.22.2");
    assert_eq!(one["id"], format!("{types}/microsoft.flux/versions/1.22.2"));

    // By location and by subscription.
    let location = format!(
        "/subscriptions/{}/providers/Microsoft.KubernetesConfiguration/locations/eastus/extensionTypes",
        subscription(&env)
    );
    let by_location = get(
        &env,
        &format!("{location}?clusterType=connectedClusters&api-version={PREVIEW}"),
    )
    .await;
    assert_eq!(names(&by_location), ["microsoft.flux"]);
    assert_eq!(
        by_location["value"][0]["id"],
        format!("{location}/microsoft.flux")
    );
    let shown = get(&env, &format!("{location}/microsoft.flux?api-version={PREVIEW}")).await;
    assert_eq!(shown["properties"]["publisher"], "Microsoft");
    let listed = get(
        &env,
        &format!("{location}/microsoft.flux/versions?showLatest=true&api-version={PREVIEW}"),
    )
    .await;
    assert_eq!(names(&listed), ["1.23.0"]);
    let marketplace = get(
        &env,
        &format!("{location}?publisherId=contoso&api-version={PREVIEW}"),
    )
    .await;
    assert!(
        names(&marketplace).is_empty(),
        "no catalog type has a marketplace plan"
    );
    let by_subscription = format!(
        "/subscriptions/{}/providers/Microsoft.KubernetesConfiguration/extensionTypes",
        subscription(&env)
    );
    assert_eq!(
        names(&get(&env, &format!("{by_subscription}?api-version=2026-05-01")).await),
        ["microsoft.flux"]
    );

    // Errors, in ARM's shape.
    let url = |path: String| format!("{}{path}", env.server.url);
    assert_arm_error(
        &env.arm
            .get(&url(format!("{types}/no.such.type?api-version={PREVIEW}")))
            .await,
        404,
        "ResourceNotFound",
    );
    assert_arm_error(
        &env.arm
            .get(&url(format!(
                "{types}/microsoft.flux/versions/1.19.5?api-version={PREVIEW}"
            )))
            .await,
        404,
        "ResourceNotFound",
    );
    assert_arm_error(
        &env.arm.get(&url(format!("{types}?api-version=2025-03-01"))).await,
        400,
        "InvalidApiVersionParameter",
    );
    assert_arm_error(
        &env.arm.get(&url(types.clone())).await,
        400,
        "MissingApiVersionParameter",
    );
    assert_arm_error(
        &env.arm
            .get(&url(format!("{by_subscription}?api-version={PREVIEW}")))
            .await,
        400,
        "InvalidApiVersionParameter",
    );
    let bad = env
        .arm
        .get(&url(format!(
            "{types}/microsoft.flux/versions?showLatest=maybe&api-version={PREVIEW}"
        )))
        .await;
    assert_arm_error(&bad, 400, "InvalidRequestContent");
    assert_eq!(bad.error_target(), "showLatest");
    let bad = env
        .arm
        .get(&url(format!(
            "{types}/microsoft.flux/versions?majorVersion=one&api-version={PREVIEW}"
        )))
        .await;
    assert_eq!(bad.error_target(), "majorVersion");
    let anonymous = reqwest::get(url(format!("{types}?api-version={PREVIEW}")))
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "the catalog is behind authentication too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_is_offered_only_what_its_facts_allow() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = crate::lifecycle::test_catalog(dir.path());
    let env = Env::start_with(
        ARC,
        clusterconfig_testkit::ServerOptions::default()
            .env("CLUSTERCONFIG_CATALOG_PATH", catalog.display().to_string()),
    );
    let agent = env.arm.with_token(&env.server.agent_token(&env.cluster));
    let facts = format!("{}/dataplane/v1{}/agent", env.server.url, env.cluster);
    let reported = agent
        .send(
            Method::POST,
            &facts,
            Some(&json!({"kubernetesVersion": "v1.30.0", "cpuArchitecture": "arm64"})),
            &[],
        )
        .await;
    assert_eq!(reported.status, 204, "{}", reported.text);

    let legacy = "microsoft.flux/versions?releaseTrain=Legacy&api-version=2023-05-01-preview";
    let cluster = get(
        &env,
        &format!(
            "{}/providers/Microsoft.KubernetesConfiguration/extensionTypes/{legacy}",
            env.cluster
        ),
    )
    .await;
    assert!(
        names(&cluster).is_empty(),
        "microsoft.flux below 1.7.0 has no arm64 images: {cluster}"
    );
    let location = get(
        &env,
        &format!("/subscriptions/{}/providers/Microsoft.KubernetesConfiguration/locations/westus/extensionTypes/{legacy}", subscription(&env)),
    )
    .await;
    assert_eq!(
        names(&location),
        ["1.6.1", "1.6.0"],
        "a location knows no cluster's facts"
    );
    let trains = get(
        &env,
        &format!(
            "{}/providers/Microsoft.KubernetesConfiguration/extensionTypes?api-version=2023-05-01-preview",
            env.cluster
        ),
    )
    .await;
    assert_eq!(names(&trains), ["microsoft.flux", "example.monitoring"]);
}
