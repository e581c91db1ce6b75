"""A channel's track record through the running platform (issue 19, part 3), on SQLite and
PostgreSQL: an admin switches on the channel's reference paper account, which follows
every signal with fixed risk (100 USDT at the stop) — a target reached, a stop taken, a
signal approved from the review desk an hour after it was posted, one without a stop
(not sized by risk: skipped) — and the track record reports what happened, hand-checked:
win rate, R, the PnL curve and the drawdown, slippage and latency, every signal as
posted and as executed, the chart's markers and prices. Readers are those of the
channel, or anyone with a token once the record is public; a member never sees the
reference account's rows as its own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from tests.platform_fixtures import Harness, eventually

from signalbridge.domain.signals import parsed_from_dict
from signalbridge.execution.monitor import PositionMonitor
from signalbridge.services import track_record as records
from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.services.ingest import Interpretation, ingest
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.app import create_app
from signalbridge.web.routes import track_record as track_record_routes

D = Decimal
BTC, ETH = "BTC/USDT", "ETH/USDT"
FEE = D("0.0005")  # the paper venue's default taker fee
Row = TypeVar("Row", m.Execution, m.Position)


def api_app(h: Harness) -> FastAPI:
    """The platform's app; the track record routes included if it does not serve them yet."""
    app = create_app(h.container)
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/api/v1/channels/{channel_id}/track-record" not in paths:
        app.include_router(track_record_routes.router, prefix="/api/v1")
    return app


