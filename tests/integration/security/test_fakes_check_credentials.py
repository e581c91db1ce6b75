"""Every fake server refuses a credential changed by one character, as the real service does.

So a credential mangled on its way out (sealed wrong, trimmed, re-encoded) fails a test
instead of passing against a fake that accepts anything.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt.async_support as ccxt_async
import httpx
import pytest
from tests.fakes.binance import FakeBinance
from tests.fakes.flaky_server import FlakyServer
from tests.fakes.loopback import LOOPBACK_HOSTS, loopback_deps
from tests.fakes.metaapi import FakeMetaApi
from tests.platform_fixtures import make_settings, running_harness

from signalbridge.integrations.errors import AuthenticationError
from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.metaapi.adapter import MetaApiAdapter

TOKEN = "eyJhbGciOiJSUzUxMiJ9.fake-credentials-7Qm2xV9kLp"
KEY = "Vq7nK2pX9mR4tL8sW3yB6cD1fG5hJ0zA"
SECRET = "s3cR7x9QmV2kL8pW4tN6yB1cD5fG0hJZ"


def mangled(value: str) -> str:
    """``value`` with its middle character replaced by another of the same kind."""
    i = len(value) // 2
    swap = "x" if value[i] != "x" else "y"
    return value[:i] + swap + value[i + 1 :]


@pytest.fixture(scope="module")
def metaapi() -> Iterator[FakeMetaApi]:
    fake = FakeMetaApi(token=TOKEN)
    fake.add_account("acc-cred", balance=Decimal(1000))
    with fake:
        yield fake


@pytest.fixture(scope="module")
def binance() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=KEY, secret=SECRET) as fake:
        yield fake


@pytest.fixture
def fresh_binance(binance: FakeBinance) -> FakeBinance:
    binance.reset()
    return binance


# --- MetaApi --------------------------------------------------------------------------------


def _metaapi_adapter(fake: FakeMetaApi, token: str) -> MetaApiAdapter:
    config = {
        "account_id": "acc-cred",
        "base_url": fake.base_url,
        "provisioning_url": fake.base_url,
        "timeout": 5,
    }
    return MetaApiAdapter.from_config("cred-1", config, {"token": token}, deps=loopback_deps())


async def test_metaapi_refuses_a_mangled_token_with_its_401_shape(metaapi: FakeMetaApi) -> None:
    path = "/users/current/accounts/acc-cred/account-information"
    async with httpx.AsyncClient(base_url=metaapi.base_url) as client:
        good = await client.get(path, headers={"auth-token": TOKEN})
        assert good.status_code == 200 and good.json()["balance"] == 1000
        for headers in ({"auth-token": mangled(TOKEN)}, {}, {"Authorization": f"Bearer {TOKEN}"}):
            bad = await client.get(path, headers=headers)
            assert bad.status_code == 401
            body = bad.json()
            assert body["error"] == "UnauthorizedError" and body["message"]
            assert set(body) == {"id", "error", "message"}


async def test_metaapi_adapter_with_a_mangled_token_is_refused(metaapi: FakeMetaApi) -> None:
    good = _metaapi_adapter(metaapi, TOKEN)
    bad = _metaapi_adapter(metaapi, mangled(TOKEN))
    try:
        assert (await good.probe()).ok is True
        result = await bad.probe()
        assert result.ok is False and "401" in result.message
        assert TOKEN not in result.message and mangled(TOKEN) not in result.message
        with pytest.raises(AuthenticationError):
            await bad.fetch_balance()
    finally:
        await good.close()
        await bad.close()


async def test_metaapi_set_token_moves_the_expected_credential(metaapi: FakeMetaApi) -> None:
    rotated = TOKEN + "-rotated"
    metaapi.set_token(rotated)
    try:
        old = _metaapi_adapter(metaapi, TOKEN)
        new = _metaapi_adapter(metaapi, rotated)
        try:
            assert (await old.probe()).ok is False
            assert (await new.probe()).ok is True
        finally:
            await old.close()
            await new.close()
    finally:
        metaapi.set_token(TOKEN)
    with pytest.raises(ValueError):
        metaapi.set_token("")


# --- Binance (ccxt) -------------------------------------------------------------------------


@pytest.fixture
async def raw_ccxt(fresh_binance: FakeBinance) -> AsyncIterator[Any]:
    made: list[Any] = []

    def build(api_key: str, secret: str) -> Any:
        ex = ccxt_async.binance(
            {
                "apiKey": api_key,
                "secret": secret,
                "enableRateLimit": False,
                "urls": {"api": fresh_binance.ccxt_urls()},
                "options": {
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
            }
        )
        made.append(ex)
        return ex

    yield build
    for ex in made:
        await ex.close()


async def test_binance_refuses_a_mangled_key_or_secret(raw_ccxt: Any) -> None:
    assert "USDT" in (await raw_ccxt(KEY, SECRET).fetch_balance())["total"]
    with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
        await raw_ccxt(mangled(KEY), SECRET).fetch_balance()
    with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
        await raw_ccxt(KEY, mangled(SECRET)).fetch_balance()


def test_binance_wire_codes_for_wrong_credentials(fresh_binance: FakeBinance) -> None:
    query = urlencode({"timestamp": str(int(time.time() * 1000))})

    def signed(secret: str) -> str:
        sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"/api/v3/account?{query}&signature={sig}"

    with httpx.Client(base_url=fresh_binance.base_url) as client:
        ok = client.get(signed(SECRET), headers={"X-MBX-APIKEY": KEY})
        assert ok.status_code == 200, ok.text
        cases = [
            ({"X-MBX-APIKEY": mangled(KEY)}, SECRET, 401, -2015),
            ({"X-MBX-APIKEY": "key with spaces"}, SECRET, 401, -2014),
            ({}, SECRET, 401, -2014),
            ({"X-MBX-APIKEY": KEY}, mangled(SECRET), 400, -1022),
        ]
        for headers, secret, status, code in cases:
            bad = client.get(signed(secret), headers=headers)
            assert (bad.status_code, bad.json()["code"]) == (status, code), headers
    assert fresh_binance.orders() == []


async def test_binance_known_keys_are_settable(fresh_binance: FakeBinance, raw_ccxt: Any) -> None:
    other_key, other_secret = KEY[::-1], SECRET[::-1]
    with pytest.raises(ccxt_async.AuthenticationError):
        await raw_ccxt(other_key, other_secret).fetch_balance()
    fresh_binance.add_credentials(other_key, other_secret)
    await raw_ccxt(other_key, other_secret).fetch_balance()
    await raw_ccxt(KEY, SECRET).fetch_balance()
    with pytest.raises(ccxt_async.AuthenticationError, match="-1022"):
        await raw_ccxt(other_key, SECRET).fetch_balance()  # a known key, another's secret
    fresh_binance.set_credentials(other_key, other_secret)
    with pytest.raises(ccxt_async.AuthenticationError, match="-2015"):
        await raw_ccxt(KEY, SECRET).fetch_balance()
    fresh_binance.reset()
    assert (fresh_binance.api_key, fresh_binance.secret) == (KEY, SECRET)
    await raw_ccxt(KEY, SECRET).fetch_balance()


async def test_ccxt_adapter_with_a_mangled_key_probes_not_ok(fresh_binance: FakeBinance) -> None:
    for api_key, secret, ok in (
        (KEY, SECRET, True),
        (mangled(KEY), SECRET, False),
        (KEY, mangled(SECRET), False),
    ):
        adapter = CcxtAdapter.from_config(
            "cred-2",
            fresh_binance.adapter_config("spot"),
            {"api_key": api_key, "secret": secret},
            deps=loopback_deps(),
        )
        try:
            result = await adapter.probe()
            assert result.ok is ok, (api_key, secret, result.message)
            assert SECRET not in result.message and KEY not in result.message
        finally:
            await adapter.close()


# --- through the API: the credential that was stored is the one that is sent --------------


async def test_connections_made_through_the_api_log_in_and_mangled_ones_do_not(
    tmp_path: Any, database_url: str, metaapi: FakeMetaApi, fresh_binance: FakeBinance
) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts=list(LOOPBACK_HOSTS))
    async with running_harness(settings) as h:
        accounts = {
            "metaapi": (
                {
                    "account_id": "acc-cred",
                    "base_url": metaapi.base_url,
                    "provisioning_url": metaapi.base_url,
                },
                {"token": TOKEN},
            ),
            "ccxt": (fresh_binance.adapter_config("spot"), {"api_key": KEY, "secret": SECRET}),
        }
        for type_, (config, credentials) in accounts.items():
            created = await h.ok(
                "POST",
                "/connections",
                json={"name": type_, "type": type_, "config": {**config, **credentials}},
            )
            cid = created["id"]
            assert (await h.ok("POST", f"/connections/{cid}/test"))["ok"] is True, type_
            for field, value in credentials.items():
                await h.ok("PUT", f"/connections/{cid}/credentials", json={field: mangled(value)})
                probe = await h.ok("POST", f"/connections/{cid}/test")
                assert probe["ok"] is False, (type_, field, probe)
                assert value not in str(probe) and mangled(value) not in str(probe)
                # Put back through a PATCH: what it carries is what reaches the service.
                await h.ok("PATCH", f"/connections/{cid}", json={"config": {field: value}})
                assert (await h.ok("POST", f"/connections/{cid}/test"))["ok"] is True


# --- the generic flaky server ---------------------------------------------------------------


def test_flaky_server_refuses_a_mangled_credential() -> None:
    with FlakyServer() as server:
        server.require_credential("Authorization", f"Bearer {TOKEN}")
        with httpx.Client() as client:
            url = server.url("/v1/thing")
            assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            for headers in ({"Authorization": f"Bearer {mangled(TOKEN)}"}, {}):
                assert client.get(url, headers=headers).status_code == 401
        assert server.refused == 2 and len(server.hits) == 3
        with pytest.raises(ValueError):
            server.require_credential("Authorization", "")
