"""TradingView and the dialect senders on SQLite and PostgreSQL: the source allow-list
(with the ``tradingview`` preset and trusted proxies), the secret where each dialect puts
it, and body-hash de-duplication and the replay window for each dialect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from structlog.testing import capture_logs
from tests.platform_fixtures import SIGNAL, Harness, make_settings, running_harness

from signalbridge.channels.dialect_secrets import MASK
from signalbridge.store import models as m

TV_IP = "52.89.214.238"
SECRET = "Lic0123456789abcdef"
PINE = f"{SECRET},buy,BTCUSDT,sl=58000,tp=62000"
TV_ALERT = {"ticker": "BTCUSDT", "action": "buy", "stop_loss": "58000", "take_profit": "62000"}
THREE_COMMAS = {
    "max_lag": "300",
    "timestamp": "2026-12-07T08:00:00Z",
    "trigger_price": "60000",
    "tv_exchange": "BINANCE",
    "tv_instrument": "BTCUSDT",
    "action": "enter_long",
    "bot_uuid": "b1f0c2d4-0000-4000-8000-000000000001",
}


@asynccontextmanager
async def sender(h: Harness, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose ASGI peer address is ``host``."""
    transport = httpx.ASGITransport(app=h.app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://sb.test") as client:
        yield client


async def channel(h: Harness, dialect: str | None = None, **config: Any) -> int:
    payload: dict[str, Any] = {
        "name": "tv",
        "type": "webhook",
        "config": {"auth": "body_secret", "secret": SECRET, **config},
    }
    if dialect is not None:
        payload["dialect"] = dialect
    return int((await h.ok("POST", "/channels", json=payload))["id"])


async def counts(h: Harness) -> tuple[int, int]:
    async with h.container.sessions() as s:
        return (
            int(await s.scalar(select(func.count()).select_from(m.Message)) or 0),
            int(await s.scalar(select(func.count()).select_from(m.Signal)) or 0),
        )


async def texts(h: Harness) -> list[str]:
    async with h.container.sessions() as s:
        return list((await s.scalars(select(m.Message.text))).all())


def with_secret(data: dict[str, Any]) -> bytes:
    return json.dumps({"secret": SECRET, **data}).encode()


async def test_a_delivery_from_outside_the_list_gets_the_unsigned_answer(
    harness: Harness,
) -> None:
    h = harness
    channel_id = await channel(h, allowed_sources=["tradingview", "198.51.100.0/24"])
    detail = await h.ok("GET", f"/channels/{channel_id}")
    assert detail["config"]["allowed_sources"] == ["tradingview", "198.51.100.0/24"]
    url = f"/webhooks/channels/{channel_id}"
    body = with_secret(SIGNAL)
    unsigned = await h.client.post(url, json=SIGNAL)  # (from 127.0.0.1)
    with capture_logs() as logs:
        outsider = await h.client.post(url, content=body)
    assert unsigned.status_code == outsider.status_code == 401
    assert unsigned.json() == outsider.json()
    assert outsider.json()["error"]["code"] == "unauthorized"
    assert h.container.webhook_channels.refusals.by_channel == {channel_id: 1}
    assert [e["source"] for e in logs if "allow-list" in e["event"]] == ["127.0.0.1"]
    assert SECRET not in repr(logs) and "BTC/USDT" not in repr(logs)
    # a header naming TradingView does not help: no proxy is trusted by default
    forged = await h.client.post(url, content=body, headers={"X-Forwarded-For": TV_IP})
    assert forged.status_code == 401
    assert await counts(h) == (0, 0)
    # from TradingView's address, and from a listed network: accepted
    async with sender(h, TV_IP) as tv:
        assert (await tv.post(url, content=body)).status_code == 202
    async with sender(h, "198.51.100.77") as listed:
        other = with_secret({**SIGNAL, "stop_loss": "57000"})
        assert (await listed.post(url, content=other)).status_code == 202
    assert await counts(h) == (2, 2)
    assert h.container.webhook_channels.refusals.total == 2


async def test_a_bad_allow_list_is_refused_on_create(harness: Harness) -> None:
    h = harness
    for bad in (["tradingview.com"], ["10.0.0.0/40"], "52.89.214.238"):
        response = await h.api(
            "POST",
            "/channels",
            json={"name": "tv", "type": "webhook", "config": {"allowed_sources": bad}},
        )
        assert response.status_code == 422, response.text
    async with h.container.sessions() as s:
        assert not (await s.scalars(select(m.ChannelSource))).all()


async def test_trusted_proxies_and_an_updated_preset(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        trusted_proxies=["127.0.0.1"],
        tradingview_sources=["203.0.113.0/28"],
    )
    async with running_harness(settings) as h:
        channel_id = await channel(h, allowed_sources=["tradingview"])
        url = f"/webhooks/channels/{channel_id}"
        body = with_secret(SIGNAL)
        # behind the trusted proxy, the forwarded address decides
        old = await h.client.post(url, content=body, headers={"X-Forwarded-For": TV_IP})
        assert old.status_code == 401  # no longer in the operator's list
        hop = {"X-Forwarded-For": "203.0.113.4"}
        assert (await h.client.post(url, content=body, headers=hop)).status_code == 202
        # a client cannot prepend its way in: the proxy's own hop is the one read
        spoof = {"X-Forwarded-For": "203.0.113.4, 192.0.2.9"}
        other = with_secret({**SIGNAL, "stop_loss": "57000"})
        assert (await h.client.post(url, content=other, headers=spoof)).status_code == 401
        # a peer that is not a proxy is not believed
        async with sender(h, "192.0.2.9") as direct:
            assert (await direct.post(url, content=other, headers=hop)).status_code == 401
        assert await counts(h) == (1, 1)


async def test_pineconnector_secret_in_the_first_field_or_secret_param(harness: Harness) -> None:
    h = harness
    channel_id = await channel(h, "pineconnector", allowed_sources=["tradingview"])
    url = f"/webhooks/channels/{channel_id}"
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    async with sender(h, TV_IP) as tv:
        first = await tv.post(url, content=PINE, headers=plain)
        assert first.status_code == 202 and first.json()["status"] == "parsed", first.text
        message = await h.ok("GET", f"/messages/{first.json()['message_id']}")
        assert message["text"] == f"{MASK},buy,BTCUSDT,sl=58000,tp=62000"
        # the same alert again (TradingView fired twice): the first delivery's ids
        again = await tv.post(url, content=PINE, headers=plain)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["signal_id"] == first.json()["signal_id"]
        # the newer form: the license id first, the secret as a parameter
        param = f"60123456789,sell,ETHUSDT,sl=3600,tp=3000,secret={SECRET}"
        second = await tv.post(url, content=param, headers=plain)
        assert second.status_code == 202, second.text
        assert (await tv.post(url, content=param, headers=plain)).status_code == 200
        wrong = await tv.post(url, content=PINE.replace(SECRET, "Lic0000000000000000"))
        assert wrong.status_code == 401
    assert await counts(h) == (2, 2)
    assert all(SECRET not in t for t in await texts(h))


async def test_3commas_secret_field_dedupe_and_window(harness: Harness) -> None:
    h = harness
    channel_id = await channel(h, "3commas")
    url = f"/webhooks/channels/{channel_id}"
    body = with_secret(THREE_COMMAS)
    first = await h.client.post(url, content=body)
    assert first.status_code == 202 and first.json()["status"] == "parsed", first.text
    again = await h.client.post(url, content=body, headers={"X-SignalBridge-Delivery": "x"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["signal_id"] == first.json()["signal_id"]
    # the secret elsewhere (a PineConnector command) does not open a 3Commas channel
    assert (await h.client.post(url, content=PINE)).status_code == 401
    assert await counts(h) == (1, 1)
    assert all(SECRET not in t for t in await texts(h))


async def test_a_repeat_after_the_window_is_new_again(harness: Harness) -> None:
    """The replay window (the channel's tolerance, 1 s here) bounds de-duplication, for
    each dialect's body."""
    h = harness
    bodies = {
        "pineconnector": PINE.encode(),
        "3commas": with_secret(THREE_COMMAS),
        "octobot": with_secret(SIGNAL),  # canonical JSON on an OctoBot channel
    }
    urls: dict[str, str] = {}
    for dialect, body in bodies.items():
        urls[dialect] = f"/webhooks/channels/{await channel(h, dialect, tolerance_seconds=1)}"
        first = await h.client.post(urls[dialect], content=body)
        assert first.status_code == 202, (dialect, first.text)
        second = await h.client.post(urls[dialect], content=body)
        assert second.status_code == 200 and second.json()["duplicate"], (dialect, second.text)
    assert await counts(h) == (3, 3)
    await asyncio.sleep(2.2)
    for dialect, body in bodies.items():
        third = await h.client.post(urls[dialect], content=body)
        assert third.status_code == 202 and not third.json()["duplicate"], (dialect, third.text)
    assert await counts(h) == (6, 6)


async def test_changing_the_dialect_moves_where_the_secret_is_read(harness: Harness) -> None:
    h = harness
    channel_id = await channel(h)
    url = f"/webhooks/channels/{channel_id}"
    assert (await h.client.post(url, content=PINE)).status_code == 401
    await h.ok("PATCH", f"/channels/{channel_id}", json={"dialect": "pineconnector"})
    assert (await h.client.post(url, content=PINE)).status_code == 202
    await h.ok("PATCH", f"/channels/{channel_id}", json={"dialect": "none"})
    other = PINE.replace("sl=58000", "sl=57000")
    assert (await h.client.post(url, content=other)).status_code == 401
    await h.ok(
        "PATCH", f"/channels/{channel_id}", json={"config": {"allowed_sources": ["tradingview"]}}
    )
    assert (await h.client.post(url, content=with_secret(SIGNAL))).status_code == 401
    assert h.container.webhook_channels.refusals.by_channel == {channel_id: 1}
    async with sender(h, TV_IP) as tv:
        assert (await tv.post(url, content=with_secret(SIGNAL))).status_code == 202
