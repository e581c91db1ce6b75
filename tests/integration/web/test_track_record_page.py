"""A channel's track record page over HTTP (issue 19, part 3), on SQLite and PostgreSQL.

The reference paper account trades two signals (a target reached, a stop taken) as in
tests/integration/execution/test_track_record_account.py; the page shows the service's
figures, the signals as posted and executed, and carries the chart's data (curve, bars,
markers) as JSON. A public record is open to anyone; a private one answers like a missing
channel to whoever may not read the channel; admins start the record from the page.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tests.console_rig import PageClient, logged_in
from tests.platform_fixtures import Harness, eventually

from signalbridge.domain.market import Candle
from signalbridge.domain.signals import parsed_from_dict
from signalbridge.execution.monitor import PositionMonitor
from signalbridge.services import track_record as records
from signalbridge.services.ingest import Interpretation, ingest
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.console.pages_track import PriceChart, pick_timeframe

D = Decimal
BTC, ETH = "BTC/USDT", "ETH/USDT"
RAW = "<b>ETH</b> long maybe, stop 2900 & target 3100"
_DATA = re.compile(r'<script type="application/json" id="track-data">(.*?)</script>', re.S)


def figure(html: str, name: str) -> str:
    """The text of the figure ``stat-<name>`` on the page."""
    found = re.search(rf'id="stat-{name}"[^>]*>([^<]*)<', html)
    assert found, f"no figure {name}"
    return found.group(1).strip()


def main(html: str) -> str:
    """The page's <main> landmark, what differs between two pages."""
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def number(text: str) -> Decimal:
    """The number a figure starts with ("50 %", "-56.075 USDT")."""
    return D(text.split()[0])


def data_of(html: str) -> dict[str, Any]:
    found = _DATA.search(html)
    assert found, "the page carries no chart data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def increasing(points: list[dict[str, Any]]) -> bool:
    times = [p["time"] for p in points]
    return all(isinstance(t, int) for t in times) and times == sorted(set(times))


def market(symbol: str, side: str, stop: str, target: str) -> dict[str, Any]:
    return {
        "kind": "signal",
        "symbol": symbol,
        "side": side,
        "order_type": "market",
        "stop_loss": stop,
        "take_profits": [target],
    }


