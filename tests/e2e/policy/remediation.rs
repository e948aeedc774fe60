//! Remediation of every built-in definition on a fleet; Flux v1 failing cleanly; the failure threshold; a
//! configuration failed on its cluster turning non-compliant.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use clusterconfig_testkit::ServerOptions;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_flux_v2_definition_remediates_a_fleet_to_full_compliance() {
    // Two resource groups, each with Arc and AKS clusters.
    let clusters = cluster_ids(&[("fleet-east", 2), ("fleet-west", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    let imported = fleet.import();
    assert!(imported.contains("\"added\":4"), "{imported}");
    fleet.start_agents();

    // Half assigned at the subscription (all 4 clusters), half at one resource group (2 clusters).
    let mut assignments = Vec::new();
    for (index, (file, parameters)) in flux_v2_definitions().into_iter().enumerate() {
        let definition = fleet.put_definition(file).await;
        let (scope, covered) = if index % 2 == 0 {
            (subscription_scope(), 4)
        } else {
            (scope_of_group("fleet-east"), 2)
        };
        let name = format!("gitops-{index}");
        let assignment = fleet
            .assign(&scope, &name, &definition, &parameters, json!({}))
            .await;
        assignments.push((file, scope, name, assignment, covered));
    }

    // The assignments' scans ran: every covered (assignment, cluster) is non-compliant, ready to remediate.
    fleet
        .wait_states("ComplianceState eq 'NonCompliant'", 4 * 4 + 4 * 2)
        .await;
    for (file, scope, name, assignment, covered) in &assignments {
        let remediation = fleet
            .remediate(
                scope,
                &format!("fix-{name}"),
                assignment,
                json!({"parallelDeployments": 2}),
            )
            .await;
        assert_eq!(
            remediation["properties"]["provisioningState"], "Succeeded",
            "{file}: {remediation}"
        );
        let status = &remediation["properties"]["deploymentStatus"];
        assert_eq!(status["failedDeployments"], 0, "{file}: {remediation}");
        assert!(
            status["totalDeployments"].as_u64().unwrap() <= *covered,
            "{file}: {remediation}"
        );
    }

    // 100 %: every (assignment, cluster) pair compliant, none non-compliant.
    let summary = fleet.wait_all_compliant(&subscription_scope(), 4).await;
    assert_eq!(summary["nonCompliantPolicies"], 0, "{summary}");
    let states = fleet
        .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
        .await;
    assert_eq!(
        states.len(),
        4 * 4 + 4 * 2,
        "one state per covered (assignment, cluster)"
    );
    assert!(
        fleet
            .query(&subscription_scope(), "ComplianceState eq 'NonCompliant'")
            .await
            .is_empty()
    );

    // What the deployments made is what an ARM PUT makes: made by the assignment's managed identity, complete
    // properties on GET, and the Key Vault secrets only as (write-only) protected settings.
    let arc = &clusters[0];
    let listed = fleet
        .arm
        .get(&format!(
            "{arc}/providers/Microsoft.KubernetesConfiguration/fluxConfigurations?api-version=2022-03-01"
        ))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let configurations = listed.body["value"].as_array().unwrap();
    assert_eq!(configurations.len(), 7, "{}", listed.text);
    for configuration in configurations {
        assert_eq!(
            configuration["systemData"]["createdByType"], "ManagedIdentity",
            "{configuration}"
        );
        assert_eq!(
            configuration["properties"]["provisioningState"], "Succeeded",
            "{configuration}"
        );
    }
    let ssh = configurations.iter().find(|c| c["name"] == "ssh-git").unwrap();
    assert!(
        ssh["properties"]["configurationProtectedSettings"]
            .as_object()
            .is_none_or(|p| p.values().all(Value::is_null)),
        "{ssh}"
    );
    let extension = fleet
        .arm
        .get(&format!(
            "{arc}/providers/Microsoft.KubernetesConfiguration/extensions/flux?api-version=2022-03-01"
        ))
        .await;
    assert_eq!(extension.status, 200, "{}", extension.text);
    assert_eq!(
        extension.body["identity"]["type"], "SystemAssigned",
        "{}",
        extension.text
    );

    // The canary is nowhere but the clusters' copies: not in responses, logs, or the store's files.
    let logs = fleet.server.logs();
    for canary in canaries() {
        assert!(!listed.text.contains(&canary));
        assert!(!logs.contains(&canary), "the server's log holds a secret");
        let leaked = files_containing(&fleet.server.data_dir, &canary);
        assert!(
            leaked.is_empty(),
            "store files hold a secret in clear: {leaked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_v1_definitions_fail_cleanly_with_the_retirement_error() {
    let clusters = cluster_ids(&[("legacy", 2)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = flux_v1_definition();
    let definition = fleet.put_definition(file).await;
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "flux-v1",
            &definition,
            &parameters,
            json!({}),
        )
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 2).await;
    let name = "fix-flux-v1";
    let remediation = fleet
        .remediate(&subscription_scope(), name, &assignment, json!({}))
        .await;
    assert_eq!(
        remediation["properties"]["provisioningState"], "Failed",
        "{remediation}"
    );
    assert_eq!(
        remediation["properties"]["deploymentStatus"]["failedDeployments"], 2,
        "{remediation}"
    );

    let id = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/{name}",
        subscription_scope()
    );
    let deployments = fleet
        .arm
        .send(
            Method::POST,
            &format!("{id}/listDeployments?api-version={REMEDIATIONS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(deployments.status, 200, "{}", deployments.text);
    let listed = deployments.body["value"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", deployments.text);
    for deployment in listed {
        assert_eq!(deployment["status"], "Failed", "{deployment}");
        let message = deployment["error"]["message"].as_str().unwrap_or_default();
        assert!(message.to_lowercase().contains("retire"), "{deployment}");
    }
    // Nothing half-written.
    for cluster in &clusters {
        let listed = fleet
            .arm
            .get(&format!(
                "{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations?api-version=2022-03-01"
            ))
            .await;
        assert!(
            listed.body["value"].as_array().is_none_or(Vec::is_empty),
            "{}",
            listed.text
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_threshold_stops_a_remediation_after_its_first_failing_group() {
    let clusters = cluster_ids(&[("rollout", 6)]);
    let fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    let (file, parameters) = flux_v1_definition();
    let definition = fleet.put_definition(file).await;
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "rollout",
            &definition,
            &parameters,
            json!({}),
        )
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 6).await;
    let remediation = fleet
        .remediate(
            &subscription_scope(),
            "careful",
            &assignment,
            json!({"parallelDeployments": 1, "failureThreshold": {"percentage": 0.3}}),
        )
        .await;
    let properties = &remediation["properties"];
    assert_eq!(properties["provisioningState"], "Failed", "{remediation}");
    assert_eq!(
        properties["deploymentStatus"]["totalDeployments"], 1,
        "stopped after one: {remediation}"
    );
    assert!(
        properties["statusMessage"]
            .as_str()
            .unwrap()
            .contains("threshold"),
        "{remediation}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_failed_on_its_cluster_is_non_compliant() {
    let clusters = cluster_ids(&[("failing", 1)]);
    let fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let assignment = fleet
        .assign(&subscription_scope(), "fails", &definition, parameters, json!({}))
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 1).await;
    let id = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/try",
        subscription_scope()
    );
    let created = fleet
        .arm
        .put(
            &format!("{id}?api-version={REMEDIATIONS}"),
            &json!({"properties": {"policyAssignmentId": assignment}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // The cluster's agent, by hand: microsoft.flux installs, the configuration fails.
    let agent = HandAgent::new(&fleet, &clusters[0]);
    let desired = agent.desired_with_configuration(1).await;
    agent.install_flux(&desired).await;
    let generation = desired["fluxConfigurations"][0]["generation"].as_u64().unwrap();
    let failed =
        json!({"generation": generation, "provisioningState": "Failed", "message": "kustomize build failed"});
    agent.report("fluxConfigurations", "public-git", failed).await;

    let ended = fleet.wait_remediation(&id).await;
    assert_eq!(ended["properties"]["provisioningState"], "Failed", "{ended}");
    assert_eq!(ended["deployments"][0]["status"], "Failed", "{ended}");
    let states = fleet.wait_states("ComplianceState eq 'NonCompliant'", 1).await;
    assert_eq!(
        states[0]["resourceId"].as_str().unwrap().to_lowercase(),
        clusters[0].to_lowercase()
    );
    assert!(
        fleet
            .query(&subscription_scope(), "ComplianceState eq 'Compliant'")
            .await
            .is_empty()
    );
}

/// `resourceCount` bounds a remediation, a compliant fleet evaluated again writes nothing, and `cancel` ends a
/// remediation that is still running.
#[tokio::test(flavor = "multi_thread")]
async fn resource_count_a_quiet_re_evaluation_and_cancel() {
    let clusters = cluster_ids(&[("bounded", 3)]);
    let mut fleet = Fleet::start(clusters.clone(), ServerOptions::default());
    fleet.import();
    fleet.start_agents();
    let (file, parameters) = &flux_v2_definitions()[1];
    let definition = fleet.put_definition(file).await;
    let assignment = fleet
        .assign(
            &subscription_scope(),
            "bounded",
            &definition,
            parameters,
            json!({}),
        )
        .await;
    fleet.wait_states("ComplianceState eq 'NonCompliant'", 3).await;
    let url = format!(
        "{}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults?api-version={STATES}&$top=2",
        subscription_scope()
    );
    let page = fleet.arm.send(Method::POST, &url, None, &[]).await;
    assert_eq!(
        page.body["value"].as_array().map(Vec::len),
        Some(2),
        "$top: {}",
        page.text
    );

    // One resource at most; then the rest, found by evaluating every cluster afresh.
    let one = fleet
        .remediate(
            &subscription_scope(),
            "one",
            &assignment,
            json!({"resourceCount": 1}),
        )
        .await;
    assert_eq!(
        one["properties"]["deploymentStatus"]["totalDeployments"], 1,
        "{one}"
    );
    let rest = fleet
        .remediate(
            &subscription_scope(),
            "rest",
            &assignment,
            json!({"resourceDiscoveryMode": "ReEvaluateCompliance"}),
        )
        .await;
    assert_eq!(rest["properties"]["provisioningState"], "Succeeded", "{rest}");
    assert_eq!(
        rest["properties"]["deploymentStatus"]["totalDeployments"], 2,
        "the compliant one is left alone: {rest}"
    );
    fleet.wait_all_compliant(&subscription_scope(), 3).await;

    // Compliant, evaluated again on request: nothing is written and nothing deployed.
    let trigger = format!(
        "{}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation?api-version={STATES}",
        subscription_scope()
    );
    let evaluation_task = async || -> Value {
        let board: Value = fleet.arm.get("/status/tasks").await.body;
        board["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "policy_evaluation")
            .cloned()
            .unwrap()
    };
    let before = evaluation_task().await["lastOutcome"]["sinceStart"].clone();
    let count = |totals: &Value, key: &str| totals[key].as_u64().unwrap();
    let triggered = fleet.arm.send(Method::POST, &trigger, None, &[]).await;
    assert_eq!(triggered.status, 202, "{}", triggered.text);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let task = evaluation_task().await;
        let now = &task["lastOutcome"]["sinceStart"];
        if count(now, "clusters") >= count(&before, "clusters") + 3 {
            assert_eq!(
                now["statesWritten"], before["statesWritten"],
                "a compliant re-evaluation writes nothing: {task}"
            );
            assert_eq!(now["deployments"], before["deployments"], "{task}");
            break;
        }
        assert!(Instant::now() < deadline, "the evaluation ran: {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Agents down: a second assignment's deployments stay in progress, so its remediation can be cancelled.
    fleet.stop_agents();
    let (file, parameters) = &flux_v2_definitions()[5];
    let definition = fleet.put_definition(file).await;
    let second = fleet
        .assign(
            &subscription_scope(),
            "second",
            &definition,
            parameters,
            json!({}),
        )
        .await;
    fleet
        .wait_states(
            &format!("PolicyAssignmentId eq '{second}' and ComplianceState eq 'NonCompliant'"),
            3,
        )
        .await;
    let id = format!(
        "{}/providers/Microsoft.PolicyInsights/remediations/stopped",
        subscription_scope()
    );
    let created = fleet
        .arm
        .put(
            &format!("{id}?api-version={REMEDIATIONS}"),
            &json!({"properties": {"policyAssignmentId": second}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cancelled = fleet
        .arm
        .send(
            Method::POST,
            &format!("{id}/cancel?api-version={REMEDIATIONS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let ended = fleet.wait_remediation(&id).await;
    assert_eq!(ended["properties"]["provisioningState"], "Canceled", "{ended}");
    let again = fleet
        .arm
        .send(
            Method::POST,
            &format!("{id}/cancel?api-version={REMEDIATIONS}"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        again.status / 100,
        4,
        "an ended remediation cannot be cancelled: {}",
        again.text
    );
}
