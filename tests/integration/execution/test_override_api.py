"""Manual override through the API of a running platform: on the paper venue, close a
share and the rest, move the stop, cancel a waiting entry, pause and resume a follow,
panic under concurrent duplicate requests, manual signals, and a member's hands kept
off another member's account; on the fake Binance USDⓈ-M (through the real ccxt), a
share and the rest closed with reduce-only orders and the resting stop moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.fakes.loopback import LOOPBACK_HOSTS
from tests.platform_fixtures import Harness, eventually, make_settings, running_harness

from signalbridge.execution.monitor import PositionMonitor
from signalbridge.jobs.sweeper import sweep
from signalbridge.services.auth import SCOPES, create_token
from signalbridge.store import models as m
from signalbridge.store.types import utcnow

D = Decimal
# One platform for the module (SQLite): starting one costs seconds; every test makes its
# own channels, accounts and users.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    tmp = tmp_path_factory.mktemp("override")
    url = f"sqlite+aiosqlite:///{tmp / 'override.db'}"
    settings = make_settings(tmp, url, allowed_hosts=list(LOOPBACK_HOSTS))  # the fake Binance
    async with running_harness(settings) as h:
        yield h


def market(symbol: str = "BTC/USDT", **fields: Any) -> dict[str, Any]:
    btc = symbol == "BTC/USDT"
    return {
        "kind": "signal",
        "symbol": symbol,
        "side": "long",
        "order_type": "market",
        "stop_loss": "58000" if btc else "2900",
        "take_profits": ["65000"] if btc else ["3300"],
        **fields,
    }


async def rows(h: Harness, model: type[Any], **where: Any) -> list[Any]:
    async with h.container.sessions() as s:
        q = select(model).order_by(model.id)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list((await s.scalars(q)).all())


async def account(h: Harness, name: str) -> tuple[int, str, int]:
    """A webhook channel, a paper account following it: (channel, secret, connection)."""
    channel_id, secret = await h.webhook_channel(f"hook-{name}")
    connection_id = await h.paper_connection(f"paper-{name}", account_id=name)
    await h.follow(channel_id, connection_id, management={"native_exits": False})
    return channel_id, secret, connection_id


async def open_position(h: Harness, channel_id: int, secret: str, **fields: Any) -> m.Position:
    response = await h.post_signal(channel_id, secret, market(**fields))
    assert response.status_code == 202, response.text
    signal_id = int(response.json()["signal_id"])
    found: list[m.Position] = []

    async def opened() -> bool:
        found[:] = await rows(h, m.Position, signal_id=signal_id)
        return bool(found)

    await eventually(opened)
    return found[0]


async def position(h: Harness, position_id: int) -> m.Position:
    async with h.container.sessions() as s:
        return await s.get_one(m.Position, position_id)


async def test_close_a_share_then_the_rest_once_each(harness: Harness) -> None:
    h = harness
    channel_id, secret, _ = await account(h, "close")
    pos = await open_position(h, channel_id, secret)
    held = pos.amount

    key = {"Idempotency-Key": "close-half-1"}
    first = await h.api("POST", f"/positions/{pos.id}/close", json={"share": "0.5"}, headers=key)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "done" and body["result"]["orders_sent"] == 1
    again = await h.api("POST", f"/positions/{pos.id}/close", json={"share": "0.5"}, headers=key)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["action_id"] == body["action_id"]
    assert (await position(h, pos.id)).amount == held - D(body["result"]["amount"])
    reused = await h.api("POST", f"/positions/{pos.id}/close", json={"share": "0.2"}, headers=key)
    assert reused.status_code == 409

    rest = await h.api("POST", f"/positions/{pos.id}/close")
    assert rest.status_code == 200 and rest.json()["result"]["whole"] is True, rest.text
    closed = await position(h, pos.id)
    assert closed.status == m.PositionStatus.CLOSED and closed.amount == 0
    exits = [o for o in await rows(h, m.Order, execution_id=pos.execution_id) if o.leg != "e0"]
    assert [o.leg for o in exits] == [f"mp{body['action_id']}", f"m{rest.json()['action_id']}"]
    assert all(o.status == m.OrderStatus.FILLED and o.reduce_only for o in exits)
    # a closed position: a new press sends nothing
    late = await h.api("POST", f"/positions/{pos.id}/close")
    assert late.status_code == 200 and late.json()["result"]["orders_sent"] == 0
    audit = await rows(h, m.AuditEntry, entity="position", entity_id=str(pos.id))
    assert [a.action for a in audit] == ["close", "close", "close"]
    assert audit[0].actor == "admin@example.com" and audit[0].changes["share"] == "0.5"


async def test_move_the_stop_and_refuse_one_on_the_wrong_side(harness: Harness) -> None:
    h = harness
    channel_id, secret, _ = await account(h, "stop")
    pos = await open_position(h, channel_id, secret)
    moved = await h.api("POST", f"/positions/{pos.id}/stop", json={"stop_loss": "59000"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["result"]["moved_from"] == "58000"
    assert (await position(h, pos.id)).stop_loss == D(59000)
    wrong = await h.api("POST", f"/positions/{pos.id}/stop", json={"stop_loss": "61000"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "refused", wrong.text
    assert (await position(h, pos.id)).stop_loss == D(59000)
    for bad in ("-1", "0", "1e40", "x"):
        r = await h.api("POST", f"/positions/{pos.id}/stop", json={"stop_loss": bad})
        assert r.status_code == 422, (bad, r.text)
    for bad_share in ("0", "1.5", "-0.1"):
        r = await h.api("POST", f"/positions/{pos.id}/close", json={"share": bad_share})
        assert r.status_code == 422, (bad_share, r.text)
    assert (await position(h, pos.id)).status == m.PositionStatus.OPEN


async def test_cancel_a_waiting_entry(harness: Harness) -> None:
    h = harness
    channel_id, secret, _ = await account(h, "cancel")
    far: dict[str, Any] = {"order_type": "limit", "entry": {"low": "59000", "high": "59000"}}
    response = await h.post_signal(channel_id, secret, market(**far))
    assert response.status_code == 202, response.text
    signal_id = response.json()["signal_id"]
    waiting: list[m.Order] = []

    async def resting() -> bool:
        [execution] = await rows(h, m.Execution, signal_id=signal_id) or [None]
        if execution is None:
            return False
        waiting[:] = await rows(h, m.Order, execution_id=execution.id, status="open")
        return bool(waiting)

    await eventually(resting)
    order = waiting[0]
    done = await h.api("POST", f"/orders/{order.id}/cancel")
    assert done.status_code == 200, done.text
    assert done.json()["result"]["order_status"] == m.OrderStatus.CANCELED
    [row] = await rows(h, m.Order, id=order.id)
    assert row.status == m.OrderStatus.CANCELED


async def test_a_paused_follow_opens_nothing_but_still_manages(harness: Harness) -> None:
    h = harness
    channel_id, secret, connection_id = await account(h, "pause")
    pos = await open_position(h, channel_id, secret)
    [follow] = await rows(h, m.Follow, connection_id=connection_id)
    paused = await h.api("POST", f"/follows/{follow.id}/pause")
    assert paused.status_code == 200 and paused.json()["result"]["paused"] is True, paused.text
    # a new signal opens no execution for the paused follow
    r = await h.post_signal(channel_id, secret, market("ETH/USDT"))
    assert r.status_code == 202
    assert await rows(h, m.Execution, signal_id=r.json()["signal_id"]) == []
    # the open position is still managed: the provider's "close all" closes it
    update = {"kind": "update", "action": "close_all", "symbol": "BTC/USDT"}
    assert (await h.post_signal(channel_id, secret, update)).status_code == 202

    async def closed() -> bool:
        return (await position(h, pos.id)).status == m.PositionStatus.CLOSED

    await eventually(closed)
    resumed = await h.api("POST", f"/follows/{follow.id}/resume")
    assert resumed.status_code == 200 and resumed.json()["result"]["paused"] is False
    again = await open_position(h, channel_id, secret, take_profits=["66000"])
    assert again.connection_id == connection_id


async def test_panic_under_concurrent_duplicates_closes_each_position_once(
    harness: Harness,
) -> None:
    h = harness
    channel_id, secret, connection_id = await account(h, "panic")
    first = await open_position(h, channel_id, secret)
    second = await open_position(h, channel_id, secret, symbol="ETH/USDT")
    path = f"/connections/{connection_id}/panic"
    key = {"Idempotency-Key": "panic-button-1"}
    answers = await asyncio.gather(*(h.api("POST", path, headers=key) for _ in range(2)))
    assert sorted(a.status_code for a in answers) in ([200, 200], [200, 202]), answers
    ids = {a.json()["action_id"] for a in answers}
    assert len(ids) == 1 and sorted(a.json()["duplicate"] for a in answers) == [False, True]
    action_id = ids.pop()
    for pos in (first, second):
        assert (await position(h, pos.id)).status == m.PositionStatus.CLOSED
        closes = [o for o in await rows(h, m.Order, execution_id=pos.execution_id) if o.leg != "e0"]
        assert [o.leg for o in closes] == [f"m{action_id}"]
    [row] = await rows(h, m.ManualAction, id=action_id)
    assert row.status == m.ManualActionStatus.DONE and row.result is not None
    assert row.result["positions"] == 2 and row.result["orders_sent"] == 2


async def test_channel_panic_without_a_key_is_one_action(harness: Harness) -> None:
    h = harness
    channel_id, secret, _ = await account(h, "chan")
    other = await h.paper_connection("paper-chan-2", account_id="chan-2")
    await h.follow(channel_id, other, management={"native_exits": False})
    response = await h.post_signal(channel_id, secret, market())
    signal_id = response.json()["signal_id"]

    async def both_open() -> bool:
        return len(await rows(h, m.Position, signal_id=signal_id)) == 2

    await eventually(both_open)
    path = f"/channels/{channel_id}/panic"
    answers = await asyncio.gather(*(h.api("POST", path) for _ in range(2)))
    assert all(a.status_code in (200, 202) for a in answers), answers
    assert len({a.json()["action_id"] for a in answers}) == 1
    for pos in await rows(h, m.Position, signal_id=signal_id):
        assert pos.status == m.PositionStatus.CLOSED
        closes = [o for o in await rows(h, m.Order, execution_id=pos.execution_id) if o.leg != "e0"]
        assert len(closes) == 1
    assert len(await rows(h, m.ManualAction, kind="panic", channel_id=channel_id)) == 1


async def test_a_manual_signal_takes_the_webhook_path_with_its_author(harness: Harness) -> None:
    h = harness
    channel_id, _, connection_id = await account(h, "manual")
    body = market(take_profits=["67000"])
    key = {"Idempotency-Key": "manual-1"}
    first = await h.api("POST", f"/channels/{channel_id}/signals", json=body, headers=key)
    assert first.status_code == 202, first.text
    signal_id = first.json()["signal_id"]
    assert first.json()["author"] == "admin@example.com"
    again = await h.api("POST", f"/channels/{channel_id}/signals", json=body, headers=key)
    assert again.status_code == 200 and again.json()["signal_id"] == signal_id

    async def executed() -> bool:
        return bool(await rows(h, m.Position, signal_id=signal_id))

    await eventually(executed)
    [action] = await rows(h, m.ManualAction, kind="signal")
    assert action.channel_id == channel_id and action.params["message_id"] is not None
    audit = await rows(h, m.AuditEntry, action="signal")
    assert [a.actor for a in audit] == ["admin@example.com"]
    # the same checks as a webhook: a stop on the wrong side is refused and stored rejected
    bad = await h.api("POST", f"/channels/{channel_id}/signals", json=market(stop_loss="70000"))
    assert bad.status_code == 422, bad.text
    not_json = await h.api("POST", f"/channels/{channel_id}/signals", content=b"\xff")
    assert not_json.status_code in (400, 415, 422)
    positions = await rows(h, m.Position, connection_id=connection_id)
    assert len(positions) == 1


async def _member(h: Harness, email: str) -> dict[str, str]:
    async with h.container.sessions() as s, s.begin():
        user = m.User(email=email, password_hash="-", role=m.Role.MEMBER)  # no argon2: fast
        s.add(user)
        await s.flush()
        _, token = await create_token(s, user, "t", [x for x in SCOPES if x != "admin"])
    return {"Authorization": f"Bearer {token}"}


async def test_a_member_cannot_touch_another_members_account(harness: Harness) -> None:
    h = harness
    a, b = await _member(h, "a@example.com"), await _member(h, "b@example.com")
    channel_id, secret = await h.webhook_channel("shared", visibility="public")

    async def as_user(auth: dict[str, str], method: str, path: str, **kw: Any) -> httpx.Response:
        return await h.client.request(method, "/api/v1" + path, headers=auth, **kw)

    config = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": "a"}
    made = await as_user(
        a, "POST", "/connections", json={"name": "a", "type": "paper", "config": config}
    )
    connection_id = made.json()["id"]
    follow = await as_user(
        a,
        "POST",
        "/follows",
        json={
            "channel_id": channel_id,
            "connection_id": connection_id,
            "sizing": {"mode": "fixed_quote", "value": "100"},
        },
    )
    assert follow.status_code == 201, follow.text
    pos = await open_position(h, channel_id, secret)
    missing = 2**62
    for path, body in (
        ("/positions/{}/close", None),
        ("/positions/{}/stop", {"stop_loss": "59000"}),
        ("/connections/{}/panic", None),
        ("/follows/{}/pause", None),
    ):
        target = {"positions": pos.id, "connections": connection_id}.get(
            path.split("/")[1], follow.json()["id"]
        )
        theirs = await as_user(b, "POST", path.format(target), json=body)
        nothing = await as_user(b, "POST", path.format(missing), json=body)
        assert theirs.status_code == nothing.status_code == 404, (path, theirs.text)
        assert theirs.json()["error"]["code"] == nothing.json()["error"]["code"]
    assert await rows(h, m.ManualAction, connection_id=connection_id) == []
    assert (await position(h, pos.id)).status == m.PositionStatus.OPEN
    mine = await as_user(a, "POST", f"/positions/{pos.id}/close")
    assert mine.status_code == 200, mine.text
    assert (await position(h, pos.id)).status == m.PositionStatus.CLOSED
    # members may not post manual signals (a channel write)
    refused = await as_user(a, "POST", f"/channels/{channel_id}/signals", json=market())
    assert refused.status_code == 403


async def test_close_and_move_the_stop_on_binance_futures(
    harness: Harness,
    fake_binance: FakeBinance,  # noqa: F811
) -> None:
    h, fake = harness, fake_binance
    channel_id, secret = await h.webhook_channel("hook-binance")
    config = {**fake.adapter_config("linear", timeout_ms=5000), **fake.adapter_secrets()}
    made = await h.ok("POST", "/connections", json={"name": "bn", "type": "ccxt", "config": config})
    await h.follow(channel_id, made["id"])  # native exits: the stop and a target rest
    pos = await open_position(
        h, channel_id, secret, stop_loss="48000", take_profits=["52000", "54000"]
    )
    monitor = PositionMonitor(h.container.sessions, h.container.adapter_pool, h.container.execution)
    report = await monitor.run_once()
    assert not report.errors, report.errors
    [stop] = [a for a in fake.algo.open("BTCUSDT") if a.order_type == "STOP_MARKET"]
    assert stop.trigger == D(48000)

    moved = await h.api("POST", f"/positions/{pos.id}/stop", json={"stop_loss": "49000"})
    assert moved.status_code == 200 and moved.json()["result"]["resting"] is True, moved.text
    stops = [a for a in fake.algo.open("BTCUSDT") if a.order_type == "STOP_MARKET"]
    assert [(s.trigger, s.client_algo_id.endswith("-s2")) for s in stops] == [(D(49000), True)]

    half = await h.api("POST", f"/positions/{pos.id}/close", json={"share": "0.5"})
    assert half.status_code == 200 and half.json()["result"]["orders_sent"] == 1, half.text
    rest = await h.api("POST", f"/positions/{pos.id}/close")
    assert rest.status_code == 200 and rest.json()["result"]["whole"] is True, rest.text
    assert (await position(h, pos.id)).status == m.PositionStatus.CLOSED
    sells = [o for o in fake.orders(futures=True) if o.side == "SELL"]
    assert len(sells) == 2 and all(o.reduce_only and o.type == "MARKET" for o in sells)
    assert sum(o.qty for o in sells) == pos.amount
    assert fake.algo.open(None) == []  # the resting stop and target are cancelled


async def test_an_action_left_pending_by_a_crash_is_finished_by_the_sweeper(
    harness: Harness,
) -> None:
    """The row written, then the worker gone: the sweeper queues the action again and its
    task closes the position once, with the client id the first run would have used."""
    h = harness
    channel_id, secret, _ = await account(h, "swept")
    pos = await open_position(h, channel_id, secret)
    async with h.container.sessions() as s, s.begin():
        action = m.ManualAction(
            kind="close",
            position_id=pos.id,
            params={},
            idempotency_key="crashed-close-1",
            status=m.ManualActionStatus.PENDING,
            created_at=utcnow() - timedelta(minutes=5),
        )
        s.add(action)
    queued = await sweep(h.container.sessions, h.container.queue, stuck_after=timedelta(seconds=60))
    assert queued >= 1

    async def finished() -> bool:
        done = await rows(h, m.ManualAction, idempotency_key="crashed-close-1")
        return done[0].status == m.ManualActionStatus.DONE

    await eventually(finished)
    assert (await position(h, pos.id)).status == m.PositionStatus.CLOSED
    exits = [o for o in await rows(h, m.Order, execution_id=pos.execution_id) if o.leg != "e0"]
    assert [o.leg for o in exits] == [f"m{action.id}"]
    await sweep(h.container.sessions, h.container.queue, stuck_after=timedelta(seconds=60))
    assert len(await rows(h, m.Order, execution_id=pos.execution_id)) == 2
