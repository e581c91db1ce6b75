"""Telegram posts → stored signals → orders at the paper exchange: the long-polling path
(a batch of 100 posts answered by one ``getUpdates``) beside the webhook path (the same
posts delivered one by one as Telegram's POSTs), in the same run and process.

Runs the platform in process (SQLite, in-process queue, one worker, one paper spot
follow) against the fake Bot API on loopback (tests/fakes/telegram.py). Per stage, p50 and
p99 in ms from the start instant:

- polling: the start is the moment the fake's ``getUpdates`` answer reached the client;
  stages: stored (the message and signal committed with the offset: ``parsed_at``),
  dispatched (executions created), order sent, order acknowledged by the venue;
- webhook: the start is the moment the delivery's POST was sent; stages: answered (the
  route's 200), then the same stages.

    .venv/bin/python bench/bench_telegram.py [--count 100] [--rounds 3] [--postgres]

With ``--rounds N`` the polling path runs N times in the same process (N batches of
``count`` posts, each timed from its own answer); the table shows the round with the
median "order sent" p50 and a line lists every round's, since one round on a shared
machine is at the mercy of its neighbours. The webhook path is the baseline measured in
the same run; the last lines give the ratio.

Goal from issue 15: post → order sent, p50 <= 50 ms after the getUpdates answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select
from tests.fakes.telegram import FakeTelegram
from tests.platform_fixtures import PG_ADMIN_DSN, Harness, make_settings, running_harness

from signalbridge.channels.telegram_bot import TelegramBotChannel
from signalbridge.jobs.polling import polling_runner
from signalbridge.store import models as m

TOKEN = "424242424:AAHbenchmarkFakeTelegramTokenForBench"
CHAT = -1009999
SIGNAL = "BTC/USDT LONG\nEntry 59900-60100\nSL 58000\nTP1 62000\nTP2 64000"
STAGES = ("parsed_at", "dispatched_at", "order_sent_at", "order_acked_at")
LABELS = {
    "parsed_at": "stored (signal committed)",
    "dispatched_at": "dispatched",
    "order_sent_at": "order sent",
    "order_acked_at": "order acknowledged",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


async def setup(h: Harness, fake: FakeTelegram) -> int:
    channel = await h.ok(
        "POST",
        "/channels",
        json={
            "name": "bench",
            "type": "telegram_bot",
            "config": {
                "bot_token": TOKEN,
                "api_url": fake.base_url,
                "long_poll_seconds": 0,
                "rate_limit": "100000/minute",
            },
        },
    )
    connection = await h.ok(
        "POST",
        "/connections",
        json={
            "name": "paper",
            "type": "paper",
            "config": {"feed": {"volatility": "0"}, "balances": {"USDT": "100000000"}},
        },
    )
    await h.follow(channel["id"], connection["id"], sizing={"mode": "fixed_quote", "value": "10"})
    return int(channel["id"])


async def stages_of(h: Harness, message_ids: set[str], timeout: float = 120) -> list[m.Signal]:
    """The signals of these messages once every one has its order acknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        async with h.container.sessions() as s:
            rows = (
                await s.scalars(
                    select(m.Signal)
                    .join(m.Message, m.Message.id == m.Signal.message_id)
                    .where(m.Message.external_id.in_(message_ids))
                )
            ).all()
        if len(rows) == len(message_ids) and all(r.order_acked_at for r in rows):
            return list(rows)
        if time.monotonic() > deadline:
            done = sum(1 for r in rows if r.order_acked_at)
            raise RuntimeError(f"{done}/{len(message_ids)} signals reached order_acked")
        await asyncio.sleep(0.05)


