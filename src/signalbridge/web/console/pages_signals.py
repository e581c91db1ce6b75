"""Signals for the staff: the list (channel and status filters, newest first, paged by
``before_id``) and one signal with its raw message, parse, confidence, stage timings,
executions and the AI analyst's verdict, as ``GET /api/v1/signals/{id}`` answers it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from signalbridge.execution.quality import latency_ms
from signalbridge.services import access
from signalbridge.services.ai_analysis import analysis_body
from signalbridge.services.dashboard import STAGES
from signalbridge.store import models as m
from signalbridge.web.console.auth import Staff, allow
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.listing import equal, names_of, newest, query_id, query_text
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.params import Id

router = APIRouter(include_in_schema=False)

SCOPE = "signals:read"
STATUSES = (
    m.SignalStatus.ACCEPTED,
    m.SignalStatus.REVIEW,
    m.SignalStatus.DISPATCHED,
    m.SignalStatus.REJECTED,
)


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage a signal passed: when, and how long after it was received."""

    label: str
    at: datetime | None
    after_ms: Decimal | None


def stages_of(row: m.Signal) -> list[Stage]:
    received = row.received_at
    out = []
    for column, label in STAGES:
        at = getattr(row, column)
        out.append(Stage(label, at, latency_ms(received, at)))
    return out


@router.get("/console/signals")
async def signals(request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, SCOPE, "signal")
    filters: dict[str, Any] = {
        "channel_id": query_id(request, "channel_id"),
        "status": query_text(request, "status"),
    }
    async with c.sessions() as s, s.begin():
        page = await newest(
            s,
            "signal",
            who,
            request.url.path,
            filters,
            *equal(m.Signal, filters),
            before_id=query_id(request, "before_id"),
        )
        channels = await names_of(s, "channel", [r.channel_id for r in page.rows], who)
    return render(
        request,
        "console/signals_list.html",
        login,
        page=page,
        filters=filters,
        statuses=STATUSES,
        channels=channels,
    )


@router.get("/console/signals/{row_id}")
async def signal(row_id: Id, request: Request, login: Staff, c: ContainerDep) -> Response:
    who = login.principal
    allow(who, SCOPE, "signal")
    async with c.sessions() as s, s.begin():
        try:
            row: m.Signal = await access.find(s, "signal", row_id, who)
        except access.AccessDenied as exc:
            raise PageError(404, exc.message) from None
        message = await s.scalar(
            access.visible(select(m.Message).where(m.Message.id == row.message_id), "message", who)
        )
        executions = (
            await s.scalars(
                access.visible(
                    select(m.Execution)
                    .where(m.Execution.signal_id == row_id)
                    .order_by(m.Execution.id),
                    "execution",
                    who,
                )
            )
        ).all()
        connections = await names_of(s, "connection", [e.connection_id for e in executions], who)
        channels = await names_of(s, "channel", [row.channel_id], who)
        analysis = await analysis_body(s, row_id, staff=access.is_staff(who))
    return render(
        request,
        "console/signals_detail.html",
        login,
        row=row,
        message=message,
        stages=stages_of(row),
        executions=executions,
        connections=connections,
        channel_name=channels.get(row.channel_id, ""),
        analysis=analysis,
    )
