"""Fixtures that run the real platform: a database (SQLite file or a fresh PostgreSQL
database), the container, the queue, and an HTTP client on the ASGI app."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import State

from signalbridge.bootstrap import Container, build_container
from signalbridge.channels.webhook import signed_headers
from signalbridge.integrations.vault import generate_key
from signalbridge.jobs.runtime import Platform
from signalbridge.services import auth
from signalbridge.services.users import ensure_admin
from signalbridge.settings import Settings
from signalbridge.store.migrate import alembic_config, upgrade
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


class PgClones:
    """Copies of one test process's template, each made while the test before runs and
    dropped while the test after runs, on a thread of their own.

    A clone and a drop cost the server a second or so of copying and syncing files; the
    test needs neither to wait for it. Each test still gets a database nobody used.
    """

    def __init__(self, pg_server: str, template: str) -> None:
        self.pg_server = pg_server
        self.template = template
        # one thread: a copy is never made while another is, nor while a drop runs
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-clones")
        self.ahead: Future[str] | None = None

    def create(self) -> str:
        name = f"sb_test_{uuid.uuid4().hex[:12]}"
        _admin(self.pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        _admin(self.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def take(self) -> str:
        """A fresh clone (made ahead when possible); the next one is started at once."""
        ready = self.ahead or self.thread.submit(self.create)
        self.ahead = self.thread.submit(self.create)
        return ready.result()

    def give_back(self, name: str) -> None:
        self.thread.submit(self.drop, name)

    def close(self) -> None:
        """Wait for every drop; drop the clone made for a test that never came."""
        if self.ahead is not None:
            self.thread.submit(self.drop, self.ahead.result())
        self.thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_clones(pg_server: str, pg_template: str) -> Iterator[PgClones]:
    clones = PgClones(pg_server, pg_template)
    try:
        yield clones
    finally:
        clones.close()


@pytest.fixture
def pg_database(pg_clones: PgClones) -> Iterator[str]:
    """A fresh PostgreSQL database already migrated to head, for one test; dropped afterwards."""
    name = pg_clones.take()
    try:
        yield _async_url(pg_clones.pg_server, name)
    finally:
        pg_clones.give_back(name)


@pytest.fixture
def pg_empty_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, for tests of the migrations themselves."""
    name = f"sb_test_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    try:
        yield _async_url(pg_server, name)
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@cache
def sqlite_template_file() -> Path:
    """One SQLite file per test process, migrated to head once: copied for each test, as
    ``pg_template`` is for PostgreSQL (every migration again costs about half a second).

    Made on a thread of its own, so that code already inside an event loop can ask for it;
    removed when the process ends."""
    from signalbridge.store.db import make_engine

    folder = Path(tempfile.mkdtemp(prefix="sb-sqlite-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"

    async def migrate() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()  # the last connection closed: no WAL file is left

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, migrate()).result()
    return path


def migrated_sqlite_url(path: Path) -> str:
    """A new SQLite database at ``path``, migrated to head (a copy of the template)."""
    shutil.copyfile(sqlite_template_file(), path)
    path.chmod(0o600)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    return sqlite_template_file()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test's own database, SQLite or PostgreSQL, migrated to head."""
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path / "signalbridge.db")
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
    #: the app ``client`` talks to: a client from another address or with its own cookies
    #: is another ``httpx.ASGITransport`` on it, not a second app (building one costs ~1 s)
    app: FastAPI

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


@cache
def head_revisions() -> frozenset[str]:
    """The migrations' heads, read once: the scripts do not change during a run."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """``upgrade(engine)``, without Alembic reading every script again when the database
    is at head already (Alembic would then do nothing either)."""
    async with engine.connect() as conn:
        current = await conn.run_sync(
            lambda sync: frozenset(MigrationContext.configure(sync).get_current_heads())
        )
    if current != head_revisions():
        await upgrade(engine)


@contextmanager
def password_hashed_once() -> Iterator[None]:
    """While the harness makes its admin: each password is hashed by the real argon2
    ``hash_password`` once per test process, and that hash reused.

    Argon2 is slow on purpose (half a second on a busy two-core machine, on every core);
    the harness's admin always has the same password. The stored hash is still a real
    argon2 hash of it, so logging in as that admin checks what it checked."""
    real = auth.hash_password
    mp = pytest.MonkeyPatch()
    mp.setattr(auth, "hash_password", _remembered_hashes(real))
    try:
        yield
    finally:
        mp.undo()


@cache
def _remembered_hashes(real: Callable[[str], str]) -> Callable[[str], str]:
    return cache(real)


#: Apps made by ``create_app`` and no longer used by a harness.
_idle_apps: list[FastAPI] = []


def checkout_app(container: Container) -> FastAPI:
    """An app on ``container``: one an earlier harness used, or a new one.

    ``create_app`` builds the same routes whatever the container (it only stores the
    container in ``app.state``), and FastAPI spends about a second building and then
    resolving them; an app is stateless but for ``app.state``. So an idle app gets a new
    state holding only the new container, exactly as ``create_app`` leaves it."""
    if _idle_apps:
        app = _idle_apps.pop()
        app.state = State()
        app.state.container = container
        return app
    return create_app(container)


def checkin_app(app: FastAPI) -> None:
    """Keep ``app`` for the next harness, unless its state holds more than its container
    (a test set something there, or ``create_app`` now does)."""
    if set(app.state) == {"container"}:
        del app.state.container
        _idle_apps.append(app)


class running_harness:
    def __init__(self, settings: Settings, *, scheduler: bool = False) -> None:
        self.settings = settings
        self.scheduler = scheduler

    async def __aenter__(self) -> Harness:
        container = build_container(self.settings)
        await upgrade_to_head(container.engine)
        platform = Platform(container, worker=True, scheduler=self.scheduler)
        await platform.start()
        with password_hashed_once():
            admin = await ensure_admin(
                container.sessions, "admin@example.com", "correct horse battery"
            )
        assert admin is not None
        self.app = checkout_app(container)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://sb.test",
        )
        self.h = Harness(container, platform, client, admin.token, self.app)
        return self.h

    async def __aexit__(self, *exc: object) -> None:
        await self.h.client.aclose()
        await self.h.platform.stop()
        checkin_app(self.app)


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
