"""How long Microsoft's Python SDK takes to return from long-running operations that the cluster's agent
finishes within milliseconds, with the clients' own polling defaults (no polling_interval given: the SDK
falls back to 30 s between polls whenever a status answer carries no Retry-After).

Creates a Flux configuration, then updates and deletes it, each through begin_*().result(), and prints one
line of JSON with the seconds each took. Configuration comes from the environment, as for sdk_roundtrip.py.
"""

import json
import time

from azure.mgmt.kubernetesconfiguration.fluxconfigurations import KubernetesConfigurationFluxConfigurationsMgmtClient

from sdk_roundtrip import BASE, CLUSTER, SUB, StaticBearer, StaticToken


def timed(poller_factory):
    started = time.monotonic()
    poller_factory().result()
    return round(time.monotonic() - started, 3)


def main():
    flux = KubernetesConfigurationFluxConfigurationsMgmtClient(
        StaticToken(), SUB, base_url=BASE, authentication_policy=StaticBearer())
    body = {"properties": {
        "scope": "cluster", "namespace": "timing", "sourceKind": "GitRepository",
        "gitRepository": {"url": "https://github.com/Azure/arc-k8s-demo", "repositoryRef": {"branch": "main"}},
        "kustomizations": {"apps": {"path": "./apps"}}}}
    create = timed(lambda: flux.flux_configurations.begin_create_or_update(*CLUSTER, "timing", body))
    update = timed(lambda: flux.flux_configurations.begin_update(
        *CLUSTER, "timing", {"properties": {"suspend": True}}))
    delete = timed(lambda: flux.flux_configurations.begin_delete(*CLUSTER, "timing"))
    print(json.dumps({"create": create, "update": update, "delete": delete}), flush=True)


if __name__ == "__main__":
    main()
