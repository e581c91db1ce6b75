"""``/api/v1/ai-usage`` and a message's AI parses: what the AI read and what it cost.

Staff only (whoever may change channels: admins and operators), as the review desk:

- ``GET /ai-usage?day=&channel_id=&config_id=``: one UTC day's AI parses and market
  analyses (default today) per (configuration, channel): for parses calls, cache hits,
  budget refusals, failures, tokens and cost; for analyses their number, failures,
  tokens and cost; both together, with the day's totals (services/ai_usage.py);
- ``GET /messages/{id}/ai-parses``: the message's AI parse with its model, prompt
  version, tokens, cost, latency, raw answer and what came of it; a message on a channel
  the caller may not change answers exactly like a missing one (404). The review desk's
  ``GET /review/{kind}/{id}`` shows the same beside the rules' parse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from signalbridge.services import ai_usage
from signalbridge.services.auth import Principal
from signalbridge.services.review import reviewable_channels
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import SessionDep, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id

router = APIRouter(tags=["ai"])
staff = Depends(require("signals:read", "channel", "write"))

#: A UTC day as the usage report keys it.
DAY_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"


@router.get("/ai-usage")
async def usage(
    session: SessionDep,
    who: Principal = staff,
    day: str | None = Query(default=None, pattern=DAY_PATTERN, description="UTC YYYY-MM-DD"),
    channel_id: Id | None = None,
    config_id: Id | None = None,
) -> dict[str, Any]:
    return await ai_usage.usage(
        session,
        day=_calendar_day(day) if day else ai_usage.utc_day(utcnow()),
        channel_id=channel_id,
        config_id=config_id,
    )


def _calendar_day(day: str) -> str:
    """A real calendar day whose next day exists too (the pattern lets ``02-30`` by):
    the report reads analyses from midnight to the next midnight."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        start + timedelta(days=1)
    except (ValueError, OverflowError):
        raise ApiError(422, f"{day} is not a calendar day") from None
    if start.year < 1970:  # nothing was parsed by an AI before; and no timestamp goes there
        raise ApiError(422, "day is out of range")
    return day


@router.get("/messages/{message_id}/ai-parses")
async def message_parses(
    message_id: Id, session: SessionDep, who: Principal = staff
) -> dict[str, Any]:
    found = await session.scalar(
        select(m.Message.id).where(
            m.Message.id == message_id, m.Message.channel_id.in_(reviewable_channels(who))
        )
    )
    if found is None:
        raise ApiError(404, f"no message {message_id}")
    return {"message_id": message_id, "items": await ai_usage.parses_of(session, message_id)}
