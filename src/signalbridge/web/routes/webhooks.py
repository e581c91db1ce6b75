"""``POST /webhooks/channels/{id}``: authenticated deliveries in, stored once, answered fast.

The answer only confirms storage; dispatch and execution run on the queue, so senders
with short timeouts (TradingView gives up after 3 s) are never kept waiting.

A caller without the channel's secret learns nothing. Whether the channel exists, is
deactivated, is of another type or cannot decrypt its secret, the body is read (capped),
checked with the same work (against a process-random dummy secret where there is no
usable one) and answered with the same 401. Channel rows and misses are cached alike, so
no path reads the database more often than another, and a failure reaches the channel's
health off the request path, at most once a second per channel.

A channel with ``allowed_sources`` answers a delivery from any other address with that
same 401, secret or not, and counts and logs it without its body
(channels/source_allowlist.py).

Authentic deliveries then meet the replay checks: a deactivated channel answers 403, a
signed timestamp outside the tolerance 401 (``stale_delivery``), a body already seen on
the channel inside the window 200 with the first delivery's ids (services/replay.py).

Past those HTTP concerns the route is a thin adapter: the delivery becomes an
:class:`InboundMessage` and goes through the one intake path (services/intake.py), as a
polled channel's messages do, within the channel's push limits
(services/inbound_limits.py: ``inbound_rate_limit``, ``max_message_chars``). A delivery
over the rate answers 429 with ``Retry-After`` and stores nothing, so the sender's retry
is taken later and nothing is lost; a message over the size limit is never cut (a cut
signal could trade without its stop loss): it is stored once as a rejected message whose
error says why, and answers 422 (``message_too_long``) like any rejected message, so a
retry of it is a duplicate that changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalbridge.bootstrap import Container
from signalbridge.channels.base import InboundMessage
from signalbridge.channels.source_allowlist import client_address, preset_networks, proxy_networks
from signalbridge.channels.webhook import Delivery, WebhookChannel, header_problems
from signalbridge.services.channel_health import ChannelHealthBook
from signalbridge.services.inbound_limits import Limits, OverRate, PushLimits
from signalbridge.services.ingest import IngestResult, delivery_id
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError, ErrorBody, error_response
from signalbridge.web.raw_body import read_capped

router = APIRouter(tags=["webhooks"])

UNAUTHENTICATED = (
    "the delivery is not authenticated: its signature (or the secret in its body) is "
    "missing or wrong"
)
#: The 429 a delivery over its channel's inbound rate answers (both webhook routes).
OVER_RATE_RESPONSE: dict[str, Any] = {
    "model": ErrorBody,
    "description": "over the channel's inbound rate: nothing stored; send it again after "
    "Retry-After seconds",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


def push_limits(c: Container) -> PushLimits:
    """The push limits of the process: the kernel's limiter, the channels' health book."""
    return PushLimits(c.kernel.limiter, ChannelHealthBook(c.sessions), c.sessions)


def over_rate(exc: OverRate) -> JSONResponse:
    """429 with ``Retry-After``: the sender (Telegram, most webhook senders) tries later."""
    response = error_response(429, str(exc), "over_rate")
    response.headers["Retry-After"] = exc.retry_after_header
    return response


@router.post(
    "/webhooks/channels/{channel_id}",
    status_code=202,
    responses={
        200: {"description": "a duplicate: the first delivery's ids"},
        401: {"description": "not authenticated, or a stale signed timestamp"},
        403: {"description": "the channel is deactivated"},
        413: {"description": "body over the size limit (webhook_max_body_bytes); nothing stored"},
        422: {
            "description": "malformed signed headers, or not a valid signal, or a message over "
            "the channel's max_message_chars (code message_too_long): stored once as "
            "rejected, its reason in the message"
        },
        429: OVER_RATE_RESPONSE,
    },
)
async def receive(channel_id: int, request: Request, c: ContainerDep) -> JSONResponse:
    received_at = utcnow()
    body = await read_capped(request, c.settings.webhook_max_body_bytes)
    cached = await c.webhook_channels.get(channel_id)
    authenticator = cached.authenticator if cached is not None else None
    hook = authenticator if isinstance(authenticator, WebhookChannel) else None
    delivery = (hook or c.webhook_channels.dummy).verify(body, request.headers)
    if cached is None or hook is None or delivery is None:
        if cached is not None:
            reason = (
                "the channel's secret cannot be decrypted; an operator must replace it"
                if hook is None
                else "bad or missing signature"
            )
            c.webhook_failures.note(channel_id, reason)
        raise ApiError(401, UNAUTHENTICATED)
    source = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        proxy_networks(tuple(c.settings.trusted_proxies)),
    )
    if not hook.sources.admits(source, preset_networks(tuple(c.settings.tradingview_sources))):
        c.webhook_channels.refusals.note(channel_id, source)
        c.webhook_failures.note(channel_id, "delivery from a source outside the allow-list")
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
            c.webhook_failures.note(channel_id, "stale timestamp")
            raise ApiError(401, stale, code="stale_delivery")
    await c.kernel.record("channel", channel_id, "webhook")
    try:
        text = delivery.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "body is not UTF-8 text") from None
    message = inbound_message(
        delivery, text, request.headers.get("content-type", "text/plain"), received_at, tolerance
    )
    try:
        result = await push_limits(c).receive(
            c.intake, channel, message, parse_text=hook.parse_text
        )
    except OverRate as exc:
        return over_rate(exc)
    return delivery_answer(result, message, channel, result.to_dict())


def delivery_answer(
    result: IngestResult, message: InboundMessage, channel: m.ChannelSource, payload: dict[str, Any]
) -> JSONResponse:
    """What a push delivery is answered: 422 when stored as rejected (with its reasons),
    else 202 for a new message and 200 for a duplicate, ``payload`` as the body."""
    if result.status == m.MessageStatus.REJECTED:
        too_long = len(message.text) > Limits.of(channel).max_message_chars
        raise ApiError(
            422,
            result.error or "the message is not a valid signal",
            code="message_too_long" if too_long else None,
            details=payload,
        )
    return JSONResponse(payload, status_code=200 if result.duplicate else 202)


def inbound_message(
    delivery: Delivery, text: str, content_type: str, received_at: datetime, window: int
) -> InboundMessage:
    """The delivery as the intake takes it: keyed by the signed delivery id (hmac), or by
    the body and its window's start (body_secret), and claimed for the replay window."""
    return InboundMessage(
        external_id=delivery_id(
            delivery.body,
            delivery.delivery_id,
            None if delivery.delivery_id is not None else received_at,
        ),
        text=text,
        received_at=received_at,
        content_type=content_type,
        body_hash=hashlib.sha256(delivery.body).hexdigest(),
        replay_window_seconds=window,
    )
