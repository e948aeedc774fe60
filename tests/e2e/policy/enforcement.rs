//! Enforcement and scope: continuous remediation and drift, clusters entering the scope, DoNotEnforce and
//! notScopes, forgetting a cluster, and the errors of bad policy objects.

use serde_json::json;

use clusterconfig_testkit::{Response, ServerOptions};

use super::*;
use crate::assert_arm_error;

#[tokio::test(flavor = "multi_thread")]
async fn continuous_remediation_redeploys_drift_and_a_new_cluster_is_deployed_to_at_once() {
    let clusters = cluster_ids(&[("drift", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let metadata = json!({"metadata": {"continuousRemediation": true}});
    fleet
        .assign(
            &subscription_scope(),
            "keep-it",
            &definition,
            parameters,
            metadata,
        )
        .await;

    // Continuous: the scan that a new assignment starts deploys, no remediation needed.
    fleet.wait_all_compliant(&subscription_scope(), 2).await;

    // A configuration deleted by hand comes back.
    let configuration = format!(
        "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/public-git?api-version=2022-03-01",
        clusters[0]
    );
    // Compliance asks only that the configuration exists as assigned (the built-ins' existence condition), not
    // that its agent applied it: wait for that, or the delete meets the first write still running.
    let applied = eventually(TIMEOUT, || {
        let request = fleet.arm.get(&configuration);
        async move { request.await.body["properties"]["provisioningState"] == "Succeeded" }
    })
    .await;
    assert!(applied, "the deployed configuration is applied");
    let deleted = fleet.arm.delete(&configuration).await;
    assert!(
        matches!(deleted.status, 200 | 202 | 204),
        "{}\n{}",
        deleted.text,
        fleet.server.logs()
    );
    let back = eventually(TIMEOUT, || {
        let request = fleet.arm.get(&configuration);
        async move {
            let response = request.await;
            response.status == 200 && response.body["properties"]["provisioningState"] == "Succeeded"
        }
    })
    .await;
    assert!(
        back,
        "the deleted configuration is deployed again: {}",
        fleet.server.logs()
    );

    // A cluster that enters the scope later (imported) is deployed to at once, without a remediation.
    fleet.clusters = cluster_ids(&[("drift", 3)]);
    fleet.import();
    fleet.start_agents();
    fleet.wait_all_compliant(&subscription_scope(), 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn do_not_enforce_and_not_scopes_evaluate_without_deploying() {
    let clusters = cluster_ids(&[("audit", 2), ("skipped", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let extra = json!({"enforcementMode": "DoNotEnforce", "notScopes": [scope_of_group("skipped")],
                       "metadata": {"continuousRemediation": true}});
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "audit-only",
            &definition,
            parameters,
            extra,
        )
        .await;

    // Evaluated: the two clusters in scope are non-compliant; those of the notScopes have no state at all.
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 2).await;
    let states = fleet
        .query(
            &subscription_scope(),
            &format!("PolicyAssignmentId eq '{assignment}'"),
        )
        .await;
    assert_eq!(states.len(), 2);
    assert!(
        states
            .iter()
            .all(|s| !s["resourceId"].as_str().unwrap().contains("/skipped/")),
        "{states:?}"
    );

    // Not enforced: nothing was deployed, also not by the continuous flag.
    for cluster in &clusters {
        let listed = fleet
            .arm
            .get(&format!("{cluster}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2022-03-01"))
            .await;
        assert_eq!(listed.body["value"], json!([]), "{cluster}: {}", listed.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_cluster_is_purged() {
    let clusters = cluster_ids(&[("forget", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[2];
    let definition = fleet.put_definition(file).await;
    let metadata = json!({"metadata": {"continuousRemediation": true}});
    fleet
        .assign(&subscription_scope(), "ssh", &definition, parameters, metadata)
        .await;
    fleet.wait_all_compliant(&subscription_scope(), 2).await;

    // Decommissioned: its agent is gone (a running agent would register its cluster again).
    fleet.stop_agents();
    let forgotten = fleet.server.cli(&[
        "clusters",
        "forget",
        "--cluster",
        &clusters[0],
        "--server",
        &fleet.server.url,
    ]);
    assert!(!forgotten.contains("not known"), "{forgotten}");
    let inventory = fleet
        .arm
        .get(&format!("/operator/v1/subscriptions/{SUBSCRIPTION}/clusters"))
        .await;
    let listed = inventory.body["value"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{}", inventory.text);
    let configuration = fleet
        .arm
        .get(&format!("{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/ssh-git?api-version=2022-03-01", clusters[0]))
        .await;
    assert_eq!(configuration.status, 404, "{}", configuration.text);
    let states = fleet
        .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
        .await;
    assert_eq!(states.len(), 1, "{states:?}");
    let again = fleet.server.cli(&[
        "clusters",
        "forget",
        "--cluster",
        &clusters[0],
        "--server",
        &fleet.server.url,
    ]);
    assert!(again.contains("not known"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_policy_objects_get_clear_arm_errors() {
    let fleet = Fleet::start(cluster_ids(&[("errors", 1)]), ServerOptions::default());
    let (file, _) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let assignment = format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/bad",
        subscription_scope()
    );
    let url = format!("{assignment}?api-version={AUTHORIZATION}");

    let missing: Response = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": definition, "parameters": {}}}),
        )
        .await;
    assert_arm_error(&missing, 400, "MissingPolicyParameter");
    let disallowed = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": definition, "parameters": assignment_parameters(
                &json!({"configurationName": "x", "repositoryUrl": "https://e.com/r", "effect": "Audit"}))}}),
        )
        .await;
    assert_arm_error(&disallowed, 400, "PolicyParameterValueNotAllowed");
    let unknown_definition = fleet
        .arm
        .put(
            &url,
            &json!({"properties": {"policyDefinitionId": format!("{}/providers/Microsoft.Authorization/policyDefinitions/nope", subscription_scope())}}),
        )
        .await;
    assert_eq!(unknown_definition.status / 100, 4, "{}", unknown_definition.text);
    let stored = fleet.arm.get(&url).await;
    assert_eq!(stored.status, 404, "nothing stored half-way: {}", stored.text);

    let no_version = fleet.arm.get(&assignment).await;
    assert_arm_error(&no_version, 400, "MissingApiVersionParameter");
    let bad_version = fleet
        .arm
        .get(&format!("{assignment}?api-version=2019-01-01"))
        .await;
    assert_arm_error(&bad_version, 400, "InvalidApiVersionParameter");

    // Lists page as ARM's do: $top, then nextLink until the end.
    for (index, file) in [
        "Deploy-GitOps-Flux2-Extension-to-Kubernetes-cluster_DINE.json",
        "Deploy-GitOps-Flux2-to-Kubernetes-cluster-SSH_DINE.json",
    ]
    .iter()
    .enumerate()
    {
        let id = fleet.put_definition(file).await;
        assert!(id.ends_with(published(file)["name"].as_str().unwrap()), "{index}");
    }
    let mut next = Some(format!(
        "{}/providers/Microsoft.Authorization/policyDefinitions?api-version={AUTHORIZATION}&$top=2",
        subscription_scope()
    ));
    let mut names = Vec::new();
    while let Some(url) = next.take() {
        let page = fleet.arm.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.body["value"].as_array().unwrap();
        assert!(items.len() <= 2, "{}", page.text);
        names.extend(items.iter().map(|d| d["name"].as_str().unwrap().to_owned()));
        next = page.body["nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(names.len(), 3, "three definitions over two pages: {names:?}");
    let broken = fleet
        .arm
        .put(
            &format!("{}/providers/Microsoft.Authorization/policyDefinitions/broken?api-version={AUTHORIZATION}", subscription_scope()),
            &json!({"properties": {"mode": "All", "policyRule": {"if": {"field": "type", "equals": "[concat('a', ]"}, "then": {"effect": "audit"}}}}),
        )
        .await;
    assert_eq!(broken.status, 400, "{}", broken.text);
    assert!(
        broken.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("position"),
        "{}",
        broken.text
    );
}

/// A custom definition (a built-in with an `evaluationDelay` added): a cluster entering the scope is deployed to
/// once the delay has passed, not at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_cluster_waits_for_the_definitions_evaluation_delay() {
    let clusters = cluster_ids(&[("delayed", 1)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    let (file, parameters) = &flux_v2_definitions()[1];
    let mut document = published(file);
    document["properties"]["policyRule"]["then"]["details"]["evaluationDelay"] = json!("PT3S");
    let definition = format!(
        "{}/providers/Microsoft.Authorization/policyDefinitions/delayed",
        subscription_scope()
    );
    let created = fleet
        .arm
        .put(
            &format!("{definition}?api-version={AUTHORIZATION}"),
            &json!({"properties": document["properties"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    fleet
        .assign(
            &subscription_scope(),
            "delayed",
            &definition,
            parameters,
            json!({}),
        )
        .await;

    fleet.import();
    let imported = std::time::Instant::now();
    fleet.start_agents();
    let configuration = format!(
        "{}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations/public-git?api-version=2022-03-01",
        clusters[0]
    );
    // Evaluated at once (non-compliant), deployed only after the delay.
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 1).await;
    if imported.elapsed() < std::time::Duration::from_secs(2) {
        assert_eq!(
            fleet.arm.get(&configuration).await.status,
            404,
            "not deployed before the delay"
        );
    }
    fleet.wait_all_compliant(&subscription_scope(), 1).await;
    assert!(
        imported.elapsed() >= std::time::Duration::from_secs(3),
        "deployed after the delay"
    );
}

/// Under continuous remediation a configuration that failed on its cluster is deployed again: its agent gets a
/// new generation to apply.
#[tokio::test(flavor = "multi_thread")]
async fn continuous_remediation_redeploys_a_failed_configuration() {
    let clusters = cluster_ids(&[("refail", 1)]);
    let fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let metadata = json!({"metadata": {"continuousRemediation": true}});
    fleet
        .assign(&subscription_scope(), "keep", &definition, parameters, metadata)
        .await;

    // The cluster's agent, by hand.
    let agent = HandAgent::new(&fleet, &clusters[0]);
    let desired = agent.desired_with_configuration(1).await;
    agent.install_flux(&desired).await;
    let first = desired["fluxConfigurations"][0]["generation"].as_u64().unwrap();
    let failed =
        json!({"generation": first, "provisioningState": "Failed", "message": "kustomize build failed"});
    agent.report("fluxConfigurations", "public-git", failed).await;

    // Seen as non-compliant, then deployed again (after policy.redeploy_backoff, 1 s here).
    let again = agent.desired_with_configuration(first + 1).await;
    let second = again["fluxConfigurations"][0]["generation"].as_u64().unwrap();
    let succeeded = json!({"generation": second, "provisioningState": "Succeeded"});
    agent.report("fluxConfigurations", "public-git", succeeded).await;
    fleet.wait_all_compliant(&subscription_scope(), 1).await;
}
