"""``POST /webhooks/channels/{id}``: authenticated deliveries in, stored once, answered fast.

The answer only confirms storage; dispatch and execution run on the queue, so senders
with short timeouts (TradingView gives up after 3 s) are never kept waiting.

A caller without the channel's secret learns nothing. Whether the channel exists, is
deactivated, is of another type or cannot decrypt its secret, the body is read (capped),
checked with the same work (against a process-random dummy secret where there is no
usable one) and answered with the same 401. Channel rows and misses are cached alike, so
no path reads the database more often than another, and a failure reaches the channel's
health off the request path, at most once a second per channel.

Authentic deliveries then meet the replay checks: a deactivated channel answers 403, a
signed timestamp outside the tolerance 401 (``stale_delivery``), a body already seen on
the channel inside the window 200 with the first delivery's ids (services/replay.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalbridge.bootstrap import Container
from signalbridge.channels.cache import CachedChannel, ChannelCache
from signalbridge.channels.webhook import (
    Delivery,
    WebhookChannel,
    WebhookConfig,
    header_problems,
)
from signalbridge.integrations.errors import AuthenticationError
from signalbridge.integrations.vault import VaultError
from signalbridge.jobs.queue import APPLY_UPDATE, DISPATCH_SIGNAL
from signalbridge.services.ingest import IngestResult, delivery_id, ingest, stored_outcome
from signalbridge.services.interpret import interpret
from signalbridge.services.replay import claim_body, first_message, record_message
from signalbridge.services.secrets import unseal
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError

router = APIRouter(tags=["webhooks"])
log = structlog.get_logger("signalbridge.web.webhooks")

MAX_ID = 2**63 - 1
UNAUTHENTICATED = (
    "the delivery is not authenticated: its signature (or the secret in its body) is "
    "missing or wrong"
)
#: A failed delivery is written to its channel's health at most this often.
FAILURE_NOTE_SECONDS = 1.0
#: How long a channel id that is not a webhook channel is remembered (as the cache does).
MISS_TTL_SECONDS = 2.0
MISS_LIMIT = 4096


class _Unreadable:
    """The authenticator of a channel whose secret the vault cannot decrypt."""


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class WebhookChannels:
    """The process's webhook channels: rows and unsealed secrets cached a short while, ids
    that are no webhook channel remembered as long, and the dummy for those.

    It is ``container.extras["channel_cache"]``: the connection routes call
    :meth:`invalidate` when a channel changes.
    """

    def __init__(self, c: Container) -> None:
        self._vault = c.vault
        self.cache = ChannelCache(c.sessions, self._build, ttl=MISS_TTL_SECONDS)
        self.dummy = WebhookChannel(WebhookConfig())
        self._misses: OrderedDict[int, float] = OrderedDict()

    def _build(self, row: m.ChannelSource) -> WebhookChannel | _Unreadable | None:
        if row.type != "webhook":
            return None
        try:
            secrets = unseal(self._vault, "channel_sources", row.id, row.secrets_enc)
        except VaultError:
            return _Unreadable()
        return WebhookChannel(WebhookConfig.model_validate({**row.config, **secrets}))

    async def get(self, channel_id: int) -> CachedChannel | None:
        """The webhook channel's cache entry, or None (no such id, or another type)."""
        now = time.monotonic()
        missed = self._misses.get(channel_id)
        if missed is not None and now - missed < MISS_TTL_SECONDS:
            return None
        entry = await self.cache.get(channel_id) if 1 <= channel_id <= MAX_ID else None
        if entry is None or entry.authenticator is None:
            self._misses[channel_id] = now
            self._misses.move_to_end(channel_id)
            while len(self._misses) > MISS_LIMIT:
                self._misses.popitem(last=False)
            return None
        self._misses.pop(channel_id, None)
        return entry

    def invalidate(self, channel_id: int | None = None) -> None:
        self.cache.invalidate(channel_id)
        if channel_id is None:
            self._misses.clear()
        else:
            self._misses.pop(channel_id, None)


def webhook_channels(c: Container) -> WebhookChannels:
    channels = c.extras.get("channel_cache")
    if not isinstance(channels, WebhookChannels):
        channels = c.extras["channel_cache"] = WebhookChannels(c)
    return channels


