"""A channel's track record (services/track_record.py) as JSON, and its switch.

``GET /channels/{id}/track-record`` answers whoever may read the channel (services/
access.py), or anyone holding a token when the channel's record is public
(``track_record_public``, a channel setting); any other caller gets the 404 a missing
channel gets. ``.../track-record/chart`` gives one symbol's markers (signals posted,
the reference account's fills), bars from the reference account's venue and the prices
the platform recorded. Admins switch a channel's reference account on and off.

Ratios are rounded for reading (win rate and R to 4 places, percentages to 4, basis
points to 0.01, milliseconds to 0.001); money is exact.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.track_record import Summary, TrackRecordStats
from signalbridge.services import access
from signalbridge.services import track_record as records
from signalbridge.services.auth import Principal
from signalbridge.venues.candles import MAX_CANDLES
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.serialize import jsonable

router = APIRouter(tags=["channels"])
reader = Depends(require("channels:read", "channel", "read"))
switch = Depends(require("admin", "channel", "write"))
Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]

_RATIO = Decimal("0.0001")
_BPS = Decimal("0.01")
_MS = Decimal("0.001")


def _round(value: Decimal | None, places: Decimal) -> Decimal | None:
    """``value`` to ``places``; one too large to hold them is kept whole."""
    if value is None:
        return None
    try:
        return value.quantize(places)
    except InvalidOperation:
        return value


def _summary(summary: Summary | None, places: Decimal) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "count": summary.count,
        "mean": _round(summary.mean, places),
        "median": _round(summary.median, places),
    }


def stats_body(stats: TrackRecordStats) -> dict[str, Any]:
    body = asdict(stats)
    body["win_rate"] = _round(stats.win_rate, _RATIO)
    body["average_r"] = _round(stats.average_r, _RATIO)
    body["drawdown"]["percent"] = _round(stats.drawdown.percent, _RATIO)
    body["slippage_bps"] = _summary(stats.slippage_bps, _BPS)
    body["latency_ms"] = _summary(stats.latency_ms, _MS)
    return body


def record_body(record: records.TrackRecord) -> dict[str, Any]:
    """The record as JSON (decimals as strings, times in ISO 8601 UTC)."""
    rows = []
    for row in record.rows:
        executed = None
        if row.executed is not None:
            executed = asdict(row.executed)
            executed["r_multiple"] = _round(row.executed.r_multiple, _RATIO)
            executed["slippage_bps"] = _round(row.executed.slippage_bps, _BPS)
            executed["latency_ms"] = _round(row.executed.latency_ms, _MS)
        rows.append({"status": row.status, "posted": asdict(row.posted), "executed": executed})
    body = {
        "channel": asdict(record.channel),
        "account": None if record.account is None else asdict(record.account),
        "asset": record.asset,
        "stats": stats_body(record.stats),
        "curve": [asdict(point) for point in record.curve],
        "by_asset": {
            asset: {
                "stats": stats_body(item.stats),
                "curve": [asdict(point) for point in item.curve],
            }
            for asset, item in record.by_asset.items()
        },
        "open_positions": record.open_positions,
        "signals": rows,
    }
    return dict(jsonable(body))


def _account_body(channel_id: int, account: records.ReferenceAccount | None) -> dict[str, Any]:
    if account is None:
        return {"channel_id": channel_id, "enabled": False, "account": None}
    return dict(
        jsonable({"channel_id": channel_id, "enabled": account.enabled, "account": asdict(account)})
    )


@router.get("/channels/{channel_id}/track-record")
async def get_track_record(
    channel_id: Id,
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000, description="signals per page"),
    before_id: Id | None = Query(default=None, description="signals older than this id"),
    who: Principal = reader,
) -> dict[str, Any]:
    """Win rate, average R, total PnL, the PnL curve and the maximum drawdown of the
    channel's reference account (risk 1 % of 10,000 per signal), entry slippage and
    latency; and the channel's signals, newest first, each as posted (raw text, parsed
    fields, confidence) and as the reference account executed it. A channel without a
    reference account answers ``account: null`` and no trades."""
    if await records.readable_channel(session, channel_id, who) is None:
        raise ApiError(404, access.NotFound("channel", channel_id).message)
    record = await records.track_record(session, channel_id, limit=limit, before_id=before_id)
    return record_body(record)


@router.get("/channels/{channel_id}/track-record/chart")
async def get_track_record_chart(
    channel_id: Id,
    c: ContainerDep,
    symbol: str | None = Query(
        default=None, max_length=40, description="default: the newest signal's symbol"
    ),
    timeframe: Timeframe = "1h",
    limit: int = Query(default=200, ge=1, le=MAX_CANDLES, description="bars at most"),
    who: Principal = reader,
) -> dict[str, Any]:
    """One symbol's chart: ``markers`` (each signal at its entry level, each fill of the
    reference account), ``candles`` from the reference account's venue (empty when it
    has none to give) and ``prices`` the platform recorded (fills, the last mark)."""
    # No request session: the venue is read through the adapter pool, which opens its own
    # (SQLite's one pooled connection must not be held meanwhile).
    async with c.sessions() as session:
        if await records.readable_channel(session, channel_id, who) is None:
            raise ApiError(404, access.NotFound("channel", channel_id).message)
        markers = await records.price_markers(session, channel_id)
        newest = max(
            (x for found in markers.values() for x in found if x.kind == "signal"),
            key=lambda x: (x.at, x.signal_id),
            default=None,
        )
        chosen = symbol if symbol is not None else (newest.symbol if newest else None)
        # only a symbol the channel signalled is looked up
        known = chosen if chosen is not None and chosen in markers else None
        prices = await records.recorded_prices(session, channel_id, known) if known else []
        account = await records.reference_account(session, channel_id)
    bars = []
    if known is not None and account is not None:
        bars = await records.candles(c.adapter_pool, account.connection_id, known, timeframe, limit)
    body = {
        "channel_id": channel_id,
        "symbol": chosen,
        "symbols": sorted(markers),
        "timeframe": timeframe,
        "markers": [asdict(x) for x in markers.get(chosen or "", [])],
        "candles": [asdict(bar) for bar in bars],
        "prices": [asdict(point) for point in prices],
    }
    return dict(jsonable(body))


async def _switch(
    session: AsyncSession, channel_id: int, enabled: bool, who: Principal
) -> dict[str, Any]:
    await fetch(session, "channel", channel_id, who, write=True)
    try:
        account = await records.set_track_record(
            session, channel_id, enabled, actor=who.label, actor_id=who.user_id
        )
    except records.ReferenceUserTaken as exc:
        raise ApiError(409, exc.message, code="reference_user_taken") from None
    return _account_body(channel_id, account)


@router.post("/channels/{channel_id}/track-record/enable")
async def enable_track_record(
    channel_id: Id, session: SessionDep, who: Principal = switch
) -> dict[str, Any]:
    """Give the channel its reference account (made on first need) and let it follow
    every new signal. Admins only."""
    return await _switch(session, channel_id, True, who)


@router.post("/channels/{channel_id}/track-record/disable")
async def disable_track_record(
    channel_id: Id, session: SessionDep, who: Principal = switch
) -> dict[str, Any]:
    """Stop the reference account taking new signals; what it holds is still managed to
    its exits and its record stays readable. Admins only."""
    return await _switch(session, channel_id, False, who)
