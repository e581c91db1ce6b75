from __future__ import annotations

import gzip
import zlib

import httpx
import pytest
from prometheus_client import CollectorRegistry

from signalbridge.integrations.http import (
    HttpClientFactory,
    HttpConfig,
    ResponseTooLarge,
    fetch,
)

BOMB = gzip.compress(b"\0" * (20 * 1024 * 1024), compresslevel=9)


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/bomb":
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=BOMB)
    if request.url.path == "/deflate":
        return httpx.Response(
            200, headers={"Content-Encoding": "deflate"}, content=zlib.compress(b"hello" * 10)
        )
    if request.url.path == "/big":
        return httpx.Response(200, content=b"x" * 5000)
    return httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(b'{"ok": true}')
    )


def factory(max_bytes: int = 1024 * 1024) -> tuple[HttpClientFactory, CollectorRegistry]:
    registry = CollectorRegistry()
    return (
        HttpClientFactory(
            config=HttpConfig(max_response_bytes=max_bytes),
            transport=httpx.MockTransport(handler),
            registry=registry,
        ),
        registry,
    )


async def test_gzip_body_is_decoded_and_metrics_and_user_agent_recorded() -> None:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    registry = CollectorRegistry()
    f = HttpClientFactory(transport=httpx.MockTransport(recording), registry=registry)
    async with f.create("conn-1", base_url="https://api.test") as client:
        response = await client.get("/ok")
        deflated = await client.get("/deflate")
    assert response.json() == {"ok": True}
    assert deflated.content == b"hello" * 10
    assert seen[0].headers["user-agent"].startswith("SignalBridge/")
    labels = {"connection": "conn-1", "method": "GET", "status": "200"}
    assert registry.get_sample_value("signalbridge_http_requests_total", labels) == 2
    assert (
        registry.get_sample_value(
            "signalbridge_http_request_duration_seconds_count",
            {"connection": "conn-1", "method": "GET"},
        )
        == 2
    )


async def test_gzip_bomb_is_cut_at_the_cap() -> None:
    f, _ = factory(max_bytes=1024 * 1024)
    async with f.create("c", base_url="https://api.test") as client:
        with pytest.raises(ResponseTooLarge):
            await client.get("/bomb")
        with pytest.raises(ResponseTooLarge):
            await fetch(client, "GET", "/bomb", max_bytes=64 * 1024)


async def test_fetch_caps_below_the_client_cap_and_returns_loaded_response() -> None:
    f, _ = factory()
    async with f.create("c", base_url="https://api.test") as client:
        with pytest.raises(ResponseTooLarge):
            await fetch(client, "GET", "/big", max_bytes=4096)
        response = await fetch(client, "GET", "/ok", max_bytes=4096)
    assert response.json() == {"ok": True}


async def test_content_length_over_cap_is_refused_before_reading() -> None:
    f, _ = factory(max_bytes=100)
    async with f.create("c", base_url="https://api.test") as client:
        with pytest.raises(ResponseTooLarge, match="Content-Length"):
            await client.get("/big")


async def test_shared_injected_transport_is_not_closed_by_clients() -> None:
    closed: list[bool] = []

    class Tracking(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    f = HttpClientFactory(transport=Tracking(handler))
    async with f.create("a", base_url="https://api.test") as client:
        await client.get("/ok")
    assert closed == []
