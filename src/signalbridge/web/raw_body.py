"""The raw body of a signed delivery, read whole but never past a cap.

Signatures (ours, Stripe's, PayPal's, CoinPayments', Telegram's secret token) are checked
over the exact bytes received, so the routes that take deliveries read the body
themselves: a declared ``Content-Length`` over the cap is refused before reading, and a
stream that grows past it is cut off there, both with 413.
"""

from __future__ import annotations

from fastapi import Request

from signalbridge.web.errors import ApiError

__all__ = ["read_capped"]


async def read_capped(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes; :class:`ApiError` 413 beyond."""
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
