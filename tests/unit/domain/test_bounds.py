"""Bounds of input: numbers NUMERIC(38, 18) holds, strict prices and symbols, JSON depth.

Properties over any input: a value is either refused with :class:`NumberOutOfBounds` or
returned unchanged in value and storable exactly; a refusal is never another exception.
"""

from __future__ import annotations

import json
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from signalbridge.domain.bounds import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    JsonOutOfBounds,
    NumberOutOfBounds,
    PositiveStoreDecimal,
    StoreDecimal,
    check_decimal_inputs,
    check_storable,
    coerce_storable,
    has_unstorable_text,
    json_depth,
    load_json,
    parse_decimal_text,
    storable_text,
)
from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import (
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
    bounds_problems,
    parsed_from_dict,
    to_decimal,
    validate_symbol,
)

WIDE = Context(prec=100)
STEP = Decimal(1).scaleb(-MAX_FRACTION_DIGITS)


def fits_numeric_38_18(value: Decimal) -> bool:
    """What PostgreSQL's NUMERIC(38, 18) keeps without rounding or overflow."""
    if not value.is_finite() or value.copy_abs() >= Decimal(10) ** MAX_INTEGER_DIGITS:
        return False
    try:
        return value.quantize(STEP, context=WIDE) == value
    except InvalidOperation:  # needs more digits than even the wide context holds
        return False


# ---------------------------------------------------------------- check_storable


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NaN", "NaN"),
        ("-NaN", "NaN"),
        ("sNaN", "NaN"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        ("1e-9999990", "at most 18 digits after the point"),
        ("1e+999999", "at most 20 digits before the point"),
        ("0.0000000000000000001", "at most 18 digits after the point"),
        ("123456789012345678901", "at most 20 digits before the point"),
        ("1234567890123456789.012345678901234567891", "40 significant digits"),
    ],
)
def test_refused_numbers_say_why(text: str, message: str) -> None:
    with pytest.raises(NumberOutOfBounds, match=message):
        check_storable(Decimal(text), "price")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0E-9999999", "0"),
        ("-0", "0"),
        ("1E+2", "100"),
        ("5." + "0" * 60, "5"),
        ("12345678901234567890.123456789012345678", "12345678901234567890.123456789012345678"),
        ("1e-18", "1E-18"),
        ("99999999999999999999", "99999999999999999999"),
        ("1.50", "1.50"),
    ],
)
def test_storable_numbers_come_back_in_a_plain_form(text: str, expected: str) -> None:
    result = check_storable(Decimal(text))
    assert str(result) == expected
    assert len(format(result, "f")) <= 41


@given(
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.builds(
        lambda digits, exp: Decimal(f"{digits}e{exp}"),
        st.integers(-(10**45), 10**45),
        st.integers(-(10**7), 10**7),
    )
)
def test_any_decimal_is_refused_or_stored_exactly(value: Decimal) -> None:
    try:
        result = check_storable(value)
    except NumberOutOfBounds:
        assert not fits_numeric_38_18(value) if value.is_finite() else True
        return
    assert result == value
    assert fits_numeric_38_18(result)
    exponent = result.as_tuple().exponent
    assert isinstance(exponent, int) and -MAX_FRACTION_DIGITS <= exponent <= 0
    assert Decimal(format(result, "f")) == value


@given(st.integers(-(10**38) + 1, 10**38 - 1), st.integers(0, MAX_FRACTION_DIGITS))
def test_everything_the_column_holds_is_accepted(unscaled: int, places: int) -> None:
    value = Decimal(unscaled).scaleb(-places)
    if abs(value) >= Decimal(10) ** MAX_INTEGER_DIGITS:
        with pytest.raises(NumberOutOfBounds):
            check_storable(value)
    else:
        assert check_storable(value) == value


# ---------------------------------------------------------------- strict text


@pytest.mark.parametrize(
    "text", ["0,5", "6_00", "1,000.5", " 5", "5 ", "５", "١٢", "1e5", "+5", ".5", "5.", "1.2.3", ""]
)
def test_prices_are_digits_and_one_point(text: str) -> None:
    with pytest.raises(NumberOutOfBounds, match="plain decimal"):
        parse_decimal_text(text, "stop_loss")


@given(st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,18})?", fullmatch=True))
def test_plain_decimals_read_exactly(text: str) -> None:
    assert parse_decimal_text(text) == Decimal(text)


