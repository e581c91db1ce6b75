"""Money is exact and time is UTC on both databases; natural keys hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from signalbridge.store import models as m
from signalbridge.store.db import insert_ignore, make_engine, make_sessionmaker
from signalbridge.store.migrate import upgrade

EXTREMES = [
    Decimal("0.00000001"),
    Decimal("123456789.123456789"),
    Decimal("42000"),
    Decimal("1E-18"),
]


@pytest.fixture
async def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    await upgrade(engine)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _channel(sessions) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        channel = m.ChannelSource(name="c", type="webhook")
        s.add(channel)
        await s.flush()
        return channel.id


@pytest.mark.parametrize("value", EXTREMES, ids=str)
async def test_decimals_round_trip_exactly(sessions, value: Decimal) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _channel(sessions)
    async with sessions() as s, s.begin():
        message = m.Message(channel_id=channel_id, external_id="x", text="t")
        s.add(message)
        await s.flush()
        s.add(
            m.Signal(
                message_id=message.id,
                channel_id=channel_id,
                symbol="BTC/USDT",
                side="long",
                order_type="limit",
                entry_low=value,
                entry_high=value,
                stop_loss=value,
            )
        )
    async with sessions() as s:
        row = await s.scalar(select(m.Signal))
        assert row is not None
        assert row.entry_low == value and row.stop_loss == value
        assert isinstance(row.entry_low, Decimal)
        # the exact digits survive, not just an approximately equal number
        assert format(row.entry_low, "f").rstrip("0").rstrip(".") == format(value, "f").rstrip(
            "0"
        ).rstrip(".")


async def test_datetimes_come_back_aware_utc(sessions) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _channel(sessions)
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
    async with sessions() as s, s.begin():
        s.add(m.Message(channel_id=channel_id, external_id="x", text="t", received_at=moment))
    async with sessions() as s:
        row = await s.scalar(select(m.Message))
        assert row is not None and row.received_at == moment
        assert row.received_at.tzinfo is not None and row.received_at.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"):
        async with sessions() as s, s.begin():
            s.add(
                m.Message(
                    channel_id=channel_id,
                    external_id="y",
                    text="t",
                    received_at=datetime(2026, 1, 1),
                )
            )


async def test_natural_keys_are_unique(sessions) -> None:  # type: ignore[no-untyped-def]
    channel_id = await _channel(sessions)
    values = {
        "channel_id": channel_id,
        "external_id": "same",
        "text": "t",
        "received_at": datetime.now(UTC),
    }
    async with sessions() as s, s.begin():
        first = await insert_ignore(s, m.Message, values, ("channel_id", "external_id"))
        second = await insert_ignore(s, m.Message, values, ("channel_id", "external_id"))
    assert first is not None and second is None
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(m.Message(**values))
    async with sessions() as s, s.begin():
        s.add(m.PaymentEvent(gateway="stripe", event_id="evt_1", type="invoice.paid"))
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(m.PaymentEvent(gateway="stripe", event_id="evt_1", type="invoice.paid"))
