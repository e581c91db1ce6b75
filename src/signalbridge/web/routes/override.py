"""Manual override through the API: close, cancel, move a stop, pause, panic; manual signals.

Each action is written once (services/override.py) and answered with its outcome: 200
done, 202 still being carried out (a duplicate of an action in progress), 422 refused (a
stop on the wrong side of the price, a share below one amount step, a deactivated
connection), 502 the venue failed (a panic: on any of its positions, each listed). A
duplicate (same ``Idempotency-Key``, or the same action on the same target in the same
state) answers the first action's outcome and sends nothing.

Who: a member acts on the accounts of its own connections; operators and admins on every
account. Another user's row answers exactly like a missing one (404). A manual signal is
a channel write (staff), and takes the webhook's path: the one intake, the channel's push
limits, the body-hash replay window; its author is recorded with it.

Actions are read back (``GET /manual-actions``) by admins and operators all, by a member
those it requested and those done on its own connections. The stored idempotency key
carries a caller's ``Idempotency-Key`` verbatim, so it is never answered: ``keyed`` says
whether the caller gave one.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from signalbridge.bootstrap import Container
from signalbridge.channels.base import InboundMessage
from signalbridge.domain.bounds import PositiveStoreDecimal
from signalbridge.services import access
from signalbridge.services.auth import Principal
from signalbridge.services.inbound_limits import OverRate
from signalbridge.services.ingest import delivery_id
from signalbridge.services.override import (
    CANCEL,
    CLOSE,
    MOVE_STOP,
    PANIC,
    PAUSE,
    RESUME,
    ActionOutcome,
    Actor,
    KeyReused,
    OverrideRequest,
    Overrides,
)
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id
from signalbridge.web.raw_body import read_capped
from signalbridge.web.routes.webhooks import delivery_answer, over_rate, push_limits
from signalbridge.web.serialize import row_dict

router = APIRouter(tags=["override"])
trader = Depends(require("connections:write"))
follower = Depends(require("follows:write"))
publisher = Depends(require("channels:write", "channel", "write"))
reader = Depends(require("executions:read", "manual_action"))
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="repeat it to repeat the request safely: a duplicate answers the "
        "first action's outcome and sends nothing",
    ),
]
OUTCOMES: dict[int | str, dict[str, Any]] = {
    202: {"description": "a duplicate of an action still being carried out"},
    409: {"description": "the Idempotency-Key was used for a different action"},
    422: {"description": "refused: nothing was sent"},
    502: {"description": "the venue failed; the action is recorded as failed"},
}


class CloseBody(BaseModel):
    #: The share of what is held to close, 0 < share <= 1; all of it when omitted.
    share: Decimal | None = Field(default=None, gt=0, le=1, max_digits=20, decimal_places=18)


class StopBody(BaseModel):
    stop_loss: PositiveStoreDecimal


def overrides(c: Container) -> Overrides:
    return Overrides(c.sessions, c.execution)


def actor(who: Principal) -> Actor:
    return Actor(who.email, who.user_id)


async def _visible(c: Container, entity: access.Entity, row_id: int, who: Principal) -> Any:
    """The row if the caller may act on it, read in a short session of its own (the action
    opens its own transactions). A channel: its writers (staff). An account's row (a
    connection, or a follow, order or position on one): whoever may change that connection,
    as Trust has it — its owner and the admins; an operator sees other members' accounts
    read-only (403), another member's row answers like a missing one (404)."""
    async with c.sessions() as session:
        if entity == "channel":
            return await fetch(session, entity, row_id, who)
        row = await fetch(session, entity, row_id, who)
        connection_id = row.id if entity == "connection" else row.connection_id
        await fetch(session, "connection", connection_id, who, write=True)
        return row


async def _submit(c: Container, who: Principal, request: OverrideRequest) -> JSONResponse:
    try:
        outcome = await overrides(c).submit(actor(who), request)
    except KeyReused as exc:
        raise ApiError(409, str(exc), code="idempotency_key_reused") from None
    return answer(outcome)


