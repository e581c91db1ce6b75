"""The bounds every input is held to: numbers the store can hold, JSON of a sane depth.

Numbers must fit NUMERIC(38, 18) on both databases.
Every decimal that enters (webhook, API body, parser output) passes :func:`check_storable`
before it reaches a row, so nothing is written that a later read cannot return. A value
that does not fit is refused, never rounded: a price silently cut to 18 places is a
different price. Strings are read strictly (:func:`parse_decimal_text`): ASCII digits and
one point, because Python's ``Decimal`` also reads ``"6_00"``, ``" 5"`` and full-width
digits, none of which a sender means as a price.

JSON is read through :func:`load_json`: nesting deeper than :data:`MAX_JSON_DEPTH` is
refused before ``json.loads`` recurses (a 10,000-deep body would raise ``RecursionError``,
and a few hundred levels stored in a JSON column break every later read that encodes it),
and so are ``NaN``/``Infinity`` constants and integers too long to be a number we hold.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from itertools import accumulate
from typing import Annotated, Any, Final, get_args

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import InitErrorDetails

from signalbridge.domain.errors import DomainError

MAX_DIGITS: Final = 38
"""Significant digits NUMERIC(38, 18) holds."""
MAX_FRACTION_DIGITS: Final = 18
"""Digits after the point."""
MAX_INTEGER_DIGITS: Final = MAX_DIGITS - MAX_FRACTION_DIGITS
"""Digits before the point (20)."""
MAX_TEXT_LENGTH: Final = 64
"""Longest decimal text read at all; anything longer cannot fit and is not parsed."""

MAX_JSON_DEPTH: Final = 32
"""Deepest nesting of objects and arrays any JSON input may have."""
MAX_JSON_INT_DIGITS: Final = 64
"""Longest integer literal read from JSON (Python's own limit, 4300, is far past any use)."""

_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_PLAIN_UNSIGNED = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_SCIENTIFIC = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,6})?", re.ASCII)


# A string runs to its closing quote or, unterminated, to the end of the text: never
# failing a match keeps the scan linear (a failed match would be retried at every quote).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")
_BRACKET_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


class NumberOutOfBounds(DomainError, ValueError):
    """A number the store cannot hold exactly, or text that is not a plain decimal.

    It is a ``ValueError`` too, so a pydantic validator turns it into a 422 on its own.
    """


def check_storable(d: Decimal, what: str = "value") -> Decimal:
    """Return ``d`` in a form NUMERIC(38, 18) holds exactly, or raise :class:`NumberOutOfBounds`.

    Refused: NaN, sNaN, infinities, more than 38 significant digits, more than 20 digits
    before the point, a non-zero fraction finer than 18 places. Zero of any exponent
    (``0E-9999999``) becomes plain ``0`` and an exponent out of range is rewritten
    (``1E+2`` → ``100``), because ``format(d, "f")`` of such values is megabytes long.
    """
    if not isinstance(d, Decimal):
        raise NumberOutOfBounds(f"{what} must be a decimal, got {type(d).__name__}")
    if d.is_nan():
        raise NumberOutOfBounds(f"{what} is not a number (NaN)")
    if d.is_infinite():
        raise NumberOutOfBounds(f"{what} must be finite")
    if d.is_zero():
        return Decimal(0)
    sign, raw_digits, own_exponent = d.as_tuple()
    assert isinstance(own_exponent, int)  # finite, checked above
    exponent = own_exponent
    digits = list(raw_digits)
    while digits and digits[0] == 0:
        digits.pop(0)
    while digits and digits[-1] == 0:
        digits.pop()
        exponent += 1
    significant = len(digits)
    if significant > MAX_DIGITS:
        raise NumberOutOfBounds(
            f"{what} has {significant} significant digits; at most {MAX_DIGITS} are stored"
        )
    integer_digits = significant + exponent
    if integer_digits > MAX_INTEGER_DIGITS:
        raise NumberOutOfBounds(
            f"{what} is too large: at most {MAX_INTEGER_DIGITS} digits before the point"
        )
    if -exponent > MAX_FRACTION_DIGITS:
        raise NumberOutOfBounds(
            f"{what} is too precise: at most {MAX_FRACTION_DIGITS} digits after the point"
        )
    if -MAX_FRACTION_DIGITS <= own_exponent <= 0 and len(raw_digits) <= MAX_DIGITS:
        return d
    if exponent > 0:
        digits.extend([0] * exponent)
        exponent = 0
    return Decimal((sign, tuple(digits), exponent))


