"""What the polled HTTP channels (RSS/Atom, web pages) share: deps, config, fetch, limits.

Every fetch goes through the integration kernel: a client from the one
:class:`~signalbridge.integrations.http.HttpClientFactory` with ``user_url=True`` (the SSRF
guard checks the configured URL and every redirect hop; only the operator's
``allowed_hosts`` opens internal addresses), the response size and time caps, and the
channel's :class:`~signalbridge.integrations.guard.ConnectionGuard` (bounded retries,
circuit breaker, health). Politeness is a rate limit per *host* from the kernel's limiter,
so every channel reading one site shares one budget (in Redis when several workers run).

The cursor (kept by the polling runner in ``channel_cursors``) is a small JSON object:
the HTTP validators for conditional GET (RFC 7232: ``ETag`` → ``If-None-Match``,
``Last-Modified`` → ``If-Modified-Since``; 304 means nothing new), when the source is next
due (its own interval), and the items already delivered with their content hash. Items
over the channel's inbound rate limit are not marked, and the validators are not moved,
so the next poll reads them again instead of losing them.

An item longer than ``max_message_chars`` is refused, never cut: a signal cut short could
trade without its stop loss or its last targets. Its refusal (channels/inbound_limits.py:
a fixed notice, the reason in ``content_type``) takes its place, is stored once as a
rejected message with the reason, and is noted in the cursor (channels/http_limits.py
adds the poll's report for the channel's health).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import structlog
from limits import RateLimitItem, parse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from signalbridge.channels.base import InboundMessage, PollResult
from signalbridge.channels.inbound_limits import limit_size, refusal_reason
from signalbridge.integrations.errors import (
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory, fetch
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.ssrf import url_syntax_problem

log = structlog.get_logger("signalbridge.channels")

#: Items remembered per channel (delivered ids and their content hashes).
MAX_REMEMBERED = 1000
#: Notes (refused messages, deferred items) kept in the cursor for an operator to read.
MAX_NOTES = 20
#: External ids are stored in a 200-character column; longer keys are hashed.
MAX_KEY = 160
MAX_URL = 2048
#: How long a poll waits for room in the host's politeness budget before trying later.
POLITENESS_WAIT = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ChannelDeps:
    """What a polled channel needs of the process: the kernel and its HTTP factory.

    The polling runner passes one to ``from_config`` (see jobs/polling.py); ``clock`` is
    replaceable so tests can move time past a channel's interval.
    """

    http: HttpClientFactory
    kernel: Kernel
    clock: Callable[[], datetime] = _utcnow


class FeedRefused(InvalidRequest):
    """The source's bytes are refused (an XML bomb, not a feed, not a page): clear error."""


def _rate(value: str, what: str) -> str:
    try:
        parse(value)
    except ValueError:
        raise ValueError(f"{what} must be a rate such as '12/minute' or '100 per hour'") from None
    return value


class PolledHttpConfig(BaseModel):
    """Settings every polled HTTP channel has; the kinds add their own fields."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL, description="http(s) URL of the feed or page")
    interval_seconds: int = Field(
        default=300, ge=1, le=86_400, description="how often the source is fetched"
    )
    host_rate_limit: str = Field(
        default="12/minute",
        max_length=40,
        description="politeness: requests per host, shared by every channel reading it",
    )
    max_message_chars: int = Field(
        default=4000,
        ge=100,
        le=100_000,
        description="inbound limit: an item with longer text is refused, never cut (stored "
        "as a rejected message with the reason, noted in the channel's health)",
    )
    rate_limit: str = Field(
        default="60/hour",
        max_length=40,
        description="inbound limit: messages this channel delivers; the rest wait for a later poll",
    )
    max_response_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=10 * 1024 * 1024)
    timeout_seconds: float = Field(default=20.0, gt=0, le=60)
    backfill: bool = Field(
        default=False,
        description="deliver the items already there at the first poll; by default they "
        "are only remembered, so connecting a source never replays its old posts",
    )

    @field_validator("url")
    @classmethod
    def _plain_url(cls, value: str) -> str:
        """Refused at save what no operator setting makes safe; addresses are checked by
        the SSRF guard on every request and redirect hop."""
        problem = url_syntax_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("host_rate_limit")
    @classmethod
    def _host_rate(cls, value: str) -> str:
        return _rate(value, "host_rate_limit")

    @field_validator("rate_limit")
    @classmethod
    def _inbound_rate(cls, value: str) -> str:
        return _rate(value, "rate_limit")


@dataclass(frozen=True)
class Fetched:
    """One answer from the source: 304 (``not_modified``) or a body with its validators."""

    not_modified: bool
    body: bytes = b""
    url: str = ""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An item found in the source, before the cursor says whether it is new.

    ``key`` identifies the item across polls (a guid, a link hash, a page item's id);
    ``version`` is the hash of its content ("" when the kind tracks no edits).
    """

    key: str
    text: str
    version: str = ""