class Record:
    """A webhook channel with its reference account, the paper venue's prices and a
    position monitor, spoken to through the API as the admin or as a member."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api_app(h), raise_app_exceptions=False),
            base_url="http://sb.test",
        )
        self.monitor = PositionMonitor(
            h.container.sessions, h.container.adapter_pool, h.container.execution
        )
        self.channel_id = 0
        self.secret = ""
        self.connection_id = 0

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.h.admin_token}"}
        return await self.client.request(method, "/api/v1" + path, headers=headers, **kw)

    async def ok(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        response = await self.call(method, path, token, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    async def tick(self, symbol: str, price: str) -> None:
        await self.h.container.adapter_deps.shared["paper"].on_price(symbol, D(price))
        report = await self.monitor.run_once()
        assert not report.errors, report.errors

    async def post(self, payload: dict[str, Any]) -> int:
        response = await self.h.post_signal(self.channel_id, self.secret, payload)
        assert response.status_code == 202, response.text
        return int(response.json()["signal_id"])

    async def execution(self, signal_id: int) -> m.Execution:
        async def done() -> bool:
            found = await self.row(m.Execution, signal_id)
            return found is not None and found.status not in m.ExecutionStatus.NOT_STARTED

        await eventually(done)
        found = await self.row(m.Execution, signal_id)
        assert found is not None
        return found

    async def position(self, signal_id: int) -> m.Position:
        async def opened() -> bool:
            return await self.row(m.Position, signal_id) is not None

        await eventually(opened)
        found = await self.row(m.Position, signal_id)
        assert found is not None
        return found

    async def row(self, model: type[Row], signal_id: int) -> Row | None:
        async with self.h.container.sessions() as s:
            found: Row | None = await s.scalar(
                select(model).where(
                    model.signal_id == signal_id, model.connection_id == self.connection_id
                )
            )
            return found

    async def member(self, email: str) -> str:
        async with self.h.container.sessions() as s, s.begin():
            user = await create_user(s, email, "a member password", m.Role.MEMBER)
            _, token = await create_token(s, user, "t", [x for x in SCOPES if x != "admin"])
        return token


def market(symbol: str, side: str, stop: str | None, target: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "signal",
        "symbol": symbol,
        "side": side,
        "order_type": "market",
        "take_profits": [target],
    }
    if stop is not None:
        body["stop_loss"] = stop
    return body


async def test_the_reference_account_keeps_the_channels_record(harness: Harness) -> None:
    h = harness
    rec = Record(h)
    # a member's paper account exists first: the reference shares its feed and listing
    await h.paper_connection("member paper", account_id="tr-member")
    rec.channel_id, rec.secret = await h.webhook_channel("tracked")

    on = await rec.ok("POST", f"/channels/{rec.channel_id}/track-record/enable")
    assert on["enabled"] is True and on["account"]["starting_balance"] == "10000"
    rec.connection_id = on["account"]["connection_id"]
    again = await rec.ok("POST", f"/channels/{rec.channel_id}/track-record/enable")
    assert again["account"] == on["account"]  # one account per channel
    async with h.container.sessions() as s:
        connection = await s.get_one(m.ExecutionConnection, rec.connection_id)
        owner = await s.get_one(m.User, connection.owner_id)
        follow = await s.get_one(m.Follow, on["account"]["follow_id"])
        member_feed = await s.scalar(
            select(m.ExecutionConnection.config).where(m.ExecutionConnection.name == "member paper")
        )
    assert (owner.email, owner.role, owner.is_active) == (records.REFERENCE_EMAIL, "member", False)
    assert connection.type == "paper" and connection.config["futures"] is True
    assert member_feed is not None and connection.config["feed"] == member_feed["feed"]
    assert follow.sizing["mode"] == "risk_percent" and follow.channel_id == rec.channel_id
    live = await h.container.adapter_pool.get(rec.connection_id)
    await live.adapter.load_markets()  # the paper exchange exists once an account is used
    await rec.tick(BTC, "60000")
    await rec.tick(ETH, "3000")

    # A: long BTC at 60,000, stop 58,000 → 100 / 2,000 = 0.05 BTC; the target is reached
    a = await rec.post(market(BTC, "long", "58000", "61000"))
    pos_a = await rec.position(a)
    assert (pos_a.amount, pos_a.entry_price) == (D("0.05"), D(60000))
    await rec.tick(BTC, "60500")  # the stop and the target rest on the venue
    await rec.tick(BTC, "61000")  # the target fills
    pos_a = await rec.position(a)
    assert pos_a.status == "closed"
    pnl_a = D("0.05") * 1000 - D("0.05") * (60000 + 61000) * FEE  # 50 − 3.025 = 46.975
    assert pos_a.realized_pnl == pnl_a == D("46.975")

    # B: short ETH at 3,000, stop 3,100 → 1 ETH; the stop is taken
    b = await rec.post(market(ETH, "short", "3100", "2800"))
    pos_b = await rec.position(b)
    assert (pos_b.amount, pos_b.entry_price) == (D(1), D(3000))
    await rec.tick(ETH, "3050")
    await rec.tick(ETH, "3100")
    pos_b = await rec.position(b)
    pnl_b = -D(100) - (3000 + 3100) * FEE  # −100 − 3.05
    assert pos_b.status == "closed" and pos_b.realized_pnl == pnl_b == D("-103.05")

    # C: posted an hour ago, read unsure (review), approved now: the reference still
    # takes it (its age limit is the planner's longest); long BTC, stop 59,000 → 0.1 BTC
    await rec.tick(BTC, "60000")
    contract = market(BTC, "long", "59000", "61500")
    async with h.container.sessions() as s, s.begin():
        result = await ingest(
            s,
            channel=await s.get_one(m.ChannelSource, rec.channel_id),
            external_id="unsure-1",
            text="BTC long now, stop 59000, target 61500 (maybe)",
            content_type="text/plain",
            received_at=utcnow() - timedelta(hours=1),
            interpretation=Interpretation(parsed_from_dict(contract), D("0.5")),
        )
    c = result.signal_id
    assert c is not None and result.status == "review"
    approved = await rec.call("POST", f"/review/signals/{c}/approve")
    assert approved.status_code == 200, approved.text
    pos_c = await rec.position(c)
    assert (pos_c.amount, pos_c.entry_price, pos_c.status) == (D("0.1"), D(60000), "open")
    await rec.tick(BTC, "60200")  # marked: 0.1 × 200 open profit

    # D: no stop, so nothing to size the risk by: skipped, with the reason
    d = await rec.post(market("SOL/USDT", "long", None, "160"))
    skipped = await rec.execution(d)
    assert skipped.status == "skipped" and "stop" in (skipped.reason or "")
    # E: still in review
    async with h.container.sessions() as s, s.begin():
        pending = await ingest(
            s,
            channel=await s.get_one(m.ChannelSource, rec.channel_id),
            external_id="unsure-2",
            text="ETH maybe",
            content_type="text/plain",
            received_at=utcnow(),
            interpretation=Interpretation(
                parsed_from_dict(market(ETH, "long", "2900", "3100")), D("0.5")
            ),
        )
    e = pending.signal_id

    body = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record")
    stats = body["stats"]
    assert body["asset"] == "USDT" and body["open_positions"] == 1
    assert (stats["count"], stats["wins"], stats["losses"], stats["breakeven"]) == (2, 1, 1, 0)
    assert D(stats["win_rate"]) == D("0.5")
    # R: 46.975 / (2,000 × 0.05) = 0.46975 and −103.05 / (100 × 1) = −1.0305
    assert (stats["r_trades"], stats["without_stop"]) == (2, 0)
    assert D(stats["average_r"]) == ((D("0.46975") - D("1.0305")) / 2).quantize(D("0.0001"))
    assert D(stats["total_pnl"]) == D("-56.075")
    assert [D(p["pnl"]) for p in body["curve"]] == [D("46.975"), D("-56.075")]
    # equity 10,046.975 at its peak, then 9,943.925: a fall of 103.05
    drawdown = stats["drawdown"]
    assert D(drawdown["amount"]) == D("103.05") and D(drawdown["peak"]) == D("10046.975")
    percent = (D("103.05") * 100 / D("10046.975")).quantize(D("0.0001"))
    assert D(drawdown["percent"]) == percent == D("1.0257")
    # no simulated slippage: fills at the prices the orders were sized at
    assert stats["slippage_bps"]["count"] == 2 and D(stats["slippage_bps"]["mean"]) == 0
    assert stats["latency_ms"]["count"] == 2 and D(stats["latency_ms"]["median"]) >= 0

    rows = {row["posted"]["signal_id"]: row for row in body["signals"]}
    assert [row["posted"]["signal_id"] for row in body["signals"]] == [e, d, c, b, a]
    assert [rows[x]["status"] for x in (e, d, c, b, a)] == [
        "review", "skipped", "open", "closed", "closed"]  # fmt: skip
    row_a = rows[a]["executed"]
    assert (row_a["entry_price"], row_a["exit_price"], row_a["amount"]) == (
        "60000",
        "61000",
        "0.05",
    )
    assert (row_a["stop_at_open"], row_a["close_reason"]) == ("58000", "exit")
    assert D(row_a["r_multiple"]) == D("0.4698") and D(row_a["slippage_bps"]) == 0
    assert D(row_a["realised_pnl"]) == D("46.975") and row_a["latency_ms"] is not None
    assert rows[a]["posted"]["stop_loss"] == "58000" and rows[a]["posted"]["confidence"] == "1"
    row_b = rows[b]["executed"]
    assert (row_b["exit_price"], D(row_b["r_multiple"])) == ("3100", D("-1.0305"))
    row_c = rows[c]
    assert row_c["posted"]["text"].startswith("BTC long now")
    assert D(row_c["posted"]["confidence"]) == D("0.5")
    assert row_c["executed"]["r_multiple"] is None and D(row_c["executed"]["unrealised_pnl"]) == 20
    assert rows[d]["executed"]["reason"] == skipped.reason and rows[e]["executed"] is None
    page = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record?limit=2&before_id={c}")
    assert [row["posted"]["signal_id"] for row in page["signals"]] == [b, a]
    assert page["stats"] == stats  # the statistics cover every trade, whatever the page

    chart = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record/chart?symbol={BTC}")
    assert chart["symbols"] == sorted([BTC, ETH, "SOL/USDT"])
    kinds = [(x["kind"], x["signal_id"], x["price"]) for x in chart["markers"]]
    assert ("signal", a, None) in kinds and ("entry", a, "60000") in kinds
    assert ("exit", a, "61000") in kinds and ("entry", c, "60000") in kinds
    assert {p["source"] for p in chart["prices"]} == {"fill", "mark"}
    assert chart["candles"], "the paper venue's bars of the prices it applied"
    newest = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record/chart")
    assert newest["symbol"] == ETH  # the newest signal's (E, in review)

    # a member who may not read the channel: 404 as for a missing one, until it is public
    token = await rec.member("outsider@example.com")
    hidden = await rec.call("GET", f"/channels/{rec.channel_id}/track-record", token)
    missing = await rec.call("GET", "/channels/999999/track-record", token)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace(str(rec.channel_id), "?") == missing.json()[
        "error"
    ]["message"].replace("999999", "?")
    refused = await rec.call("POST", f"/channels/{rec.channel_id}/track-record/enable", token)
    assert refused.status_code == 403
    made_public = await rec.call(
        "PATCH", f"/channels/{rec.channel_id}", json={"track_record_public": True}
    )
    assert made_public.status_code == 200 and made_public.json()["track_record_public"] is True
    shown = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record", token)
    assert shown["stats"] == stats and shown["channel"]["public"] is True
    # ... and the reference account's rows are never the member's own
    for path in ("/positions", "/executions", "/connections"):
        assert (await rec.ok("GET", path, token))["items"] == []
    assert (await rec.ok("GET", "/pnl", token))["totals"] == []

    # switched off: no new signal is taken, the record stays
    off = await rec.ok("POST", f"/channels/{rec.channel_id}/track-record/disable")
    assert off["enabled"] is False
    f = await rec.post(market(ETH, "long", "2900", "3100"))

    async def dispatched() -> bool:
        async with h.container.sessions() as s:
            return (await s.get_one(m.Signal, f)).status == "dispatched"

    await eventually(dispatched)
    later = await rec.ok("GET", f"/channels/{rec.channel_id}/track-record")
    assert later["signals"][0]["status"] == "not_followed" and later["stats"] == stats
    await rec.client.aclose()


async def test_enabling_is_idempotent_and_refuses_a_missing_channel(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("twice")
    async with h.container.sessions() as s, s.begin():
        first = await records.ensure_track_record_account(s, channel_id)
        second = await records.ensure_track_record_account(s, channel_id)
        swept = await records.ensure_track_record_accounts(s)
    assert first == second and swept == []
    other, _ = await h.webhook_channel("second")
    async with h.container.sessions() as s, s.begin():
        accounts = (await s.scalars(select(m.TrackRecordAccount))).all()
        users = (
            await s.scalars(select(m.User).where(m.User.email == records.REFERENCE_EMAIL))
        ).all()
        made = await records.ensure_track_record_accounts(s)
    assert len(accounts) == 1 and len(users) == 1
    assert made == [other]
    async with h.container.sessions() as s:
        try:
            await records.ensure_track_record_account(s, 999_999)
        except LookupError as exc:
            assert "999999 not found" in str(exc)
        else:
            raise AssertionError("a missing channel got a track record")
    rec = Record(h)
    missing = await rec.call("POST", "/channels/999999/track-record/enable")
    assert missing.status_code == 404
    await rec.client.aclose()


async def test_a_real_user_holding_the_system_email_gets_no_account(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel("taken")
    async with h.container.sessions() as s, s.begin():
        await create_user(s, records.REFERENCE_EMAIL, "somebody's password", m.Role.MEMBER)
    rec = Record(h)
    refused = await rec.call("POST", f"/channels/{channel_id}/track-record/enable")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "reference_user_taken"
    async with h.container.sessions() as s:
        assert (await s.scalars(select(m.TrackRecordAccount))).all() == []
        assert (await s.scalars(select(m.ExecutionConnection))).all() == []
    await rec.client.aclose()


async def test_a_plan_channel_is_followed_by_its_reference_account(harness: Harness) -> None:
    h = harness
    rec = Record(h)
    rec.channel_id, rec.secret = await h.webhook_channel("sold", visibility="plan")
    on = await rec.ok("POST", f"/channels/{rec.channel_id}/track-record/enable")
    rec.connection_id = on["account"]["connection_id"]
    live = await h.container.adapter_pool.get(rec.connection_id)
    await live.adapter.load_markets()
    await rec.tick(BTC, "60000")
    signal_id = await rec.post(market(BTC, "long", "58000", "61000"))
    execution = await rec.execution(signal_id)
    await rec.client.aclose()
    assert execution.status != "skipped", execution.reason
