"""The ccxt ``urls`` override under the SSRF policy.

ccxt speaks HTTP through aiohttp, not through the kernel's httpx factory, so the override is
held to the operator's allow-list here: each URL is checked for form when the connection is
saved (:func:`url_syntax_problem`), and its host must be one the operator listed in
``SIGNALBRIDGE_ALLOWED_HOSTS`` (:meth:`SSRFPolicy.lists`): an override can only point at a
host the operator allowed, never at one a member picked. Requests then go through an aiohttp
session that refuses a redirect to any host outside that list, before it is followed.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
import certifi
import yarl

from signalbridge.integrations import errors as sb
from signalbridge.integrations.ssrf import SSRFPolicy, url_syntax_problem
from signalbridge.venues.base import AdapterDeps

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def policy_of(deps: AdapterDeps) -> SSRFPolicy:
    """The operator's policy, carried by the kernel's HttpClientFactory; none means an
    empty allow-list (every override refused)."""
    factory = deps.http_factory or deps.shared.get("http_factory")
    if factory is None:
        return SSRFPolicy()
    policy: SSRFPolicy = factory.ssrf_policy
    return policy


def target_problem(url: str, policy: SSRFPolicy) -> str | None:
    """Why ccxt may not be sent to ``url``, or None when its host is on the allow-list."""
    problem = url_syntax_problem(url)
    if problem is not None:
        return problem
    host = yarl.URL(url, encoded=True).host or ""
    if not policy.lists(host):
        return f"host {host!r} is not in the operator's allow-list (SIGNALBRIDGE_ALLOWED_HOSTS)"
    return None


def override_problem(urls: Mapping[str, str], policy: SSRFPolicy) -> str | None:
    """The first override that may not be used, with the reason; None when all may."""
    for name, url in urls.items():
        problem = target_problem(url, policy)
        if problem is not None:
            return f"url override {name!r} refused: {problem}"
    return None


def options_problem(value: Any, path: str = "options") -> str | None:
    """ccxt options carry no URL: one that looks like a URL is refused rather than trusted
    to be ignored, so ``urls`` stays the only way to point ccxt anywhere."""
    if isinstance(value, str):
        return f"{path} must not contain a URL" if "://" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = options_problem(str(key), path) or options_problem(item, f"{path}.{key}")
            if problem is not None:
                return problem
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = options_problem(item, f"{path}.{index}")
            if problem is not None:
                return problem
    return None


def guarded_session(
    policy: SSRFPolicy, ssl_context: ssl.SSLContext | None = None
) -> aiohttp.ClientSession:
    """An aiohttp session like ccxt's own (certifi, dual stack, no proxies from the
    environment) that checks every redirect hop against the allow-list before following.
    ``ssl_context``: the process's shared one (market_cache.py), else one of its own.
    Must be created inside the running event loop."""

    async def refuse_foreign_redirects(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        if response.status in _REDIRECTS and "Location" in response.headers:
            try:
                target = str(request.url.join(yarl.URL(response.headers["Location"])))
                problem = target_problem(target, policy)
            except ValueError:
                problem = "the redirect target is not a valid URL"
            if problem is not None:
                response.release()
                raise sb.InvalidRequest(f"redirect refused: {problem}")
        return response

    connector = aiohttp.TCPConnector(
        ssl=ssl_context or ssl.create_default_context(cafile=certifi.where()),
        family=socket.AF_UNSPEC,
        happy_eyeballs_delay=0,
    )
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, middlewares=(refuse_foreign_redirects,)
    )
