"""Live PnL against the store (issue 18, part 2), on SQLite and PostgreSQL: marks written
once per connection and symbol per tick in one statement, the recorder honouring inverse
positions and funding, funding read from the fake Binance's income history and applied
once, and the PnL API's sums per group, keyed by asset and narrowed to the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.fakes.binance import FakeBinance
from tests.integration.execution.test_engine_fixtures import Rig, build_rig
from tests.platform_fixtures import Harness

from signalbridge.execution.funding import FundingSync
from signalbridge.execution.marks import MarkBook
from signalbridge.execution.monitor import PositionMonitor
from signalbridge.execution.recorder import refresh_positions
from signalbridge.services.auth import create_token
from signalbridge.store import models as m
from signalbridge.store.db import make_engine, make_sessionmaker

D = Decimal
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Seed:
    """Rows written directly: users, connections, a channel, signals, executions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.n = 0
        self.channel_id = 0

    async def user(self, role: str = m.Role.MEMBER) -> int:
        async with self.sessions() as s, s.begin():
            self.n += 1
            row = m.User(email=f"u{self.n}@example.com", password_hash="-", role=role)
            s.add(row)
            await s.flush()
            if not self.channel_id:
                channel = m.ChannelSource(name="c", type="webhook", config={}, owner_id=row.id)
                s.add(channel)
                await s.flush()
                self.channel_id = channel.id
            return row.id

    async def connection(self, owner: int, type_: str = "paper", **config: Any) -> int:
        async with self.sessions() as s, s.begin():
            row = m.ExecutionConnection(name=f"x{owner}", type=type_, config=config, owner_id=owner)
            s.add(row)
            await s.flush()
            return row.id

    async def follow(self, connection_id: int) -> int:
        async with self.sessions() as s, s.begin():
            row = m.Follow(connection_id=connection_id, channel_id=self.channel_id)
            s.add(row)
            await s.flush()
            return row.id

    async def execution(
        self, follow_id: int, symbol: str, side: str = "long", **fields: Any
    ) -> tuple[int, int]:
        """A signal and its execution on the follow's connection: (execution, signal)."""
        async with self.sessions() as s, s.begin():
            follow = await s.get_one(m.Follow, follow_id)
            self.n += 1
            msg = m.Message(channel_id=self.channel_id, external_id=f"m{self.n}", text="x")
            s.add(msg)
            await s.flush()
            signal = m.Signal(
                message_id=msg.id,
                channel_id=self.channel_id,
                symbol=symbol,
                side=side,
                order_type="market",
                take_profits=[],
            )
            s.add(signal)
            await s.flush()
            row = m.Execution(
                signal_id=signal.id,
                follow_id=follow_id,
                connection_id=follow.connection_id,
                status=m.ExecutionStatus.OPEN,
                **fields,
            )
            s.add(row)
            await s.flush()
            return row.id, signal.id

    async def fill(
        self, execution_id: int, leg: str, amount: str, price: str, fee: str, asset: str
    ) -> None:
        async with self.sessions() as s, s.begin():
            x = await s.get_one(m.Execution, execution_id)
            signal = await s.get_one(m.Signal, x.signal_id)
            entry = leg.startswith("e")
            buy = entry == (signal.side == "long")
            s.add(
                m.Order(
                    execution_id=execution_id,
                    connection_id=x.connection_id,
                    client_order_id=f"sb-{execution_id}-{leg}",
                    leg=leg,
                    symbol=signal.symbol,
                    side="buy" if buy else "sell",
                    type="market",
                    amount=D(amount),
                    filled=D(amount),
                    average_price=D(price),
                    fee=D(fee),
                    fee_asset=asset,
                    status=m.OrderStatus.FILLED,
                    reduce_only=not entry,
                )
            )

    async def position(self, execution_id: int, **fields: Any) -> int:
        async with self.sessions() as s, s.begin():
            x = await s.get_one(m.Execution, execution_id)
            signal = await s.get_one(m.Signal, x.signal_id)
            row = m.Position(
                execution_id=execution_id,
                signal_id=x.signal_id,
                connection_id=x.connection_id,
                symbol=signal.symbol,
                side=signal.side,
                take_profits=[],
                **fields,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def get(self, model: type[Any], **where: Any) -> Any:
        async with self.sessions() as s:
            query = select(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return (await s.scalars(query)).one()


@pytest.fixture
async def seeded(database_url: str) -> AsyncIterator[Seed]:
    engine = make_engine(database_url)
    try:
        yield Seed(make_sessionmaker(engine))
    finally:
        await engine.dispose()


# --- marks ----------------------------------------------------------------------------------


async def test_marks_are_one_upsert_per_symbol_per_tick(seeded: Seed) -> None:
    owner = await seeded.user()
    a, b = await seeded.connection(owner), await seeded.connection(owner)
    clock = Clock(T0)
    marks = MarkBook(seeded.sessions, now=clock)
    engine = seeded.sessions.kw["bind"]
    inserts: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        tick = {a: {"BTC/USDT": D(50000), "ETH/USDT": D(3000)}, b: {"BTC/USDT": D(50001)}}
        assert await marks.record(tick) == 3
        assert len(inserts) == 1  # one statement for the whole tick
        # the same prices a second later: nothing to write
        clock.at = T0 + timedelta(seconds=1)
        assert await marks.record(tick) == 0 and len(inserts) == 1
        # one price moved: that mark alone, updated in place
        clock.at = T0 + timedelta(seconds=2)
        moved = {a: {"BTC/USDT": D(50100), "ETH/USDT": D(3000)}, b: {"BTC/USDT": D(50001)}}
        assert await marks.record(moved) == 1 and len(inserts) == 2
        # a quiet market is written again once the refresh has passed
        clock.at = T0 + timedelta(seconds=70)
        assert await marks.record(moved) == 3
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    btc_a = await seeded.get(m.MarkPrice, connection_id=a, symbol="BTC/USDT")
    assert (btc_a.price, btc_a.at) == (D(50100), T0 + timedelta(seconds=70))
    # a late writer (another monitor, an older tick) never moves a mark back in time
    late = MarkBook(seeded.sessions, now=Clock(T0 + timedelta(seconds=30)))
    assert await late.record({a: {"BTC/USDT": D(1)}}) == 1
    btc_a = await seeded.get(m.MarkPrice, connection_id=a, symbol="BTC/USDT")
    assert (btc_a.price, btc_a.at) == (D(50100), T0 + timedelta(seconds=70))


# --- the recorder with inverse marks and funding --------------------------------------------


async def test_recorder_values_an_inverse_position_in_its_coin_and_keeps_funding(
    seeded: Seed,
) -> None:
    owner = await seeded.user()
    follow = await seeded.follow(await seeded.connection(owner))
    execution, _ = await seeded.execution(follow, "BTC/USD", contract_size=D(100))
    await seeded.fill(execution, "e0", "10", "50000", "0.00002", "BTC")
    async with seeded.sessions() as s, s.begin():
        await refresh_positions(s, [execution], T0)
    position = await seeded.get(m.Position, execution_id=execution)
    # 10 contracts held: a fee in BTC takes nothing from a count of contracts
    assert position.amount == 10 and position.entry_price == 50000
    # the COIN-M side marks it inverse, in BTC; funding arrives (execution/funding.py)
    async with seeded.sessions() as s, s.begin():
        row = await s.get_one(m.Position, position.id)
        row.inverse, row.pnl_asset = True, "BTC"
        row.funding = D("-0.00001")
    await seeded.fill(execution, "t1", "4", "55000", "0.00001", "BTC")
    async with seeded.sessions() as s, s.begin():
        await refresh_positions(s, [execution], T0 + timedelta(hours=1))
    position = await seeded.get(m.Position, execution_id=execution)
    # 4 × 100 × (1/50000 − 1/55000) = 0.000727272727… BTC, less 0.00003 fees, less funding
    assert position.amount == 6 and position.fees == D("0.00003")
    assert position.realized_pnl == D("0.000727272727") - D("0.00003") - D("0.00001")
    assert position.funding == D("-0.00001") and position.inverse


# --- funding from the fake Binance -----------------------------------------------------------


@pytest.fixture
async def any_rig(tmp_path: Path, database_url: str) -> AsyncIterator[Rig]:
    r = await build_rig(tmp_path, database_url=database_url)
    try:
        yield r
    finally:
        await r.pool.close()
        await r.container.engine.dispose()


async def futures_position(rig: Rig, fake: FakeBinance, opened_at: datetime) -> tuple[int, int]:
    """A Binance USDⓈ-M connection holding 0.002 BTC/USDT long: (connection, position)."""
    secrets = fake.adapter_secrets()
    connection = await rig.connection("ccxt", fake.adapter_config("linear"), secrets)
    follow = await rig.follow(connection)
    execution = await rig.execution(await rig.signal(), follow)
    seed = Seed(rig.sessions)
    seed.channel_id = rig.channel_id
    await seed.fill(execution, "e0", "0.002", "50000", "0.04", "USDT")
    async with rig.sessions() as s, s.begin():
        await refresh_positions(s, [execution], opened_at)
    return connection, (await seed.get(m.Position, execution_id=execution)).id


async def test_funding_is_read_from_the_income_history_and_applied_once(
    any_rig: Rig, fake_binance: FakeBinance
) -> None:
    now = datetime.now(UTC)
    _, position_id = await futures_position(any_rig, fake_binance, now - timedelta(hours=9))
    ms = int((now - timedelta(hours=8)).timestamp() * 1000)
    fake_binance.income.add_funding("BTCUSDT", "-0.0125", at_ms=ms)
    fake_binance.income.add_funding("ETHUSDT", "-3", at_ms=ms)  # nothing of ours there
    fake_binance.income.add_funding("BTCUSDT", "0.5", at_ms=ms - 3_600_000 * 8)  # before it
    sync = FundingSync(any_rig.sessions, any_rig.pool)
    first = await sync.run_once()
    assert first.errors == [] and first.applied == 1 and first.requests == 1
    weight = fake_binance.used_weight_of("futures")
    again = await sync.run_once()  # the same payments again: nothing changes
    assert again.applied == 0 and again.requests == 1
    assert fake_binance.used_weight_of("futures") - weight == 30  # one income request
    fake_binance.income.add_funding("BTCUSDT", "0.0025", at_ms=ms + 3_600_000 * 8)
    assert (await sync.run_once()).applied == 1
    assert fake_binance.count("/fapi/v1/income", "GET") == 3
    async with any_rig.sessions() as s:
        position = await s.get_one(m.Position, position_id)
        logs = (
            await s.scalars(select(m.ExecutionLog).where(m.ExecutionLog.action == "funding"))
        ).all()
    assert position.funding == D("-0.01")
    assert position.realized_pnl == D("-0.04") - D("0.01")
    assert sorted(log.request["share"] for log in logs if log.request) == ["-0.0125", "0.0025"]
    # the signature is checked like every private route: a foreign secret is refused
    fake_binance.set_credentials(fake_binance.api_key, "another-secret-0123456789abcdef")
    any_rig.pool.invalidate()
    refused = await sync.run_once()
    assert refused.applied == 0 and len(refused.errors) == 1


async def test_the_monitor_writes_marks_from_its_tick(
    any_rig: Rig, fake_binance: FakeBinance
) -> None:
    connection, _ = await futures_position(any_rig, fake_binance, datetime.now(UTC))
    monitor = PositionMonitor(any_rig.sessions, any_rig.pool, any_rig.engine)
    report = await monitor.run_once()
    assert report.ticker_calls == 1 and report.positions == 1, report.errors
    seed = Seed(any_rig.sessions)
    mark = await seed.get(m.MarkPrice, connection_id=connection, symbol="BTC/USDT")
    assert mark.price == D(50000)
    fake_binance.set_price("BTCUSDT", "50500")
    await monitor.run_once()
    mark = await seed.get(m.MarkPrice, connection_id=connection, symbol="BTC/USDT")
    assert mark.price == D(50500)


# --- the API ---------------------------------------------------------------------------------


async def test_pnl_api_sums_per_group_and_asset_for_the_caller_only(harness: Harness) -> None:
    seed = Seed(harness.container.sessions)
    a_user, b_user = await seed.user(), await seed.user()
    a_conn = await seed.connection(a_user, "ccxt", exchange="binance", market_type="linear")
    b_conn = await seed.connection(b_user)
    a_follow, b_follow = await seed.follow(a_conn), await seed.follow(b_conn)
    # A: an open long (marked), a closed short with funding, an open inverse long (marked)
    x1, _ = await seed.execution(a_follow, "BTC/USDT")
    p1 = await seed.position(
        x1, amount=D("0.5"), entry_price=D(50000), fees=D(10), realized_pnl=D(-10)
    )
    x2, _ = await seed.execution(a_follow, "ETH/USDT", "short")
    await seed.position(
        x2,
        amount=D(0),
        entry_price=D(3000),
        fees=D("2.5"),
        funding=D(-1),
        realized_pnl=D("37.5"),
        status=m.PositionStatus.CLOSED,
    )
    x3, _ = await seed.execution(a_follow, "BTC/USD", contract_size=D(100))
    await seed.position(
        x3,
        amount=D(10),
        entry_price=D(50000),
        fees=D("0.0001"),
        realized_pnl=D("-0.0001"),
        inverse=True,
        pnl_asset="BTC",
    )
    # B: an open long on its own connection
    x4, _ = await seed.execution(b_follow, "BTC/USDT")
    await seed.position(x4, amount=D(1), entry_price=D(40000), fees=D(0), realized_pnl=D(0))
    marked = datetime.now(UTC).replace(microsecond=0)
    async with harness.container.sessions() as s, s.begin():
        s.add_all(
            [
                m.MarkPrice(connection_id=a_conn, symbol="BTC/USDT", price=D(51000), at=marked),
                m.MarkPrice(connection_id=a_conn, symbol="BTC/USD", price=D(55000), at=marked),
                m.MarkPrice(connection_id=b_conn, symbol="BTC/USDT", price=D(41000), at=marked),
            ]
        )
        a_token = (
            await create_token(s, await s.get_one(m.User, a_user), "a", ["executions:read"])
        )[1]

    async def as_a(path: str) -> Any:
        response = await harness.client.get(
            "/api/v1" + path, headers={"Authorization": f"Bearer {a_token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    by_channel = await as_a("/pnl?group=channel")
    assert [(i["id"], i["asset"]) for i in by_channel["items"]] == [
        (seed.channel_id, "BTC"),
        (seed.channel_id, "USDT"),
    ]
    btc, usdt = by_channel["items"]
    # USDT: realised −10 + 37.5; open (51000 − 50000) × 0.5; B's position is not A's
    assert (usdt["realised"], usdt["unrealised"], usdt["total"]) == ("27.5", "500", "527.5")
    assert (usdt["fees"], usdt["funding"], usdt["positions"], usdt["open_positions"]) == (
        "12.5",
        "-1",
        2,
        1,
    )
    assert usdt["funding_reported"] is True  # Binance futures: read from its income history
    # BTC (inverse): 10 × 100 × (1/50000 − 1/55000), never added to the USDT
    assert (btc["realised"], btc["unrealised"]) == ("-0.0001", "0.001818181818")
    assert datetime.fromisoformat(btc["marked_at"]) == marked
    by_execution = await as_a("/pnl")
    assert {i["id"] for i in by_execution["items"]} == {x1, x2, x3}
    assert [t["asset"] for t in by_execution["totals"]] == ["BTC", "USDT"]
    assert (await as_a(f"/pnl?group=follow&connection_id={b_conn}"))["items"] == []
    one = await as_a(f"/positions/{p1}")
    assert (one["unrealised_pnl"], one["mark_price"], one["pnl_asset"]) == ("500", "51000", "USDT")
    assert one["total_pnl"] == "490"
    # staff see every account: per connection, B's paper account does not report funding
    admin = (await harness.ok("GET", "/pnl?group=connection"))["items"]
    assert [(i["id"], i["asset"], i["unrealised"]) for i in admin] == [
        (a_conn, "BTC", "0.001818181818"),
        (a_conn, "USDT", "500"),
        (b_conn, "USDT", "1000"),
    ]
    assert admin[2]["funding_reported"] is False
    bad = await harness.client.get(
        "/api/v1/pnl?group=user", headers={"Authorization": f"Bearer {a_token}"}
    )
    assert bad.status_code == 422
