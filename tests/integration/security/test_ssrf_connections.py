"""Reliability row 23 through the real API: a member's URLs never reach a loopback canary.

Every crafted form is saved as a MetaApi base and provisioning URL and as a ccxt ``urls``
override (``POST /api/v1/connections``), then tested (``POST .../test``) on a running
platform whose operator allow-list does not cover the canary. The answer is a 422 at save
for forms no setting could make safe, otherwise a failed test result naming the refusal;
never a 5xx, never a credential, and the canary counts zero connections. Addresses off the
machine (10.0.0.1, 169.254.169.254, ...) must be refused by the guard itself: the test run
refuses such sockets too, but that would surface as a different error class.

The last test turns the operator setting on and shows the local fakes are then reached,
which is how every other adapter test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.fakes.canary import CanaryServer
from tests.fakes.flaky_server import FlakyServer, Reply
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.fakes.metaapi import FakeMetaApi
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.venues.base import AdapterDeps

TOKEN = "eyJhbGciOiJSUzUxMiJ9.ssrf-canary-token-7d1e4c"
API_KEY = "ssrfCanaryApiKey000000000000000001"
API_SECRET = "ssrfCanaryApiSecret0000000000000002"
ACCOUNT = "acc-canary"
CANARY_NAME = "canary.test"  # resolves to loopback (the resolver is told so below)
#: A stand-in for an outside host the operator allowed; 127.0.0.1 and ::1 stay refused.
OUTSIDE = "127.0.0.2"

#: (label, URL with {port} for the canary's port, refused at save whatever the setting)
FORMS: list[tuple[str, str, bool]] = [
    ("127.0.0.1", "http://127.0.0.1:{port}", False),
    ("localhost", "http://localhost:{port}", False),
    ("0.0.0.0", "http://0.0.0.0:{port}", False),
    ("[::1]", "http://[::1]:{port}", False),
    ("2130706433", "http://2130706433:{port}", True),
    ("0x7f000001", "http://0x7f000001:{port}", True),
    ("127.1", "http://127.1:{port}", True),
    ("0177.0.0.1", "http://0177.0.0.1:{port}", True),
    ("[::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]:{port}", False),
    ("[::ffff:7f00:1]", "http://[::ffff:7f00:1]:{port}", False),
    ("x:y@127.0.0.1", "http://x:y@127.0.0.1:{port}", True),
    ("169.254.169.254", "http://169.254.169.254/latest/meta-data", False),
    ("metadata.google.internal", "http://metadata.google.internal/computeMetadata", False),
    ("10.0.0.1", "http://10.0.0.1:{port}", False),
    ("192.168.0.1", "http://192.168.0.1:{port}", False),
    ("100.64.0.1", "http://100.64.0.1:{port}", False),
    ("file:", "file:///etc/passwd", True),
    ("gopher:", "gopher://127.0.0.1:{port}/_GET%20/", True),
    ("name resolving to loopback", f"http://{CANARY_NAME}:{{port}}", False),
]


@pytest.fixture
def canary() -> Iterator[CanaryServer]:
    with CanaryServer() as server:
        yield server


@pytest.fixture
def outside() -> Iterator[FlakyServer]:
    """An allowed host answering MetaApi's account-information document."""
    with FlakyServer(hosts=(OUTSIDE,)) as server:
        server.default = Reply(
            body=(
                b'{"platform":"mt5","broker":"Demo","currency":"USD","server":"Demo-1",'
                b'"balance":1000,"equity":1000,"margin":0,"freeMargin":1000,"leverage":100,'
                b'"login":"1","tradeAllowed":true}'
            ),
            headers={"Content-Type": "application/json"},
        )
        yield server


@pytest.fixture
def redirector(canary: CanaryServer) -> Iterator[FlakyServer]:
    """An allowed host that answers every request with a redirect to the canary."""
    with FlakyServer(hosts=(OUTSIDE,)) as server:
        server.default = Reply(redirect_to=canary.url("/latest/meta-data"))
        yield server


def metaapi_config(base_url: str, provisioning_url: str | None) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT,
        "token": TOKEN,
        "base_url": base_url,
        "provisioning_url": provisioning_url,
        "timeout": 5,
    }


def ccxt_config(base: str) -> dict[str, Any]:
    return {
        "exchange": "binance",
        "market_type": "spot",
        "timeout_ms": 5000,
        "urls": {
            "public": f"{base}/api/v3",
            "private": f"{base}/api/v3",
            "sapi": f"{base}/sapi/v1",
        },
        "api_key": API_KEY,
        "secret": API_SECRET,
    }


def assert_no_credentials(text: str) -> None:
    for secret in (TOKEN, API_KEY, API_SECRET):
        assert secret not in text


async def save(h: Harness, name: str, type_: str, config: dict[str, Any]) -> tuple[int, Any]:
    r = await h.api("POST", "/connections", json={"name": name, "type": type_, "config": config})
    assert r.status_code in (201, 422), r.text
    assert_no_credentials(r.text)
    return r.status_code, r.json()


async def connection_test(h: Harness, connection_id: int) -> dict[str, Any]:
    r = await h.api("POST", f"/connections/{connection_id}/test")
    assert r.status_code == 200, r.text
    assert_no_credentials(r.text)
    body: dict[str, Any] = r.json()
    assert body["ok"] is False, body
    return body


