"""The review desk: parses below their channel's confidence, each beside its raw message.

The same desk as ``/api/v1/review`` (services/review.py): the items of the channels the
viewer may change, oldest first; approve sends one through the ordinary path (its
executions opened once), an edit is read exactly like a webhook body (a bad one changes
nothing and is shown with its problems, the typed values kept), a rejection closes it.
The list re-fetches itself on the ``review`` server-sent event (web/console/events.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from signalbridge.domain.signals import OrderType, Side, UpdateAction
from signalbridge.services import access, review
from signalbridge.services.web_sessions import BrowserLogin
from signalbridge.store import models as m
from signalbridge.web.console.auth import Form, Staff, allow, text
from signalbridge.web.console.errors import PageError
from signalbridge.web.console.render import render
from signalbridge.web.deps import ContainerDep
from signalbridge.web.params import Id

router = APIRouter(include_in_schema=False)

Kinds = Literal["signals", "updates"]
KIND_OF: dict[str, review.Kind] = {"signals": "signal", "updates": "update"}
PAGE_SIZE = 50
SIGNAL_FIELDS = (
    "symbol",
    "side",
    "order_type",
    "entry_low",
    "entry_high",
    "stop_loss",
    "take_profits",
    "leverage",
)
UPDATE_FIELDS = ("action", "symbol", "value")
_ITEM = re.compile(r"(signal|update)-(\d{1,19})")
_DONE = {"approved": "approved", "rejected": "rejected", "edited": "saved; it is still pending"}
_SPLIT = re.compile(r"[\s,;]+")


def _read(login: BrowserLogin) -> None:
    allow(login.principal, "signals:read", "channel", "write")  # as GET /api/v1/review


def _decide(login: BrowserLogin) -> None:
    allow(login.principal, "channels:write", "channel", "write")  # as the API's decisions


def _notice(request: Request) -> str | None:
    """What the last form did, from the redirect's query (only known words are shown)."""
    done = _DONE.get(request.query_params.get("done", ""))
    item = _ITEM.fullmatch(request.query_params.get("item", ""))
    if done is None or item is None:
        return None
    note = f"{item.group(1).capitalize()} {item.group(2)} {done}."
    executions = request.query_params.get("executions", "")
    if executions.isdigit() and len(executions) < 7:
        note += f" Executions opened: {executions}."
    return note


