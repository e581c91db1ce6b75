"""An aiohttp application on 127.0.0.1, served from its own thread and event loop.

Fakes of vendors whose clients are synchronous or live on another loop (ccxt, the
Telegram client under test, python-telegram-bot) run here: a subclass answers every
path in ``_handle`` and may add to the app in ``_configure``. The port is bound before
the thread starts, so ``base_url`` is valid as soon as ``start`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any, Self, TypeVar

import pytest
from aiohttp import web

S = TypeVar("S", bound="ThreadedAiohttpServer")


class ThreadedAiohttpServer:
    """Start/stop (or ``with``) a loopback aiohttp server; subclasses implement ``_handle``."""

    #: the thread's name, and the server's name in a start-up failure
    name = "fake server"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.port = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), daemon=True, name=self.name
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def _configure(self, app: web.Application) -> None:
        """Add to the app before it starts (middlewares, response hooks); on the loop."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._configure(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
        self._runner = runner
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()


def reset_connection(request: web.Request) -> None:
    """Drop the request's TCP connection with an RST (SO_LINGER 0), as a load balancer that
    lost its backend does: the client sees a reset, not an answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def fake_fixtures(make: Callable[[], S], name: str) -> tuple[Any, Any]:
    """A threaded fake's two fixtures: ``<name>_server``, one server started per test
    module, and ``fake_<name>``, that server reset (``reset()``) before each test. A module
    imports both names (``server, fake = fake_fixtures(FakeX, "x")`` where the fake lives)."""

    @pytest.fixture(scope="module", name=f"{name}_server")
    def server() -> Iterator[S]:
        with make() as fake:
            yield fake

    @pytest.fixture(name=f"fake_{name}")
    def fresh(request: pytest.FixtureRequest) -> S:
        fake: Any = request.getfixturevalue(f"{name}_server")
        fake.reset()
        return fake  # type: ignore[no-any-return]

    return server, fresh