def parse_decimal_text(text: str, what: str = "value", *, allow_negative: bool = True) -> Decimal:
    """Read a plain decimal string strictly: ASCII digits and at most one point.

    ``"0,5"``, ``"6_00"``, ``"1,000.5"``, ``" 5"``, ``"５"``, ``"1e5"``, ``"+5"`` and
    ``".5"`` are refused with a message that shows what is expected; the value is then
    checked with :func:`check_storable`.
    """
    pattern = _PLAIN if allow_negative else _PLAIN_UNSIGNED
    if len(text) > MAX_TEXT_LENGTH or pattern.fullmatch(text) is None:
        shown = text[:40]
        expected = "digits with at most one '.'"
        if allow_negative:
            expected += " and an optional leading '-'"
        raise NumberOutOfBounds(f"{what} must be a plain decimal ({expected}), got {shown!r}")
    return check_storable(Decimal(text), what)


def coerce_storable(value: object, what: str = "value") -> Decimal:
    """The lenient reading API bodies get: a plain or scientific ASCII string, an int or a float.

    JSON numbers reach FastAPI models as ``int`` or ``float`` (``json.loads``), so floats
    are read through their shortest ``repr``; NaN and infinities are refused. Strings may
    use an exponent (``"1e-8"``) but only ASCII digits, no separators or spaces.
    """
    if isinstance(value, bool):
        raise NumberOutOfBounds(f"{what} must be a number, got a boolean")
    if isinstance(value, Decimal):
        return check_storable(value, what)
    if isinstance(value, int):
        if abs(value) >= 10**MAX_INTEGER_DIGITS:
            raise NumberOutOfBounds(
                f"{what} is too large: at most {MAX_INTEGER_DIGITS} digits before the point"
            )
        return Decimal(value)
    if isinstance(value, float):
        return check_storable(Decimal(repr(value)), what)
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH or _SCIENTIFIC.fullmatch(value) is None:
            raise NumberOutOfBounds(f"{what} must be a decimal number, got {value[:40]!r}")
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            raise NumberOutOfBounds(f"{what} must be a decimal number") from None
        return check_storable(number, what)
    raise NumberOutOfBounds(f"{what} must be a number, got {type(value).__name__}")


def _positive(value: object) -> Decimal:
    number = coerce_storable(value)
    if number <= 0:
        raise NumberOutOfBounds("must be greater than 0")
    return number


def check_decimal_inputs(model: type[BaseModel], raw: Mapping[str, Any]) -> None:
    """Read ``raw``'s values for ``model``'s ``Decimal`` fields as :data:`StoreDecimal` would.

    For models declared with plain ``Decimal`` fields (shared with stored JSON): call it
    before ``model.model_validate(raw)`` so an API body gets the same refusals (``"6_00"``,
    ``"1e-9999990"``, 40 digits) as a :data:`StoreDecimal` field. Raises a pydantic
    ``ValidationError`` naming every such field.
    """
    errors: list[InitErrorDetails] = []
    for name, field in model.model_fields.items():
        value = raw.get(field.alias or name)
        if value is None or not _is_decimal_field(field.annotation):
            continue
        try:
            coerce_storable(value)
        except NumberOutOfBounds as exc:
            error: InitErrorDetails = {
                "type": "value_error",
                "loc": (name,),
                "input": str(value)[:40],
                "ctx": {"error": exc},
            }
            errors.append(error)
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)


