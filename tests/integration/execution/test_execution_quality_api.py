"""Execution quality through a running platform on the paper venue (with 10 bps of
simulated slippage): the reference price each kind of order records (market and limit
entries, monitor exits at their level, stops and targets resting on the venue, a manual
close at the monitor's fresh mark), the slippage and latency figures and summaries the
API derives from them, hand-computed, and a member seeing only its own orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

D = Decimal
SYMBOL = "BTC/USDT"
SLIPPAGE = "0.001"  # the paper venue fills market orders 10 bps worse than its quote
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    tmp = tmp_path_factory.mktemp("quality")
    async with running_harness(make_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'q.db'}")) as h:
        yield h


def signal(side: str = "long", **fields: Any) -> dict[str, Any]:
    long = side == "long"
    return {
        "kind": "signal",
        "symbol": SYMBOL,
        "side": side,
        "order_type": "market",
        "stop_loss": "58000" if long else "62000",
        "take_profits": ["61000", "62000"] if long else ["59000", "58000"],
        **fields,
    }


class Account:
    """A webhook channel and a paper account (10 bps slippage, no spread) following it."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.monitor = PositionMonitor(
            h.container.sessions, h.container.adapter_pool, h.container.execution
        )

    async def setup(self, name: str, *, native: bool = False) -> Account:
        self.channel_id, self.secret = await self.h.webhook_channel(f"hook-{name}")
        self.connection_id = await self.h.paper_connection(
            f"paper-{name}", account_id=name, slippage=SLIPPAGE
        )
        await self.h.follow(
            self.channel_id, self.connection_id, management={"native_exits": native}
        )
        await (await self.h.container.adapter_pool.get(self.connection_id)).adapter.load_markets()
        await price_at(self.h, "60000")  # the paper exchange is there once an account is
        return self

    async def post(self, payload: dict[str, Any]) -> int:
        response = await self.h.post_signal(self.channel_id, self.secret, payload)
        assert response.status_code == 202, response.text
        return int(response.json()["signal_id"])

    async def orders(self, **where: Any) -> dict[str, m.Order]:
        async with self.h.container.sessions() as s:
            query = select(m.Order).where(m.Order.connection_id == self.connection_id)
            for key, value in where.items():
                query = query.where(getattr(m.Order, key) == value)
            return {o.leg: o for o in (await s.scalars(query.order_by(m.Order.id))).all()}

    async def position(self) -> m.Position | None:
        async with self.h.container.sessions() as s:
            return await s.scalar(
                select(m.Position).where(m.Position.connection_id == self.connection_id)
            )

    async def filled(self, leg: str = "e0") -> m.Order:
        async def done() -> bool:
            order = (await self.orders()).get(leg)
            return order is not None and order.status == m.OrderStatus.FILLED

        await eventually(done)
        return (await self.orders())[leg]

    async def tick(self, price: str) -> None:
        await price_at(self.h, price)
        report = await self.monitor.run_once()
        assert not report.errors, report.errors

    async def quality(self, path: str = "", **params: Any) -> dict[str, Any]:
        query = {"connection_id": self.connection_id, **params}
        response = await self.h.api("GET", f"/execution-quality{path}", params=query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def price_at(h: Harness, price: str) -> None:
    await h.container.adapter_deps.shared["paper"].on_price(SYMBOL, D(price))


def bps(side: str, reference: Decimal, average: Decimal) -> Decimal:
    """Hand-written: positive when the fill is worse for us."""
    worse = average - reference if side == "buy" else reference - average
    return worse / reference * 10_000


async def test_market_entry_and_monitor_exits_against_their_levels(harness: Harness) -> None:
    acct = await Account(harness).setup("market")
    await acct.post(signal())
    entry = await acct.filled()
    # the planner sized the market buy at the ask (no spread: 60000); it filled 10 bps up
    assert entry.reference_price == D(60000) and entry.average_price == D(60060)
    await acct.tick("61000")  # TP1 at market: its level is the reference
    await acct.tick("57900")  # beyond the stop: the rest at market, against the stop level
    orders = await acct.orders()
    assert set(orders) == {"e0", "t1", "sl"}
    t1, sl = orders["t1"], orders["sl"]
    assert (t1.reference_price, t1.average_price) == (D(61000), D(61000) * D("0.999"))
    assert (sl.reference_price, sl.average_price) == (D(58000), D(57900) * D("0.999"))

    figures = {o["leg"]: o for o in (await acct.quality("/orders"))["items"]}
    assert list(figures) == ["sl", "t1", "e0"]  # newest first
    assert D(figures["e0"]["slippage_bps"]) == D(figures["t1"]["slippage_bps"]) == D(10)
    expected_sl = bps("sell", D(58000), D("57842.1"))  # 27.224137...
    assert D(figures["sl"]["slippage_bps"]) == expected_sl.quantize(D("0.01"))
    assert D(figures["e0"]["slippage_cost"]) == D(60) * entry.filled
    assert figures["e0"]["cost_asset"] == "USDT" and figures["e0"]["role"] == "entry"
    assert figures["e0"]["latency_ms"]["signal_to_sent"] is not None
    assert figures["sl"]["latency_ms"]["signal_to_sent"] is None  # exits answer a price
    assert all(f["latency_ms"]["sent_to_filled"] is not None for f in figures.values())

    summary = await acct.quality(group="venue")
    [item] = summary["items"]
    assert item["venue"] == "paper" and item["orders"] == summary["orders"] == 3
    values = sorted([D(10), D(10), expected_sl])
    stats = item["slippage_bps"]
    assert stats["count"] == 3
    assert D(stats["mean"]) == (sum(values, D(0)) / 3).quantize(D("0.01"))
    assert D(stats["median"]) == D(10) and D(stats["min"]) == D(10)
    # p95 of three: 95 % of the way from rank 1 to 2 is rank 1.9
    assert D(stats["p95"]) == (D(10) + (expected_sl - 10) * D("0.9")).quantize(D("0.01"))
    assert D(stats["max"]) == expected_sl.quantize(D("0.01"))
    cost = D(60) * entry.filled + D(61) * t1.filled + D("157.9") * sl.filled
    assert D(item["slippage_cost"]["USDT"]) == cost
    latency = item["latency_ms"]
    assert latency["signal_to_sent"]["count"] == 1
    assert latency["sent_to_acked"]["count"] == latency["sent_to_filled"]["count"] == 3
    for figures_ in latency.values():
        assert D(figures_["min"]) <= D(figures_["median"]) <= D(figures_["p95"])
        assert D(figures_["p95"]) <= D(figures_["max"]) and D(figures_["min"]) >= 0

    by_channel = await acct.quality(group="channel")
    assert [i["channel"] for i in by_channel["items"]] == [acct.channel_id]
    assert by_channel["items"][0]["name"] == "hook-market"
    exits = await acct.quality(group="venue", role="exit")
    assert exits["orders"] == 2 and exits["items"][0]["slippage_bps"]["count"] == 2
    later = await acct.quality(since=(utcnow() + timedelta(minutes=1)).isoformat())
    assert later["orders"] == 0 and later["items"] == []


async def test_limit_entry_and_resting_protection_record_their_levels(harness: Harness) -> None:
    acct = await Account(harness).setup("resting", native=True)
    await acct.post(signal(order_type="limit", entry={"low": "59000", "high": "59200"}))

    async def resting() -> bool:
        return "e0" in await acct.orders(status=m.OrderStatus.OPEN)

    await eventually(resting)
    assert (await acct.orders())["e0"].reference_price == D(59200)  # the signal's level
    await acct.tick("59100")  # the limit fills at its price: no worse than the signal
    await harness.container.execution.reconcile((await acct.orders())["e0"].id)  # order sync
    entry = await acct.filled()
    await acct.tick("59150")  # the monitor rests the stop and TP1 on the venue
    orders = await acct.orders()
    assert {"s1", "t1g1"} <= set(orders)
    assert orders["s1"].reference_price == orders["s1"].stop_price == D(58000)
    assert orders["t1g1"].reference_price == orders["t1g1"].stop_price == D(61000)
    figures = {o["leg"]: o for o in (await acct.quality("/orders"))["items"]}
    assert entry.average_price is not None
    expected = bps("buy", D(59200), entry.average_price).quantize(D("0.01"))
    assert D(figures["e0"]["slippage_bps"]) == expected
    assert D(figures["e0"]["slippage_bps"]) <= 0
    assert figures["s1"]["slippage_bps"] is None  # resting, nothing filled yet
    assert figures["s1"]["reference_price"] == "58000"


async def test_manual_close_is_measured_against_a_fresh_mark_only(harness: Harness) -> None:
    acct = await Account(harness).setup("manual")
    await acct.post(signal())
    await acct.filled()
    position = await acct.position()
    assert position is not None

    async def mark(price: str, age: timedelta) -> None:
        async with harness.container.sessions() as s, s.begin():
            row = await s.get(m.MarkPrice, (acct.connection_id, SYMBOL))
            if row is None:
                row = m.MarkPrice(connection_id=acct.connection_id, symbol=SYMBOL, price=D(0))
                s.add(row)
            row.price, row.at = D(price), utcnow() - age

    await mark("60100", timedelta(minutes=5))  # stale: no reference
    half = await harness.api("POST", f"/positions/{position.id}/close", json={"share": "0.5"})
    assert half.status_code == 200, half.text
    await mark("60100", timedelta(seconds=1))
    rest = await harness.api("POST", f"/positions/{position.id}/close")
    assert rest.status_code == 200, rest.text
    exits = [o for leg, o in (await acct.orders()).items() if leg.startswith("m")]
    assert [o.reference_price for o in exits] == [None, D(60100)]
    figures = {o["leg"]: o for o in (await acct.quality("/orders"))["items"]}
    assert figures[exits[0].leg]["slippage_bps"] is None
    # sold at 60000 × 0.999 against the mark 60100
    expected = bps("sell", D(60100), D("59940")).quantize(D("0.01"))
    assert D(figures[exits[1].leg]["slippage_bps"]) == expected


async def test_a_member_sees_only_its_own_orders(harness: Harness) -> None:
    h = harness
    own = await Account(h).setup("admins")
    async with h.container.sessions() as s, s.begin():
        member = await create_user(s, "quality-member@example.com", "a member password", "member")
        _, token = await create_token(s, member, "q", [x for x in SCOPES if x != "admin"])
    auth = {"Authorization": f"Bearer {token}"}
    made = await h.client.post(
        "/api/v1/connections",
        headers=auth,
        json={
            "name": "member paper",
            "type": "paper",
            "config": {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": "mq"},
        },
    )
    assert made.status_code == 201, made.text
    theirs = int(made.json()["id"])
    await h.follow(own.channel_id, theirs)  # the admin joins it to the channel
    await own.post(signal())
    await own.filled()

    async def both_sent() -> bool:
        async with h.container.sessions() as s:
            found = await s.scalar(
                select(m.Order.id).where(
                    m.Order.connection_id == theirs, m.Order.sent_at.is_not(None)
                )
            )
            return found is not None

    await eventually(both_sent)
    member_orders = await h.client.get("/api/v1/execution-quality/orders", headers=auth)
    assert member_orders.status_code == 200
    assert {o["connection_id"] for o in member_orders.json()["items"]} == {theirs}
    summary = (await h.client.get("/api/v1/execution-quality", headers=auth)).json()
    assert summary["orders"] == len(member_orders.json()["items"]) >= 1
    by_channel = await h.client.get(
        "/api/v1/execution-quality", headers=auth, params={"group": "channel"}
    )
    assert [i["channel"] for i in by_channel.json()["items"]] == [own.channel_id]
    # the admin's own connection named as a filter: nothing, never someone else's rows
    filtered = await h.client.get(
        "/api/v1/execution-quality/orders",
        headers=auth,
        params={"connection_id": own.connection_id},
    )
    assert filtered.status_code == 200 and filtered.json()["items"] == []
    everyone = (await h.api("GET", "/execution-quality/orders", params={"limit": 1000})).json()
    assert {own.connection_id, theirs} <= {o["connection_id"] for o in everyone["items"]}


@pytest.mark.parametrize(
    ("since", "ok"),
    [
        ("0001-01-01T00:00:00", True),
        ("9999-12-31T23:59:59+00:00", True),
        ("2026-01-01T00:00:00-14:00", True),
        ("0001-01-01T00:00:00+14:00", False),
        ("yesterday", False),
        ("", False),
    ],
)
async def test_since_is_parsed_or_refused_never_a_server_error(
    harness: Harness, since: str, ok: bool
) -> None:
    for path in ("/execution-quality", "/execution-quality/orders"):
        response = await harness.api("GET", path, params={"since": since})
        assert response.status_code == (200 if ok else 422), (path, since, response.text)
    bad_group = await harness.api("GET", "/execution-quality", params={"group": "user"})
    assert bad_group.status_code == 422
