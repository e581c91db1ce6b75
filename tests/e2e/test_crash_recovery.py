"""SIGKILL `signalbridge serve` in the middle of a burst of 200 signals, restart it, and
find every signal executed exactly once: one execution, one order, one venue order, one
position each; senders redeliver whatever they did not see acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from signalbridge.bootstrap import build_container
from signalbridge.channels.webhook import signed_headers
from signalbridge.integrations.vault import generate_key
from signalbridge.services.users import FIRST_ADMIN_FILE
from signalbridge.settings import Settings
from signalbridge.store import models as m
from signalbridge.store.paper_tables import PaperOrderRow

pytestmark = pytest.mark.slow
TOTAL = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int, key: str) -> None:
        self.env = {
            **os.environ,
            "SIGNALBRIDGE_DATA_DIR": str(data_dir),
            "SIGNALBRIDGE_SECRET_KEYS": key,
            "SIGNALBRIDGE_ADMIN_PASSWORD": "crash test password",
            "SIGNALBRIDGE_STUCK_AFTER_SECONDS": "1",
            "SIGNALBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
            "SIGNALBRIDGE_ORDER_SETTLE_SECONDS": "1",
            "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
        }
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir / "serve.log"
        self.starts = 0

    def start(self) -> None:
        # output goes to a file: a pipe nobody reads would fill up and block the server
        self.starts += 1
        out = self.log.with_suffix(f".{self.starts}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "signalbridge.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out.close()

    def wait_ready(self, marker: str = "is running at") -> str:
        assert self.proc is not None
        path = self.log.with_suffix(f".{self.starts}.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = path.read_text()
            if marker in text:
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("server did not start:\n" + path.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _body(i: int) -> bytes:
    return json.dumps(
        {
            "kind": "signal",
            "symbol": "BTC/USDT",
            "side": "long",
            "order_type": "market",
            "stop_loss": "50000",
            "take_profits": [str(70000 + i)],
        }
    ).encode()


async def _deliver(client: httpx.AsyncClient, channel_id: int, secret: str, i: int) -> bool:
    body = _body(i)
    try:
        r = await client.post(
            f"/webhooks/channels/{channel_id}",
            content=body,
            headers={
                **signed_headers(secret, body, delivery=f"burst-{i}"),
                "Content-Type": "application/json",
            },
        )
    except httpx.HTTPError:
        return False
    return r.status_code in (200, 202)


async def test_sigkill_mid_burst_then_restart_executes_each_signal_once(tmp_path: Path) -> None:
    port = free_port()
    server = Server(tmp_path, port, generate_key())
    server.start()
    try:
        banner = server.wait_ready("First admin created")
        # the token is printed only to a terminal; it is always in the 0600 file
        token = re.search(r"(sbt_[A-Za-z0-9_-]+)", (tmp_path / FIRST_ADMIN_FILE).read_text())
        assert token, banner
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            channel = (
                await client.post(
                    "/api/v1/channels",
                    json={"name": "burst", "type": "webhook", "inbound_rate_limit": "1000/minute"},
                )
            ).json()
            channel_id, secret = channel["id"], channel["generated_secrets"]["secret"]
            connection = (
                await client.post(
                    "/api/v1/connections",
                    json={
                        "name": "paper",
                        "type": "paper",
                        "config": {
                            "feed": {"seed": 1, "volatility": "0"},
                            "balances": {"USDT": "100000"},
                        },
                    },
                )
            ).json()
            follow = await client.post(
                "/api/v1/follows",
                json={
                    "channel_id": channel_id,
                    "connection_id": connection["id"],
                    "sizing": {"mode": "fixed_quote", "value": "10"},
                },
            )
            assert follow.status_code == 201, follow.text

            acknowledged: set[int] = set()

            async def burst(indices: list[int]) -> None:
                results = await asyncio.gather(
                    *(_deliver(client, channel_id, secret, i) for i in indices)
                )
                acknowledged.update(i for i, ok in zip(indices, results, strict=True) if ok)

            await burst(list(range(0, 60)))
            killer = asyncio.get_running_loop().run_in_executor(None, server.kill)
            await burst(list(range(60, TOTAL)))  # some land before the kill, some do not
            await killer
            assert 60 <= len(acknowledged) < TOTAL, "the kill did not interrupt the burst"
        server.start()
        server.wait_ready()
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=10) as client:
            # senders redeliver everything they are unsure of; we simply redeliver all 200
            for start in range(0, TOTAL, 50):
                results = await asyncio.gather(
                    *(_deliver(client, channel_id, secret, i) for i in range(start, start + 50))
                )
                assert all(results)

            async def positions() -> int:
                r = await client.get("/api/v1/positions", params={"limit": 1000})
                return len(r.json()["items"])

            deadline = time.monotonic() + 90
            while await positions() < TOTAL and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
    finally:
        server.stop()

    container = build_container(
        Settings(data_dir=tmp_path, secret_keys=server.env["SIGNALBRIDGE_SECRET_KEYS"])
    )
    try:
        async with container.sessions() as s:

            async def n(model: type) -> int:
                return int(await s.scalar(select(func.count()).select_from(model)) or 0)

            assert await n(m.Message) == TOTAL
            assert await n(m.Signal) == TOTAL
            assert await n(m.Execution) == TOTAL
            assert await n(m.Order) == TOTAL
            assert await n(m.Position) == TOTAL
            venue = (await s.scalars(select(PaperOrderRow.client_order_id))).all()
            assert len(venue) == TOTAL and len(set(venue)) == TOTAL  # no duplicate, no orphan
            ours = set((await s.scalars(select(m.Order.client_order_id))).all())
            assert set(venue) == ours
            stuck = await s.scalar(
                select(func.count())
                .select_from(m.Order)
                .where(m.Order.status != m.OrderStatus.FILLED)
            )
            assert stuck == 0
    finally:
        await container.engine.dispose()
