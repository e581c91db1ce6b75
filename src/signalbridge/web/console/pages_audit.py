"""The audit log for the staff: who changed what and when, filtered by actor, action,
entity, entity id and a first day, newest first and paged by ``before_id`` like
``GET /api/v1/audit`` (whose owner filter and scope it shares). Changes are shown as
stored: secrets were masked before the row was written (services/audit.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func

from signalbridge.store import models as m
from signalbridge.web.console.auth import Staff, allow
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.listing import newest, query_id, query_text
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep

router = APIRouter(include_in_schema=False)


def since_of(value: str | None) -> datetime | None:
    """The start (00:00 UTC) of the day ``YYYY-MM-DD``; a 422 page for anything else."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PageError(422, "since must be a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def conditions(filters: dict[str, Any], since: datetime | None) -> list[ColumnElement[bool]]:
    a = m.AuditEntry
    found: list[ColumnElement[bool]] = []
    if filters["actor"]:
        found.append(func.lower(a.actor).contains(filters["actor"].lower(), autoescape=True))
    for name in ("action", "entity", "entity_id"):
        if filters[name]:
            found.append(getattr(a, name) == filters[name])
    if since is not None:
        found.append(a.at >= since)
    return found


@router.get("/console/audit")
async def audit_log(request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, "audit:read", "audit")
    filters: dict[str, Any] = {
        "actor": query_text(request, "actor", 320),
        "action": query_text(request, "action", 16),
        "entity": query_text(request, "entity", 40),
        "entity_id": query_text(request, "entity_id", 40),
        "since": query_text(request, "since", 10),
    }
    since = since_of(filters["since"])
    async with c.sessions() as s, s.begin():
        page = await newest(
            s,
            "audit",
            who,
            request.url.path,
            filters,
            *conditions(filters, since),
            before_id=query_id(request, "before_id"),
        )
    return render(request, "console/audit_list.html", login, page=page, filters=filters)
