"""A user-account channel's position in each chat, and what one read of a chat yields.

The cursor the polling runner keeps is ``{"chats": {"<chat>": {"id": N, "edit": T}}}``:
per configured chat, the last message id read and the latest ``edit_date`` (Unix
seconds) seen. It is saved in the transaction that stores the messages, so after a
restart ``iter_messages(min_id=N)`` reads exactly what came after (nothing lost, nothing
repeated), and an edit dated after ``T`` is a new version. Pure, so it is tested
without Telegram.

A chat with no mark yet starts at its newest message: the history before the channel
existed is not read (``backfill`` newest messages excepted), as old posts are not signals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.fetching import dump_cursor, load_cursor
from signalbridge.channels.telegram.updates import MAX_ID
from signalbridge.channels.telegram.user_mapping import Seen, seen, to_inbound


@dataclass(frozen=True, slots=True)
class ChatMark:
    """The last message id read in a chat and the latest edit version seen there."""

    last_id: int
    edit: int


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_ID:
        return None
    return value


def load_marks(cursor: str | None) -> dict[str, ChatMark]:
    """The marks in a cursor; a cursor not ours (or damaged) has none."""
    chats = load_cursor(cursor).get("chats")
    marks: dict[str, ChatMark] = {}
    for chat, raw in (chats or {}).items() if isinstance(chats, dict) else ():
        if not isinstance(raw, dict):
            continue
        last, edit = _count(raw.get("id")), _count(raw.get("edit"))
        if isinstance(chat, str) and last is not None and edit is not None:
            marks[chat] = ChatMark(last, edit)
    return marks


def dump_marks(marks: Mapping[str, ChatMark]) -> str:
    chats = {chat: {"id": mark.last_id, "edit": mark.edit} for chat, mark in marks.items()}
    return dump_cursor({"chats": dict(sorted(chats.items()))})


def _latest(items: Iterable[Any]) -> list[Seen]:
    """One :class:`Seen` per message id, the latest version of each, by id."""
    best: dict[int, Seen] = {}
    for item in items:
        one = seen(item)
        if one is None:
            continue
        held = best.get(one.id)
        if held is None or (one.edit_version or 0) >= (held.edit_version or 0):
            best[one.id] = one
    return [best[key] for key in sorted(best)]


@dataclass(frozen=True, slots=True)
class Step:
    """One message a read of a chat yields (None: one without text), in delivery order:
    its id, its edit version (0: never edited), and whether it is new (not an edit)."""

    message: InboundMessage | None
    id: int
    version: int
    new: bool


def chat_steps(
    items: Iterable[Any],
    mark: ChatMark | None,
    *,
    now: datetime,
    max_chars: int,
    backfill: int = 0,
    ceiling: int | None = None,
) -> tuple[list[Step], ChatMark]:
    """What a read of one chat yields, oldest first, and the chat's mark once all of it is
    taken (see :func:`read_chat`); :func:`settle` gives the mark when only a prefix is."""
    found = [s for s in _latest(items) if ceiling is None or s.id <= ceiling]
    if mark is None:
        last = max((s.id for s in found), default=0)
        # Edits already made are part of what the start skips; Telegram's own dates,
        # not our clock, so a skewed clock neither skips nor repeats an edit.
        edit = max((s.edit_version or 0 for s in found), default=0)
        fresh = found[-backfill:] if backfill > 0 else []
        first = [
            Step(
                to_inbound(s, as_edit=False, now=now, max_chars=max_chars),
                s.id,
                s.edit_version or 0,
                True,
            )
            for s in fresh
        ]
        return first, ChatMark(last, edit)
    steps: list[Step] = []
    last, edit = mark.last_id, mark.edit
    for item in found:
        version = item.edit_version or 0
        if item.id > mark.last_id:
            one = to_inbound(item, as_edit=False, now=now, max_chars=max_chars)
            last = item.id
        elif version > mark.edit:
            one = to_inbound(item, as_edit=True, now=now, max_chars=max_chars)
        else:
            continue
        edit = max(edit, version)
        steps.append(Step(one, item.id, version, item.id > mark.last_id))
    return steps, ChatMark(last, edit)


def settle(mark: ChatMark | None, taken: Sequence[Step], left: Sequence[Step]) -> ChatMark | None:
    """The chat's mark when only ``taken`` (a prefix of the steps) was delivered and
    ``left`` waits for a later read (the inbound rate limit): the next read yields
    ``left`` again. None: a first read that could not take all it found stays unmarked
    (it starts again next time; what it delivered is stored once by its id)."""
    if not left:
        raise ValueError("settle is for a read cut short; without steps left, use its mark")
    if mark is None:
        return None
    last = max((s.id for s in taken if s.new), default=mark.last_id)
    edit = max((s.version for s in taken), default=mark.edit)
    edit = max(edit, mark.edit)
    waiting = [s.version for s in left if not s.new]
    if waiting:  # an edit left behind must still be newer than the mark next time
        edit = max(mark.edit, min(edit, min(waiting) - 1))
    return ChatMark(max(last, mark.last_id), edit)


def read_chat(
    items: Iterable[Any],
    mark: ChatMark | None,
    *,
    now: datetime,
    max_chars: int,
    backfill: int = 0,
    ceiling: int | None = None,
) -> tuple[list[InboundMessage], ChatMark]:
    """The messages a read of one chat yields, oldest first, and the chat's next mark.

    Above ``mark.last_id``: new messages (with their current text). At or below it: an
    ``edit_date`` later than ``mark.edit`` is an edit version. Without a mark: only the
    ``backfill`` newest messages, and the mark starts at the newest. Ids above
    ``ceiling`` are left for a later read (a catch-up cut at its limit must not jump to
    the latest messages over the ones between).
    """
    steps, next_mark = chat_steps(
        items, mark, now=now, max_chars=max_chars, backfill=backfill, ceiling=ceiling
    )
    return [s.message for s in steps if s.message is not None], next_mark
