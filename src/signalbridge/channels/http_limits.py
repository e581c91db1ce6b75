"""What RSS/Atom and web-page channels add to channels/fetching.py: refusals, reports, probes.

:class:`HttpPollingChannel` cuts an item longer than ``max_message_chars``; here such an
item is refused instead (channels/inbound_limits.py): :meth:`candidates` hands the fetch
loop the fixed notice in its place, remembering the item's real length, and :meth:`poll`
marks the message it became as refused. The item is still remembered as delivered (its
refusal is), so it is not read again; an edit of it is judged afresh.

Each poll leaves a :class:`PollReport` in ``last_report`` (the newest item's own date,
refusals, whether the inbound rate left items for a later poll), which the polling runner
hands to the channel's health; :meth:`probe` is the connection test: one conditional GET
through the same guarded fetch, the document read as a poll would, nothing delivered.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from signalbridge.channels.base import InboundMessage, PollResult
from signalbridge.channels.fetching import (
    POLITENESS_WAIT,
    Candidate,
    Fetched,
    HttpPollingChannel,
    PolledHttpConfig,
    load_cursor,
)
from signalbridge.channels.inbound_limits import NOTICE, REFUSED_PREFIX, PollReport
from signalbridge.channels.probing import ChannelProbe


@dataclass(frozen=True)
class Item:
    """One item as a kind reads it: the candidate, and its own date when it has one."""

    candidate: Candidate
    published: datetime | None = None


class LimitedHttpChannel(HttpPollingChannel):
    """A polled HTTP channel whose oversize items are refused; see the module."""

    def __init__(self, config: PolledHttpConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.last_report: PollReport | None = None
        self._oversize: dict[str, int] = {}
        self._newest: datetime | None = None
        self._deferred = 0

    @abstractmethod
    def items(self, fetched: Fetched) -> Sequence[Item]:
        """The items in the fetched bytes, oldest first (FeedRefused if none can be read)."""

    def candidates(self, fetched: Fetched) -> Sequence[Candidate]:
        limit = self.config.max_message_chars
        out: list[Candidate] = []
        for item in self.items(fetched):
            candidate = item.candidate
            when = item.published
            if when is not None and (self._newest is None or when > self._newest):
                self._newest = when
            if len(candidate.text) > limit:
                self._oversize[candidate.key] = len(candidate.text)
                candidate = replace(candidate, text=NOTICE)
            out.append(candidate)
        return out

    async def poll(self, cursor: str | None) -> PollResult:
        self._oversize, self._newest, self._deferred = {}, None, 0
        result = await super().poll(cursor)
        # fetching.py answers (nothing, no cursor) only when it asked the source nothing
        contacted = result.next_cursor is not None or bool(result.messages)
        report = PollReport(deferred=self._deferred, contacted=contacted)
        report.saw(self._newest)
        messages = tuple(self._refused(m) for m in result.messages)
        for message in messages:
            report.note(message)
        self.last_report = report
        return PollResult(messages, result.next_cursor)

    def _refused(self, message: InboundMessage) -> InboundMessage:
        key = message.edit_of if message.edit_of is not None else message.external_id
        size = self._oversize.get(key)
        if size is None or message.text != NOTICE:
            return message
        limit = self.config.max_message_chars
        return replace(
            message,
            content_type=f"{REFUSED_PREFIX}; chars={size}; max={limit}",
            edit_of=None,
            reply_to=None,
        )

    async def _room(self) -> bool:
        """The inbound budget (fetching.py); a refusal is counted for the report."""
        ok = await super()._room()
        if not ok:
            self._deferred += 1
        return ok

    async def probe(self, cursor: str | None = None) -> ChannelProbe:
        """One GET through the same guarded fetch and politeness budget, conditional on
        the validators ``cursor`` (the channel's saved one) holds, read as a poll would;
        kernel errors are raised (a feed's URL holds no secret)."""
        state = load_cursor(cursor)
        validators = {k: state[k] for k in ("etag", "modified") if isinstance(state.get(k), str)}
        await self._politeness.acquire(max_wait=POLITENESS_WAIT)
        fetched = await self._guard.call(lambda: self._get(validators), idempotent=True)
        if fetched.not_modified:
            return ChannelProbe(True, f"{self.type}: reachable, not modified since the last poll")
        found = await asyncio.to_thread(self.items, fetched)
        return self.judge(len(found))

    def judge(self, count: int) -> ChannelProbe:
        """The probe's verdict on a document with ``count`` items."""
        return ChannelProbe(True, f"{self.type}: fetched and read, {count} item(s) found")


def cursor_notes(cursor: str | None) -> list[dict[str, str]]:
    """The notes (cuts, deferrals) a fetching cursor keeps, for an operator to read."""
    notes = load_cursor(cursor).get("notes")
    return [n for n in notes if isinstance(n, dict)] if isinstance(notes, list) else []
