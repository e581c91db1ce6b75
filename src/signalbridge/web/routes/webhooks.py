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
polled channel's messages do.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalbridge.channels.base import InboundMessage
from signalbridge.channels.source_allowlist import client_address, preset_networks, proxy_networks
from signalbridge.channels.webhook import Delivery, WebhookChannel, header_problems
from signalbridge.services.ingest import delivery_id
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError

router = APIRouter(tags=["webhooks"])

UNAUTHENTICATED = (
    "the delivery is not authenticated: its signature (or the secret in its body) is "
    "missing or wrong"
)


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
    result = await c.intake.receive(channel, message, parse_text=hook.parse_text)
    payload: dict[str, Any] = result.to_dict()
    if result.status == m.MessageStatus.REJECTED:
        raise ApiError(422, result.error or "the message is not a valid signal", details=payload)
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
