"""Webhook → order-sent latency of the embedded server, beside a bare FastAPI round trip.

Starts `signalbridge serve` (SQLite, in-process queue, one paper follow) in a subprocess
and sends signed signals one after another: the next is sent at the offered rate
(``--rate`` signals/s, a busy hub by default) but never before the previous one was
answered 2xx. Latency is read from each signal's server-side stage timestamps
(received → parsed → dispatched → order_sent → order_acked). A second phase sends
back to back (the next right after the previous 2xx) to find the highest rate the
server sustains: signals per second from the first received to the last order sent.
The baseline is the HTTP round trip of a bare FastAPI endpoint served by the same uvicorn
on this machine, measured in the same run.

    .venv/bin/python bench/bench_webhook_latency.py [--count 1000] [--rate 20] [--burst 500]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from signalbridge.channels.webhook import signed_headers

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.post("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bare_round_trips(count: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare_app.py").write_text(BARE_APP)
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/docs", proc)
            samples: list[float] = []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(count):
                    started = time.perf_counter()
                    client.post("/bare", content=b"{}")
                    samples.append((time.perf_counter() - started) * 1000)
            return samples
        finally:
            proc.terminate()
            proc.wait(timeout=10)


STAGE_NAMES = ("received", "parsed", "dispatched", "order_sent", "order_acked")


class Server:
    """A running `signalbridge serve` with one webhook channel followed by one paper account."""

    def __init__(self, tmp: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "SIGNALBRIDGE_DATA_DIR": tmp,
            "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
            "SIGNALBRIDGE_ADMIN_PASSWORD": "benchmark password",
        }
        env.pop("SIGNALBRIDGE_DATABASE_URL", None)
        env.pop("SIGNALBRIDGE_BROKER_URL", None)
        self.log = Path(tmp, "serve.log")
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "signalbridge.cli", "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client: httpx.Client | None = None
        self.sent = 0

    def start(self) -> None:
        wait_for(f"http://127.0.0.1:{self.port}/healthz", self.proc)
        # the first admin's token: in the banner on a terminal, else in its 0600 file
        admin_file = self.log.with_name("first-admin.txt")
        for _ in range(100):
            text = self.log.read_text() + (admin_file.read_text() if admin_file.exists() else "")
            found = re.search(r"(sbt_[A-Za-z0-9_-]+)", text)
            if found:
                break
            time.sleep(0.1)
        assert found, self.log.read_text()
        auth = {"Authorization": f"Bearer {found.group(1)}"}
        c = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=auth, timeout=30)
        self.client = c
        # a high inbound limit: the default (120/minute) would measure the limiter
        channel = c.post(
            "/api/v1/channels",
            json={"name": "bench", "type": "webhook", "inbound_rate_limit": "100000/minute"},
        ).json()
        connection = c.post(
            "/api/v1/connections",
            json={
                "name": "paper",
                "type": "paper",
                "config": {"feed": {"volatility": "0"}, "balances": {"USDT": "100000000"}},
            },
        ).json()
        c.post(
            "/api/v1/follows",
            json={
                "channel_id": channel["id"],
                "connection_id": connection["id"],
                "sizing": {"mode": "fixed_quote", "value": "10"},
            },
        ).raise_for_status()
        self.channel_id = channel["id"]
        self.secret = channel["generated_secrets"]["secret"]

    def send(self, count: int, rate: float | None) -> tuple[list[int], list[float]]:
        """Send ``count`` signals; ``rate=None`` sends each right after the previous 2xx."""
        assert self.client is not None
        round_trips: list[float] = []
        ids: list[int] = []
        begin = time.perf_counter()
        for i in range(count):
            if rate is not None:
                due = begin + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            self.sent += 1
            body = json.dumps(
                {
                    "kind": "signal",
                    "symbol": "BTC/USDT",
                    "side": "long",
                    "order_type": "market",
                    "stop_loss": "50000",
                    "take_profits": [str(70000 + self.sent)],
                }
            ).encode()
            started = time.perf_counter()
            r = self.client.post(
                f"/webhooks/channels/{self.channel_id}",
                content=body,
                headers={
                    **signed_headers(self.secret, body),
                    "Content-Type": "application/json",
                },
            )
            round_trips.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
            ids.append(r.json()["signal_id"])
        return ids, round_trips

    def stages(self, ids: list[int]) -> dict[int, dict[str, datetime]]:
        """Wait until every signal reached order_acked; its stage timestamps by id."""
        assert self.client is not None
        deadline = time.monotonic() + 180
        pending = set(ids)
        found: dict[int, dict[str, datetime]] = {}
        while pending and time.monotonic() < deadline:
            before: int | None = None
            while True:
                params: dict[str, int] = {"limit": 1000}
                if before is not None:
                    params["before_id"] = before
                page = self.client.get("/api/v1/signals", params=params).json()["items"]
                for item in page:
                    st = item["stages"]
                    if item["id"] in pending and st["order_sent"] and st["order_acked"]:
                        found[item["id"]] = {k: datetime.fromisoformat(st[k]) for k in STAGE_NAMES}
                        pending.discard(item["id"])
                if len(page) < 1000 or min(i["id"] for i in page) <= min(ids):
                    break
                before = min(i["id"] for i in page)
            if pending:
                time.sleep(0.2)
        if pending:
            raise RuntimeError(f"{len(pending)} signals never reached order_acked")
        return found

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=15)


def ms(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() * 1000


def report(label: str, stages: dict[int, dict[str, datetime]], rtt: list[float]) -> list[float]:
    """Print one phase's figures; returns its received → order_sent latencies."""
    sent = [ms(st["received"], st["order_sent"]) for st in stages.values()]
    rows = [("webhook round trip (2xx)", rtt)]
    for stage in STAGE_NAMES[1:]:
        rows.append(
            (f"received -> {stage}", [ms(st["received"], st[stage]) for st in stages.values()])
        )
    print(f"{label}")
    for name, values in rows:
        print(f"  {name:32}{pct(values, 0.5):10.2f}{pct(values, 0.99):10.2f}")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="signals at the offered rate")
    parser.add_argument("--rate", type=float, default=20.0, help="offered signals per second")
    parser.add_argument("--burst", type=int, default=500, help="back-to-back signals (0: skip)")
    args = parser.parse_args()
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bare = bare_round_trips(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(tmp)
        try:
            server.start()
            ids, rtt = server.send(args.count, args.rate)
            paced = server.stages(ids)
            burst: dict[int, dict[str, datetime]] = {}
            burst_rtt: list[float] = []
            if args.burst:
                time.sleep(1)
                burst_ids, burst_rtt = server.send(args.burst, None)
                burst = server.stages(burst_ids)
        finally:
            server.stop()
    print(f"one paper follow, SQLite, in-process queue; load average now: {os.getloadavg()[0]:.2f}")
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'bare FastAPI round trip':34}{pct(bare, 0.5):10.2f}{pct(bare, 0.99):10.2f}")
    latencies = report(f"{args.count} signals offered at {args.rate:g}/s (sequential)", paced, rtt)
    print(
        f"ratio p99 order-sent / bare round trip: {pct(latencies, 0.99) / pct(bare, 0.99):.1f}x; "
        f"mean {statistics.fmean(latencies):.2f} ms; target p99 <= 25 ms at {args.rate:g}/s: "
        f"{'met' if pct(latencies, 0.99) <= 25 else 'NOT met'}"
    )
    if burst:
        report(f"{args.burst} signals back to back (next right after the 2xx)", burst, burst_rtt)
        first = min(st["received"] for st in burst.values())
        last = max(st["order_sent"] for st in burst.values())
        rate = len(burst) / max((last - first).total_seconds(), 1e-9)
        print(f"max sustained rate (first received -> last order sent): {rate:.0f} signals/s")


if __name__ == "__main__":
    main()