def unstorable_decimals(value: object, path: str = "") -> list[tuple[str, str]]:
    """Every decimal inside ``value`` (a model, dict, list or tuple, nested) the store
    cannot hold, as (dotted field path, reason).

    For validated configuration models whose fields are plain ``Decimal``: a connection's
    balances or fees end up in NUMERIC(38, 18) columns and in arithmetic later on.
    """
    found: list[tuple[str, str]] = []
    if isinstance(value, Decimal):
        try:
            check_storable(value)
        except NumberOutOfBounds as exc:
            found.append((path, str(exc)))
        return found
    if isinstance(value, BaseModel):
        items: list[tuple[object, object]] = [
            (name, getattr(value, name)) for name in type(value).model_fields
        ]
    elif isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        return found
    for key, item in items:
        found += unstorable_decimals(item, f"{path}.{key}" if path else str(key))
    return found


def _is_decimal_field(annotation: Any) -> bool:
    return annotation is Decimal or Decimal in get_args(annotation)


StoreDecimal = Annotated[Decimal, BeforeValidator(coerce_storable)]
"""A decimal an API body may carry: it fits NUMERIC(38, 18) or the request gets a 422."""

PositiveStoreDecimal = Annotated[Decimal, BeforeValidator(_positive)]
"""A :data:`StoreDecimal` that must be greater than zero (prices, quantities)."""


class JsonOutOfBounds(DomainError, ValueError):
    """JSON that is not read at all: malformed, too deep, or carrying NaN/Infinity."""


def json_depth(raw: str | bytes) -> int:
    """How deep objects and arrays nest in ``raw``.

    A pure scan of the text (strings removed, brackets counted), so it never recurses and
    costs one pass whatever the input; text that is not JSON gets some number, and the
    parser then reports it. Bytes are decoded as ``json.loads`` would (UTF-8, -16 or -32).
    """
    text = raw.decode(json.detect_encoding(raw), "replace") if isinstance(raw, bytes) else raw
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _refuse_constant(name: str) -> Any:
    raise JsonOutOfBounds(f"{name} is not a number JSON may carry")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise JsonOutOfBounds(f"an integer of {len(text)} digits is too long")
    return int(text)


def finite_float(text: str) -> float:
    """A ``parse_float`` for :func:`load_json` that refuses literals beyond a float's range."""
    value = float(text)
    if not math.isfinite(value):
        raise JsonOutOfBounds(f"the number {text[:40]} is out of range")
    return value


def storable_text(text: str) -> str:
    """``text`` as both databases can store it: NUL and lone surrogates become U+FFFD.

    PostgreSQL refuses NUL in text and no UTF-8 exists for a lone surrogate; a message is
    kept (as rejected, with its reason) rather than failing the insert.
    """
    return _UNSTORABLE_CHAR.sub("\ufffd", text)


def has_unstorable_text(value: Any) -> bool:
    """Whether a decoded JSON value holds a string (or key) the databases cannot store."""
    if isinstance(value, str):
        return _UNSTORABLE_CHAR.search(value) is not None
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unstorable_text(item) for item in value)
    return False


def load_json(
    raw: str | bytes,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    parse_float: Callable[[str], Any] = Decimal,
    storable_strings: bool = False,
) -> Any:
    """``json.loads`` with bounds: depth, no NaN/Infinity, no endless integers.

    ``parse_float`` is ``Decimal`` by default so no float ever touches a price; pass
    :func:`finite_float` where floats are wanted. With ``storable_strings`` a string
    holding NUL or a lone surrogate (``"\\u0000"``, ``"\\ud800"``) is refused too. Every
    refusal is a :class:`JsonOutOfBounds` with a message fit for the sender.
    """
    depth = json_depth(raw)
    if depth > max_depth:
        raise JsonOutOfBounds(f"JSON is nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            raw, parse_float=parse_float, parse_int=_bounded_int, parse_constant=_refuse_constant
        )
    except JsonOutOfBounds:
        raise
    except json.JSONDecodeError as exc:
        raise JsonOutOfBounds(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8; recursion cannot pass the scan
        raise JsonOutOfBounds(f"body is not valid JSON: {type(exc).__name__}") from None
    if storable_strings and has_unstorable_text(value):
        raise JsonOutOfBounds("strings may not hold NUL characters or lone surrogates")
    return value
