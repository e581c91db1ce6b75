"""The session-wide guard in tests/conftest.py: only loopback may be dialled."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest


def test_plain_socket_to_public_address_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(OSError, match="non-loopback"):
            s.connect(("192.0.2.10", 80))
        with pytest.raises(OSError, match="non-loopback"):
            s.connect_ex(("10.0.0.1", 80))


def test_create_connection_is_refused() -> None:
    with pytest.raises(OSError, match="non-loopback"):
        socket.create_connection(("198.51.100.7", 443), timeout=1)


async def test_asyncio_and_httpx_are_refused() -> None:
    with pytest.raises(OSError, match="non-loopback"):
        await asyncio.open_connection("203.0.113.5", 80)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get("http://203.0.113.5/")
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
        if isinstance(exc, BaseExceptionGroup):
            chain.extend(exc.exceptions)
    assert any("non-loopback" in str(e) for e in chain)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
