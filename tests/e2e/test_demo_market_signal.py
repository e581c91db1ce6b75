"""The demo as a newcomer runs it: the market signal its banner prints, sent a few seconds
after start (the paper feed has ticked several times by then), becomes an open position
(issue 11, part 8: it used to be refused because the feed's price was off the tick)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from tests.platform_fixtures import eventually, make_settings, running_harness

from signalbridge.services.demo import sample_long, seed_demo
from signalbridge.store import models as m
from signalbridge.venues.paper.exchange import PaperExchange

SYMBOL = "BTC/USDT"


async def test_the_demos_market_signal_sent_3_s_after_start_becomes_a_position(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, paper_tick_seconds=0.5)
    async with running_harness(settings, scheduler=True) as h:
        c = h.container
        info = await seed_demo(c.sessions, c.vault, c.adapter_pool, c.queue)
        exchange = h.container.adapter_deps.shared["paper"]
        assert isinstance(exchange, PaperExchange)
        seen: list[Decimal] = []
        for _ in range(30):  # 3 s, watching the feed move the book
            seen.append(exchange.price(SYMBOL))
            await asyncio.sleep(0.1)
        assert len(set(seen)) >= 3, f"the feed ticked too rarely: {sorted(set(seen))}"
        assert all(price % Decimal("0.01") == 0 for price in seen)

        # The body of the demo's printed curl, as the banner shows it.
        body = json.dumps(sample_long(info.price), separators=(",", ":")).encode()
        response = await h.post_signal(info.channel_id, info.webhook_secret, body)
        assert response.status_code == 202, response.text
        signal_id = int(response.json()["signal_id"])

        async def position() -> m.Position | None:
            async with h.container.sessions() as s:
                return await s.scalar(select(m.Position).where(m.Position.signal_id == signal_id))

        async def opened() -> bool:
            found = await position()
            return found is not None and found.status == "open"

        await eventually(opened, timeout=30)
        async with h.container.sessions() as s:
            execution = await s.scalar(
                select(m.Execution).where(m.Execution.signal_id == signal_id)
            )
            assert execution is not None and execution.connection_id == info.connection_id
            entry = await s.scalar(
                select(m.Order).where(m.Order.execution_id == execution.id).order_by(m.Order.id)
            )
        assert entry is not None and entry.type == "market" and entry.status == "filled"
        assert entry.average_price is not None and entry.average_price % Decimal("0.01") == 0
        found = await position()
        assert found is not None and found.amount > 0 and found.entry_price == entry.average_price
