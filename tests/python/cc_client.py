"""What every script here needs to point Microsoft's SDKs at clusterconfig: the server's ARM token as the
credential, sent over plain http, and a check that prints and stops on the first failure."""

import os
import sys
import time

from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy

BASE = os.environ["CC_BASE_URL"]
TOKEN = os.environ["CC_TOKEN"]
SUB = os.environ["CC_SUBSCRIPTION"]
# The cluster the resource scripts work on, as the SDKs' operations take it (the policy script has a fleet instead).
CLUSTER = tuple(os.environ.get(name, "") for name in ("CC_RESOURCE_GROUP", "CC_CLUSTER_RP", "CC_CLUSTER_TYPE", "CC_CLUSTER_NAME"))


class StaticToken:
    """A TokenCredential that hands out the server's ARM token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


class StaticBearer(SansIOHTTPPolicy):
    """The bearer policy of azure-core refuses plain http; this one sends the same header (the SDK's supported
    way to replace authentication: the authentication_policy client option)."""

    def on_request(self, request):
        request.http_request.headers["Authorization"] = f"Bearer {TOKEN}"


def check(condition, message):
    if not condition:
        print(f"FAILED: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)