async def assert_refused(
    h: Harness, name: str, type_: str, config: dict[str, Any], field: str, at_save: bool
) -> str:
    """Save, then test: refused at save (422 naming ``field``) or by the guard before any
    dial (a failed test whose error is the SSRF refusal). Returns the refusal text."""
    status, body = await save(h, name, type_, config)
    if at_save:
        assert status == 422, body
        assert body["error"]["code"] == "invalid_config"
        assert field in {d["field"].split(".")[0] for d in body["error"]["details"]}
        return str(body["error"]["message"])
    assert status == 201, body
    result = await connection_test(h, int(body["id"]))
    assert result["error_class"] == "InvalidRequest", result
    return str(result["error"])


class LoopbackResolver:
    """The system resolver, except that ``canary.test`` resolves to loopback."""

    async def __call__(self, host: str, port: int) -> list[str]:
        if host == CANARY_NAME:
            return ["127.0.0.1", "::1"]
        raise AssertionError(f"unexpected lookup of {host!r}")


def resolve_canary_name_to_loopback(h: Harness) -> None:
    deps: AdapterDeps = h.container.adapter_deps
    assert deps.http_factory is not None
    deps.http_factory.ssrf_policy.resolver = LoopbackResolver()


async def test_no_member_url_reaches_the_canary_with_the_setting_off(
    tmp_path: Path, database_url: str, canary: CanaryServer
) -> None:
    settings = make_settings(tmp_path, database_url)
    assert settings.allowed_hosts == []  # the default: loopback and private are closed
    async with running_harness(settings) as h:
        resolve_canary_name_to_loopback(h)
        for i, (label, template, at_save) in enumerate(FORMS):
            url = template.format(port=canary.port)
            # as the base URL (the provisioning URL carries the same form)
            why = await assert_refused(
                h, f"mt-{i}", "metaapi", metaapi_config(url, url), "base_url", at_save
            )
            assert "refused" in why or at_save, (label, why)
            # as the provisioning URL alone
            if at_save:
                await assert_refused(
                    h,
                    f"mt-prov-{i}",
                    "metaapi",
                    metaapi_config("https://mt-client-api-v1.london.agiliumtrade.ai", url),
                    "provisioning_url",
                    at_save=True,
                )
            # as a ccxt urls override: the operator listed no host, so none may be used
            why = await assert_refused(h, f"ccxt-{i}", "ccxt", ccxt_config(url), "urls", at_save)
            assert at_save or "allow-list" in why, (label, why)
    assert canary.touched == 0


async def test_redirects_and_provisioning_urls_never_reach_the_canary(
    tmp_path: Path,
    database_url: str,
    canary: CanaryServer,
    outside: FlakyServer,
    redirector: FlakyServer,
) -> None:
    """The operator allows one outside host (not the canary's loopback): its redirect to
    the canary is not followed, and the provisioning URL is guarded on its own."""
    settings = make_settings(tmp_path, database_url, allowed_hosts=[f"{OUTSIDE}/32"])
    async with running_harness(settings) as h:
        resolve_canary_name_to_loopback(h)
        # MetaApi: the base URL answers; every provisioning form is refused by the guard.
        for i, (label, template, at_save) in enumerate(FORMS):
            if at_save:
                continue  # refused at save above, whatever the base URL
            url = template.format(port=canary.port)
            why = await assert_refused(
                h,
                f"prov-{i}",
                "metaapi",
                metaapi_config(outside.url(""), url),
                "provisioning_url",
                at_save=False,
            )
            assert "refused" in why, (label, why)
        assert outside.hits and all(hit.headers["auth-token"] == TOKEN for hit in outside.hits)
        # MetaApi: a redirect from the allowed host is an error, never followed.
        status, body = await save(
            h, "mt-redirect", "metaapi", metaapi_config(redirector.url(""), None)
        )
        assert status == 201
        result = await connection_test(h, int(body["id"]))
        assert result["error_class"] in ("InvalidRequest", "TransientError"), result
        # ccxt: the allowed host may be overridden; its redirect to the canary is refused.
        status, body = await save(h, "ccxt-redirect", "ccxt", ccxt_config(redirector.url("")))
        assert status == 201
        result = await connection_test(h, int(body["id"]))
        assert result["error_class"] == "InvalidRequest", result
        assert "redirect refused" in result["error"] and "allow-list" in result["error"]
        assert redirector.hits  # the allowed host was reached; the hop after it was not
    assert canary.touched == 0


async def test_the_operator_setting_lets_the_local_fakes_through(
    tmp_path: Path,
    database_url: str,
    canary: CanaryServer,
    fake_binance: FakeBinance,  # noqa: F811
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    with FakeMetaApi(token=TOKEN) as metaapi:
        metaapi.add_account(ACCOUNT, balance=Decimal(1000))
        async with running_harness(settings) as h:
            config = metaapi_config(metaapi.base_url, metaapi.base_url)
            status, body = await save(h, "mt-local", "metaapi", config)
            assert status == 201
            result = await h.ok("POST", f"/connections/{body['id']}/test")
            assert result["ok"] is True, result
            config = {
                **fake_binance.adapter_config("spot", timeout_ms=5000),
                **fake_binance.adapter_secrets(),
            }
            status, body = await save(h, "ccxt-local", "ccxt", config)
            assert status == 201
            result = await h.ok("POST", f"/connections/{body['id']}/test")
            assert result["ok"] is True, result
    assert canary.touched == 0