def answer(outcome: ActionOutcome) -> JSONResponse:
    """The action's outcome as an HTTP answer (see the module docstring)."""
    body = outcome.to_dict()
    if outcome.status == m.ManualActionStatus.PENDING:
        return JSONResponse(body, status_code=202)
    if outcome.status == m.ManualActionStatus.FAILED:
        result = outcome.result or {}
        listed = "; ".join(str(e) for e in result.get("errors") or [])
        error = str(result.get("error") or listed or "the action failed")
        if outcome.refused:
            raise ApiError(422, error, code="refused", details=body)
        raise ApiError(502, error, code="venue_error", details=body)
    return JSONResponse(body, status_code=200)


@router.post("/positions/{row_id}/close", responses=OUTCOMES)
async def close_position(
    row_id: Id,
    c: ContainerDep,
    body: CloseBody | None = None,
    key: IdempotencyKey = None,
    who: Principal = trader,
) -> JSONResponse:
    """Close a position at market: all of it, or ``share`` of what it holds."""
    position = await _visible(c, "position", row_id, who)
    share = body.share if body is not None else None
    request = OverrideRequest(
        CLOSE, position_id=row_id, connection_id=position.connection_id, share=share, key=key
    )
    return await _submit(c, who, request)


@router.post("/positions/{row_id}/stop", responses=OUTCOMES)
async def move_stop(
    row_id: Id, body: StopBody, c: ContainerDep, key: IdempotencyKey = None, who: Principal = trader
) -> JSONResponse:
    """Move a position's stop; a stop resting on the venue is replaced."""
    position = await _visible(c, "position", row_id, who)
    request = OverrideRequest(
        MOVE_STOP,
        position_id=row_id,
        connection_id=position.connection_id,
        params={"stop_loss": str(body.stop_loss)},
        key=key,
    )
    return await _submit(c, who, request)


@router.post("/orders/{row_id}/cancel", responses=OUTCOMES)
async def cancel_order(
    row_id: Id, c: ContainerDep, key: IdempotencyKey = None, who: Principal = trader
) -> JSONResponse:
    """Cancel one order (an entry still waiting), wherever it is."""
    order = await _visible(c, "order", row_id, who)
    request = OverrideRequest(CANCEL, order_id=row_id, connection_id=order.connection_id, key=key)
    return await _submit(c, who, request)


def _pauser(kind: str, doc: str) -> None:
    async def change(
        row_id: Id, c: ContainerDep, key: IdempotencyKey = None, who: Principal = follower
    ) -> JSONResponse:
        follow = await _visible(c, "follow", row_id, who)
        request = OverrideRequest(
            kind, follow_id=row_id, connection_id=follow.connection_id, key=key
        )
        return await _submit(c, who, request)

    change.__doc__ = doc
    router.add_api_route(
        f"/follows/{{row_id}}/{kind}",
        change,
        methods=["POST"],
        name=f"{kind}_follow",
        responses=OUTCOMES,
    )


_pauser(PAUSE, "Pause a follow: no new entries; its open positions are still managed.")
_pauser(RESUME, "Resume a paused follow: new signals open entries again.")


def _owner_scope(who: Principal) -> int | None:
    """Whose connections a channel's panic covers: a member's own; staff, who run the
    channel, every follower's (what the provider's own "close all" would reach)."""
    return None if access.is_staff(who) else who.user_id


@router.post("/connections/{row_id}/panic", responses=OUTCOMES)
async def panic_connection(
    row_id: Id, c: ContainerDep, key: IdempotencyKey = None, who: Principal = trader
) -> JSONResponse:
    """Close every open position of a connection at market and cancel its waiting orders."""
    await _visible(c, "connection", row_id, who)
    params = {"owner_id": _owner_scope(who)}
    request = OverrideRequest(PANIC, connection_id=row_id, params=params, key=key)
    return await _submit(c, who, request)


