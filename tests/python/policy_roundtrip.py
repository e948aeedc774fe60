"""Microsoft's Python SDKs for Azure Policy against clusterconfig, unmodified.

azure-mgmt-resource-policy's PolicyClient creates a built-in GitOps definition (read from
shared/reference/azure-policy/, as published) and assigns it to the subscription; azure-mgmt-policyinsights'
PolicyInsightsClient triggers an evaluation, remediates, and summarizes until every cluster is compliant. The
clusters' agents are simulated by the test. Configuration comes from the environment:
  CC_BASE_URL  the server (http://127.0.0.1:PORT)    CC_TOKEN  an ARM token (clusterconfig token arm)
  CC_SUBSCRIPTION  the fleet's subscription          CC_DEFINITION_FILE  the published definition (JSON)
  CC_CLUSTERS  how many clusters the fleet has
"""

import json
import os
import time

from azure.mgmt.policyinsights import PolicyInsightsClient
from azure.mgmt.policyinsights import models as insights_models
from azure.mgmt.policyinsights.models import QueryOptions
from azure.mgmt.resource.policy import PolicyClient, models

from cc_client import BASE, SUB, StaticBearer, StaticToken, check

CLUSTERS = int(os.environ["CC_CLUSTERS"])
with open(os.environ["CC_DEFINITION_FILE"]) as f:
    PUBLISHED = json.load(f)


def until(what, probe, timeout=60):
    deadline = time.time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.time() > deadline:
            check(False, what)
        time.sleep(0.2)


def main():
    options = dict(base_url=BASE, authentication_policy=StaticBearer(), polling_interval=1)
    policy = PolicyClient(StaticToken(), SUB, **options)
    insights = PolicyInsightsClient(StaticToken(), SUB, **options)
    scope = f"/subscriptions/{SUB}"

    # The definition as published: its properties, unmodified.
    name = PUBLISHED["name"]
    properties = PUBLISHED["properties"]
    definition = policy.policy_definitions.create_or_update(name, models.PolicyDefinition(
        policy_type="Custom", mode=properties["mode"], display_name=properties["displayName"],
        description=properties["description"], metadata=properties["metadata"],
        parameters=properties["parameters"], policy_rule=properties["policyRule"]))
    check(definition.name == name, "definition created")
    check(any(d.name == name for d in policy.policy_definitions.list()), "definition listed")

    assignment = policy.policy_assignments.create(scope, "gitops-fleet", models.PolicyAssignment(
        display_name="GitOps for the fleet", policy_definition_id=definition.id,
        identity=models.Identity(type="SystemAssigned"), location="westeurope",
        parameters={"configurationName": {"value": "fleet"},
                    "repositoryUrl": {"value": "https://github.com/Azure/arc-k8s-demo"},
                    "repositoryRefBranch": {"value": "main"}}))
    check(assignment.identity.principal_id, "assignment created with a managed identity")
    check(policy.policy_assignments.get(scope, "gitops-fleet").policy_definition_id.lower() == definition.id.lower(),
          "assignment read back")

    insights.policy_states.begin_trigger_subscription_evaluation(SUB).result()
    check(True, "evaluation triggered and finished")
    non_compliant = until("every cluster evaluated", lambda: [
        s for s in insights.policy_states.list_query_results_for_subscription(
            "latest", SUB, QueryOptions(filter="ComplianceState eq 'NonCompliant'"))
    ] if len(list(insights.policy_states.list_query_results_for_subscription(
            "latest", SUB, QueryOptions(filter="ComplianceState eq 'NonCompliant'")))) == CLUSTERS else None)
    check(len(non_compliant) == CLUSTERS, f"{CLUSTERS} clusters non-compliant before remediation")

    remediation = insights.remediations.create_or_update_at_subscription("fix-fleet", insights_models.Remediation(
        policy_assignment_id=assignment.id, parallel_deployments=5, resource_discovery_mode="ExistingNonCompliant"))
    check(remediation.name == "fix-fleet", "remediation created")
    done = until("remediation ends", lambda: (lambda r: r if r.provisioning_state in ("Succeeded", "Failed") else None)(
        insights.remediations.get_at_subscription("fix-fleet")))
    check(done.provisioning_state == "Succeeded", f"remediation succeeded ({done.deployment_status.total_deployments} deployments)")
    deployments = list(insights.remediations.list_deployments_at_subscription("fix-fleet"))
    check(len(deployments) == CLUSTERS and all(d.status == "Succeeded" for d in deployments), "every deployment listed as succeeded")

    def all_compliant():
        summary = insights.policy_states.summarize_for_subscription("latest", SUB)
        results = summary.value[0].results
        compliant = next((d.count for d in results.resource_details if d.compliance_state == "compliant"), 0)
        return summary if results.non_compliant_resources == 0 and compliant == CLUSTERS else None
    until("100 % compliant", all_compliant)
    check(True, "summarize: 100 % compliant")

    insights.remediations.delete_at_subscription("fix-fleet")
    policy.policy_assignments.delete(scope, "gitops-fleet")
    policy.policy_definitions.delete(name)
    check(not any(d.name == name for d in policy.policy_definitions.list()), "definition deleted")
    print("policy SDK round trip passed", flush=True)


if __name__ == "__main__":
    main()