def short_hash(data: str | bytes, length: int = 32) -> str:
    """Hex SHA-256 prefix; ids and content hashes of items."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:length]


def item_key(prefix: str, value: str) -> str:
    """``value`` itself when it fits the id column, else ``prefix:`` and its hash."""
    if 0 < len(value) <= MAX_KEY and value.isprintable():
        return value
    return f"{prefix}:{short_hash(value)}"


def load_cursor(cursor: str | None) -> dict[str, Any]:
    """The cursor's state; a cursor that is not ours (or damaged) starts afresh."""
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def dump_cursor(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def cut_text(text: str, limit: int) -> tuple[str, str | None]:
    """``text`` within ``limit`` characters, and why it was cut (None when it fits).

    Only a reading cap (``MAX_READ_CHARS``, far above any ``max_message_chars``) is applied
    with it; text over a channel's ``max_message_chars`` is refused (``limit_size``)."""
    if len(text) <= limit:
        return text, None
    return (
        text[: limit - 1].rstrip() + "…",
        f"cut from {len(text)} to {limit} characters (reading cap)",
    )


class HttpPollingChannel(ABC):
    """A polled channel over HTTP: due check, politeness, conditional GET, inbound limits.

    Subclasses set ``type`` and ``accept`` and implement :meth:`candidates`, which reads
    the fetched bytes (never a URL) into items, oldest first.
    """

    type: ClassVar[str] = ""
    accept: ClassVar[str] = "*/*"

    def __init__(self, config: PolledHttpConfig, *, channel_id: int, deps: ChannelDeps) -> None:
        self.config = config
        self.channel_id = channel_id
        self._deps = deps
        self._guard = deps.kernel.guard("channel", channel_id, self.type)
        self.host = httpx.URL(config.url).host
        self._politeness = deps.kernel.limiter.for_connection(
            f"host:{self.host}", provider_limits=(config.host_rate_limit,)
        )
        self._inbound: RateLimitItem = parse(config.rate_limit)

    @classmethod
    def from_config(
        cls, config: PolledHttpConfig, *, channel_id: int, deps: ChannelDeps | None
    ) -> HttpPollingChannel:
        """What the polling runner calls (the registry's plain ``factory(config)`` cannot
        hand over the kernel or the channel's id)."""
        if deps is None:
            raise TypeError(f"a {cls.type} channel needs the kernel (ChannelDeps)")
        return cls(config, channel_id=channel_id, deps=deps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channel_id={self.channel_id}, host={self.host!r})"

    @abstractmethod
    def candidates(self, fetched: Fetched) -> Sequence[Candidate]:
        """The items in the fetched bytes, oldest first; :class:`FeedRefused` if none can be
        read."""

    async def poll(self, cursor: str | None) -> PollResult:
        """New items and edits since ``cursor``; nothing (cursor kept) when not due or the
        host's budget is spent. Fetch errors are raised: the runner keeps the cursor."""
        state = load_cursor(cursor)
        now = self._deps.clock()
        due = state.get("next_at")
        if isinstance(due, str) and now < _parse_time(due, now):
            return PollResult((), None)  # not due yet: the cursor stays as it is
        try:
            await self._politeness.acquire(max_wait=POLITENESS_WAIT)
        except RateLimited:
            log.info("host budget spent; polling later", channel_id=self.channel_id)
            return PollResult((), None)
        fetched = await self._guard.call(lambda: self._get(state), idempotent=True)
        state["next_at"] = (now + timedelta(seconds=self.config.interval_seconds)).isoformat()
        if fetched.not_modified:
            return PollResult((), dump_cursor(state))
        # Parsing a large document is CPU work: off the event loop, which also answers
        # webhooks (TradingView gives up after 3 s).
        found = await asyncio.to_thread(self.candidates, fetched)
        messages, complete = await self._admit(found, state, now)
        if complete:  # validators move only once everything in this body is delivered
            state["etag"] = fetched.etag
            state["modified"] = fetched.last_modified
        state["primed"] = True
        return PollResult(tuple(messages), dump_cursor(state))

    async def _get(self, state: dict[str, Any]) -> Fetched:
        cfg = self._deps.http.config.with_(
            follow_redirects=True,
            max_response_bytes=self.config.max_response_bytes,
            total_timeout=self.config.timeout_seconds,
        )
        headers = {"Accept": self.accept}
        if isinstance(state.get("etag"), str):
            headers["If-None-Match"] = state["etag"]
        if isinstance(state.get("modified"), str):
            headers["If-Modified-Since"] = state["modified"]
        async with self._deps.http.create(
            f"channel:{self.channel_id}", user_url=True, config=cfg
        ) as client:
            response = await fetch(
                client,
                "GET",
                self.config.url,
                max_bytes=self.config.max_response_bytes,
                deadline=self.config.timeout_seconds,
                headers=headers,
            )
        status = response.status_code
        if status == 304:
            return Fetched(not_modified=True)
        if status == 429 or status == 503:
            raise RateLimited(f"the source answered {status}", retry_after=_retry_after(response))
        if status >= 500:
            raise TransientError(f"the source answered {status}")
        if status != 200:
            raise InvalidRequest(f"the source answered {status}; expected 200 or 304")
        return Fetched(
            not_modified=False,
            body=response.content,
            url=str(response.request.url),
            content_type=response.headers.get("content-type", ""),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    async def _admit(
        self, found: Sequence[Candidate], state: dict[str, Any], now: datetime
    ) -> tuple[list[InboundMessage], bool]:
        """New items and edits as messages, within the inbound limits; whether all fit."""
        stored = state.get("seen")
        seen: dict[str, str] = stored if isinstance(stored, dict) else {}
        notes: list[dict[str, str]] = [n for n in state.get("notes", []) if isinstance(n, dict)]
        replay = not state.get("primed") and not self.config.backfill
        messages: list[InboundMessage] = []
        complete = True
        for item in found:
            before = seen.get(item.key)
            if before is not None and (not item.version or before == item.version):
                continue
            if not replay:
                if not await self._room():
                    complete = False
                    notes.append(_note(now, item.key, "deferred: inbound rate_limit reached"))
                    break
                edit = before is not None
                external_id = f"{item.key}~{item.version[:16]}" if edit else item.key
                message = limit_size(
                    InboundMessage(
                        external_id=external_id,
                        text=item.text,
                        received_at=now,
                        edit_of=item.key if edit else None,
                    ),
                    self.config.max_message_chars,
                )  # refused, never cut
                why = refusal_reason(message)
                if why is not None:
                    notes.append(_note(now, external_id, why))
                    log.warning("message refused", channel_id=self.channel_id, reason=why)
                messages.append(message)
            seen.pop(item.key, None)
            seen[item.key] = item.version
        while len(seen) > MAX_REMEMBERED:
            seen.pop(next(iter(seen)))
        state["seen"] = seen
        state["notes"] = notes[-MAX_NOTES:]
        return messages, complete

    async def _room(self) -> bool:
        """One message of the channel's inbound budget, or False when it is spent."""
        scope = (self._inbound, ("inbound", str(self.channel_id)))
        try:
            await self._deps.kernel.limiter.take([scope], 1, wait=False, max_wait=0)
        except RateLimited:
            return False
        return True


def _note(now: datetime, external_id: str, reason: str) -> dict[str, str]:
    return {"at": now.isoformat(), "external_id": external_id, "reason": reason}


def _parse_time(text: str, default: datetime) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return default
    return value if value.utcoffset() is not None else default


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return min(max(float(raw), 0.0), 3600.0)
    except ValueError:
        return None


__all__ = [
    "Candidate",
    "ChannelDeps",
    "FeedRefused",
    "Fetched",
    "HttpPollingChannel",
    "PolledHttpConfig",
    "cut_text",
    "dump_cursor",
    "item_key",
    "load_cursor",
    "short_hash",
]
