"""A channel's track record as a page (issue 19, part 3): figures, charts, every signal.

- ``GET /track/{channel_id}``: the headline figures of the channel's reference account
  (services/track_record.py), its PnL curve, one symbol's price chart with the signals
  and the reference's fills marked (``?symbol=``), and the signals, newest first, as
  posted and as executed (``?before_id=`` for older ones). Open to anyone when the
  channel's record is public, else to whoever may read the channel (the rule of
  :func:`~signalbridge.services.track_record.readable_channel`, which the API applies);
  anyone else gets the 404 page a missing channel gets.
- ``POST /track/{channel_id}/enable`` and ``.../disable``: an admin switches the
  reference account on or off, through the service the API's switch calls.

The charts (static/js/track_record.js) draw what the page carries as JSON
(:func:`chart_data`: decimals as text, times in Unix seconds, strictly increasing per
series); every figure they show is also in the page's tables, so nothing needs
JavaScript to be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.market import Candle
from signalbridge.domain.track_record import CurvePoint
from signalbridge.services import access
from signalbridge.services import track_record as records
from signalbridge.services.auth import Principal
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.venues.candles import TIMEFRAMES
from signalbridge.web.console.auth import Form, SignedIn, Viewer, allow
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.params import MAX_ID
from signalbridge.web.routes.track_record import stats_body

router = APIRouter(include_in_schema=False)

#: Signals per page of the table, and the most a ``limit`` may ask for.
PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200
#: Bars asked of the venue for the price chart.
BARS: Final = 200
MAX_SYMBOL_CHARS: Final = 40
MARKER_KINDS: Final = ("signal", "entry", "exit")

_RATIO = Decimal("0.0001")
_BPS = Decimal("0.01")
_MS = Decimal("0.001")


# --- reading the request ------------------------------------------------------------------


def row_id(value: str | None) -> int | None:
    """A row id from the path or the query; anything else is ``None``."""
    if value is None or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def page_size(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 4:
        return PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, int(value)))


def reader(login: BrowserLogin | None) -> Principal | None:
    """Who reads the record: the logged-in user where the API would let it read channels
    (``channels:read`` and the channel read rule), else nobody in particular, as an
    anonymous visitor: a public record stays readable to every logged-in user."""
    if login is None:
        return None
    who = login.principal
    if who.allows("channels:read") and access.permits("channel", "read", who):
        return who
    return None


def may_switch(login: BrowserLogin | None) -> bool:
    """The API's check for the switch (``admin`` scope, channel write)."""
    if login is None:
        return False
    who = login.principal
    return who.allows("admin") and access.permits("channel", "write", who)


def not_found(raw: str) -> PageError:
    """The one 404 of a channel that is missing or not the caller's to read."""
    number = row_id(raw)
    if number is None:
        return PageError(404, "channel not found")
    return PageError(404, access.NotFound("channel", number).message)


# --- figures for reading ---------------------------------------------------------------------


def rounded(value: Decimal | None, places: Decimal) -> Decimal | None:
    """``value`` to ``places`` (the API's rounding); one too large to hold them whole."""
    if value is None:
        return None
    try:
        return value.quantize(places)
    except InvalidOperation:
        return value


def percent(ratio: Decimal | None) -> Decimal | None:
    """A ratio rounded as the API rounds it, in percent (50.00 for 0.5)."""
    value = rounded(ratio, _RATIO)
    return None if value is None else value * 100


@dataclass(frozen=True, slots=True)
class Row:
    """One signal of the table, its figures rounded as the API rounds them."""

    status: str
    posted: records.PostedSignal
    executed: records.ExecutedTrade | None
    r_multiple: Decimal | None
    slippage_bps: Decimal | None
    latency_ms: Decimal | None


def rows_of(found: Iterable[records.SignalRow]) -> list[Row]:
    out = []
    for row in found:
        done = row.executed
        out.append(
            Row(
                row.status,
                row.posted,
                done,
                rounded(done.r_multiple, _RATIO) if done else None,
                rounded(done.slippage_bps, _BPS) if done else None,
                rounded(done.latency_ms, _MS) if done else None,
            )
        )
    return out


# --- what the charts draw --------------------------------------------------------------------


def epoch(at: datetime) -> int:
    return int(at.timestamp())


def curve_series(curve: Sequence[CurvePoint], since: datetime | None) -> list[dict[str, Any]]:
    """The PnL curve, from 0 when the reference account started: one point per second
    (the last of that second: the curve is cumulative), oldest first."""
    points: dict[int, str] = {}
    if since is not None and curve and epoch(since) < epoch(curve[0].at):
        points[epoch(since)] = "0"
    for point in curve:
        points[epoch(point.at)] = str(point.pnl)
    return [{"time": t, "value": v} for t, v in sorted(points.items())]


