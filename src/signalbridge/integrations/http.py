"""The one place that builds outgoing HTTP clients.

Every ``httpx.AsyncClient`` SignalBridge uses comes from :class:`HttpClientFactory`, so
timeouts, connection limits, the User-Agent, metrics, redacted debug logs, the response
size and time caps and (for user-configured URLs) the SSRF guard are never forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from signalbridge import __version__
from signalbridge.integrations.bounded import (
    ResponseDeadlineExceeded,
    ResponseTooLarge,
    bound_response,
)
from signalbridge.integrations.redaction import redact_url
from signalbridge.integrations.ssrf import Resolver, SSRFGuardTransport, SSRFPolicy, system_resolver

log = logging.getLogger(__name__)

__all__ = [
    "HttpClientFactory",
    "HttpConfig",
    "HttpMetrics",
    "InstrumentedTransport",
    "ResponseDeadlineExceeded",
    "ResponseTooLarge",
    "fetch",
    "read_capped",
]


@dataclass(frozen=True)
class HttpConfig:
    """Per connection type defaults; a connection may override with :meth:`with_`."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    write_timeout: float = 15.0
    pool_timeout: float = 5.0
    total_timeout: float = 30.0  # whole exchange, headers and body
    max_connections: int = 20
    max_keepalive_connections: int = 10
    keepalive_expiry: float = 30.0
    max_response_bytes: int = 10 * 1024 * 1024
    follow_redirects: bool = False
    max_redirects: int = 5
    verify: bool = True

    def with_(self, **changes: Any) -> HttpConfig:
        return replace(self, **changes)

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )

    @property
    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


class HttpMetrics:
    """Prometheus collectors for outgoing HTTP, registered once on the given registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "signalbridge_http_requests",
            "Outgoing HTTP requests by connection, method and status",
            ["connection", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "signalbridge_http_request_duration_seconds",
            "Outgoing HTTP request latency until response headers",
            ["connection", "method"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.errors = Counter(
            "signalbridge_http_errors",
            "Outgoing HTTP requests that failed without a response, by error class",
            ["connection", "error"],
            registry=self.registry,
        )


class InstrumentedTransport(httpx.AsyncBaseTransport):
    """Metrics, redacted debug log, total deadline and body caps around any transport."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        connection_id: str,
        metrics: HttpMetrics,
        total_timeout: float | None,
        max_response_bytes: int | None,
        close_inner: bool = True,
    ) -> None:
        self._inner = inner
        self._connection_id = connection_id
        self._metrics = metrics
        self._total = total_timeout
        self._max_bytes = max_response_bytes
        self._close_inner = close_inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._total if self._total is not None else None
        started = time.perf_counter()
        method = request.method
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError:
            self._metrics.errors.labels(self._connection_id, "ResponseDeadlineExceeded").inc()
            raise ResponseDeadlineExceeded(
                f"no response within the total time budget of {self._total} s"
            ) from None
        except Exception as exc:
            self._metrics.errors.labels(self._connection_id, type(exc).__name__).inc()
            log.debug(
                "http %s %s failed: %s",
                method,
                redact_url(str(request.url)),
                type(exc).__name__,
            )
            raise
        elapsed = time.perf_counter() - started
        self._metrics.requests.labels(self._connection_id, method, str(response.status_code)).inc()
        self._metrics.latency.labels(self._connection_id, method).observe(elapsed)
        log.debug(
            "http %s %s -> %s in %.3f s",
            method,
            redact_url(str(request.url)),
            response.status_code,
            elapsed,
        )
        return await bound_response(response, max_bytes=self._max_bytes, deadline=deadline)

    async def aclose(self) -> None:
        if self._close_inner:
            await self._inner.aclose()


class HttpClientFactory:
    """Builds one ``httpx.AsyncClient`` per connection with the kernel's policies.

    ``transport`` replaces the network (tests pass fakes); it is shared and not closed by
    the clients. ``allowed_hosts`` and ``resolver`` configure the SSRF guard used for
    clients created with ``user_url=True``: every client whose URL a user configures (a
    broker or exchange endpoint, a feed, an AI endpoint) must be created that way.
    ``allowed_hosts`` is the operator's allow-list (``Settings.allowed_hosts``, passed at
    the composition root); nothing a member configures may extend it.
    """

    def __init__(
        self,
        *,
        config: HttpConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        registry: CollectorRegistry | None = None,
        metrics: HttpMetrics | None = None,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
        version: str = __version__,
    ) -> None:
        self.config = config or HttpConfig()
        self._transport = transport
        self.metrics = metrics or HttpMetrics(registry)
        self.user_agent = f"SignalBridge/{version}"
        self.ssrf_policy = SSRFPolicy(
            allowed_hosts=tuple(allowed_hosts), resolver=resolver or system_resolver
        )

    def create(
        self,
        connection_id: str,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        config: HttpConfig | None = None,
        user_url: bool = False,
        auth: httpx.Auth | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.AsyncClient:
        """A client for one connection. ``user_url=True`` puts the SSRF guard in front."""
        cfg = config or self.config

        def network() -> httpx.AsyncBaseTransport:
            return httpx.AsyncHTTPTransport(limits=cfg.limits, verify=cfg.verify, retries=0)

        inner: httpx.AsyncBaseTransport
        if user_url:
            # Per-host pools when on the real network (see SSRFGuardTransport).
            inner = SSRFGuardTransport(self._transport or network, self.ssrf_policy)
            owned = self._transport is None
        elif self._transport is not None:
            inner, owned = self._transport, False
        else:
            inner, owned = network(), True
        transport = InstrumentedTransport(
            inner,
            connection_id=connection_id,
            metrics=self.metrics,
            total_timeout=cfg.total_timeout,
            max_response_bytes=cfg.max_response_bytes,
            close_inner=owned,
        )
        merged = {"User-Agent": self.user_agent}
        merged.update(headers or {})
        return httpx.AsyncClient(
            base_url=base_url,
            headers=merged,
            params=params,
            auth=auth,
            timeout=cfg.timeout,
            follow_redirects=cfg.follow_redirects,
            max_redirects=cfg.max_redirects,
            transport=transport,
            trust_env=False,  # no proxies or netrc from the environment
        )


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read a streamed response, decoded, raising :class:`ResponseTooLarge` past the cap."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            await response.aclose()
            raise ResponseTooLarge(f"response body exceeds the {max_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request whose body is read under ``max_bytes`` and, if given, ``deadline`` seconds.

    Returns a response with its content loaded (``.content``/``.text``/``.json()`` work).
    """
    try:
        async with asyncio.timeout(deadline):
            async with client.stream(method, url, **kwargs) as response:
                body = await read_capped(response, max_bytes)
    except TimeoutError:
        raise ResponseDeadlineExceeded(
            f"{method} {redact_url(url)} did not complete within {deadline} s"
        ) from None
    headers = response.headers.copy()
    for name in ("content-encoding", "content-length", "transfer-encoding"):
        if name in headers:
            del headers[name]
    return httpx.Response(
        status_code=response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )
