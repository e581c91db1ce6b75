"""Teaching the parser a channel's format: 3-5 labelled examples in, a stored template out.

``POST /channels/{id}/learn-template`` learns a layout (``parsing/learn.py``), scores it
leave-one-out on the examples, and, unless ``dry_run``, stores it in the channel's
``parse_template`` (hand-written patterns, keywords and aliases there are kept) with an
audit row. Same authorisation as editing the channel. Bad examples answer 422 and change
nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import event

from signalbridge.bootstrap import Container
from signalbridge.services import audit
from signalbridge.services.auth import Principal
from signalbridge.web.deps import ContainerDep, SessionDep, fetch, require
from signalbridge.web.errors import ApiError
from signalbridge.web.params import Id

router = APIRouter(prefix="/channels", tags=["channels"])
writer = Depends(require("channels:write", "channel", "write"))


class Example(BaseModel):
    text: str = Field(min_length=1, max_length=8000, description="the message as posted")
    expected: dict[str, Any] = Field(
        description="what it means: symbol, side, entry (a price or {low, high}), "
        "stop_loss, take_profits, leverage, order_type; or kind update / noise"
    )


class LearnRequest(BaseModel):
    examples: list[Example] = Field(min_length=3, max_length=5)
    dry_run: bool = Field(
        default=False, description="only return the template and its score; store nothing"
    )


@router.post("/{row_id}/learn-template")
async def learn(
    row_id: Id,
    body: LearnRequest,
    c: ContainerDep,
    session: SessionDep,
    who: Principal = writer,
) -> dict[str, Any]:
    from signalbridge.parsing import select_build

    select_build()
    from signalbridge.parsing.learn import LearnError, learn_template, leave_one_out
    from signalbridge.parsing.templates import template_from_dict

    row = await fetch(session, "channel", row_id, who, write=True)
    pairs = [(e.text, e.expected) for e in body.examples]
    try:
        learned = learn_template(pairs)
        score = leave_one_out(pairs)
    except LearnError as exc:
        raise ApiError(422, str(exc), code="cannot_learn") from None
    before = row.parse_template if isinstance(row.parse_template, dict) else None
    spec = {**(before or {}), "fields": learned.layout.to_dict()}
    spec.setdefault("name", f"channel {row.id}")
    try:
        template_from_dict(spec)
    except ValueError as exc:  # a hand-written part stored earlier no longer validates
        raise ApiError(409, f"the channel's stored template is not valid: {exc}") from None
    out: dict[str, Any] = {
        "channel_id": row.id,
        "learned": list(learned.fields),
        "not_learned": list(learned.skipped),
        "template": spec,
        "score": score.to_dict(),
        "stored": not body.dry_run,
    }
    if body.dry_run:
        return out
    await audit.record_by(
        session,
        who,
        action="update",
        entity="channel",
        entity_id=row.id,
        changes={"parse_template": [before, spec]},
    )
    row.parse_template = spec
    _invalidate_after_commit(c, session, row.id)
    await session.flush()
    return out


def _invalidate_after_commit(c: Container, session: Any, row_id: int) -> None:
    """Webhook deliveries read the channel from a cache: drop it once the change commits."""

    def drop(_: object) -> None:
        c.webhook_channels.invalidate(row_id)

    event.listen(session.sync_session, "after_commit", drop, once=True)