def pick_timeframe(markers: Sequence[records.PriceMarker], now: datetime) -> str:
    """The shortest bar length whose :data:`BARS` bars reach back to the first marker."""
    if not markers:
        return "1h"
    span = (now - min(x.at for x in markers)).total_seconds()
    for name, seconds in sorted(TIMEFRAMES.items(), key=lambda item: item[1]):
        if span <= seconds * (BARS - 1):
            return name
    return max(TIMEFRAMES, key=lambda name: TIMEFRAMES[name])


def marker_label(x: records.PriceMarker) -> str:
    """What a marker says: the signal, what happened, at which price."""
    if x.kind == "signal":
        where = "at market" if x.price is None else f"at {_plain(x.price)}"
        return f"#{x.signal_id} signal {x.side} {where}"
    amount = "" if x.amount is None else f" {_plain(x.amount)}"
    return f"#{x.signal_id} {x.kind} {x.side}{amount} at {_plain(x.price)}"


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class PriceChart:
    """One symbol's chart: the channel's symbols, the markers, and what to draw them on
    (the venue's bars, else the prices the platform recorded)."""

    symbol: str | None
    symbols: tuple[str, ...]
    timeframe: str
    markers: tuple[records.PriceMarker, ...]
    candles: tuple[Candle, ...]
    prices: tuple[records.PricePoint, ...]

    @property
    def kind(self) -> str:
        if self.candles:
            return "candles"
        return "line" if self.prices else "none"

    def drawn(self) -> tuple[list[dict[str, Any]], int]:
        """The markers as the chart places them, oldest first, and how many fall before
        the first bar (those are in the tables only). On bars, a marker sits on the bar
        its time falls in."""
        step = TIMEFRAMES[self.timeframe] if self.candles else 0
        first = epoch(self.candles[0].opened_at) if self.candles else None
        out, before = [], 0
        for x in self.markers:
            at = epoch(x.at)
            if step:
                at -= at % step
            if first is not None and at < first:
                before += 1
                continue
            out.append(
                {
                    "time": at,
                    "kind": x.kind,
                    "side": x.side,
                    "price": None if x.price is None else str(x.price),
                    "signal_id": x.signal_id,
                    "text": marker_label(x),
                }
            )
        out.sort(key=lambda item: (item["time"], item["signal_id"]))
        return out, before

    def series(self) -> list[dict[str, Any]]:
        """Bars or a line, one point per second at most, oldest first."""
        if self.candles:
            bars: dict[int, dict[str, Any]] = {}
            for bar in self.candles:
                bars[epoch(bar.opened_at)] = {
                    "time": epoch(bar.opened_at),
                    "open": str(bar.open),
                    "high": str(bar.high),
                    "low": str(bar.low),
                    "close": str(bar.close),
                }
            return [bars[t] for t in sorted(bars)]
        line: dict[int, str] = {}
        for point in self.prices:  # oldest first: the last price of a second stands
            line[epoch(point.at)] = str(point.price)
        return [{"time": t, "value": v} for t, v in sorted(line.items())]


