"""Response bodies with a size cap (after decompression) and a total-time cap.

A hostile or broken server can send a gzip bomb (a few KB that inflate to GB) or an endless
body trickled one byte at a time, which per-read timeouts never stop. The transport wraps
every response stream in :class:`BoundedStream`: gzip/deflate is inflated here with a bounded
output size (so httpx sees plain bytes) and the whole exchange must finish by a deadline.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from signalbridge.integrations.errors import InvalidRequest, TransientError

_INFLATE_CHUNK = 64 * 1024


class ResponseTooLarge(InvalidRequest):
    """The response body exceeded the size cap (measured after decompression)."""


class ResponseDeadlineExceeded(TransientError):
    """The exchange did not finish within the total time budget."""


class _Inflater:
    """zlib inflation whose output per step is bounded (``max_length``)."""

    def __init__(self, encoding: str) -> None:
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._encoding = encoding
        self._obj = zlib.decompressobj(wbits)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflate lazily, at most 64 KiB per step, so a consumer can stop at its cap."""
        pending = data
        while pending:
            try:
                chunk = self._obj.decompress(pending, _INFLATE_CHUNK)
            except zlib.error:
                if self._first and self._encoding == "deflate":
                    # Some servers send raw deflate without the zlib header.
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise InvalidRequest("response body is not valid compressed data") from None
            self._first = False
            if chunk:
                yield chunk
            pending = self._obj.unconsumed_tail
            if self._obj.eof or (not chunk and not pending):
                break

    def flush(self) -> bytes:
        return self._obj.flush(_INFLATE_CHUNK)


class BoundedStream(httpx.AsyncByteStream):
    """Yields at most ``max_bytes`` of (decoded) body and stops at ``deadline`` (loop time)."""

    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        *,
        max_bytes: int | None,
        deadline: float | None,
        encoding: str | None = None,
    ) -> None:
        self._inner = inner
        self._max = max_bytes
        self._deadline = deadline
        self._inflater = _Inflater(encoding) if encoding in ("gzip", "deflate") else None
        self._seen = 0

    def _count(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._max is not None and self._seen > self._max:
            raise ResponseTooLarge(f"response body exceeds the {self._max}-byte cap")
        return chunk

    async def _next_raw(self, it: AsyncIterator[bytes]) -> bytes:
        if self._deadline is None:
            return await anext(it)
        remaining = self._deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise ResponseDeadlineExceeded("response not complete within the total time budget")
        try:
            async with asyncio.timeout(remaining):
                return await anext(it)
        except TimeoutError:
            raise ResponseDeadlineExceeded(
                "response not complete within the total time budget"
            ) from None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        it = aiter(self._inner)
        while True:
            try:
                raw = await self._next_raw(it)
            except StopAsyncIteration:
                break
            if self._inflater is None:
                yield self._count(raw)
                continue
            for piece in self._inflater.feed(raw):
                yield self._count(piece)
        if self._inflater is not None:
            tail = self._inflater.flush()
            if tail:
                yield self._count(tail)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def bound_response(
    response: httpx.Response, *, max_bytes: int | None, deadline: float | None
) -> httpx.Response:
    """A response whose stream is bounded; gzip/deflate is decoded here, headers adjusted."""
    encoding = response.headers.get("content-encoding", "").strip().lower() or None
    decode_here = encoding in ("gzip", "deflate")
    if (
        not decode_here
        and max_bytes is not None
        and (length := response.headers.get("content-length", "")).isdigit()
        and int(length) > max_bytes
    ):
        await response.aclose()
        raise ResponseTooLarge(f"response body exceeds the {max_bytes}-byte cap (Content-Length)")
    headers = response.headers.copy()
    if decode_here:
        del headers["content-encoding"]
        if "content-length" in headers:
            del headers["content-length"]
    assert isinstance(response.stream, httpx.AsyncByteStream)
    return httpx.Response(
        status_code=response.status_code,
        headers=headers,
        stream=BoundedStream(
            response.stream,
            max_bytes=max_bytes,
            deadline=deadline,
            encoding=encoding if decode_here else None,
        ),
        extensions=response.extensions,
    )
