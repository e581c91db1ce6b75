"""Notices are written with the change they report (a rolled-back change leaves none), to
their owner's chats only, once per event; chats are linked with one-time codes. On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.fakes.notify_sender import (
    FakeBot,
    FakeTime,
    link_chat,
    make_connection,
    make_user,
    outbox,
    store,
)

from signalbridge.integrations.errors import AuthenticationError
from signalbridge.integrations.health import HealthState
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.notifications import emit, events
from signalbridge.notifications.bot import LINKED, REFUSED, LinkHandler
from signalbridge.notifications.events import EventKind
from signalbridge.notifications.linking import CODE_TTL, LinkRefused, issue_code, redeem
from signalbridge.notifications.outbox import notify
from signalbridge.notifications.runner import KEEP, prune
from signalbridge.notifications.sender import TelegramLimits
from signalbridge.store import models as m
from signalbridge.store.types import utcnow


class Rollback(Exception):
    pass


async def _position(sessions: object, connection_id: int) -> int:
    async with sessions() as s, s.begin():  # type: ignore[operator]
        channel = m.ChannelSource(name="c", type="webhook", config={})
        s.add(channel)
        await s.flush()
        message = m.Message(channel_id=channel.id, external_id="x", text="t")
        s.add(message)
        await s.flush()
        signal = m.Signal(
            message_id=message.id,
            channel_id=channel.id,
            symbol="BTC/USDT",
            side="long",
            order_type="market",
        )
        s.add(signal)
        await s.flush()
        follow = m.Follow(connection_id=connection_id, channel_id=channel.id)
        s.add(follow)
        await s.flush()
        execution = m.Execution(
            signal_id=signal.id, follow_id=follow.id, connection_id=connection_id
        )
        s.add(execution)
        await s.flush()
        position = m.Position(
            execution_id=execution.id,
            signal_id=signal.id,
            connection_id=connection_id,
            symbol="BTC/USDT",
            side="long",
            amount=Decimal("0.01"),
            entry_price=Decimal("60000"),
            stop_loss=Decimal("58000"),
        )
        s.add(position)
        await s.flush()
        return int(position.id)


async def test_written_with_the_change_and_never_without_it(
    tmp_path: Path, database_url: str
) -> None:
    async with store(tmp_path, database_url) as c:
        user = await make_user(c.sessions, "a@example.com")
        await link_chat(c.sessions, user, 111)
        conn = await make_connection(c.sessions, user)
        position_id = await _position(c.sessions, conn)

        with pytest.raises(Rollback):  # the close fails after the notice was written
            async with c.sessions() as s, s.begin():
                position = await s.get_one(m.Position, position_id)
                position.status = m.PositionStatus.CLOSED
                position.realized_pnl = Decimal("12.5")
                assert await emit.positions_closed(s, [position]) == 1
                raise Rollback
        assert await outbox(c.sessions) == []

        async with c.sessions() as s, s.begin():
            position = await s.get_one(m.Position, position_id)
            position.status = m.PositionStatus.CLOSED
            position.realized_pnl = Decimal("12.5")
            await emit.positions_closed(s, [position])
        async with c.sessions() as s, s.begin():  # the same close reported again
            position = await s.get_one(m.Position, position_id)
            assert await emit.positions_closed(s, [position]) == 0
            old = position.stop_loss
            position.stop_loss = Decimal("60000")
            assert await emit.stop_moved(s, position, old, position.stop_loss) == 1
            assert await emit.stop_moved(s, position, old, old) == 0  # no move, no notice
        rows = await outbox(c.sessions)
        assert [r.kind for r in rows] == ["position_closed", "stop_moved"]
        assert "PnL 12.5" in rows[0].text and rows[0].chat_id == 111
        assert "58000 to 60000" in rows[1].text
        # a trailing stop: each step replaces the step still waiting in the queue
        async with c.sessions() as s, s.begin():
            position = await s.get_one(m.Position, position_id)
            for level in ("60100", "60200", "60300"):
                old, position.stop_loss = position.stop_loss, Decimal(level)
                await emit.stop_moved(s, position, old, position.stop_loss)
        stops = [r.text for r in await outbox(c.sessions) if r.kind == "stop_moved"]
        assert len(stops) == 1 and stops[0].endswith("from 60200 to 60300")


async def test_a_user_never_receives_another_users_events(
    tmp_path: Path, database_url: str
) -> None:
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        bob = await make_user(c.sessions, "bob@example.com")
        ops = await make_user(c.sessions, "ops@example.com", m.Role.OPERATOR)
        await link_chat(c.sessions, alice, 1)
        await link_chat(c.sessions, bob, 2)
        await link_chat(c.sessions, ops, 3)
        # alice chose fills only on a second chat
        await link_chat(c.sessions, alice, 4, events=[EventKind.ORDER_FILLED.value])
        conn_a = await make_connection(c.sessions, alice)
        position_a = await _position(c.sessions, conn_a)
        async with c.sessions() as s, s.begin():
            position = await s.get_one(m.Position, position_a)
            order = m.Order(
                execution_id=position.execution_id,
                connection_id=conn_a,
                client_order_id="sb-1-e0",
                leg="e0",
                symbol="BTC/USDT",
                side="buy",
                type="market",
                amount=Decimal("0.01"),
                filled=Decimal("0.01"),
                average_price=Decimal("60010.5"),
                status=m.OrderStatus.FILLED,
            )
            s.add(order)
            await s.flush()
            assert await emit.orders_filled(s, [order]) == 2  # alice's two chats
            await emit.positions_closed(s, [position])
            # a signal on a channel bob owns (a member): staff-only, so nobody is told;
            # on the operator's channel: the operator is
            for owner, expected in ((bob, 0), (ops, 1)):
                channel = m.ChannelSource(name=f"ch{owner}", type="webhook", owner_id=owner)
                s.add(channel)
                await s.flush()
                message = m.Message(channel_id=channel.id, external_id="1", text="x")
                s.add(message)
                await s.flush()
                signal = m.Signal(
                    message_id=message.id,
                    channel_id=channel.id,
                    symbol="ETH/USDT",
                    side="short",
                    order_type="limit",
                    entry_low=Decimal("3500"),
                    entry_high=Decimal("3520"),
                    stop_loss=Decimal("3600"),
                    take_profits=["3400"],
                )
                s.add(signal)
                await s.flush()
                assert await emit.signal_published(s, signal, channel) == expected
        rows = await outbox(c.sessions)
        by_chat = {(r.chat_id, r.kind) for r in rows}
        assert by_chat == {
            (1, "order_filled"),
            (4, "order_filled"),
            (1, "position_closed"),
            (3, "signal_published"),
        }
        assert {r.user_id for r in rows if r.chat_id in (1, 4)} == {alice}
        assert all(r.chat_id != 2 for r in rows)  # bob: nothing of alice's


async def test_connection_failing_once_per_streak(tmp_path: Path, database_url: str) -> None:
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        await link_chat(c.sessions, alice, 1)
        conn = await make_connection(c.sessions, alice, name="Binance main")
        writer = c.kernel.health_sink
        assert writer is not None
        state = HealthState()
        now = utcnow()
        for _ in range(7):  # failures past the breaker's threshold
            state.record_failure(TimeoutError("read timed out"), now)
            await writer("exchange", conn, state)
        state.record_success(now)
        await writer("exchange", conn, state)
        state.record_failure(PermissionError("x"), now)  # new streak, not yet failing
        await writer("exchange", conn, state)
        state.record_failure(AuthenticationError("invalid api key"), now)
        await writer("exchange", conn, state)
        await writer("exchange", conn, state)
        rows = await outbox(c.sessions)
        assert [r.kind for r in rows] == ["connection_failing", "connection_failing"]
        assert "circuit breaker open" in rows[0].text and "Binance main" in rows[0].text
        assert "credentials were refused" in rows[1].text
        # a webhook channel's bad deliveries come from strangers: no notice for them
        async with c.sessions() as s, s.begin():
            channel = m.ChannelSource(name="hook", type="webhook", owner_id=alice)
            s.add(channel)
            await s.flush()
            hook = channel.id
        bad = HealthState()
        for _ in range(6):
            bad.record_failure(AuthenticationError("bad signature"), now)
            await writer("channel", hook, bad)
        assert len(await outbox(c.sessions)) == 2


async def test_link_codes_expire_are_single_use_and_exact(
    tmp_path: Path, database_url: str
) -> None:
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        now = utcnow()
        async with c.sessions() as s, s.begin():
            old = await issue_code(s, alice, now)
            issued = await issue_code(s, alice, now)  # replaces the unused one
        selector, verifier = issued.code.split("-")

        async def attempt(code: str, chat: int, at: object = None) -> int | None:
            try:
                async with c.sessions() as s, s.begin():
                    linked = await redeem(s, code, chat, "t", at or utcnow())  # type: ignore[arg-type]
                    return linked.user_id
            except LinkRefused as exc:
                assert code not in str(exc) and verifier not in str(exc)
                return None

        wrong = selector + "-" + ("0" * 16 if verifier != "0" * 16 else "1" * 16)
        assert await attempt(wrong, 10) is None  # wrong secret, right selector
        assert await attempt("ZZZZZZZZ-" + verifier, 10) is None  # unknown selector
        assert await attempt(old.code, 10) is None  # superseded
        assert await attempt(issued.code, 10, now + CODE_TTL + timedelta(seconds=1)) is None
        # typed loosely (lower case, spaces): still the code
        loose = f"{selector.lower()} {verifier[:8].lower()} {verifier[8:]}"
        assert await attempt(loose, 10) == alice
        assert await attempt(issued.code, 11) is None  # used already
        async with c.sessions() as s:
            chats = (await s.scalars(select(m.NotificationChat))).all()
            assert [(x.user_id, x.chat_id) for x in chats] == [(alice, 10)]
            assert EventKind.SIGNAL_PUBLISHED.value not in chats[0].events  # a member
            assert await s.scalar(select(func.count()).select_from(m.NotificationLinkCode)) == 1


async def test_bot_update_links_its_chat_and_answers(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = FakeTime()
    t.install(monkeypatch)
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        async with c.sessions() as s, s.begin():
            issued = await issue_code(s, alice, utcnow())
        bot = FakeBot(t)
        handler = LinkHandler(
            c.sessions, bot, TelegramLimits(RateLimiter(sleep=t.sleep, clock=t.time))
        )
        update = {
            "update_id": 7,
            "message": {
                "message_id": 1,
                "chat": {"id": 424242, "type": "private", "first_name": "Alice"},
                "text": f"/start {issued.code}",
            },
        }
        assert await handler.handle_update(update) is True
        await t.sleep(1.0)  # a reply waits for nothing: past the chat's 1/s, none is sent
        assert await handler.handle_update(update) is False  # the code is spent
        assert await handler.handle_update(update) is False  # no reply this time
        assert await handler.handle_update({"update_id": 8, "message": {"text": "hi"}}) is None
        assert bot.texts(424242) == [LINKED, REFUSED]
        async with c.sessions() as s:
            chat = await s.scalar(select(m.NotificationChat))
            assert chat is not None and chat.user_id == alice and chat.title == "Alice"


async def test_prune_forgets_old_sent_notices_and_dead_codes(
    tmp_path: Path, database_url: str
) -> None:
    async with store(tmp_path, database_url) as c:
        alice = await make_user(c.sessions, "alice@example.com")
        await link_chat(c.sessions, alice, 1)
        long_ago = utcnow() - KEEP - timedelta(days=1)
        async with c.sessions() as s, s.begin():
            for n in range(3):
                event = events.order_filled(n, "BTC/USDT", "buy", Decimal(1), None, "e0")
                await notify(s, event, alice)
            await issue_code(s, alice, long_ago)
        async with c.sessions() as s, s.begin():
            for row, status in zip(
                (await s.scalars(select(m.NotificationOutbox).order_by(m.NotificationOutbox.id))),
                ("sent", "failed", "pending"),
                strict=True,
            ):
                row.status, row.created_at = status, long_ago
        assert await prune(c.sessions, utcnow()) == 3
        assert [r.status for r in await outbox(c.sessions)] == ["pending"]  # never unsent
