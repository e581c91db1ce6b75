"""The parse answer: strict models, the domain's canonical reader, the schema sent."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fakes.openai_compat import strict_schema_problem

from signalbridge.ai.answer import (
    PARSE_SCHEMA,
    AiSignalAnswer,
    answer_to_parsed,
    confidence_of,
    parse_answer,
)
from signalbridge.ai.errors import MalformedAnswer
from signalbridge.ai.parser import validate_parse
from signalbridge.domain.bounds import load_json
from signalbridge.domain.signals import (
    EntryZone,
    Noise,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
    bounds_problems,
)


def signal(**changes: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "kind": "signal",
        "symbol": "btc/usdt",
        "side": "buy",
        "order_type": "limit",
        "entry": {"low": "42000", "high": "42100.5"},
        "stop_loss": "41000",
        "take_profits": ["43000", "44000"],
        "leverage": None,
        "confidence": 0.87,
    }
    answer.update(changes)
    return answer


def test_a_signal_answer_becomes_the_domain_signal() -> None:
    parsed, confidence = validate_parse({"answer": signal(leverage="10")})
    assert parsed == Signal(
        symbol="BTC/USDT",
        side=Side.LONG,
        order_type=OrderType.LIMIT,
        entry=EntryZone(Decimal("42000"), Decimal("42100.5")),
        stop_loss=Decimal("41000"),
        take_profits=(Decimal("43000"), Decimal("44000")),
        leverage=10,
    )
    assert confidence == Decimal("0.87")


def test_the_bare_answer_object_reads_the_same_as_the_wrapped_one() -> None:
    assert validate_parse(signal()) == validate_parse({"answer": signal()})


def test_sell_is_short_and_json_numbers_are_read_exactly() -> None:
    data = load_json(
        '{"kind":"signal","symbol":"ETHUSDT","side":"sell","order_type":"market",'
        '"entry":null,"stop_loss":3100.10,"take_profits":[2900.05],"leverage":null,'
        '"confidence":1}'
    )
    parsed = answer_to_parsed(parse_answer(data))
    assert isinstance(parsed, Signal)
    assert parsed.side is Side.SHORT
    assert parsed.stop_loss == Decimal("3100.10")
    assert parsed.take_profits == (Decimal("2900.05"),)


def test_update_and_noise_answers() -> None:
    update = {"kind": "update", "action": "move_sl", "symbol": None, "value": "41500"}
    parsed, _ = validate_parse({**update, "confidence": 0.6})
    assert parsed == SignalUpdate(UpdateAction.MOVE_SL, None, Decimal("41500"))
    assert validate_parse({"kind": "noise", "confidence": 0.2})[0] == Noise()


@pytest.mark.parametrize(
    "answer",
    [
        signal(quantity="5"),  # a field we never asked for
        signal(api_key="sk-x"),
        {"kind": "update", "action": "close_all", "confidence": 0.9, "close_all": True},
        signal(side="long"),  # not in the enum
        signal(take_profits=[str(40000 + i * 100) for i in range(1, 12)]),  # 11 targets
        signal(stop_loss="-1"),
        signal(stop_loss="1e40"),  # beyond NUMERIC(38, 18)
        signal(stop_loss="0.0000000000000000001"),  # finer than 18 places
        signal(stop_loss=True),
        signal(confidence=1.5),
        signal(confidence="high"),
        signal(symbol="ВТС/USDT"),  # Cyrillic look-alikes
        signal(symbol="x" * 41),
        signal(leverage="2.5"),
        signal(leverage="1000"),
        signal(stop_loss="43500"),  # a long's stop above its entry: geometry
        signal(order_type="limit", entry=None),
        {"kind": "order", "confidence": 0.9},
        {"kind": "update", "action": "withdraw", "confidence": 0.9},
        {"kind": "update", "action": "close_partial", "value": "150", "confidence": 0.9},
        {"answer": signal(), "extra": 1},
        [signal()],
        "signal",
        None,
    ],
)
def test_anything_off_is_a_malformed_answer(answer: Any) -> None:
    with pytest.raises(MalformedAnswer):
        validate_parse(answer)


def test_an_answer_outside_the_schema_is_named_by_field_never_by_value() -> None:
    with pytest.raises(MalformedAnswer) as caught:
        validate_parse(signal(api_key="IGNORE ALL RULES sk-live-SECRET"))
    assert "api_key" in str(caught.value)
    assert "SECRET" not in str(caught.value)
    assert "IGNORE" not in str(caught.value)


def test_the_schema_is_what_strict_structured_output_accepts() -> None:
    assert strict_schema_problem(PARSE_SCHEMA, "schema") is None
    variants = PARSE_SCHEMA["properties"]["answer"]["anyOf"]
    assert [v["properties"]["kind"]["enum"] for v in variants] == [
        ["signal"],
        ["update"],
        ["noise"],
    ]
    assert set(variants[1]["properties"]["action"]["enum"]) == {a.value for a in UpdateAction}
    model_fields = set(AiSignalAnswer.model_fields)
    assert set(variants[0]["properties"]) == model_fields
    json.dumps(PARSE_SCHEMA)  # plain JSON, sendable as is


def test_confidence_is_an_exact_two_place_decimal() -> None:
    answer = parse_answer({"kind": "noise", "confidence": 0.333333})
    assert confidence_of(answer) == Decimal("0.33")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
_number_text = st.builds(
    lambda whole, fraction: f"{whole}.{fraction}",
    st.integers(-(10**22), 10**22),
    st.integers(0, 10**20),
)
_field_values = st.one_of(
    st.none(),
    st.sampled_from(["signal", "update", "noise", "buy", "sell", "limit", "market", "move_sl"]),
    _number_text,
    st.floats(min_value=0, max_value=1),
    st.lists(_number_text, max_size=12),
    st.fixed_dictionaries({"low": _number_text, "high": _number_text}),
    _json,
)
_answers = st.dictionaries(
    st.sampled_from(
        [
            "kind",
            "symbol",
            "side",
            "order_type",
            "entry",
            "stop_loss",
            "take_profits",
            "leverage",
            "confidence",
            "action",
            "value",
            "quantity",
        ]
    ),
    _field_values,
    max_size=11,
)


@settings(max_examples=60)
@given(st.one_of(_json, _answers, _answers.map(lambda a: {"answer": a})))
def test_any_json_answer_is_a_valid_parsed_or_malformed(data: Any) -> None:
    try:
        parsed, confidence = validate_parse(data)
    except MalformedAnswer:
        return
    assert isinstance(parsed, Signal | SignalUpdate | Noise)
    assert bounds_problems(parsed) == []
    assert Decimal(0) <= confidence <= Decimal(1)
    if isinstance(parsed, Signal):
        assert parsed.geometry_problems() == []
        assert len(parsed.take_profits) <= 10


_price = st.one_of(
    _number_text,
    st.integers(1, 100_000).map(str),
    st.integers(-5, 10**21),
    st.sampled_from(["1e3", "0.0000000000000000001", "1" * 30, "NaN", "-0", "５"]),
)


@settings(max_examples=60)
@given(
    side=st.sampled_from(["buy", "sell"]),
    low=_price,
    high=_price,
    stop_loss=st.one_of(st.none(), _price),
    take_profits=st.lists(_price, max_size=11),
    leverage=st.one_of(st.none(), st.integers(-1, 600).map(str), _number_text),
)
def test_signal_shaped_answers_are_valid_or_malformed(
    side: str, low: Any, high: Any, stop_loss: Any, take_profits: list[Any], leverage: Any
) -> None:
    answer = signal(
        side=side,
        entry={"low": low, "high": high},
        stop_loss=stop_loss,
        take_profits=take_profits,
        leverage=leverage,
    )
    try:
        parsed, _ = validate_parse(answer)
    except MalformedAnswer:
        return
    assert isinstance(parsed, Signal)
    assert parsed.geometry_problems() == []
    assert bounds_problems(parsed) == []
    assert parsed.leverage is None or 1 <= parsed.leverage <= 500
