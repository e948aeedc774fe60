"""Microsoft's Python SDK for the extension-type catalog (azure-mgmt-kubernetesconfiguration-extensiontypes, the
api-version 2024-11-01-preview, unmodified) against clusterconfig: what `az k8s-extension extension-types
list-by-cluster | list-by-location | list-versions-by-cluster | show-by-cluster | show-version-by-cluster` ask.
Configuration comes from the environment, as for sdk_roundtrip.py.
"""


from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.kubernetesconfiguration.extensiontypes import KubernetesConfigurationExtensionTypesMgmtClient

from cc_client import BASE, CLUSTER, SUB, StaticBearer, StaticToken, check



def main():
    client = KubernetesConfigurationExtensionTypesMgmtClient(
        StaticToken(), SUB, base_url=BASE, authentication_policy=StaticBearer())
    types = client.extension_types

    listed = list(types.list(*CLUSTER))
    names = [t.name for t in listed]
    check("microsoft.flux" in names, f"list-by-cluster has microsoft.flux: {names}")
    flux = types.get(*CLUSTER, "microsoft.flux")
    scopes = flux.properties.supported_scopes
    check(scopes.default_scope == "cluster", "microsoft.flux is cluster-scoped")
    check(scopes.cluster_scope_settings.allow_multiple_instances is False, "one microsoft.flux per cluster")
    check(scopes.cluster_scope_settings.default_release_namespace == "flux-system", "in flux-system")
    check(flux.properties.publisher == "Microsoft", "published by Microsoft")

    versions = [v.properties.version for v in types.cluster_list_versions(*CLUSTER, "microsoft.flux", show_latest=False)]
    check(versions[0] == "1.23.0" and len(versions) == 5, f"the N-2 versions, newest first: {versions}")
    latest = [v.properties.version for v in types.cluster_list_versions(*CLUSTER, "microsoft.flux", show_latest=True)]
    check(latest == ["1.23.0"], "showLatest gives the newest")
    version = types.cluster_get_version(*CLUSTER, "microsoft.flux", "1.22.2")
    check(version.name == "1.22.2" and version.type == "Microsoft.KubernetesConfiguration/extensionTypes/versions",
          "show-version-by-cluster")

    by_location = [t.name for t in types.location_list("eastus", cluster_type="connectedClusters")]
    check("microsoft.flux" in by_location, "list-by-location with a cluster type")
    check(types.location_get("eastus", "microsoft.flux").name == "microsoft.flux", "show-by-location")
    check([v.properties.version for v in types.list_versions("eastus", "microsoft.flux", show_latest=True)] == ["1.23.0"],
          "list-versions-by-location")
    try:
        types.get(*CLUSTER, "no.such.type")
        check(False, "an unknown type is 404")
    except ResourceNotFoundError:
        check(True, "an unknown type is 404 (ResourceNotFoundError)")
    print("extension types passed", flush=True)


if __name__ == "__main__":
    main()
