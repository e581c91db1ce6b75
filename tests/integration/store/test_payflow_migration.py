"""The payments migration upgrades a database that already holds plans, subscriptions and
payments (SQLite rebuilds ``payments`` only; nothing that others point at), keeps their
data, and makes a payment writable before its provider id exists."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, text

from signalbridge.store import models as m
from signalbridge.store.db import make_engine, make_sessionmaker
from signalbridge.store.migrate import upgrade

ROWS = (
    "INSERT INTO users (id, email, password_hash, role, is_active, created_at, updated_at) "
    "VALUES (1, 'a@b.c', 'x', 'member', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO plans (id, name, price, currency, interval, channel_ids, gateway_prices, "
    "is_active, created_at, updated_at) VALUES (1, 'Gold', '19.5', 'USD', 'month', '[]', "
    "'{}', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO subscriptions (id, user_id, plan_id, gateway, external_id, status, "
    "created_at, updated_at) VALUES (1, 1, 1, 'stripe', 'sub_1', 'active', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO payments (id, user_id, subscription_id, gateway, external_id, amount, "
    "currency, status, created_at, updated_at) VALUES (1, 1, 1, 'stripe', 'in_1', '19.5', "
    "'USD', 'paid', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
)


async def test_payments_migration_keeps_rows(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "e3b0c2d4f603")
        async with engine.begin() as conn:
            for sql in ROWS:
                await conn.execute(text(sql))
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        async with sessions() as s, s.begin():
            payment = await s.scalar(select(m.Payment))
            plan = await s.scalar(select(m.Plan))
            sub = await s.scalar(select(m.Subscription))
            assert payment is not None and plan is not None and sub is not None
            assert (payment.external_id, payment.amount, payment.subscription_id) == (
                "in_1",
                Decimal("19.5"),
                1,
            )
            assert (plan.prices, plan.interval_count, plan.trial_days) == ({}, 1, 0)
            assert sub.cancel_at_period_end is False and sub.connection_id is None
            # pending rows without a provider id, several of them, and exact fees
            for _ in range(2):
                s.add(
                    m.Payment(
                        id=10 + _,
                        user_id=1,
                        plan_id=1,
                        gateway="stripe",
                        amount=Decimal("19.5"),
                        currency="USD",
                        status="pending",
                        fee=Decimal("0.123456789012345678"),
                    )
                )
            await s.flush()
        async with sessions() as s:
            fees = (await s.scalars(select(m.Payment.fee).where(m.Payment.fee.is_not(None)))).all()
        assert fees == [Decimal("0.123456789012345678")] * 2
    finally:
        await engine.dispose()