async def polling_path(
    h: Harness, fake: FakeTelegram, channel_id: int, count: int, rounds: int = 1
) -> list[dict[str, list[float]]]:
    """Each round's figures: ``count`` posts in one getUpdates answer, from the answer."""
    runner = polling_runner(h.container)
    async with h.container.sessions() as s:
        row = await s.get_one(m.ChannelSource, channel_id)
    adapter = runner.adapter(row)
    assert isinstance(adapter, TelegramBotChannel)
    answered: list[datetime] = []
    original = adapter.api.get_updates

    async def timed(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        result = await original(*args, **kwargs)
        answered.append(datetime.now(UTC))
        return result

    adapter.api.get_updates = timed  # type: ignore[method-assign]
    # Warm-up, as in a running system: one post through parser, engine and venue.
    warm = f"{CHAT}:{fake.channel_post(CHAT, SIGNAL)['message_id']}"
    await runner.poll_channel(row)
    await stages_of(h, {warm})
    out: list[dict[str, list[float]]] = []
    for _ in range(rounds):
        ids = {f"{CHAT}:{fake.channel_post(CHAT, SIGNAL)['message_id']}" for _ in range(count)}
        answered.clear()
        stored = await runner.poll_channel(row)
        assert stored == count, f"stored {stored} of {count}"
        start = answered[0]
        rows = await stages_of(h, ids)
        out.append({stage: [ms(start, getattr(r, stage)) for r in rows] for stage in STAGES})
    return out


async def webhook_path(
    h: Harness, fake: FakeTelegram, channel_id: int, count: int
) -> dict[str, list[float]]:
    url = f"https://hooks.example.com/webhooks/telegram/{channel_id}"
    await h.ok("POST", f"/channels/{channel_id}/telegram/webhook", json={"url": url})
    path = f"/webhooks/telegram/{channel_id}"
    figures: dict[str, list[float]] = {"answered": [], **{stage: [] for stage in STAGES}}
    starts: dict[str, datetime] = {}
    for _ in range(count):
        post = fake.channel_post(CHAT, SIGNAL)
        body, headers = fake.webhook_delivery(fake.pending()[-1])
        key = f"{CHAT}:{post['message_id']}"
        starts[key] = datetime.now(UTC)
        response = await h.client.post(path, content=body, headers=headers)
        assert response.status_code == 200 and response.json()["stored"], response.text
        figures["answered"].append(ms(starts[key], datetime.now(UTC)))
    rows = await stages_of(h, set(starts))
    async with h.container.sessions() as s:
        keys = dict(
            (
                await s.execute(
                    select(m.Message.id, m.Message.external_id).where(
                        m.Message.external_id.in_(starts)
                    )
                )
            ).all()
        )
    for r in rows:
        start = starts[keys[r.message_id]]
        for stage in STAGES:
            figures[stage].append(ms(start, getattr(r, stage)))
    return figures


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def report(title: str, figures: dict[str, list[float]]) -> None:
    print(title)
    for stage, values in figures.items():
        label = LABELS.get(stage, "answered 200")
        print(f"  {label:32}{pct(values, 0.5):10.2f}{pct(values, 0.99):10.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1, help="polling batches to time")
    parser.add_argument(
        "--postgres", action="store_true", help="a scratch database on 127.0.0.1:5432"
    )
    args = parser.parse_args()
    scratch = f"bench_telegram_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram(TOKEN) as fake:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        if args.postgres:
            await _admin(f'CREATE DATABASE "{scratch}"')
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            url = f"{base}/{scratch}"
        settings = make_settings(Path(tmp), url, allowed_hosts=["127.0.0.1"], log_level="WARNING")
        try:
            async with running_harness(settings) as h:
                channel_id = await setup(h, fake)
                rounds = await polling_path(h, fake, channel_id, args.count, args.rounds)
                hooked = await webhook_path(h, fake, channel_id, args.count)
        finally:
            if args.postgres:
                await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    by_sent = sorted(rounds, key=lambda r: pct(r["order_sent_at"], 0.5))
    polled = by_sent[(len(by_sent) - 1) // 2]  # the median round (the lower one of two)
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{store}, in-process queue, one paper spot follow; load {os.getloadavg()[0]:.2f}")
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}")
    title = f"long polling: {args.count} posts in one getUpdates answer (from the answer)"
    if len(rounds) > 1:
        title += f", median of {len(rounds)} rounds"
    report(title, polled)
    report(f"webhook: {args.count} deliveries one after another (from each POST)", hooked)
    if len(rounds) > 1:
        each = ", ".join(f"{pct(r['order_sent_at'], 0.5):.1f}" for r in rounds)
        print(f"order sent p50 of each polling round (ms): {each}")
    sent = pct(polled["order_sent_at"], 0.5)
    baseline = pct(hooked["order_sent_at"], 0.5)
    print(
        f"order sent p50, polling batch / webhook one by one: {sent:.1f} / {baseline:.1f} ms "
        f"= {sent / baseline:.2f}x"
    )
    print(
        f"goal post -> order sent p50 <= 50 ms after the getUpdates answer: {sent:.1f} ms, "
        f"{'met' if sent <= 50 else 'NOT met'}"
    )


if __name__ == "__main__":
    asyncio.run(main())
