"""Reliability row 23: crafted user URLs never reach a canary on loopback."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests.fakes.canary import CanaryServer
from tests.fakes.flaky_server import FlakyServer, Reply, gzip_bomb_bytes

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.integrations.http import (
    HttpClientFactory,
    HttpConfig,
    ResponseDeadlineExceeded,
    ResponseTooLarge,
)


@pytest.fixture
def canary() -> Iterator[CanaryServer]:
    with CanaryServer() as server:
        yield server


class TableResolver:
    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def guarded_factory(
    resolver: TableResolver | None = None, allowed: tuple[str, ...] = ()
) -> HttpClientFactory:
    return HttpClientFactory(
        config=HttpConfig(follow_redirects=True, total_timeout=5.0),
        registry=CollectorRegistry(),
        allowed_hosts=allowed,
        resolver=resolver or TableResolver({}),
    )


def spellings(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://2130706433:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://localhost:{port}/",
        f"https://127.0.0.1:{port}/",
        f"http://169.254.169.254:{port}/latest/meta-data/",
        f"http://100.64.0.1:{port}/",
        f"http://10.0.0.1:{port}/",
        f"http://172.16.0.1:{port}/",
        f"http://192.168.0.1:{port}/",
        f"http://metadata.google.internal:{port}/",
        f"http://[fd00:ec2::254]:{port}/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/_GET%20/",
    ]


async def test_matrix_of_internal_urls_never_reaches_canary(canary: CanaryServer) -> None:
    factory = guarded_factory()
    async with factory.create("rss-1", user_url=True) as client:
        for url in spellings(canary.port):
            with pytest.raises((InvalidRequest, httpx.InvalidURL, httpx.UnsupportedProtocol)):
                await client.get(url)
    assert canary.touched == 0


async def test_name_resolving_to_loopback_never_reaches_canary(canary: CanaryServer) -> None:
    resolver = TableResolver(
        {
            "evil.test": [["127.0.0.1"]],
            "evil6.test": [["::1"]],
            "mixed.test": [["8.8.8.8", "127.0.0.1"]],
        }
    )
    async with guarded_factory(resolver).create("rss", user_url=True) as client:
        for host in ("evil.test", "evil6.test", "mixed.test"):
            with pytest.raises(InvalidRequest):
                await client.get(f"http://{host}:{canary.port}/")
    assert canary.touched == 0


async def test_redirect_to_internal_address_is_refused(canary: CanaryServer) -> None:
    resolver = TableResolver({"feeds.test": [["127.0.0.1"]]})
    with FlakyServer() as fake:
        targets = [
            f"http://127.0.0.1:{canary.port}/",
            f"http://0x7f000001:{canary.port}/",
            f"http://[::1]:{canary.port}/",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ]
        for i, target in enumerate(targets):
            fake.script(f"/r{i}", Reply(redirect_to=target))
        fake.script("/ok", Reply(body=b"feed"))
        async with guarded_factory(resolver, allowed=("feeds.test",)).create(
            "rss", user_url=True
        ) as client:
            ok = await client.get(f"http://feeds.test:{fake.port}/ok")
            assert ok.text == "feed"
            for i in range(len(targets)):
                with pytest.raises((InvalidRequest, httpx.UnsupportedProtocol)):
                    await client.get(f"http://feeds.test:{fake.port}/r{i}")
        assert len(fake.hits) == len(targets) + 1
        assert fake.hits[0].headers["host"] == f"feeds.test:{fake.port}"
    assert canary.touched == 0


async def test_dns_rebinding_connects_to_the_checked_address(canary: CanaryServer) -> None:
    # The canary listens on 127.0.0.1:P; the legitimate fake on 127.0.0.2:P (allowed as
    # if it were a public address). The name first resolves to the fake, then rebinds to
    # the canary: the request must go to the address that was checked.
    with FlakyServer(hosts=("127.0.0.2",), port=canary.port) as fake:
        resolver = TableResolver({"rebind.test": [["127.0.0.2"], ["127.0.0.1"]]})
        factory = guarded_factory(resolver, allowed=("127.0.0.2/32",))
        async with factory.create("hook", user_url=True) as client:
            response = await client.get(f"http://rebind.test:{canary.port}/hook")
            assert response.status_code == 200
            # The next lookup answers with the canary: refused, not followed.
            with pytest.raises(InvalidRequest, match="loopback"):
                await client.get(f"http://rebind.test:{canary.port}/hook")
        assert len(fake.hits) == 1
        assert fake.hits[0].headers["host"] == f"rebind.test:{canary.port}"
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert canary.touched == 0


async def test_control_an_unguarded_client_does_reach_the_canary(canary: CanaryServer) -> None:
    """Proves the canary would notice: the zero counts above are meaningful."""
    async with guarded_factory().create("internal", user_url=False) as client:
        response = await client.get(f"http://0x7f000001:{canary.port}/")
    assert response.status_code == 200
    assert canary.touched >= 1


async def test_hostile_responses_on_a_user_url_are_cut_at_the_caps() -> None:
    """Row 24 on the guarded path: a user-configured URL the operator allowed still gets
    the size cap (gzip bomb, memory bounded) and the total time cap (endless slow body)."""
    size = 100 * 1024 * 1024
    assert len(gzip_bomb_bytes(size)) < 200 * 1024  # built (and cached) before measuring
    with FlakyServer() as hostile:
        hostile.set_default("/bomb", Reply(gzip_bomb=size))
        hostile.set_default("/drip", Reply(drip=0.02))
        factory = HttpClientFactory(
            config=HttpConfig(max_response_bytes=1024 * 1024, total_timeout=10.0),
            registry=CollectorRegistry(),
            allowed_hosts=("127.0.0.1",),
        )
        async with factory.create("feed", base_url=hostile.url(""), user_url=True) as client:
            tracemalloc.start()
            try:
                with pytest.raises(ResponseTooLarge):
                    await client.get("/bomb")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        slow = factory.config.with_(read_timeout=5.0, total_timeout=0.3)
        async with factory.create(
            "feed", base_url=hostile.url(""), user_url=True, config=slow
        ) as client:
            start = time.monotonic()
            with pytest.raises(ResponseDeadlineExceeded):
                await client.get("/drip")
            assert time.monotonic() - start < 5.0  # the total deadline cut it, not the read timeout
        assert {hit.path for hit in hostile.hits} == {"/bomb", "/drip"}
    assert peak < 16 * 1024 * 1024  # inflating the bomb whole would take 100 MB
