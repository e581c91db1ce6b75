"""Reading prices as written by people: ``42,000``, ``0,125``, ``1.0850``, ``113k``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from signalbridge.domain.bounds import NumberOutOfBounds, check_storable

_THOUSANDS_COMMA: Final = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_THOUSANDS_DOT: Final = re.compile(r"[1-9]\d{0,2}(?:\.\d{3}){2,}")
_DECIMAL_COMMA: Final = re.compile(r"\d+,\d+")
# "65.000,50", "1.250.000,5": dot-grouped thousands and a decimal comma (German, Spanish,
# Portuguese, Italian, Turkish, Indonesian, Vietnamese style); one or two decimals, as
# "2.350,2360" is more likely a list written without a space than a price
DOT_GROUPS_COMMA: Final = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+,\d{1,2}")
# "63.000": one dot group; thousands only where the message writes the style above
ONE_DOT_GROUP: Final = re.compile(r"[1-9]\d{0,2}\.\d{3}")
PLAIN_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch
#: A price in an update's text ("1.0850", "42,000"), never a distance in pips or a share
NUM: Final = r"(?<![+\-\d.,])(\d+(?:[.,]\d+)*)(?!\s?(?:pips?|%))"

# The longest number token read: 20 characters hold at most 20 digits before the point
# and 18 after "0.", so every number read fits the store's NUMERIC(38, 18) (bounds.py)
MAX_DIGITS: Final = 20
# "113k": the largest number a thousands suffix may multiply and still fit
MAX_BEFORE_K: Final = Decimal(10) ** 17


def parse_number(raw: str) -> Decimal | None:
    """Read one number token; ``None`` when it is not a price (a date, a version ...).

    ``42,000`` is forty-two thousand (groups of three after a non-zero lead);
    ``0,125`` and ``1,5`` use a decimal comma, ``65.000,50`` dot groups and a decimal
    comma; ``2020.02.24`` is refused.
    """
    if len(raw) > MAX_DIGITS:
        return None
    if PLAIN_NUMBER(raw) is not None:  # "1085", "1.0850": most prices, read with no other test
        return Decimal(raw)
    if raw.isdecimal():  # isdigit() also holds for "²", which Decimal refuses
        return Decimal(raw)
    if raw[:1] == "." and raw[1:].isdecimal():  # ".405" as some channels write it
        return Decimal("0" + raw) if len(raw) < MAX_DIGITS else None
    if "," in raw:
        if _THOUSANDS_COMMA.fullmatch(raw):
            return _dec(raw.replace(",", ""))
        if _DECIMAL_COMMA.fullmatch(raw):
            return _dec(raw.replace(",", "."))
        if DOT_GROUPS_COMMA.fullmatch(raw):
            return _dec(raw.replace(".", "").replace(",", "."))
        return None
    head, dot, tail = raw.partition(".")
    if dot and head.isdecimal() and tail.isdecimal():
        return Decimal(raw)
    if _THOUSANDS_DOT.fullmatch(raw):
        return _dec(raw.replace(".", ""))
    return None


def storable(value: Decimal) -> Decimal | None:
    """``value`` when the store can hold it exactly (``bounds.check_storable``), else None
    (for numbers that do not come from a bounded token: JSON, a template's groups)."""
    try:
        return check_storable(value)
    except NumberOutOfBounds:
        return None


def _dec(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def is_small_int(raw: str) -> bool:
    """A short whole number that may be a list index (``1)``, ``TP 2``) rather than a price."""
    return raw.isdecimal() and len(raw) <= 2 and 0 < int(raw) <= 20