def chart_data(
    record: records.TrackRecord, chart: PriceChart, drawn: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything track_record.js draws, as JSON-ready values."""
    since = record.account.since if record.account else None
    return {
        "channel_id": record.channel.id,
        "asset": record.asset,
        "curve": curve_series(record.curve, since),
        "price": {
            "symbol": chart.symbol,
            "kind": chart.kind,
            "timeframe": chart.timeframe if chart.candles else None,
            "series": chart.series(),
            "markers": drawn,
        },
    }


def curve_summary(curve: Sequence[CurvePoint]) -> dict[str, Any] | None:
    """The PnL curve in words: its span, lowest and highest points and where it ends."""
    if not curve:
        return None
    values = [p.pnl for p in curve]
    return {
        "points": len(curve),
        "first": curve[0].at,
        "last": curve[-1].at,
        "low": min(values),
        "high": max(values),
        "end": values[-1],
    }


def price_summary(chart: PriceChart) -> dict[str, Any] | None:
    """The price chart in words: what it draws, its range, and the markers on it."""
    if chart.symbol is None:
        return None
    values: list[Decimal]
    span: tuple[datetime | None, datetime | None]
    if chart.candles:
        values = [b.low for b in chart.candles] + [b.high for b in chart.candles]
        span = (chart.candles[0].opened_at, chart.candles[-1].opened_at)
    else:
        values = [p.price for p in chart.prices]
        span = (chart.prices[0].at, chart.prices[-1].at) if chart.prices else (None, None)
    counts = {kind: sum(1 for x in chart.markers if x.kind == kind) for kind in MARKER_KINDS}
    return {
        "low": min(values) if values else None,
        "high": max(values) if values else None,
        "first": span[0],
        "last": span[1],
        "counts": counts,
    }


# --- reading the record ------------------------------------------------------------------------


async def _symbols(session: AsyncSession, channel_id: int) -> tuple[tuple[str, ...], str | None]:
    """The symbols the channel signalled, and its newest signal's."""
    found = await session.scalars(
        select(m.Signal.symbol).where(m.Signal.channel_id == channel_id).distinct()
    )
    newest = await session.scalar(
        select(m.Signal.symbol)
        .where(m.Signal.channel_id == channel_id)
        .order_by(m.Signal.id.desc())
        .limit(1)
    )
    return tuple(sorted(found.all())), newest


def chosen_symbol(asked: str | None, symbols: Sequence[str], newest: str | None) -> str | None:
    """The symbol asked for if the channel signalled it, else the newest signal's."""
    if asked and len(asked) <= MAX_SYMBOL_CHARS and asked in symbols:
        return asked
    return newest


@router.get("/track/{channel_id}")
async def track_record_page(
    channel_id: str, request: Request, login: Viewer, c: ContainerDep
) -> Response:
    number = row_id(channel_id)
    if number is None:
        raise not_found(channel_id)
    query = request.query_params
    before_id = row_id(query.get("before_id"))
    limit = page_size(query.get("limit"))
    async with c.sessions() as s:
        if await records.readable_channel(s, number, reader(login)) is None:
            raise not_found(channel_id)
        record = await records.track_record(s, number, limit=limit + 1, before_id=before_id)
        symbols, newest = await _symbols(s, number)
        symbol = chosen_symbol(query.get("symbol"), symbols, newest)
        markers: list[records.PriceMarker] = []
        prices: list[records.PricePoint] = []
        if symbol is not None:
            markers = (await records.price_markers(s, number, symbol)).get(symbol, [])
            prices = await records.recorded_prices(s, number, symbol)
    timeframe = pick_timeframe(markers, utcnow())
    bars: list[Candle] = []
    if symbol is not None and record.account is not None:
        # no database session is open here: the adapter pool opens its own
        bars = await records.candles(
            c.adapter_pool, record.account.connection_id, symbol, timeframe, BARS
        )
    chart = PriceChart(symbol, symbols, timeframe, tuple(markers), tuple(bars), tuple(prices))
    drawn, before_bars = chart.drawn()
    shown = record.rows[:limit]
    older = shown[-1].posted.signal_id if len(record.rows) > limit and shown else None
    return render(
        request,
        "track/record.html",
        login,
        record=record,
        figures=stats_body(record.stats),
        win_rate=percent(record.stats.win_rate),
        others={
            asset: stats_body(item.stats)
            for asset, item in record.by_asset.items()
            if asset != record.asset
        },
        rows=rows_of(shown),
        older_link=_link(number, symbol, limit, older) if older is not None else None,
        newest_link=_link(number, symbol, limit, None) if before_id is not None else None,
        chart=chart,
        markers=markers,
        before_bars=before_bars,
        curve=curve_summary(record.curve),
        prices=price_summary(chart),
        data=chart_data(record, chart, drawn),
        can_switch=may_switch(login),
        staff=login is not None and login.principal.role in (m.Role.ADMIN, m.Role.OPERATOR),
    )


def _link(channel_id: int, symbol: str | None, limit: int, before_id: int | None) -> str:
    """This page with its symbol and page size kept, from ``before_id`` on."""
    params: dict[str, str | int] = {}
    if symbol is not None:
        params["symbol"] = symbol
    if limit != PAGE_SIZE:
        params["limit"] = limit
    if before_id is not None:
        params["before_id"] = before_id
    base = f"/track/{channel_id}"
    return base + ("?" + urlencode(params) if params else "")


# --- the switch -------------------------------------------------------------------------------


async def _switch(c: ContainerDep, login: BrowserLogin, raw: str, enabled: bool) -> Response:
    """What ``POST /api/v1/channels/{id}/track-record/enable|disable`` does, as a form."""
    who = login.principal
    allow(who, "admin", "channel", "write")
    number = row_id(raw)
    if number is None:
        raise not_found(raw)
    async with c.sessions() as s, s.begin():
        try:
            await access.find(s, "channel", number, who, write=True)
            await records.set_track_record(
                s, number, enabled, actor=who.label, actor_id=who.user_id
            )
        except access.NotFound:
            raise not_found(raw) from None
        except access.AccessDenied as exc:
            raise PageError(403, str(exc)) from None
        except records.ReferenceUserTaken as exc:
            raise PageError(409, exc.message) from None
    return RedirectResponse(f"/track/{number}", status_code=303)


@router.post("/track/{channel_id}/enable")
async def enable(channel_id: str, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    """Start (or resume) the channel's reference account."""
    return await _switch(c, login, channel_id, True)


@router.post("/track/{channel_id}/disable")
async def disable(channel_id: str, login: SignedIn, form: Form, c: ContainerDep) -> Response:
    """Stop the reference account taking new signals; its record stays."""
    return await _switch(c, login, channel_id, False)