@given(st.text(max_size=30))
def test_any_text_is_a_plain_decimal_or_refused(text: str) -> None:
    try:
        value = parse_decimal_text(text)
    except NumberOutOfBounds:
        return
    assert text.isascii() and value == Decimal(text) and fits_numeric_38_18(value)


def test_negative_only_where_allowed() -> None:
    assert parse_decimal_text("-1.5") == Decimal("-1.5")
    with pytest.raises(NumberOutOfBounds):
        parse_decimal_text("-1.5", allow_negative=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("58000.5", Decimal("58000.5")), (42, Decimal(42)), (Decimal("0.1"), Decimal("0.1"))],
)
def test_to_decimal_reads_strings_ints_and_decimals(value: object, expected: Decimal) -> None:
    assert to_decimal(value, "entry") == expected


@pytest.mark.parametrize(
    "value", ["0,5", "6_00", "1,000.5", "５", "NaN", 1.5, True, None, 10**30, Decimal("NaN")]
)
def test_to_decimal_refuses_what_it_would_have_guessed(value: object) -> None:
    with pytest.raises(InvalidSignal):
        to_decimal(value, "entry")


def test_canonical_signal_lists_every_bad_price() -> None:
    with pytest.raises(InvalidSignal) as caught:
        parsed_from_dict(
            {
                "symbol": "BTC/USDT",
                "side": "long",
                "entry": "0,5",
                "stop_loss": Decimal("1e-9999990"),
                "take_profits": ["6_00"],
            }
        )
    text = "; ".join(caught.value.problems)
    assert "entry" in text and "stop_loss" in text and "take_profits[1]" in text


# ---------------------------------------------------------------- symbols


@pytest.mark.parametrize(
    "symbol", ["btc/usdt", "BTC/USDT:USDT", "EURUSD.m", "ES_F", "1000PEPE-USDT"]
)
def test_ascii_symbols_are_upper_cased(symbol: str) -> None:
    assert validate_symbol(symbol) == symbol.upper()


@pytest.mark.parametrize(
    "symbol",
    ["ſol/usdt", "bıtcoin", "ВТС/USDT", "ＢＴＣ/USDT", "BTC USDT", "A" * 41, "ﬀ", "BTC\x00"],
)
def test_look_alike_symbols_are_refused_before_case_folding(symbol: str) -> None:
    with pytest.raises(InvalidSignal, match="not a valid symbol"):
        validate_symbol(symbol)


@given(st.text(min_size=1, max_size=45))
def test_a_symbol_is_ascii_before_and_after(text: str) -> None:
    try:
        symbol = validate_symbol(text)
    except InvalidSignal:
        return
    assert text.strip(" \t\r\n").isascii() and symbol.isascii() and len(symbol) <= 40


def test_enum_fields_do_not_fold_look_alikes() -> None:
    with pytest.raises(InvalidSignal, match="side"):
        parsed_from_dict({"symbol": "BTC/USDT", "side": "\u212a"})  # Kelvin sign
    with pytest.raises(InvalidSignal, match="order_type"):
        parsed_from_dict({"symbol": "BTC/USDT", "side": "long", "order_type": "MAR\u212aET"})


def test_parser_output_is_checked_like_canonical_json() -> None:
    tiny = Signal("BTC/USDT", Side.LONG, OrderType.MARKET, stop_loss=Decimal("1E-22"))
    assert bounds_problems(tiny) == ["stop_loss is too precise: at most 18 digits after the point"]
    update = SignalUpdate(UpdateAction.MOVE_SL, "ſOL", Decimal("NaN"))
    assert len(bounds_problems(update)) == 2
    assert bounds_problems(SignalUpdate(UpdateAction.MOVE_SL, "BTC/USDT", Decimal("5"))) == []
    assert bounds_problems(None) == []


# ---------------------------------------------------------------- pydantic types


class Body(BaseModel):
    price: StoreDecimal
    size: PositiveStoreDecimal | None = None


@pytest.mark.parametrize(
    "price",
    ["1e-9999990", "1" * 40, "NaN", "Infinity", float("nan"), float("inf"), 1e300, "6_00", True],
)
def test_store_decimal_fields_refuse_with_a_422_shape(price: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"price": price})
    assert caught.value.errors()[0]["loc"] == ("price",)


