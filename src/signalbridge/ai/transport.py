"""The bridge that puts the ``openai`` SDK on the kernel's HTTP client.

``openai`` 3.x talks through ``httpx2`` (a fork of httpx with the same transport API),
while every outgoing call of ours goes through an ``httpx.AsyncClient`` built by
:class:`~signalbridge.integrations.http.HttpClientFactory` (SSRF guard on every hop,
timeouts, the response size and time caps, metrics, redacted logs). :class:`KernelTransport`
is an ``httpx2`` transport whose every request is re-sent on that kernel client and whose
answer is handed back as an ``httpx2.Response``; so the SDK runs unmodified and nothing
of the kernel is bypassed.

Failures keep their meaning for the SDK: a kernel timeout becomes ``httpx2.ReadTimeout``
(the SDK's ``APITimeoutError``), another transport failure ``httpx2.ConnectError``; an
error of our own tree (the SSRF guard refusing an address, the size cap) is raised as it
is, and the SDK wraps it in ``APIConnectionError`` with ours as the cause, which
:func:`signalbridge.ai.errors.translate` passes on unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx
import httpx2

__all__ = ["KernelTransport"]

# Set by the kernel client for the body it sends / removed because the kernel already
# decoded the body it hands back.
_REQUEST_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_RESPONSE_DROP = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class KernelTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport that sends through one kernel ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, *, owns_http: bool = True) -> None:
        self._http = http
        self._owns_http = owns_http

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in _REQUEST_DROP
        ]
        try:
            response = await self._http.request(
                request.method,
                str(request.url),
                headers=headers,
                content=body or None,
                timeout=_timeout(request.extensions.get("timeout")),
            )
        except httpx.TimeoutException as exc:
            raise httpx2.ReadTimeout(f"kernel HTTP timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise httpx2.ConnectError(f"kernel HTTP failure ({type(exc).__name__})") from exc
        answer_headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _RESPONSE_DROP
        ]
        return httpx2.Response(
            response.status_code,
            headers=answer_headers,
            content=response.content,
            request=request,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _timeout(value: Any) -> httpx.Timeout | httpx.USE_CLIENT_DEFAULT:  # type: ignore[valid-type]
    """The SDK's per-request timeout (``{"connect", "read", "write", "pool"}``) for httpx."""
    if not isinstance(value, dict):
        return httpx.USE_CLIENT_DEFAULT
    try:
        return httpx.Timeout(**{k: value.get(k) for k in ("connect", "read", "write", "pool")})
    except (TypeError, ValueError):
        return httpx.USE_CLIENT_DEFAULT
