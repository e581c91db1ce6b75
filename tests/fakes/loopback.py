"""The operator's allow-list for tests whose fake servers listen on loopback.

User-configured URLs (MetaApi base and provisioning URLs, ccxt ``urls`` overrides) reach
loopback only when the operator lists it in ``Settings.allowed_hosts``; tests that drive an
adapter against a local fake say so explicitly with these helpers. The SSRF tests build
their own settings and deps without them.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from signalbridge.integrations.http import HttpClientFactory
from signalbridge.venues.base import AdapterDeps

#: What a development operator would set: SIGNALBRIDGE_ALLOWED_HOSTS='["127.0.0.1", "::1"]'
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1")


def loopback_http_factory(**kwargs: Any) -> HttpClientFactory:
    """The kernel's factory with loopback on the operator's allow-list."""
    kwargs.setdefault("registry", CollectorRegistry())
    return HttpClientFactory(allowed_hosts=LOOPBACK_HOSTS, **kwargs)


def loopback_deps(**fields: Any) -> AdapterDeps:
    """AdapterDeps as the runtime builds them with loopback allowed (fakes on 127.0.0.1)."""
    fields.setdefault("http_factory", loopback_http_factory())
    return AdapterDeps(**fields)