class Reference:
    """A webhook channel whose reference account trades on the shared paper venue."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.monitor = PositionMonitor(
            h.container.sessions, h.container.adapter_pool, h.container.execution
        )
        self.channel_id = 0
        self.secret = ""
        self.connection_id = 0

    async def start(self, name: str) -> None:
        await self.h.paper_connection("member paper", account_id="tr-page-member")
        self.channel_id, self.secret = await self.h.webhook_channel(name)
        on = await self.h.ok("POST", f"/channels/{self.channel_id}/track-record/enable")
        self.connection_id = on["account"]["connection_id"]
        live = await self.h.container.adapter_pool.get(self.connection_id)
        await live.adapter.load_markets()

    async def tick(self, symbol: str, price: str) -> None:
        await self.h.container.adapter_deps.shared["paper"].on_price(symbol, D(price))
        report = await self.monitor.run_once()
        assert not report.errors, report.errors

    async def post(self, payload: dict[str, Any]) -> int:
        response = await self.h.post_signal(self.channel_id, self.secret, payload)
        assert response.status_code == 202, response.text
        return int(response.json()["signal_id"])

    async def position(self, signal_id: int, status: str | None = None) -> m.Position:
        async def found() -> bool:
            row = await self.row(signal_id)
            return row is not None and (status is None or row.status == status)

        await eventually(found)
        row = await self.row(signal_id)
        assert row is not None
        return row

    async def row(self, signal_id: int) -> m.Position | None:
        async with self.h.container.sessions() as s:
            row: m.Position | None = await s.scalar(
                select(m.Position).where(
                    m.Position.signal_id == signal_id,
                    m.Position.connection_id == self.connection_id,
                )
            )
            return row

    async def pending(self, text: str) -> int:
        """A signal read unsure: it waits in the review desk."""
        async with self.h.container.sessions() as s, s.begin():
            result = await ingest(
                s,
                channel=await s.get_one(m.ChannelSource, self.channel_id),
                external_id="unsure-page",
                text=text,
                content_type="text/plain",
                received_at=utcnow(),
                interpretation=Interpretation(
                    parsed_from_dict(market(ETH, "long", "2900", "3100")), D("0.5")
                ),
            )
        assert result.signal_id is not None
        return result.signal_id


async def test_a_public_record_shows_the_services_figures_to_anyone(harness: Harness) -> None:
    h = harness
    ref = Reference(h)
    await ref.start("tracked")
    await ref.tick(BTC, "60000")
    await ref.tick(ETH, "3000")
    # A: long BTC, 0.05 at 60,000, the target at 61,000 reached: +46.975
    a = await ref.post(market(BTC, "long", "58000", "61000"))
    await ref.position(a)
    await ref.tick(BTC, "60500")
    await ref.tick(BTC, "61000")
    await ref.position(a, "closed")
    # B: short ETH, 1 at 3,000, the stop at 3,100 taken: −103.05
    b = await ref.post(market(ETH, "short", "3100", "2800"))
    await ref.position(b)
    await ref.tick(ETH, "3050")
    await ref.tick(ETH, "3100")
    await ref.position(b, "closed")
    e = await ref.pending(RAW)
    await h.ok("PATCH", f"/channels/{ref.channel_id}", json={"track_record_public": True})

    anon = PageClient(h)
    page = await anon.get(f"/track/{ref.channel_id}")
    assert page.status_code == 200, page.text
    html = page.text
    async with h.container.sessions() as s:
        record = await records.track_record(s, ref.channel_id)
        connection = await s.get_one(m.ExecutionConnection, ref.connection_id)
    stats = record.stats
    assert stats.win_rate is not None and stats.average_r is not None
    # the figures are the service's, rounded as the API rounds them
    assert number(figure(html, "trades")) == stats.count == 2
    assert number(figure(html, "win-rate")) == stats.win_rate.quantize(D("0.0001")) * 100 == 50
    assert number(figure(html, "average-r")) == stats.average_r.quantize(D("0.0001"))
    assert number(figure(html, "total-pnl")) == stats.total_pnl == D("-56.075")
    assert figure(html, "total-pnl").endswith("USDT")
    assert number(figure(html, "drawdown")) == stats.drawdown.amount == D("103.05")
    percent = stats.drawdown.percent.quantize(D("0.0001"))
    assert number(figure(html, "drawdown-percent")) == percent == D("1.0257")
    assert stats.slippage_bps is not None and stats.latency_ms is not None
    assert number(figure(html, "slippage-mean")) == stats.slippage_bps.mean.quantize(D("0.01"))
    slippage_median = stats.slippage_bps.median.quantize(D("0.01"))
    assert number(figure(html, "slippage-median")) == slippage_median
    latency = stats.latency_ms.median.quantize(D("0.001"))
    assert number(figure(html, "latency-median")) == latency
    assert figure(html, "outcomes") == "1, 1, 0"

    # every signal as posted and as executed, newest first; the raw text escaped
    assert [int(x) for x in re.findall(r'<tr id="signal-(\d+)"', html)] == [e, b, a]
    row_a = html.split(f'<tr id="signal-{a}"', 1)[1].split("</tr>", 1)[0]
    assert "0.05 at 60000" in row_a and "61000" in row_a and "46.975" in row_a
    assert "0.4698" in row_a and "closed" in row_a and "58000" in row_a
    row_e = html.split(f'<tr id="signal-{e}"', 1)[1].split("</tr>", 1)[0]
    assert "&lt;b&gt;ETH&lt;/b&gt; long maybe" in row_e and "<b>ETH</b>" not in html
    assert "<details>" in row_e and "review" in row_e and "0.5" in row_e

    # the charts' data: the curve (one point a second: the trades here close within one,
    # the table lists each close), the newest signal's symbol, its markers
    data = data_of(html)
    assert data["asset"] == "USDT" and increasing(data["curve"])
    assert D(data["curve"][-1]["value"]) == D("-56.075")
    curve_table = html.split('aria-label="Cumulative realised PnL at each close"', 1)[1]
    values = re.findall(r'<td class="num">([^<]+)</td>', curve_table.split("</table>", 1)[0])
    assert [D(v) for v in values] == [p.pnl for p in record.curve] == [D("46.975"), D("-56.075")]
    assert data["price"]["symbol"] == ETH  # E's, the newest signal
    btc = data_of((await anon.get(f"/track/{ref.channel_id}?symbol={BTC}")).text)["price"]
    assert btc["symbol"] == BTC and btc["kind"] == "candles" and btc["timeframe"]
    assert increasing(btc["series"]) and btc["series"]
    kinds = {(x["kind"], x["side"], x["signal_id"]) for x in btc["markers"]}
    assert {("signal", "buy", a), ("entry", "buy", a), ("exit", "sell", a)} <= kinds
    times = [x["time"] for x in btc["markers"]]
    assert times == sorted(times) and times[0] >= btc["series"][0]["time"]
    assert all(isinstance(x["price"], str) or x["price"] is None for x in btc["markers"])
    unknown = data_of((await anon.get(f"/track/{ref.channel_id}?symbol=XRP/USDT")).text)
    assert unknown["price"]["symbol"] == ETH  # only a symbol the channel signalled

    # older signals by before_id
    first = await anon.get(f"/track/{ref.channel_id}?limit=2")
    assert [int(x) for x in re.findall(r'<tr id="signal-(\d+)"', first.text)] == [e, b]
    older = re.search(r'<a href="([^"]+)" rel="next">Older signals</a>', first.text)
    assert older and f"before_id={b}" in older.group(1) and "limit=2" in older.group(1)
    second = await anon.get(older.group(1).replace("&amp;", "&"))
    assert [int(x) for x in re.findall(r'<tr id="signal-(\d+)"', second.text)] == [a]
    assert "Older signals" not in second.text and "Newest signals" in second.text

    # no secret of the reference connection or the channel, to anyone; no switch for them
    admin = await logged_in(h, "boss@example.com", "admin")
    as_admin = (await admin.get(f"/track/{ref.channel_id}")).text
    for text in (html, as_admin):
        assert str(connection.config["account_id"]) not in text
        assert ref.secret not in text
    assert "/disable" in as_admin and "/disable" not in html and "/enable" not in html
    await anon.aclose()
    await admin.aclose()


async def test_a_private_record_answers_like_a_missing_channel(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel("private one")  # private by default
    anon = PageClient(h)
    hidden = await anon.get(f"/track/{channel_id}")
    missing = await anon.get("/track/999999")
    assert hidden.status_code == missing.status_code == 404
    assert main(hidden.text).replace(f"channel {channel_id} ", "channel ? ") == main(
        missing.text
    ).replace("channel 999999 ", "channel ? ")
    assert "private one" not in hidden.text
    assert (await anon.get("/track/not-a-number")).status_code == 404
    member = await logged_in(h, "member@example.com", "member")
    refused = await member.get(f"/track/{channel_id}")
    assert refused.status_code == 404 and "private one" not in refused.text
    assert (await member.post(f"/track/{channel_id}/enable")).status_code == 403

    operator = await logged_in(h, "op@example.com", "operator")
    seen = await operator.get(f"/track/{channel_id}")
    assert seen.status_code == 200 and 'id="no-account"' in seen.text
    assert "Start the track record" not in seen.text  # the switch is the admins'
    assert 'id="track-data"' in seen.text and data_of(seen.text)["curve"] == []

    admin = await logged_in(h, "boss@example.com", "admin")
    page = await admin.get(f"/track/{channel_id}")
    assert page.status_code == 200 and "Start the track record" in page.text
    assert secret not in page.text
    stale = await admin.http.post(f"/track/{channel_id}/enable", data={"csrf_token": "x" * 43})
    assert stale.status_code == 403
    started = await admin.post(f"/track/{channel_id}/enable")
    assert started.status_code == 303 and started.headers["location"] == f"/track/{channel_id}"
    async with h.container.sessions() as s:
        account = await records.reference_account(s, channel_id)
    assert account is not None and account.enabled
    after = await admin.get(f"/track/{channel_id}")
    assert 'id="no-account"' not in after.text and "Stop the track record" in after.text
    stopped = await admin.post(f"/track/{channel_id}/disable")
    assert stopped.status_code == 303
    async with h.container.sessions() as s:
        account = await records.reference_account(s, channel_id)
    assert account is not None and not account.enabled
    assert "Resume the track record" in (await admin.get(f"/track/{channel_id}")).text

    # made public: anyone reads it, the member too; the switch stays the admins'
    await h.ok("PATCH", f"/channels/{channel_id}", json={"track_record_public": True})
    assert (await anon.get(f"/track/{channel_id}")).status_code == 200
    opened = await member.get(f"/track/{channel_id}")
    assert opened.status_code == 200 and "private one" in opened.text
    assert "Resume the track record" not in opened.text
    for client in (anon, member, operator, admin):
        await client.aclose()


def test_the_price_chart_falls_back_to_the_recorded_prices() -> None:
    """Without bars the line of recorded prices is drawn (one point a second, the last
    standing); on bars a marker sits on its bar and one before the first bar is counted."""
    t0 = utcnow().replace(microsecond=0)
    marks = (
        records.PriceMarker(BTC, "signal", t0 - timedelta(hours=2), None, "buy", 1),
        records.PriceMarker(BTC, "entry", t0, D("60000"), "buy", 1, "e1", D("0.05")),
        records.PriceMarker(BTC, "exit", t0 + timedelta(seconds=90), D("61000"), "sell", 1),
    )
    prices = (
        records.PricePoint(t0, D("60000"), "fill"),
        records.PricePoint(t0 + timedelta(milliseconds=400), D("60010"), "mark"),
        records.PricePoint(t0 + timedelta(seconds=90), D("61000"), "fill"),
    )
    line = PriceChart(BTC, (BTC,), "1m", marks, (), prices)
    assert line.kind == "line"
    assert line.series() == [
        {"time": int(t0.timestamp()), "value": "60010"},
        {"time": int(t0.timestamp()) + 90, "value": "61000"},
    ]
    drawn, before = line.drawn()
    assert before == 0 and [x["kind"] for x in drawn] == ["signal", "entry", "exit"]
    assert drawn[1]["text"] == "#1 entry buy 0.05 at 60000"
    assert drawn[0]["text"] == "#1 signal buy at market" and drawn[0]["price"] is None

    start = t0.replace(second=0)
    bar = Candle(start, D(60000), D(61000), D(59900), D(61000), D(1))
    bars = PriceChart(BTC, (BTC,), "1m", marks, (bar,), prices)
    drawn, before = bars.drawn()
    assert bars.kind == "candles" and before == 1  # the signal, two hours before the bar
    assert [x["time"] for x in drawn] == [
        int(start.timestamp()),
        int(start.timestamp()) + (90 + t0.second) // 60 * 60,
    ]
    assert pick_timeframe(marks, t0) == "1m"
    assert pick_timeframe(marks, t0 + timedelta(days=3)) == "1h"
