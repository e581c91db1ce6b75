"""Where an account's client API lives, found the way the official SDK finds it.

metaapi-cloud-sdk 29.x (``clients/domain_client.py``, ``clients/metaapi/client_api_client.py``)
reads the domain from provisioning (``GET /users/current/servers/mt-client-api`` →
``{hostname, domain}``, cached for 10 minutes) and the account's ``region`` from its
provisioning record, then calls ``https://mt-client-api-v1.<region>.<domain>``. There is no
default region: an account deployed in London is unknown to New York's servers.

The one liberty: the host is reached with the provisioning URL's scheme and port (https and
443 in production, exactly the SDK's URL), so a loopback fake can stand in for both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from signalbridge.integrations.errors import InvalidRequest, TransientError

CLIENT_API_HOST = "mt-client-api-v1"
#: How long a looked-up host is used before it is looked up again (the SDK's domain cache).
HOST_TTL = timedelta(minutes=10)
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def client_api_url(provisioning_url: str, region: str, domain: str) -> str:
    """``<scheme>://mt-client-api-v1.<region>.<domain>[:port]`` with the provisioning URL's
    scheme and port; ``region`` and ``domain`` must be plain DNS labels (they come from a
    server's answer and become a host name)."""
    if not _LABEL.fullmatch(region):
        raise TransientError(f"MetaApi named an unusable region {region[:40]!r}")
    if not domain or not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        raise TransientError(f"MetaApi named an unusable domain {domain[:60]!r}")
    base = httpx.URL(provisioning_url)
    port = f":{base.port}" if base.port else ""
    return f"{base.scheme}://{CLIENT_API_HOST}.{region}.{domain}{port}"


def region_of(record: Mapping[str, Any], account_id: str) -> str:
    """The ``region`` of a provisioning account record; never a guessed default."""
    region = record.get("region")
    if not isinstance(region, str) or not region:
        raise InvalidRequest(
            f"MetaApi's record of account {account_id} names no region; set the connection's "
            "region (or its base_url)"
        )
    return region.lower()


def domain_of(settings: Mapping[str, Any]) -> str:
    """The ``domain`` of the mt-client-api server settings."""
    domain = settings.get("domain")
    if not isinstance(domain, str) or not domain:
        raise TransientError("MetaApi's server settings name no domain")
    return domain.lower().rstrip(".")
