"""A real HTTP/1.1 server on loopback that answers in scripted patterns and counts hits.

Runs its own asyncio loop in a thread, so sync tests, async tests and subprocesses all
talk to it over real sockets. Each path has a queue of :class:`Reply` scripts consumed in
order; when it is empty the path's default (or the server default) answers.

Like the services it stands in for, it can insist on a credential:
:meth:`FlakyServer.require_credential` makes every request whose header does not carry
exactly the expected value answer 401 (the hit is still recorded, the script not consumed).
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the response starts (a slow or hung server)
    reset: bool = False  # drop the connection with a TCP RST, no response
    drip: float | None = None  # endless body: one byte every `drip` seconds
    gzip_bomb: int | None = None  # a gzip body that inflates to this many zero bytes
    redirect_to: str | None = None  # 302 to this URL

    @staticmethod
    def rate_limited(retry_after: float, status: int = 429) -> Reply:
        return Reply(
            status=status,
            body=b'{"error":"slow down"}',
            headers={"Retry-After": f"{retry_after:g}"},
        )


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request was read


class FlakyServer:
    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1",), port: int = 0) -> None:
        self.hosts = hosts
        self.port = port
        self.hits: list[Hit] = []
        self.connections = 0
        self.default = Reply()
        self._scripts: dict[str, deque[Reply]] = {}
        self._defaults: dict[str, Reply] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._credential: tuple[str, bytes, Reply] | None = None
        #: Requests answered 401 because their credential was missing or wrong.
        self.refused = 0

    # --- scripting -----------------------------------------------------------------------
    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    def set_default(self, path: str, reply: Reply) -> None:
        with self._lock:
            self._defaults[path] = reply

    def require_credential(self, header: str, value: str, *, refusal: Reply | None = None) -> None:
        """Only requests with ``header: value`` (exactly) are served; others get ``refusal``."""
        if not value:
            raise ValueError("an expected credential must not be empty")
        expected = value.encode("latin-1")  # what an HTTP/1.1 header can carry
        answer = refusal or Reply(
            status=401,
            body=b'{"error":"unauthorized"}',
            headers={"Content-Type": "application/json"},
        )
        with self._lock:
            self._credential = (header.lower(), expected, answer)

    def _refusal(self, headers: dict[str, str]) -> Reply | None:
        with self._lock:
            credential = self._credential
        if credential is None:
            return None
        header, expected, answer = credential
        if hmac.compare_digest(headers.get(header, "").encode("latin-1"), expected):
            return None
        with self._lock:
            self.refused += 1
        return answer

    def url(self, path: str = "/", host: str | None = None) -> str:
        h = host or self.hosts[0]
        if ":" in h:
            h = f"[{h}]"
        return f"http://{h}:{self.port}{path}"

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path.split("?", 1)[0] == path]

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.popleft()
            return self._defaults.get(path, self.default)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FlakyServer:
        self._thread = threading.Thread(target=self._run, name="flaky-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        if self._error is not None:
            raise RuntimeError("fake server failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FlakyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self._bind()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()

    async def _bind(self) -> None:
        for _ in range(20):
            servers: list[asyncio.base_events.Server] = []
            try:
                first = await asyncio.start_server(self._handle, self.hosts[0], self.port)
                servers.append(first)
                port = first.sockets[0].getsockname()[1]
                for host in self.hosts[1:]:
                    servers.append(await asyncio.start_server(self._handle, host, port))
            except OSError:
                for s in servers:
                    s.close()
                if self.port:
                    raise
                continue
            self._servers = servers
            self.port = port
            return
        raise RuntimeError("could not bind the fake server")

    # --- HTTP ----------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                with self._lock:
                    self.hits.append(Hit(method, target, headers, body, time.time()))
                reply = self._refusal(headers) or self._next_reply(target.split("?", 1)[0])
                keep_open = await self._respond(writer, reply)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        headers = dict(reply.headers)
        status = reply.status
        body = reply.body
        if reply.redirect_to is not None:
            status = 302 if reply.status == 200 else reply.status
            headers["Location"] = reply.redirect_to
            body = b""
        if reply.gzip_bomb is not None:
            body = gzip_bomb_bytes(reply.gzip_bomb)
            headers["Content-Encoding"] = "gzip"
        if reply.drip is not None:
            head = f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            head += "Transfer-Encoding: chunked\r\n\r\n"
            writer.write(head.encode("latin-1"))
            while True:
                writer.write(b"1\r\na\r\n")
                await writer.drain()
                await asyncio.sleep(reply.drip)
        head = f"HTTP/1.1 {status} X\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        return True


_BOMB_CACHE: dict[int, bytes] = {}


def gzip_bomb_bytes(size: int) -> bytes:
    """The gzip body served for ``Reply(gzip_bomb=size)`` (cached; build it before measuring)."""
    if size not in _BOMB_CACHE:
        _BOMB_CACHE[size] = gzip.compress(b"\0" * size, compresslevel=9)
    return _BOMB_CACHE[size]
