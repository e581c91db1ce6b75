"""``/api/v1/review``: the review desk (services/review.py) over HTTP.

Open to whoever may change channels (admins and operators); the items shown are those of
the channels the caller may change, and any other item answers exactly like a missing
one (404). Deciding takes ``channels:write``, reading ``signals:read``.

- ``GET /review`` lists the pending signals and updates, oldest first;
- ``GET /review/{signals|updates}/{id}`` shows one with its message and parse;
- ``PUT`` on it corrects it with a canonical contract (the webhook's JSON body shape);
- ``POST .../approve`` sends it on (409 ``stale`` when older than the channel allows,
  409 ``not_pending`` when decided already) and ``POST .../reject`` closes it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from signalbridge.services import review
from signalbridge.services.auth import Principal
from signalbridge.web.deps import ContainerDep, SessionDep, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id

router = APIRouter(prefix="/review", tags=["review"])
reader = Depends(require("signals:read", "channel", "write"))
decider = Depends(require("channels:write", "channel", "write"))

#: A canonical contract, read from the raw body (numbers exactly as written).
CONTRACT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the corrected item in the canonical JSON a webhook takes, e.g. "
        '{"kind": "signal", "symbol": "BTC/USDT", "side": "long", "order_type": "market", '
        '"stop_loss": "58000", "take_profits": ["62000"]}',
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=review.MAX_REASON)


def _error(exc: review.ReviewError) -> ApiError:
    if isinstance(exc, review.ItemNotFound):
        return ApiError(404, exc.message)
    if isinstance(exc, review.InvalidEdit):
        return ApiError(422, exc.message, code="invalid_signal", details=exc.details)
    if isinstance(exc, review.Stale):
        return ApiError(409, exc.message, code="stale", details=exc.details)
    return ApiError(409, exc.message, code="not_pending", details=exc.details)


@router.get("")
async def list_pending(
    session: SessionDep,
    who: Principal = reader,
    kind: Literal["signal", "update"] | None = None,
    channel_id: Id | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    items = await review.pending(session, who, kind=kind, channel_id=channel_id, limit=limit)
    return {"items": items}


def _routes(path: str, kind: review.Kind) -> None:
    row = f"/{path}/{{item_id}}"

    @router.get(row, name=f"show_{kind}")
    async def show(item_id: Id, session: SessionDep, who: Principal = reader) -> dict[str, Any]:
        try:
            return await review.show(session, who, kind, item_id)
        except review.ReviewError as exc:
            raise _error(exc) from None

    @router.put(row, name=f"edit_{kind}", openapi_extra=CONTRACT_BODY)
    async def edit(
        item_id: Id, request: Request, c: ContainerDep, who: Principal = decider
    ) -> dict[str, Any]:
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "the body is not UTF-8 text") from None
        try:
            return await review.edit(c.sessions, who, kind, item_id, text)
        except review.ReviewError as exc:
            raise _error(exc) from None

    @router.post(f"{row}/approve", name=f"approve_{kind}")
    async def approve(item_id: Id, c: ContainerDep, who: Principal = decider) -> dict[str, Any]:
        try:
            decision = await review.approve(c.sessions, who, kind, item_id, c.intake.hand_on)
        except review.ReviewError as exc:
            raise _error(exc) from None
        return {
            "kind": kind,
            "id": item_id,
            "status": decision.status,
            "execution_ids": list(decision.execution_ids),
        }

    @router.post(f"{row}/reject", name=f"reject_{kind}")
    async def reject(
        item_id: Id,
        c: ContainerDep,
        body: RejectBody | None = None,
        who: Principal = decider,
    ) -> dict[str, Any]:
        try:
            decision = await review.reject(
                c.sessions, who, kind, item_id, body.reason if body else None
            )
        except review.ReviewError as exc:
            raise _error(exc) from None
        return {"kind": kind, "id": item_id, "status": decision.status}


_routes("signals", "signal")
_routes("updates", "update")