@router.post("/channels/{row_id}/panic", responses=OUTCOMES)
async def panic_channel(
    row_id: Id, c: ContainerDep, key: IdempotencyKey = None, who: Principal = trader
) -> JSONResponse:
    """Close everything opened from a channel: on the caller's own connections (staff:
    on every follower's)."""
    await _visible(c, "channel", row_id, who)
    params = {"owner_id": _owner_scope(who)}
    request = OverrideRequest(PANIC, channel_id=row_id, params=params, key=key)
    return await _submit(c, who, request)


@router.post(
    "/channels/{row_id}/signals",
    status_code=202,
    responses={
        200: {"description": "a duplicate: the first delivery's ids"},
        403: {"description": "the channel is deactivated"},
        413: {"description": "body over the size limit; nothing stored"},
        422: {"description": "not a valid signal in the canonical schema: stored as rejected"},
        429: {"description": "over the channel's inbound rate: nothing stored"},
    },
)
async def post_signal(
    row_id: Id,
    request: Request,
    c: ContainerDep,
    key: IdempotencyKey = None,
    who: Principal = publisher,
) -> JSONResponse:
    """Post a signal (the canonical JSON of a webhook body) to a channel, as its author."""
    received_at = utcnow()
    async with c.sessions() as session:
        channel: m.ChannelSource = await fetch(session, "channel", row_id, who, write=True)
    body = await read_capped(request, c.settings.webhook_max_body_bytes)
    if not channel.is_active:
        raise ApiError(403, f"channel {row_id} is deactivated")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "body is not UTF-8 text") from None
    explicit = f"manual:u{who.user_id}:{key}" if key else None
    message = InboundMessage(
        external_id=delivery_id(body, explicit, None if explicit else received_at),
        text=text,
        received_at=received_at,
        content_type="application/json",
        body_hash=hashlib.sha256(body).hexdigest(),
        replay_window_seconds=c.settings.webhook_tolerance_seconds,
    )
    try:
        result = await push_limits(c).receive(c.intake, channel, message, parse_text=False)
    except OverRate as exc:
        return over_rate(exc)
    payload: dict[str, Any] = result.to_dict()
    recorded = await overrides(c).record_signal(actor(who), row_id, result.message_id, payload)
    payload["action_id"] = recorded.action_id
    payload["author"] = who.email
    return delivery_answer(result, message, channel, payload)


def action_body(row: m.ManualAction) -> dict[str, Any]:
    """One action as a reader sees it: never the stored key (it holds the caller's
    ``Idempotency-Key`` verbatim), nor the internal fingerprint of the request."""
    body = row_dict(row, exclude=("idempotency_key",))
    body["params"] = {k: v for k, v in (row.params or {}).items() if k != "fingerprint"}
    body["keyed"] = row.idempotency_key.startswith("key:")
    return body


@router.get("/manual-actions")
async def list_manual_actions(
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000),
    before_id: Id | None = None,
    connection_id: Id | None = None,
    channel_id: Id | None = None,
    status: str | None = Query(default=None, max_length=16),
    kind: str | None = Query(default=None, max_length=24),
    who: Principal = reader,
) -> dict[str, Any]:
    """Manual actions the caller sees, newest first; page on with ``before_id``."""
    model = m.ManualAction
    newest = select(model).order_by(model.id.desc()).limit(limit)
    query = access.visible(newest, "manual_action", who)
    if before_id is not None:
        query = query.where(model.id < before_id)
    for column, value in (
        (model.connection_id, connection_id),
        (model.channel_id, channel_id),
        (model.status, status),
        (model.kind, kind),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = (await session.scalars(query)).all()
    return {"items": [action_body(r) for r in rows]}


@router.get("/manual-actions/{row_id}")
async def get_manual_action(
    row_id: Id, session: SessionDep, who: Principal = reader
) -> dict[str, Any]:
    """One manual action; another member's answers like a missing one (404)."""
    return action_body(await fetch(session, "manual_action", row_id, who))