async def _desk(
    request: Request,
    login: BrowserLogin,
    c: ContainerDep,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    who = login.principal
    query = request.query_params
    chosen = query.get("kind", "")
    kind_filter: review.Kind | None = (
        "signal" if chosen == "signal" else "update" if chosen == "update" else None
    )
    channel_text = query.get("channel_id", "")
    channel_id = int(channel_text) if channel_text.isdigit() and len(channel_text) < 19 else None
    async with c.sessions() as s:
        items = await review.pending(
            s, who, kind=kind_filter, channel_id=channel_id, limit=PAGE_SIZE
        )
        message_ids = [i["message_id"] for i in items]
        wanted: Any = select(m.Message.id, m.Message.text).where(m.Message.id.in_(message_ids))
        texts = dict((await s.execute(access.visible(wanted, "message", who))).all())
        channels = (
            await s.execute(
                review.reviewable_channels(who)
                .add_columns(m.ChannelSource.name)
                .order_by(m.ChannelSource.name)
            )
        ).all()
    names = {cid: name for cid, name in channels}
    for item in items:
        item["text"] = texts.get(item["message_id"], "")
        item["channel_name"] = names.get(item["channel_id"], "")
        item["path"] = f"/console/review/{item['kind']}s/{item['id']}"
    context: dict[str, Any] = {
        "items": items,
        "channels": channels,
        "kind_filter": kind_filter or "",
        "channel_filter": channel_id,
        "limited": len(items) >= PAGE_SIZE,
        "error": error,
        "flash": None if error else _notice(request),
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "review-items":
        return render(request, "console/review_items.html", login, status=status, **context)
    return render(request, "console/review_desk.html", login, status=status, **context)


@router.get("/console/review")
async def desk(request: Request, login: Staff, c: ContainerDep) -> Response:
    _read(login)
    return await _desk(request, login, c)


def _form_values(kind: review.Kind, parse: dict[str, Any]) -> dict[str, str]:
    """The edit form's fields, prefilled from an item's canonical contract."""
    if kind == "update":
        return {f: str(parse.get(f) or "") for f in UPDATE_FIELDS}
    entry = parse.get("entry") or {}
    return {
        "symbol": str(parse.get("symbol") or ""),
        "side": str(parse.get("side") or ""),
        "order_type": str(parse.get("order_type") or ""),
        "entry_low": str(entry.get("low") or ""),
        "entry_high": str(entry.get("high") or ""),
        "stop_loss": str(parse.get("stop_loss") or ""),
        "take_profits": "\n".join(str(tp) for tp in parse.get("take_profits") or []),
        "leverage": str(parse.get("leverage") or ""),
    }


def contract_of(kind: review.Kind, values: dict[str, str]) -> str:
    """The edit form as the canonical JSON a webhook takes; review.edit validates it."""
    body: dict[str, Any] = {"kind": kind}
    if kind == "update":
        body["action"] = values["action"]
        for name in ("symbol", "value"):
            if values[name]:
                body[name] = values[name]
        return json.dumps(body)
    for name in ("symbol", "side", "order_type", "stop_loss"):
        if values[name]:
            body[name] = values[name]
    low, high = values["entry_low"], values["entry_high"]
    if low or high:
        body["entry"] = {"low": low or high, "high": high or low}
    body["take_profits"] = [tp for tp in _SPLIT.split(values["take_profits"]) if tp]
    leverage = values["leverage"]
    if leverage:  # an integer in the contract; anything else is left for it to refuse
        body["leverage"] = int(leverage) if leverage.isdigit() and len(leverage) < 6 else leverage
    return json.dumps(body)


async def _item_page(
    request: Request,
    login: BrowserLogin,
    c: ContainerDep,
    kinds: Kinds,
    item_id: int,
    *,
    values: dict[str, str] | None = None,
    problems: list[str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    kind = KIND_OF[kinds]
    async with c.sessions() as s:
        try:
            item = await review.show(s, login.principal, kind, item_id)
        except review.ItemNotFound as exc:
            raise PageError(404, exc.message) from None
    return render(
        request,
        "console/review_item.html",
        login,
        status=status,
        item=item,
        kinds=kinds,
        item_path=f"/console/review/{kinds}/{item_id}",
        values=values if values is not None else _form_values(kind, item["parse"]),
        problems=problems or [],
        error=error,
        flash=None if error or problems else _notice(request),
        sides=[s.value for s in Side],
        order_types=[t.value for t in OrderType],
        actions=[a.value for a in UpdateAction],
        pending=item["status"] == review.PENDING,
    )


@router.get("/console/review/{kinds}/{item_id}")
async def item_page(
    request: Request, kinds: Kinds, item_id: Id, login: Staff, c: ContainerDep
) -> Response:
    _read(login)
    return await _item_page(request, login, c, kinds, item_id)


def _refused(exc: review.ReviewError) -> int:
    """The API's status for a refusal (web/routes/review.py)."""
    if isinstance(exc, review.ItemNotFound):
        return 404
    if isinstance(exc, review.InvalidEdit):
        return 422
    return 409


async def _approve(
    request: Request, login: BrowserLogin, c: ContainerDep, kind: review.Kind, item_id: int
) -> Response:
    try:
        decision = await review.approve(
            c.sessions, login.principal, kind, item_id, c.intake.hand_on
        )
    except review.ReviewError as exc:
        return await _desk(request, login, c, status=_refused(exc), error=exc.message)
    where = (
        f"/console/review?done=approved&item={kind}-{item_id}"
        f"&executions={len(decision.execution_ids)}"
    )
    return RedirectResponse(where, status_code=303)


@router.post("/console/review/{kinds}/{item_id}/approve")
async def approve(
    request: Request, kinds: Kinds, item_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    del form  # checked: CSRF
    _decide(login)
    return await _approve(request, login, c, KIND_OF[kinds], item_id)


@router.post("/console/review/{kinds}/{item_id}/reject")
async def reject(
    request: Request, kinds: Kinds, item_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    _decide(login)
    kind = KIND_OF[kinds]
    reason = text(form, "reason", limit=review.MAX_REASON) or None
    try:
        await review.reject(c.sessions, login.principal, kind, item_id, reason)
    except review.ReviewError as exc:
        return await _desk(request, login, c, status=_refused(exc), error=exc.message)
    return RedirectResponse(f"/console/review?done=rejected&item={kind}-{item_id}", 303)


@router.post("/console/review/{kinds}/{item_id}/edit")
async def edit(
    request: Request, kinds: Kinds, item_id: Id, login: Staff, form: Form, c: ContainerDep
) -> Response:
    _decide(login)
    kind = KIND_OF[kinds]
    names = UPDATE_FIELDS if kind == "update" else SIGNAL_FIELDS
    values = {name: text(form, name, limit=2000) for name in names}
    try:
        await review.edit(c.sessions, login.principal, kind, item_id, contract_of(kind, values))
    except review.InvalidEdit as exc:
        problems = [str(p) for p in exc.details] if isinstance(exc.details, list) else []
        return await _item_page(
            request,
            login,
            c,
            kinds,
            item_id,
            values=values,
            problems=problems,
            error=exc.message,
            status=422,
        )
    except review.ReviewError as exc:
        return await _desk(request, login, c, status=_refused(exc), error=exc.message)
    if text(form, "then", limit=20) == "approve":
        return await _approve(request, login, c, kind, item_id)
    where = f"/console/review/{kinds}/{item_id}?done=edited&item={kind}-{item_id}"
    return RedirectResponse(where, status_code=303)
