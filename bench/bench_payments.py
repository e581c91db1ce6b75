"""Payment callbacks per second (verified, stored, applied) beside signal webhooks per
second (verified, stored, queued), in the same run and process.

Runs the platform in process (SQLite by default, in-process queue, one worker) with the
ASGI app behind an in-process HTTP client, so both paths pay the same HTTP and
authentication overhead:

- signal webhooks (the baseline): ``POST /webhooks/channels/{id}``, HMAC-signed, each a
  distinct body (stored as a message and queued; the route's 202);
- payment callbacks: ``POST /webhooks/payments/{id}`` from the gateway double
  (tests/fakes/gateway_double.py), HMAC-signed like Stripe's, each a distinct
  ``checkout_completed`` for its own pending payment, so every one is verified, stored
  once, and applied (the payment paid with its fee, a subscription created) in one
  transaction before the 200.

Each path is measured one delivery after another (a provider's retry queue) and with
``--concurrency`` deliveries in flight. The ratio payments/signals is the figure to
compare between runs; absolute rates depend on the machine.

    .venv/bin/python bench/bench_payments.py [--count 300] [--concurrency 10] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from tests.fakes.gateway_double import DoubleProvider, register_double
from tests.platform_fixtures import PG_ADMIN_DSN, Harness, make_settings, running_harness

from signalbridge.channels.webhook import signed_headers
from signalbridge.integrations.sealing import seal
from signalbridge.payments.base import (
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectStatus,
    payment_reference,
)
from signalbridge.services.auth import create_user
from signalbridge.services.payments import checkout
from signalbridge.store import models as m

Send = Callable[[int], Awaitable[int]]


async def rate(send: Send, start: int, count: int, concurrency: int) -> float:
    """Deliveries per second for ``count`` deliveries, ``concurrency`` in flight."""
    queue = iter(range(start, start + count))
    statuses: list[int] = []

    async def lane() -> None:
        for i in queue:
            statuses.append(await send(i))

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    bad = [s for s in statuses if s >= 300]
    if bad:
        raise RuntimeError(f"{len(bad)} deliveries answered {sorted(set(bad))}")
    return count / elapsed


async def setup_payments(
    h: Harness, count: int
) -> tuple[int, DoubleProvider, list[tuple[int, str]]]:
    c = h.container
    register_double(c.registry)
    provider = DoubleProvider.open("bench")
    async with c.sessions() as s, s.begin():
        row = m.PaymentGateway(
            name="bench",
            type="double",
            config={"world": "bench", "fee_rate": "0.029", "fixed_fee": "0.3"},
        )
        s.add(row)
        await s.flush()
        row.secrets_enc = seal(
            c.vault, "payment_gateways", row.id, {"webhook_secret": provider.secret}
        )
        plan = m.Plan(
            name="Bench plan",
            price=Decimal("9.99"),
            currency="USD",
            interval="one_time",
            prices={"USD": "9.99"},
            channel_ids=[],
        )
        user = await create_user(s, "bench-buyer@example.com", "a long password", "member")
        s.add(plan)
        await s.flush()
        gateway_id, plan_id, user_id = row.id, plan.id, user.id
    pending = []
    for _ in range(count):
        started = await checkout.start(
            c.sessions,
            c.payments.directory,
            user_id=user_id,
            plan_id=plan_id,
            connection_id=gateway_id,
            currency="USD",
            success_url="https://sb.example/ok",
            cancel_url="https://sb.example/no",
        )
        pending.append((started.payment_id, started.checkout_id))
    return gateway_id, provider, pending


async def measure(h: Harness, count: int, concurrency: int) -> dict[str, float]:
    # the channel's inbound limit (120/minute by default) would measure the limiter
    channel_id, secret = await h.webhook_channel("bench", inbound_rate_limit="100000/minute")

    async def signal(i: int) -> int:
        body = json.dumps({"text": f"market note {i}: nothing to trade"}).encode()
        r = await h.client.post(
            f"/webhooks/channels/{channel_id}",
            content=body,
            headers={**signed_headers(secret, body), "Content-Type": "application/json"},
        )
        return r.status_code

    gateway_id, provider, pending = await setup_payments(h, 2 * count + 20)

    async def callback(i: int) -> int:
        payment_id, checkout_id = pending[i]
        now = datetime.now(UTC)
        event = PaymentEvent(
            gateway="double",
            event_id=f"evt_bench_{i}",
            kind=PaymentEventKind.CHECKOUT_COMPLETED,
            subject=Subject(SubjectKind.CHECKOUT, checkout_id),
            occurred_at=now,
            provider_updated_at=now,
            status=SubjectStatus.PAID,
            reference=payment_reference(payment_id),
            amount=Decimal("9.99"),
            currency="USD",
        )
        body, headers = provider.delivery(event)
        r = await h.client.post(f"/webhooks/payments/{gateway_id}", content=body, headers=headers)
        return r.status_code

    await rate(signal, 10**6, 10, 1)  # warm-up both paths
    await rate(callback, 0, 10, 1)
    out = {
        "signals sequential": await rate(signal, 0, count, 1),
        "payments sequential": await rate(callback, 10, count, 1),
        f"signals x{concurrency}": await rate(signal, count, count, concurrency),
        f"payments x{concurrency}": await rate(callback, 10 + count, count, concurrency),
    }
    async with h.container.sessions() as s:
        paid = await s.scalar(
            select(func.count()).select_from(m.Payment).where(m.Payment.status == "paid")
        )
        subs = await s.scalar(select(func.count()).select_from(m.Subscription))
    assert paid == subs == 2 * count + 10, (paid, subs)  # every callback applied, once
    return out


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--postgres", action="store_true", help="a scratch database on 127.0.0.1:5432"
    )
    args = parser.parse_args()
    scratch = f"bench_payments_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        if args.postgres:
            await _admin(f'CREATE DATABASE "{scratch}"')
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            url = f"{base}/{scratch}"
        settings = make_settings(Path(tmp), url, log_level="WARNING")
        try:
            async with running_harness(settings) as h:
                results = await measure(h, args.count, args.concurrency)
        finally:
            if args.postgres:
                await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{store}, in-process ASGI client and queue; {args.count} deliveries per figure; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    for name, value in results.items():
        print(f"  {name:<24}{value:>10.1f} /s")
    for mode in ("sequential", f"x{args.concurrency}"):
        ratio = results[f"payments {mode}"] / results[f"signals {mode}"]
        print(f"  payments / signals, {mode}: {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
