"""The running platform manages what it opened: the scheduler's monitor makes the stop rest
on the venue (or enforces it itself when the follow opts out), and a provider's update sent
to the webhook closes every position of its signal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness


async def _open_position(
    h: Harness, management: dict[str, object] | None = None
) -> tuple[int, str, int]:
    channel_id, secret = await h.webhook_channel()
    connection_id = await h.paper_connection()
    await h.follow(channel_id, connection_id, management=management or {})
    signal_id = (await h.post_signal(channel_id, secret, SIGNAL)).json()["signal_id"]

    async def opened() -> bool:
        items = (await h.ok("GET", f"/positions?signal_id={signal_id}"))["items"]
        return len(items) == 1

    await eventually(opened)
    return channel_id, secret, signal_id


async def _closed(h: Harness, signal_id: int) -> dict[str, object]:
    async def check() -> bool:
        items = (await h.ok("GET", f"/positions?signal_id={signal_id}"))["items"]
        return items[0]["status"] == "closed"

    await eventually(check, timeout=20)
    return dict((await h.ok("GET", f"/positions?signal_id={signal_id}"))["items"][0])


async def _orders(h: Harness, execution_id: object) -> dict[str, dict[str, object]]:
    items = (await h.ok("GET", f"/orders?execution_id={execution_id}"))["items"]
    return {str(o["leg"]): o for o in items}


async def test_the_stop_rests_on_the_venue_and_closes_the_position(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, monitor_seconds=0.1, paper_tick_seconds=60)
    async with running_harness(settings, scheduler=True) as h:
        _, _, signal_id = await _open_position(h)
        opened = (await h.ok("GET", f"/positions?signal_id={signal_id}"))["items"][0]

        async def resting() -> bool:
            stop = (await _orders(h, opened["execution_id"])).get("s1")
            return stop is not None and stop["status"] == "open"

        await eventually(resting)  # the scheduler's monitor placed it
        paper = h.container.adapter_deps.shared["paper"]
        await paper.on_price("BTC/USDT", Decimal("57500"))  # below the 58000 stop
        position = await _closed(h, signal_id)
        assert position["amount"] == "0"
        assert Decimal(str(position["realized_pnl"])) < 0
        legs = await _orders(h, position["execution_id"])
        assert legs["s1"]["status"] == "filled" and "sl" not in legs


async def test_scheduler_closes_the_position_at_its_stop(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, monitor_seconds=0.1, paper_tick_seconds=60)
    async with running_harness(settings, scheduler=True) as h:
        _, _, signal_id = await _open_position(h, {"native_exits": False})
        paper = h.container.adapter_deps.shared["paper"]
        await paper.on_price("BTC/USDT", Decimal("57500"))  # below the 58000 stop
        position = await _closed(h, signal_id)
        assert position["amount"] == "0"
        assert Decimal(str(position["realized_pnl"])) < 0
        logs = await h.ok("GET", f"/execution-logs?execution_id={position['execution_id']}")
        assert any(row["action"].startswith("monitor") for row in logs["items"])
        assert (await _orders(h, position["execution_id"]))["sl"]["status"] == "filled"


async def test_provider_update_closes_every_position_of_the_signal(harness: Harness) -> None:
    h = harness
    channel_id, secret, signal_id = await _open_position(h)
    update = {"kind": "update", "action": "close_all", "symbol": "BTC/USDT"}
    response = await h.post_signal(channel_id, secret, update)
    assert response.status_code == 202 and response.json()["update_id"] is not None
    position = await _closed(h, signal_id)
    assert position["amount"] == "0"


async def test_bad_management_settings_are_refused(harness: Harness) -> None:
    h = harness
    channel_id, _ = await h.webhook_channel()
    connection_id = await h.paper_connection()
    bad = await h.api(
        "POST",
        "/follows",
        json={
            "channel_id": channel_id,
            "connection_id": connection_id,
            "management": {"tp_split": ["80", "80"]},
        },
    )
    assert bad.status_code == 422
