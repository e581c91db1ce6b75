"""The fake Binance speaks closely enough for the REAL, unmodified ccxt ``binance`` class.

These tests use ccxt directly (no SignalBridge code) so a failure points at the fake, and a
few raw HTTP requests check the signature rules byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import ccxt.async_support as ccxt
import httpx
import pytest
from tests.fakes.binance import FakeBinance


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBinance]:
    with FakeBinance() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBinance) -> FakeBinance:
    server.reset()
    return server


def exchange(fake: FakeBinance, kind: str = "spot", **overrides: Any) -> Any:
    config: dict[str, Any] = {
        "apiKey": fake.api_key,
        "secret": fake.secret,
        "urls": {"api": fake.ccxt_urls()},
        "enableRateLimit": False,
        "timeout": 2000,
        "options": {
            "defaultType": kind,
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchMarkets": {"types": ["spot" if kind == "spot" else "linear"]},
        },
        **overrides,
    }
    ex = ccxt.binance(config)
    ex.timeout_on_exit = 0
    return ex


@pytest.fixture
async def spot(fake: FakeBinance) -> AsyncIterator[Any]:
    ex = exchange(fake)
    yield ex
    await ex.close()


@pytest.fixture
async def future(fake: FakeBinance) -> AsyncIterator[Any]:
    ex = exchange(fake, "future")
    yield ex
    await ex.close()


async def test_spot_round_trip(spot: Any, fake: FakeBinance) -> None:
    markets = await spot.load_markets()
    assert markets["BTC/USDT"]["limits"]["cost"]["min"] == 5
    assert markets["BTC/USDT"]["precision"]["amount"] == 0.00001
    ticker = await spot.fetch_ticker("BTC/USDT")
    assert ticker["last"] == 50000
    order = await spot.create_order(
        "BTC/USDT", "market", "buy", 0.02, None, {"clientOrderId": "sb-1-e0"}
    )
    assert (order["clientOrderId"], order["status"], order["filled"]) == ("sb-1-e0", "closed", 0.02)
    # a regular account pays 0.1 % on a spot fill, in the coin bought
    assert order["fee"] == {"cost": 0.00002, "currency": "BTC"}
    fetched = await spot.fetch_order(None, "BTC/USDT", {"clientOrderId": "sb-1-e0"})
    assert fetched["id"] == order["id"] and fetched["average"] == 50000
    await spot.create_order("ETH/USDT", "limit", "sell", 1, 3500, {"clientOrderId": "sb-2-e0"})
    [open_order] = await spot.fetch_open_orders("ETH/USDT")
    assert open_order["clientOrderId"] == "sb-2-e0"
    canceled = await spot.cancel_order(None, "ETH/USDT", {"clientOrderId": "sb-2-e0"})
    assert canceled["status"] == "canceled"
    assert canceled["info"]["origClientOrderId"] == "sb-2-e0"
    balance = await spot.fetch_balance()
    assert balance["BTC"]["free"] == 1.01998 and balance["ETH"]["free"] == 10
    raw = fake.orders()
    assert [o.client_order_id for o in raw] == ["sb-1-e0", "sb-2-e0"]


async def test_future_round_trip(future: Any, fake: FakeBinance) -> None:
    await future.load_markets()
    assert await future.set_leverage(10, "ETH/USDT:USDT") == {
        "leverage": 10,
        "maxNotionalValue": "1000000",
        "symbol": "ETHUSDT",
    }
    await future.create_order(
        "ETH/USDT:USDT", "market", "sell", 0.5, None, {"clientOrderId": "sb-3-e0"}
    )
    [position] = await future.fetch_positions()
    assert (position["side"], position["contracts"], position["entryPrice"]) == ("short", 0.5, 3000)
    tickers = await future.fetch_tickers(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert set(tickers) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    balance = await future.fetch_balance()
    # the wallet paid the standard USDⓈ-M taker commission: 0.5 × 3000 × 0.05 % = 0.75 USDT
    assert balance["USDT"]["total"] == 9999.25
    assert balance["USDT"]["used"] == 150  # 0.5 * 3000 / 10
    bids_asks = await future.fetch_bids_asks(["ETH/USDT:USDT"])
    assert bids_asks["ETH/USDT:USDT"]["bid"] == 3000
    assert fake.count("/fapi/v3/positionRisk") == 1
    assert fake.count("/fapi/v1/leverage", "POST") == 1


async def test_trades_since_a_moment_read_by_ccxt(
    spot: Any, future: Any, fake: FakeBinance
) -> None:
    """``myTrades`` (spot) and ``userTrades`` (USDⓈ-M) filtered by ``startTime``, through
    ccxt's ``fetch_my_trades`` and its trade parser: what a client reads to learn what
    traded since a moment without knowing any order id."""
    await spot.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "a-1"})
    await future.create_order(
        "BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "a-2"}
    )
    fake.advance(hours=1)  # both trades are an hour old now
    since = int(time.time() * 1000) - 60_000
    sold = await spot.create_order(
        "BTC/USDT", "market", "sell", 0.01, None, {"clientOrderId": "a-3"}
    )
    shorted = await future.create_order(
        "BTC/USDT:USDT", "market", "sell", 0.01, None, {"clientOrderId": "a-4"}
    )
    [trade] = await spot.fetch_my_trades("BTC/USDT", since)
    assert (trade["order"], trade["side"], trade["amount"], trade["price"]) == (
        sold["id"],
        "sell",
        0.01,
        50000,
    )
    assert trade["fee"] == {"cost": 0.5, "currency": "USDT"}  # a SELL pays in the quote
    assert len(await spot.fetch_my_trades("BTC/USDT")) == 2
    [fut] = await future.fetch_my_trades("BTC/USDT:USDT", since)
    assert (fut["order"], fut["side"], fut["amount"], fut["price"]) == (
        shorted["id"],
        "sell",
        0.01,
        50000,
    )
    assert fut["info"]["positionSide"] == "BOTH" and fut["fee"]["currency"] == "USDT"
    assert len(await future.fetch_my_trades("BTC/USDT:USDT")) == 2
    assert fake.count("/fapi/v1/userTrades", "GET") == 2


async def test_order_not_found_and_bad_symbol(spot: Any) -> None:
    await spot.load_markets()
    with pytest.raises(ccxt.OrderNotFound):
        await spot.fetch_order(None, "BTC/USDT", {"clientOrderId": "nope"})
    with pytest.raises(ccxt.OrderNotFound):
        await spot.cancel_order(None, "BTC/USDT", {"clientOrderId": "nope"})
    with pytest.raises(ccxt.BadSymbol):
        await spot.public_get_ticker_price({"symbol": "NOPEUSDT"})


async def test_insufficient_balance_and_filters(spot: Any) -> None:
    await spot.load_markets()
    with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
        await spot.create_order("BTC/USDT", "market", "buy", 5, None, {"clientOrderId": "x1"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        await spot.create_order("BTC/USDT", "market", "buy", 0.00001, None)


@pytest.mark.parametrize(
    "overrides", [{"secret": "wrong-secret-value-000000"}, {"apiKey": "wrong-api-key-000000000"}]
)
async def test_bad_credentials(fake: FakeBinance, overrides: dict[str, str]) -> None:
    ex = exchange(fake, **overrides)
    try:
        with pytest.raises(ccxt.AuthenticationError):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_429_and_418(spot: Any, fake: FakeBinance) -> None:
    fake.rate_limit(retry_after=3, ban_after=1, ban_seconds=60)
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        await spot.fetch_time()
    assert spot.last_response_headers["Retry-After"] == "3"
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        await spot.fetch_time()
    assert spot.last_response_headers["Retry-After"] == "60"


async def test_weight_header(spot: Any) -> None:
    await spot.fetch_time()
    await spot.load_markets()
    assert spot.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "21"


def _signed(fake: FakeBinance, params: dict[str, str], secret: str | None = None) -> str:
    query = urlencode(params)
    signature = hmac.new(
        (secret or fake.secret).encode(), query.encode(), hashlib.sha256
    ).hexdigest()
    return f"{query}&signature={signature}"


def test_signature_covers_query_and_body(fake: FakeBinance) -> None:
    now = str(int(time.time() * 1000))
    headers = {"X-MBX-APIKEY": fake.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=fake.base_url) as client:
        ok = client.get(f"/api/v3/account?{_signed(fake, {'timestamp': now})}", headers=headers)
        assert ok.status_code == 200 and ok.json()["accountType"] == "SPOT"
        # query string + body concatenated, signature in the body (Binance's totalParams)
        query = "symbol=BTCUSDT&side=BUY"
        rest = {"type": "MARKET", "quantity": "0.001", "timestamp": now}
        body = urlencode(rest)
        sig = hmac.new(fake.secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        placed = client.post(
            f"/api/v3/order?{query}", content=f"{body}&signature={sig}", headers=headers
        )
        assert placed.status_code == 200, placed.text
        tampered = _signed(fake, {"timestamp": now}).replace(
            f"timestamp={now}", f"timestamp={int(now) - 1}"
        )
        bad = client.get(f"/api/v3/account?{tampered}", headers=headers)
        assert bad.status_code == 400
        assert bad.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
        stale = _signed(fake, {"timestamp": str(int(now) - 60_000), "recvWindow": "5000"})
        assert client.get(f"/api/v3/account?{stale}", headers=headers).json()["code"] == -1021
        nokey = client.get(f"/api/v3/account?{_signed(fake, {'timestamp': now})}")
        assert (nokey.status_code, nokey.json()["code"]) == (401, -2014)
        assert client.get("/api/v3/nowhere").status_code == 404
    assert len(fake.orders()) == 1


async def test_timestamp_outside_recv_window_is_invalid_nonce(fake: FakeBinance) -> None:
    ex = exchange(fake)
    ex.options["recvWindow"] = 1
    ex.nonce = lambda: ex.milliseconds() - 5_000
    try:
        with pytest.raises(ccxt.InvalidNonce):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_withdraw_endpoints_refuse_and_are_counted(spot: Any, fake: FakeBinance) -> None:
    with pytest.raises(ccxt.AuthenticationError):
        await spot.sapi_post_capital_withdraw_apply({"coin": "BTC", "address": "x", "amount": 1})
    assert fake.count("/sapi/v1/capital/withdraw/apply") == 1


async def test_fault_injection_on_raw_ccxt(spot: Any, fake: FakeBinance) -> None:
    fake.fail_next("/api/v3/time", status=503)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await spot.fetch_time()
    assert await spot.fetch_time() > 0
    fake.fail_next("/api/v3/time", status=500)  # Binance's own -1001: "status unknown"
    with pytest.raises(ccxt.OperationFailed):
        await spot.fetch_time()
    await spot.load_markets()
    fake.accept_then_drop()
    with pytest.raises(ccxt.NetworkError):
        await spot.create_order(
            "BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "sb-9-e0"}
        )
    assert [o.client_order_id for o in fake.orders()] == ["sb-9-e0"]
