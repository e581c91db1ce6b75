"""The review desk's edit payload is untrusted input: whatever it is, it is either a valid
item of the right kind that the store holds exactly, or a clear refusal (hypothesis)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.bounds import coerce_storable
from signalbridge.domain.signals import Signal, SignalUpdate, UpdateAction, bounds_problems
from signalbridge.services.review import InvalidEdit, Kind, contract, read_edit, stored_values
from signalbridge.store import models as m

HOSTILE = st.sampled_from(
    ["1e-9999990", "1e40", "NaN", "-1", "0", "0,5", "6_00", "9" * 40, "\u0000", "ſol/usdt", ""]
)
PRICE = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("200000"), places=4).map(str)
NUMBERISH = PRICE | HOSTILE | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERISH | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
SIGNALS = st.fixed_dictionaries(
    {"kind": st.just("signal")},
    optional={
        "symbol": st.sampled_from(["BTC/USDT", "ETHUSDT", "EUR/USD", "", "B" * 50]) | JSON,
        "side": st.sampled_from(["long", "short", "buy", "up"]) | JSON,
        "order_type": st.sampled_from(["market", "limit", "stop"]) | JSON,
        "entry": PRICE | st.fixed_dictionaries({"low": PRICE, "high": PRICE}) | JSON,
        "stop_loss": PRICE | JSON,
        "take_profits": st.lists(PRICE, max_size=12) | JSON,
        "leverage": st.integers(-5, 300) | JSON,
    },
)
UPDATES = st.fixed_dictionaries(
    {"kind": st.just("update")},
    optional={
        "action": st.sampled_from(["move_sl", "close_all", "close_partial", "tp_hit", "x"]) | JSON,
        "value": PRICE | JSON,
        "symbol": st.sampled_from(["BTC/USDT", "SOLUSDT"]) | JSON,
    },
)


@st.composite
def good_signals(draw: st.DrawFn) -> dict[str, Any]:
    """A consistent signal, sometimes with one field replaced by something hostile."""
    side = draw(st.sampled_from(["long", "short"]))
    price = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2))
    gap = draw(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.4"), places=3))
    sign = 1 if side == "long" else -1
    step = Decimal("0.00000001")
    targets = draw(st.integers(0, 4))
    body: dict[str, Any] = {
        "kind": "signal",
        "symbol": draw(st.sampled_from(["BTC/USDT", "ETH/USDT", "EUR/USD", "XAUUSD"])),
        "side": side,
        "order_type": "limit",
        "entry": {"low": str(price), "high": str(price)},
        "stop_loss": str((price * (1 - sign * gap)).quantize(step)),
        "take_profits": [
            str((price * (1 + sign * gap * k)).quantize(step)) for k in range(1, targets + 1)
        ],
        "leverage": draw(st.integers(1, 125)),
    }
    spoiled = draw(st.sampled_from([None, None, *body]))
    if spoiled is not None:
        body[spoiled] = draw(JSON)
    return body


GOOD_UPDATES = st.fixed_dictionaries(
    {
        "kind": st.just("update"),
        "action": st.sampled_from([a.value for a in UpdateAction]),
        "symbol": st.sampled_from(["BTC/USDT", "SOL/USDT"]),
    },
    optional={"value": PRICE | st.sampled_from(["50", "1", "2"]) | JSON},
)
PAYLOADS = (good_signals() | GOOD_UPDATES | SIGNALS | UPDATES | JSON).map(
    lambda v: json.dumps(v, default=str)
) | st.text(max_size=200)


def row_of(kind: Kind, parsed: Signal | SignalUpdate) -> m.Signal | m.SignalUpdate:
    model = m.Signal if kind == "signal" else m.SignalUpdate
    return model(**stored_values(parsed))


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(["signal", "update"]), payload=PAYLOADS)
def test_an_edit_is_a_valid_item_or_a_clear_refusal(kind: Kind, payload: str) -> None:
    try:
        parsed = read_edit(kind, payload)
    except InvalidEdit as exc:
        assert exc.message and isinstance(exc.details, list) and exc.details
        assert all(isinstance(p, str) and p for p in exc.details)
        return
    assert isinstance(parsed, Signal if kind == "signal" else SignalUpdate)
    assert bounds_problems(parsed) == []
    if isinstance(parsed, Signal):
        assert parsed.geometry_problems() == []
    for value in stored_values(parsed).values():
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, Decimal | str) and str(number)[:1].isdigit():
                coerce_storable(str(number))  # fits NUMERIC(38,18)
    # what the desk shows is what it stored: sending it back reads the same item
    shown = contract(kind, row_of(kind, parsed))
    assert read_edit(kind, json.dumps(shown)) == parsed


@given(kind=st.sampled_from(["signal", "update"]), data=SIGNALS | UPDATES)
def test_an_edit_of_the_other_kind_is_refused(kind: Kind, data: dict[str, Any]) -> None:
    if data["kind"] == kind:
        return
    try:
        read_edit(kind, json.dumps(data))
    except InvalidEdit:
        return
    raise AssertionError("an item changed kind through an edit")
