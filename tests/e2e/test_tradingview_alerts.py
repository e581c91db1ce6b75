"""TradingView alerts end to end through HTTP: from TradingView's address, a text/plain
alert (a PineConnector command) and a JSON one are answered 2xx well inside TradingView's
3 s, and the JSON alert becomes a paper position."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from sqlalchemy import func, select
from tests.platform_fixtures import Harness, eventually

from signalbridge.store import models as m

TV_IP = "34.212.75.30"
SECRET = "Lic0123456789abcdef"
#: TradingView gives up on a receiver after 3 s; the answer must come well before.
WELL_WITHIN = 1.0


async def tv_channel(h: Harness, dialect: str) -> int:
    payload: dict[str, Any] = {
        "name": f"tv-{dialect}",
        "type": "webhook",
        "dialect": dialect,
        "config": {"auth": "body_secret", "secret": SECRET, "allowed_sources": ["tradingview"]},
    }
    return int((await h.ok("POST", "/channels", json=payload))["id"])


async def test_tradingview_alerts_are_answered_fast_and_trade(harness: Harness) -> None:
    h = harness
    pine_id = await tv_channel(h, "pineconnector")
    json_id = await tv_channel(h, "none")
    await h.follow(json_id, await h.paper_connection())
    alert = {
        "secret": SECRET,
        "ticker": "BTCUSDT",
        "action": "buy",
        "stop_loss": "58000",
        "take_profit": "62000",
    }
    transport = httpx.ASGITransport(app=h.app, client=(TV_IP, 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://sb.test") as tv:
        answers = []
        for channel_id, content, kind in (
            (pine_id, f"{SECRET},buy,BTCUSDT,sl=58000,tp=62000", "text/plain; charset=utf-8"),
            (json_id, json.dumps(alert), "application/json"),
        ):
            started = time.perf_counter()
            response = await tv.post(
                f"/webhooks/channels/{channel_id}", content=content, headers={"Content-Type": kind}
            )
            elapsed = time.perf_counter() - started
            assert 200 <= response.status_code < 300, response.text
            assert elapsed < WELL_WITHIN, (kind, elapsed)
            answers.append(response.json())
    assert [a["status"] for a in answers] == ["parsed", "parsed"]
    # the same alert from anywhere else: refused like an unsigned one
    outsider = await h.client.post(f"/webhooks/channels/{json_id}", json=alert)
    assert outsider.status_code == 401

    async def has_position() -> bool:
        async with h.container.sessions() as s:
            query = select(func.count()).select_from(m.Position)
            query = query.where(m.Position.signal_id == answers[1]["signal_id"])
            return int(await s.scalar(query) or 0) == 1

    await eventually(has_position)
    signal = await h.ok("GET", f"/signals/{answers[1]['signal_id']}")
    assert signal["symbol"] == "BTC/USDT" and signal["side"] == "long"
    stored = await h.ok("GET", f"/messages/{answers[0]['message_id']}")
    assert SECRET not in stored["text"]
