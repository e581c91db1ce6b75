"""``POST /webhooks/channels/{id}``: signed deliveries in, stored once, answered fast.

The answer only confirms storage; dispatch and execution run on the queue, so senders
with short timeouts (TradingView gives up after 3 s) are never kept waiting.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalbridge.bootstrap import Container
from signalbridge.channels.cache import ChannelCache
from signalbridge.channels.webhook import DELIVERY_HEADER, WebhookChannel, WebhookConfig
from signalbridge.integrations.errors import AuthenticationError
from signalbridge.integrations.vault import VaultError
from signalbridge.jobs.queue import APPLY_UPDATE, DISPATCH_SIGNAL
from signalbridge.services.ingest import delivery_id, ingest
from signalbridge.services.interpret import interpret
from signalbridge.services.secrets import unseal
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.deps import ContainerDep
from signalbridge.web.errors import ApiError

router = APIRouter(tags=["webhooks"])


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


def _channels(c: Container) -> ChannelCache:
    """The process's channel cache (secrets unsealed once, not per delivery)."""
    cache = c.extras.get("channel_cache")
    if cache is None:

        def build(row: m.ChannelSource) -> WebhookChannel | None:
            if row.type != "webhook":
                return None
            try:
                secrets = unseal(c.vault, "channel_sources", row.id, row.secrets_enc)
            except VaultError:
                raise ApiError(
                    500,
                    f"the secret of channel {row.id} cannot be decrypted; "
                    "an operator must replace it",
                    code="credential_unreadable",
                ) from None
            return WebhookChannel(WebhookConfig.model_validate({**row.config, **secrets}))

        cache = c.extras["channel_cache"] = ChannelCache(c.sessions, build)
    return cache  # type: ignore[no-any-return]


@router.post("/webhooks/channels/{channel_id}", status_code=202)
async def receive(channel_id: int, request: Request, c: ContainerDep) -> JSONResponse:
    received_at = utcnow()
    cached = await _channels(c).get(channel_id)
    if cached is None or cached.row.type != "webhook":
        raise ApiError(404, f"no webhook channel {channel_id}")
    channel = cached.row
    if not channel.is_active:
        raise ApiError(403, f"channel {channel_id} is deactivated")
    body = await _read_capped(request, c.settings.webhook_max_body_bytes)
    hook: WebhookChannel = cached.authenticator
    kernel = c.extras.get("kernel")
    if not hook.authenticate(body, {k.lower(): v for k, v in request.headers.items()}):
        if kernel is not None:
            await kernel.record(
                "channel", channel_id, "webhook", AuthenticationError("bad or missing signature")
            )
        raise ApiError(401, "signature is missing or does not match the body")
    if kernel is not None:
        await kernel.record("channel", channel_id, "webhook")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "body is not UTF-8 text") from None
    interpretation = interpret(text, parse_text=hook.parse_text, template=channel.parse_template)
    async with c.sessions() as session, session.begin():
        result = await ingest(
            session,
            channel=channel,
            external_id=delivery_id(body, request.headers.get(DELIVERY_HEADER)),
            text=text,
            content_type=request.headers.get("content-type", "text/plain")[:100],
            received_at=received_at,
            interpretation=interpretation,
            dispatch=True,
        )
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
