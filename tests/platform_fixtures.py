"""Fixtures that run the real platform: a database (SQLite file or a fresh PostgreSQL
database), the container, the queue, and an HTTP client on the ASGI app."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.webhook import signed_headers
from signalbridge.integrations.vault import generate_key
from signalbridge.jobs.runtime import Platform
from signalbridge.services.users import ensure_admin
from signalbridge.settings import Settings
from signalbridge.store.migrate import upgrade
from signalbridge.web.app import create_app

PG_ADMIN_DSN = os.environ.get("SIGNALBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable")
    return PG_ADMIN_DSN


def _admin(pg_server: str, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(pg_server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _async_url(pg_server: str, name: str) -> str:
    base = pg_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """One database per test process, migrated to head once: the mould for ``pg_database``.

    Creating a database from a template copies its files, which is several times cheaper
    than running every migration again for each test.
    """
    from signalbridge.store.db import make_engine

    name = f"sb_tmpl_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')

    async def migrate() -> None:
        engine = make_engine(_async_url(pg_server, name))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()  # a template must have no open connection when copied

    try:
        asyncio.run(migrate())
        yield name
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_server: str, pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database already migrated to head, for one test; dropped afterwards."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _async_url(pg_server, name)
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_empty_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, for tests of the migrations themselves."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    try:
        yield _async_url(pg_server, name)
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file per test process, migrated to head once: copied for each test, as
    ``pg_template`` is for PostgreSQL (every migration again costs about half a second)."""
    from signalbridge.store.db import make_engine

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"

    async def migrate() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()  # the last connection closed: no WAL file is left

    asyncio.run(migrate())
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test's own database, SQLite or PostgreSQL, migrated to head."""
    if request.param == "sqlite":
        path = tmp_path / "signalbridge.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        path.chmod(0o600)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of either kind, for tests that run the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'signalbridge.db'}"
    url: str = request.getfixturevalue("pg_empty_database")
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "secret_keys": generate_key(),
        "log_json": False,
        "stuck_after_seconds": 1.0,
        "order_settle_seconds": 1.0,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Harness:
    """The running platform as a test sees it."""

    container: Container
    platform: Platform
    client: httpx.AsyncClient
    admin_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return await self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def webhook_channel(self, name: str = "hook", **settings: Any) -> tuple[int, str]:
        """A webhook channel (``settings``: channel settings such as ``inbound_rate_limit``)."""
        body = await self.ok(
            "POST", "/channels", json={"name": name, "type": "webhook", **settings}
        )
        return body["id"], body["generated_secrets"]["secret"]

    async def paper_connection(self, name: str = "paper", **config: Any) -> int:
        cfg = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, **config}
        body = await self.ok(
            "POST", "/connections", json={"name": name, "type": "paper", "config": cfg}
        )
        return int(body["id"])

    async def follow(self, channel_id: int, connection_id: int, **fields: Any) -> int:
        payload = {
            "channel_id": channel_id,
            "connection_id": connection_id,
            "sizing": {"mode": "fixed_quote", "value": "100"},
            **fields,
        }
        return int((await self.ok("POST", "/follows", json=payload))["id"])

    async def post_signal(
        self,
        channel_id: int,
        secret: str,
        payload: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        delivery: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        """POST as a signing sender: now (or ``timestamp``), a fresh (or given) delivery id."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        all_headers = {
            **signed_headers(secret, body, timestamp=timestamp, delivery=delivery),
            "Content-Type": "application/json",
            **headers,
        }
        return await self.client.post(
            f"/webhooks/channels/{channel_id}", content=body, headers=all_headers
        )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll ``check`` until it is true; fail with a clear message after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def harness(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with running_harness(make_settings(tmp_path, database_url)) as h:
        yield h


class running_harness:
    def __init__(self, settings: Settings, *, scheduler: bool = False) -> None:
        self.settings = settings
        self.scheduler = scheduler

    async def __aenter__(self) -> Harness:
        container = build_container(self.settings)
        await upgrade(container.engine)
        platform = Platform(container, worker=True, scheduler=self.scheduler)
        await platform.start()
        admin = await ensure_admin(container.sessions, "admin@example.com", "correct horse battery")
        assert admin is not None
        app = create_app(container)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://sb.test",
        )
        self.h = Harness(container, platform, client, admin.token)
        return self.h

    async def __aexit__(self, *exc: object) -> None:
        await self.h.client.aclose()
        await self.h.platform.stop()


SIGNAL = {
    "kind": "signal",
    "symbol": "BTC/USDT",
    "side": "long",
    "order_type": "limit",
    "entry": {"low": "59900", "high": "60100"},
    "stop_loss": "58000",
    "take_profits": ["62000", "64000"],
    "leverage": 10,
}
