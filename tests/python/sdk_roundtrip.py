"""Microsoft's Python management SDK against clusterconfig, unmodified.

Creates, reads, lists, updates and deletes an extension (microsoft.flux) and a Flux configuration through
azure-mgmt-kubernetesconfiguration-{extensions,fluxconfigurations}, with their long-running operations completed by
the cluster's (simulated) agent. Configuration comes from the environment:
  CC_BASE_URL  the server (http://127.0.0.1:PORT)    CC_TOKEN  an ARM token (clusterconfig token arm)
  CC_SUBSCRIPTION, CC_RESOURCE_GROUP, CC_CLUSTER_RP, CC_CLUSTER_TYPE, CC_CLUSTER_NAME  the cluster
"""


from azure.mgmt.kubernetesconfiguration.extensions import KubernetesConfigurationExtensionsMgmtClient
from azure.mgmt.kubernetesconfiguration.fluxconfigurations import KubernetesConfigurationFluxConfigurationsMgmtClient

from cc_client import BASE, CLUSTER, SUB, StaticBearer, StaticToken, check

CANARY = "Q0FOQVJZLXNkay1zZWNyZXQ="  # base64 of a canary token that must never come back


def main():
    options = dict(base_url=BASE, authentication_policy=StaticBearer(), polling_interval=1)
    ext = KubernetesConfigurationExtensionsMgmtClient(StaticToken(), SUB, **options)
    flux = KubernetesConfigurationFluxConfigurationsMgmtClient(StaticToken(), SUB, **options)

    # Extension: create (PUT, long-running), read, list.
    extension = ext.extensions.begin_create(*CLUSTER, "flux", {
        "properties": {"extensionType": "microsoft.flux", "autoUpgradeMinorVersion": True, "releaseTrain": "Stable",
                       "scope": {"cluster": {"releaseNamespace": "flux-system"}},
                       "configurationSettings": {"multiTenancy.enforce": "false"}}}).result()
    check(extension.properties.provisioning_state == "Succeeded", "extension created through the LRO")
    check(extension.properties.current_version == "1.23.0", "the agent installed the newest Stable version")
    got = ext.extensions.get(*CLUSTER, "flux")
    check(got.name == "flux" and got.properties.extension_type == "microsoft.flux", "extension read")
    check([e.name for e in ext.extensions.list(*CLUSTER)] == ["flux"], "extensions listed")

    # Flux configuration: create, read, list.
    created = flux.flux_configurations.begin_create_or_update(*CLUSTER, "sdk-config", {
        "properties": {"scope": "cluster", "namespace": "sdk-demo", "sourceKind": "GitRepository",
                       "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"},
                                         "httpsUser": "flux"},
                       "configurationProtectedSettings": {"httpsKey": CANARY},
                       "kustomizations": {"infra": {"path": "./infrastructure", "prune": True},
                                          "apps": {"path": "./apps", "dependsOn": ["infra"]}}}}).result()
    check(created.properties.provisioning_state == "Succeeded", "flux configuration created through the LRO")
    check(created.properties.compliance_state == "Compliant", "compliance reported by the agent")
    got = flux.flux_configurations.get(*CLUSTER, "sdk-config")
    check(got.properties.source_synced_commit_id.startswith("main@sha1:"), "commit id reported")
    check(got.properties.kustomizations["apps"].depends_on == ["infra"], "kustomizations read back")
    check(got.properties.configuration_protected_settings is None, "protected settings are never returned")
    check(CANARY not in str(got.as_dict()), "the secret does not come back in any property")
    check([c.name for c in flux.flux_configurations.list(*CLUSTER)] == ["sdk-config"], "flux configurations listed")

    # Updates (PATCH, long-running) of both.
    updated = flux.flux_configurations.begin_update(*CLUSTER, "sdk-config", {
        "properties": {"suspend": True, "kustomizations": {"apps": None}}}).result()
    check(updated.properties.suspend is True and list(updated.properties.kustomizations) == ["infra"], "flux configuration patched")
    extension = ext.extensions.begin_update(*CLUSTER, "flux", {
        "properties": {"configurationSettings": {"multiTenancy.enforce": "false", "image-automation-controller.enabled": "true"}}}).result()
    check(extension.properties.configuration_settings["image-automation-controller.enabled"] == "true", "extension patched")

    # Operation status through the SDK's own operation groups.
    poller = flux.flux_configurations.begin_update(*CLUSTER, "sdk-config", {"properties": {"suspend": False}})
    poller.result()
    operation_url = poller.polling_method()._operation.get_polling_url()
    operation_id = operation_url.split("/operations/")[1].split("?")[0]
    status = flux.flux_config_operation_status.get(*CLUSTER, "sdk-config", operation_id)
    check(status.status == "Succeeded", "flux operation status read through the SDK")

    # Deletes: the configuration first (microsoft.flux refuses to go while configurations exist).
    flux.flux_configurations.begin_delete(*CLUSTER, "sdk-config").result()
    check(list(flux.flux_configurations.list(*CLUSTER)) == [], "flux configuration deleted through the LRO")
    ext.extensions.begin_delete(*CLUSTER, "flux").result()
    check(list(ext.extensions.list(*CLUSTER)) == [], "extension deleted through the LRO")
    print("SDK round trip passed", flush=True)


if __name__ == "__main__":
    main()
