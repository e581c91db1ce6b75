"""Property: any examples input only learns or refuses (``LearnError``), never crashes; a
learned template reads any text without raising; a stored layout spec only validates or
raises ``ValueError``."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.parsing.engine import parse
from signalbridge.parsing.learn import Learned, LearnError, learn_template, leave_one_out
from signalbridge.parsing.templates import template_from_dict

_PIECES = ["Entry", "SL", "TP", "Box", "🎯", "❌", "🟢", "🔴", "x10", "-", ":", "/", "\n", " "]
_NUMBERS = st.sampled_from(["0.5", "1", "1.0850", "42,000", "0,125", "100", "2%", "3", "99999"])
texts = st.lists(
    st.one_of(st.sampled_from(_PIECES), _NUMBERS, st.sampled_from(["BTCUSDT", "EURUSD", "#SOL"])),
    max_size=25,
).map("".join) | st.text(max_size=80)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    _NUMBERS,
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_KEYS = ["kind", "symbol", "side", "entry", "stop_loss", "take_profits", "leverage"]
expecteds = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "kind": st.sampled_from(["signal", "update", "noise", "other"]) | values,
            "symbol": st.sampled_from(["BTCUSDT", "EUR/USD", "SOL"]) | values,
            "side": st.sampled_from(["long", "short", "LONG"]) | values,
            "entry": _NUMBERS | st.fixed_dictionaries({"low": _NUMBERS, "high": _NUMBERS}) | values,
            "stop_loss": _NUMBERS | values,
            "take_profits": st.lists(_NUMBERS, max_size=4) | values,
            "leverage": st.integers(0, 200) | values,
            "order_type": st.sampled_from(["market", "limit", "x"]),
        },
    ),
    st.dictionaries(st.sampled_from(_KEYS), values, max_size=4),
    values,
)
examples = st.one_of(
    st.lists(st.tuples(texts, expecteds), max_size=7),
    st.lists(st.fixed_dictionaries({"text": texts, "expected": expecteds}), max_size=6),
    values,
)


@settings(max_examples=400, deadline=None)
@given(examples, texts)
def test_any_examples_learn_or_refuse(given_examples: Any, post: str) -> None:
    try:
        learned = learn_template(given_examples)
    except LearnError as exc:
        assert str(exc)
        return
    assert isinstance(learned, Learned)
    template = template_from_dict(learned.spec())  # what is stored loads again
    result = parse(post, template)
    assert 0.0 <= result.confidence <= 1.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(texts, expecteds), min_size=3, max_size=5))
def test_leave_one_out_never_crashes(given_examples: Any) -> None:
    try:
        score = leave_one_out(given_examples)
    except LearnError:
        return
    assert 0 <= score.learned <= score.examples


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*_KEYS, "required", "ignore", "x"]), values))
def test_any_stored_fields_spec_validates_or_says_why(spec: dict[str, Any]) -> None:
    try:
        template = template_from_dict({"fields": spec})
    except ValueError as exc:
        assert str(exc)
        return
    assert template.layout is not None
    parse("BTCUSDT LONG Entry 100 SL 90 TP 110", template)
