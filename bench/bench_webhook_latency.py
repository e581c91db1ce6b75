"""Webhook → order-sent latency of the embedded server, beside a bare FastAPI round trip.

Starts `signalbridge serve` (SQLite, in-process queue, one paper follow) in a subprocess,
sends 1,000 signed signals one after another, and reads each signal's server-side stage
timestamps (received → order_sent). The baseline is the HTTP round trip of a bare FastAPI
endpoint served by the same uvicorn on this machine, measured in the same run.

    .venv/bin/python bench/bench_webhook_latency.py [--count 1000]
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
from pathlib import Path

import httpx

from signalbridge.channels.webhook import sign

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


def signal_latencies(count: int, pause: float) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "SIGNALBRIDGE_DATA_DIR": tmp,
            "SIGNALBRIDGE_LOG_LEVEL": "WARNING",
            "SIGNALBRIDGE_ADMIN_PASSWORD": "benchmark password",
        }
        env.pop("SIGNALBRIDGE_DATABASE_URL", None)
        env.pop("SIGNALBRIDGE_BROKER_URL", None)
        log = Path(tmp, "serve.log")
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "signalbridge.cli", "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", proc)
            for _ in range(100):
                found = re.search(r"(sbt_[A-Za-z0-9_-]+)", log.read_text())
                if found:
                    break
                time.sleep(0.1)
            assert found, log.read_text()
            auth = {"Authorization": f"Bearer {found.group(1)}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as c:
                channel = c.post(
                    "/api/v1/channels", json={"name": "bench", "type": "webhook"}
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
                secret = channel["generated_secrets"]["secret"]
                round_trips: list[float] = []
                ids: list[int] = []
                for i in range(count):
                    body = json.dumps(
                        {
                            "kind": "signal",
                            "symbol": "BTC/USDT",
                            "side": "long",
                            "order_type": "market",
                            "stop_loss": "50000",
                            "take_profits": [str(70000 + i)],
                        }
                    ).encode()
                    started = time.perf_counter()
                    r = c.post(
                        f"/webhooks/channels/{channel['id']}",
                        content=body,
                        headers={
                            "X-SignalBridge-Signature": sign(secret, body),
                            "Content-Type": "application/json",
                        },
                    )
                    round_trips.append((time.perf_counter() - started) * 1000)
                    r.raise_for_status()
                    ids.append(r.json()["signal_id"])
                    time.sleep(pause)
                latencies: list[float] = []
                deadline = time.monotonic() + 120
                pending = set(ids)
                stages: dict[int, dict[str, str]] = {}
                while pending and time.monotonic() < deadline:
                    page = c.get("/api/v1/signals", params={"limit": 1000}).json()["items"]
                    for item in page:
                        if item["id"] in pending and item["stages"]["order_sent"]:
                            stages[item["id"]] = item["stages"]
                            pending.discard(item["id"])
                    time.sleep(0.2)
                if pending:
                    raise RuntimeError(f"{len(pending)} signals never reached order_sent")
                from datetime import datetime

                for st in stages.values():
                    received = datetime.fromisoformat(st["received"])
                    sent = datetime.fromisoformat(st["order_sent"])
                    latencies.append((sent - received).total_seconds() * 1000)
                return latencies, round_trips
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=0.005, help="seconds between signals")
    args = parser.parse_args()
    bare = bare_round_trips(args.count)
    latencies, webhook_rtt = signal_latencies(args.count, args.pause)
    print(f"signals: {args.count}, one paper follow, SQLite, in-process queue")
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'bare FastAPI round trip':34}{pct(bare, 0.5):10.2f}{pct(bare, 0.99):10.2f}")
    rows = [
        ("webhook round trip (202)", webhook_rtt),
        ("webhook received -> order sent", latencies),
    ]
    for label, values in rows:
        print(f"{label:34}{pct(values, 0.5):10.2f}{pct(values, 0.99):10.2f}")
    print(
        f"ratio p99 order-sent / bare round trip: {pct(latencies, 0.99) / pct(bare, 0.99):.1f}x; "
        f"mean {statistics.fmean(latencies):.2f} ms; target p99 <= 25 ms: "
        f"{'met' if pct(latencies, 0.99) <= 25 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