@pytest.mark.parametrize(
    ("price", "expected"), [("1e-8", Decimal("1e-8")), (0.1, Decimal("0.1")), (7, Decimal(7))]
)
def test_store_decimal_fields_accept_numbers_and_decimal_text(
    price: object, expected: Decimal
) -> None:
    assert Body.model_validate({"price": price}).price == expected


@given(st.floats())
def test_any_float_is_read_through_its_repr_or_refused(value: float) -> None:
    try:
        result = coerce_storable(value)
    except NumberOutOfBounds:
        return
    assert result == Decimal(repr(value)) and fits_numeric_38_18(result)


def test_positive_store_decimal() -> None:
    with pytest.raises(ValidationError):
        Body.model_validate({"price": "1", "size": "0"})
    assert Body.model_validate({"price": "1", "size": "2"}).size == Decimal(2)


class PlainModel(BaseModel):
    value: Decimal
    cap: Decimal | None = None
    count: int = 0


def test_plain_decimal_models_get_the_same_refusals() -> None:
    check_decimal_inputs(PlainModel, {"value": "1.5", "count": "6_00"})
    with pytest.raises(ValidationError) as caught:
        check_decimal_inputs(PlainModel, {"value": "6_00", "cap": "1e-9999990"})
    assert [e["loc"] for e in caught.value.errors()] == [("value",), ("cap",)]


# ---------------------------------------------------------------- JSON


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(JSON)
def test_depth_scan_agrees_with_the_parsed_value(value: Any) -> None:
    text = json.dumps(value)
    assert json_depth(text) == depth_of(value)
    assert json_depth(text.encode()) == depth_of(value)
    assert load_json(text) == value


@pytest.mark.parametrize(
    "raw",
    [
        '{"a":' * 10_000,
        "[" * 10_000 + "]" * 10_000,
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    ],
)
def test_deep_json_is_refused_without_recursion(raw: str | bytes) -> None:
    with pytest.raises(JsonOutOfBounds, match="nested deeper than 32"):
        load_json(raw)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[" * 100 + '\\"{{{{' * 100})
    assert json_depth(text) == 1
    assert load_json(text) == {"a": "[[[[" * 100 + '\\"{{{{' * 100}
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"p": NaN}', "NaN"),
        ('{"p": Infinity}', "Infinity"),
        ('{"p": -Infinity}', "Infinity"),
        ('{"p": ' + "9" * 65 + "}", "too long"),
        ('{"p": 1', "not valid JSON"),
        (b"\xff\xfe\x00{", "not valid JSON"),
    ],
)
def test_json_constants_endless_ints_and_garbage_are_refused(
    raw: str | bytes, message: str
) -> None:
    with pytest.raises(JsonOutOfBounds, match=message):
        load_json(raw)


def test_floats_are_decimals_unless_asked() -> None:
    from signalbridge.domain.bounds import finite_float

    assert load_json('{"p": 0.1}') == {"p": Decimal("0.1")}
    assert load_json('{"p": 0.1}', parse_float=finite_float) == {"p": 0.1}
    with pytest.raises(JsonOutOfBounds, match="out of range"):
        load_json('{"p": 1e999}', parse_float=finite_float)


def test_strings_the_databases_cannot_store() -> None:
    assert has_unstorable_text({"a": ["x\x00"]}) and has_unstorable_text({"\ud800": 1})
    assert not has_unstorable_text({"a": ["x", 1, None]})
    with pytest.raises(JsonOutOfBounds, match="NUL"):
        load_json('{"name": "a\\u0000b"}', storable_strings=True)
    with pytest.raises(JsonOutOfBounds):
        load_json('["\\ud800"]', storable_strings=True)
    assert storable_text("a\x00b\ud800") == "a\ufffdb\ufffd"


@given(st.text(max_size=60) | st.binary(max_size=60))
def test_any_input_parses_or_is_refused_cleanly(raw: str | bytes) -> None:
    try:
        load_json(raw, storable_strings=True)
    except JsonOutOfBounds:
        pass


@given(st.integers(1, 400).map(lambda n: ["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n]))
def test_nesting_beyond_the_limit_is_always_refused(docs: list[str]) -> None:
    for doc in docs:
        depth = json_depth(doc)
        if depth > MAX_JSON_DEPTH:
            with pytest.raises(JsonOutOfBounds):
                load_json(doc)
        else:
            load_json(doc)
