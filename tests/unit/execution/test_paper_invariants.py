"""Any sequence of orders, cancels and ticks keeps the paper books consistent."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.venues.base import OrderRequest, OrderSide, TimeInForce, VenueOrderType
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.rules import VenueRules
from signalbridge.venues.paper.store import MemoryPaperStore

SYMBOL = "ETH/USDT"

order_step = st.tuples(
    st.just("order"),
    st.sampled_from(list(OrderSide)),
    st.sampled_from(list(VenueOrderType)),
    st.integers(1, 30).map(lambda n: D(n) / 10),  # amount 0.1 … 3 ETH
    st.integers(2500, 3500).map(D),  # price / stop
    st.booleans(),  # reduce only
    st.sampled_from(list(TimeInForce)),
)
tick_step = st.tuples(st.just("tick"), st.integers(2400, 3600).map(D))
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 20))


@settings(max_examples=60)
@given(
    futures=st.booleans(),
    fraction=st.sampled_from([None, D("0.5"), D("0.3")]),
    steps=st.lists(st.one_of(order_step, tick_step, cancel_step), max_size=25),
)
def test_books_stay_consistent(
    futures: bool, fraction: D | None, steps: list[tuple[object, ...]]
) -> None:
    asyncio.run(_run(futures, fraction, steps))


async def _run(futures: bool, fraction: D | None, steps: list[tuple[object, ...]]) -> None:
    counter = itertools.count()
    ex = PaperExchange(MemoryPaperStore(), new_id=lambda: f"o{next(counter)}")
    await ex.on_price(SYMBOL, D(3000))
    rules = VenueRules(futures=futures, max_fill_fraction=fraction)
    await ex.open_account("a", rules, {"USDT": D(10000), "ETH": D(2)})
    await ex.set_leverage("a", SYMBOL, 5)
    placed: list[str] = []
    for step in steps:
        if step[0] == "tick":
            await ex.on_price(SYMBOL, step[1])  # type: ignore[arg-type]
        elif step[0] == "cancel":
            if placed:
                index = step[1] % len(placed)  # type: ignore[operator]
                try:
                    await ex.cancel_order("a", placed[index])
                except InvalidRequest:
                    pass
        else:
            _, side, kind, amount, price, reduce_only, tif = step
            cid = f"sb-{len(placed)}-e0"
            try:
                req = OrderRequest(
                    cid,
                    SYMBOL,
                    side,  # type: ignore[arg-type]
                    kind,  # type: ignore[arg-type]
                    amount,  # type: ignore[arg-type]
                    price=price if kind.has_price else None,  # type: ignore[attr-defined]
                    stop_price=price if kind.is_triggered else None,  # type: ignore[attr-defined]
                    reduce_only=reduce_only,  # type: ignore[arg-type]
                    time_in_force=tif,  # type: ignore[arg-type]
                )
                await ex.create_order("a", req)
                placed.append(cid)
            except InvalidRequest:
                pass  # refusals (funds, reduce-only, immediate trigger) change nothing
        await _check(ex, futures)


async def _check(ex: PaperExchange, futures: bool) -> None:
    store = ex.store
    assert isinstance(store, MemoryPaperStore)
    balances = await ex.balances("a")
    orders = await store.list_open_orders("a", None)
    positions = await store.get_positions("a")
    for asset, balance in balances.items():
        assert balance.used >= 0, (asset, balance)
        reserved = sum((o.reserved for o in orders if o.reserved_asset == asset), D(0))
        margin = sum((p.margin for p in positions.values()), D(0)) if asset == "USDT" else D(0)
        assert balance.used == reserved + margin, (asset, balance, reserved, margin)
    if not futures:
        assert not positions
        assert all(b.free >= 0 for b in balances.values())
    for order in orders:
        assert 0 <= order.filled < order.amount
    for position in positions.values():
        assert position.amount > 0 and position.margin > 0