class FailureNotes:
    """Writes failed deliveries to the channel's health in the background, at most once a
    second per channel: a caller cannot time the write, nor make one per request."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, kernel: Any, channel_id: int, reason: str) -> None:
        now = time.monotonic()
        if kernel is None or now - self._last.get(channel_id, -FAILURE_NOTE_SECONDS) < (
            FAILURE_NOTE_SECONDS
        ):
            return
        self._last[channel_id] = now
        task = asyncio.get_running_loop().create_task(self._record(kernel, channel_id, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _record(kernel: Any, channel_id: int, reason: str) -> None:
        try:
            await kernel.record("channel", channel_id, "webhook", AuthenticationError(reason))
        except Exception as exc:  # health is best effort; the delivery was answered already
            log.warning("could not record a failed delivery", error_type=type(exc).__name__)


def failure_notes(c: Container) -> FailureNotes:
    notes = c.extras.get("webhook_failures")
    if not isinstance(notes, FailureNotes):
        notes = c.extras["webhook_failures"] = FailureNotes()
    return notes


@router.post(
    "/webhooks/channels/{channel_id}",
    status_code=202,
    responses={
        200: {"description": "a duplicate: the first delivery's ids"},
        401: {"description": "not authenticated, or a stale signed timestamp"},
        403: {"description": "the channel is deactivated"},
        413: {"description": "body over the size limit"},
        422: {"description": "malformed signed headers, or not a valid signal"},
    },
)
async def receive(channel_id: int, request: Request, c: ContainerDep) -> JSONResponse:
    received_at = utcnow()
    body = await _read_capped(request, c.settings.webhook_max_body_bytes)
    cached = await webhook_channels(c).get(channel_id)
    authenticator = cached.authenticator if cached is not None else None
    hook = authenticator if isinstance(authenticator, WebhookChannel) else None
    delivery = (hook or webhook_channels(c).dummy).verify(body, request.headers)
    kernel = c.extras.get("kernel")
    if cached is None or hook is None or delivery is None:
        if cached is not None:
            reason = (
                "the channel's secret cannot be decrypted; an operator must replace it"
                if hook is None
                else "bad or missing signature"
            )
            failure_notes(c).note(kernel, channel_id, reason)
        raise ApiError(401, UNAUTHENTICATED)
    channel = cached.row
    if not channel.is_active:
        raise ApiError(403, f"channel {channel_id} is deactivated")
    tolerance = hook.tolerance(c.settings.webhook_tolerance_seconds)
    if delivery.timestamp is not None and delivery.delivery_id is not None:
        problems = header_problems(delivery.timestamp, delivery.delivery_id)
        if problems:
            raise ApiError(422, "; ".join(problems), code="invalid_headers")
        stale = hook.stale(delivery, received_at.timestamp(), c.settings.webhook_tolerance_seconds)
        if stale is not None:
            failure_notes(c).note(kernel, channel_id, "stale timestamp")
            raise ApiError(401, stale, code="stale_delivery")
    if kernel is not None:
        await kernel.record("channel", channel_id, "webhook")
    try:
        text = delivery.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "body is not UTF-8 text") from None
    result = await _store(c, request, channel, hook, delivery, text, tolerance, received_at)
    if not result.duplicate:
        if result.execution_ids:
            # The executions were written with the signal: the task only runs them.
            await c.queue.enqueue(DISPATCH_SIGNAL, result.signal_id, list(result.execution_ids))
        if result.update_id is not None and result.status == m.MessageStatus.PARSED:
            await c.queue.enqueue(APPLY_UPDATE, result.update_id)
    payload: dict[str, Any] = result.to_dict()
    if result.status == m.MessageStatus.REJECTED:
        raise ApiError(422, result.error or "the message is not a valid signal", details=payload)
    return JSONResponse(payload, status_code=200 if result.duplicate else 202)


async def _store(
    c: Container,
    request: Request,
    channel: m.ChannelSource,
    hook: WebhookChannel,
    delivery: Delivery,
    text: str,
    window: int,
    received_at: datetime,
) -> IngestResult:
    """Claim the body for the window, then store the message, in one transaction."""
    body_hash = hashlib.sha256(delivery.body).hexdigest()
    interpretation = interpret(text, parse_text=hook.parse_text, template=channel.parse_template)
    async with c.sessions() as session, session.begin():
        claim = await claim_body(session, channel.id, body_hash, received_at, window)
        if claim is None:
            message_id = await first_message(session, channel.id, body_hash)
            return await stored_outcome(session, message_id)
        result = await ingest(
            session,
            channel=channel,
            # hmac: the signed delivery id; body_secret: the body and its window's start
            external_id=delivery_id(
                delivery.body,
                delivery.delivery_id,
                None if delivery.delivery_id is not None else received_at,
            ),
            text=text,
            content_type=request.headers.get("content-type", "text/plain")[:100],
            received_at=received_at,
            interpretation=interpretation,
            dispatch=True,
        )
        await record_message(session, claim, result.message_id)
        return result
