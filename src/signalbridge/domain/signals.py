"""The canonical signal schema: what every channel and parser produces.

A message becomes exactly one of :class:`Signal` (open a trade), :class:`SignalUpdate`
(manage trades opened from an earlier signal) or :class:`Noise`. Prices are ``Decimal``
end to end; the JSON form carries them as decimal strings so no float ever touches them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from signalbridge.domain.bounds import (
    MAX_INTEGER_DIGITS,
    NumberOutOfBounds,
    check_storable,
    parse_decimal_text,
)
from signalbridge.domain.errors import InvalidSignal


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class UpdateAction(StrEnum):
    TP_HIT = "tp_hit"
    SL_HIT = "sl_hit"
    MOVE_SL_TO_ENTRY = "move_sl_to_entry"
    MOVE_SL = "move_sl"
    CLOSE_ALL = "close_all"
    CLOSE_PARTIAL = "close_partial"
    CANCEL = "cancel"
    MODIFY_TP = "modify_tp"


MAX_TAKE_PROFITS = 10


@dataclass(frozen=True, slots=True)
class EntryZone:
    """Entry price or zone; a single price is a zone with ``low == high``."""

    low: Decimal
    high: Decimal

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise InvalidSignal([f"entry zone low {self.low} is above high {self.high}"])

    @classmethod
    def of(cls, a: Decimal, b: Decimal | None = None) -> EntryZone:
        """Build a zone from one or two prices given in any order."""
        if b is None:
            return cls(a, a)
        return cls(min(a, b), max(a, b))

    @property
    def mid(self) -> Decimal:
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class Signal:
    """A call to open a trade."""

    symbol: str
    side: Side
    order_type: OrderType
    entry: EntryZone | None = None
    stop_loss: Decimal | None = None
    take_profits: tuple[Decimal, ...] = field(default_factory=tuple)
    leverage: int | None = None

    kind = "signal"

    def geometry_problems(self) -> list[str]:
        """Every way the prices contradict the side; empty when the signal is coherent.

        A long needs its stop below the entry and its targets above; a short the reverse.
        Nothing is "fixed" here: callers decide what a broken signal means.
        """
        problems: list[str] = []
        long = self.side is Side.LONG
        sl, entry = self.stop_loss, self.entry
        if entry is not None and sl is not None:
            if long and sl >= entry.low:
                problems.append(f"stop loss {sl} must be below the entry {entry.low} for a long")
            if not long and sl <= entry.high:
                problems.append(f"stop loss {sl} must be above the entry {entry.high} for a short")
        for i, tp in enumerate(self.take_profits, start=1):
            if entry is not None:
                if long and tp <= entry.high:
                    problems.append(f"take profit {i} ({tp}) must be above the entry for a long")
                if not long and tp >= entry.low:
                    problems.append(f"take profit {i} ({tp}) must be below the entry for a short")
            elif sl is not None:
                if long and tp <= sl:
                    problems.append(f"take profit {i} ({tp}) must be above the stop loss")
                if not long and tp >= sl:
                    problems.append(f"take profit {i} ({tp}) must be below the stop loss")
        return problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "signal",
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "entry": None
            if self.entry is None
            else {"low": fmt_decimal(self.entry.low), "high": fmt_decimal(self.entry.high)},
            "stop_loss": None if self.stop_loss is None else fmt_decimal(self.stop_loss),
            "take_profits": [fmt_decimal(tp) for tp in self.take_profits],
            "leverage": self.leverage,
        }


@dataclass(frozen=True, slots=True)
class SignalUpdate:
    """Management of trades opened from an earlier signal (TP hit, move SL, close ...).

    ``value`` means: the TP index for ``tp_hit``, the new stop for ``move_sl``, the
    percentage for ``close_partial``, the new target for ``modify_tp``.
    """

    action: UpdateAction
    symbol: str | None = None
    value: Decimal | None = None

    kind = "update"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "update",
            "symbol": self.symbol,
            "action": self.action.value,
            "value": None if self.value is None else fmt_decimal(self.value),
        }


@dataclass(frozen=True, slots=True)
class Noise:
    """A message that is neither a signal nor an update."""

    kind = "noise"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "noise"}


Parsed = Signal | SignalUpdate | Noise


def fmt_decimal(value: Decimal) -> str:
    """Plain decimal text, no exponent or trailing zeros: ``Decimal('4.20E+4')`` → ``42000``."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    text = format(value.normalize(), "f")
    return text


def to_decimal(value: object, what: str) -> Decimal:
    """Read a price or amount given as a plain decimal string, an int or a ``Decimal``.

    Strings are strict (ASCII digits, at most one point, an optional leading minus):
    ``"0,5"``, ``"6_00"``, ``"1,000.5"``, ``" 5"`` and full-width digits are refused rather
    than guessed. Floats are refused because they have already lost the exact value the
    sender meant. Every value must fit the store (:func:`check_storable`).
    """
    if isinstance(value, bool) or value is None:
        raise InvalidSignal([f"{what} must be a decimal string, got {value!r}"])
    if isinstance(value, float):
        raise InvalidSignal([f"{what} must be a decimal string, not a float ({value!r})"])
    try:
        if isinstance(value, str):
            return parse_decimal_text(value, what)
        if isinstance(value, int):
            if abs(value) >= 10**MAX_INTEGER_DIGITS:
                raise NumberOutOfBounds(
                    f"{what} is too large: at most {MAX_INTEGER_DIGITS} digits before the point"
                )
            return Decimal(value)
        if isinstance(value, Decimal):
            return check_storable(value, what)
    except NumberOutOfBounds as exc:
        raise InvalidSignal([str(exc)]) from None
    raise InvalidSignal([f"{what} must be a decimal string, got {type(value).__name__}"])


def _positive(value: object, what: str) -> Decimal:
    number = to_decimal(value, what)
    if number <= 0:
        raise InvalidSignal([f"{what} must be positive, got {fmt_decimal(number)}"])
    return number


MAX_SYMBOL_LENGTH = 40
_SYMBOL = re.compile(rf"[A-Za-z0-9/:._-]{{1,{MAX_SYMBOL_LENGTH}}}", re.ASCII)


def validate_symbol(value: object) -> str:
    """A canonical symbol: ASCII letters, digits and ``/:._-``, 1 to 40 characters.

    The check runs on the text as sent, before upper-casing: ``"ſol/usdt"`` would
    otherwise fold to ``SOL/USDT`` and trade a market the sender never named.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidSignal(["symbol is required"])
    text = value.strip(" \t\r\n")
    if _SYMBOL.fullmatch(text) is None:
        raise InvalidSignal(
            [
                f"symbol {text[:MAX_SYMBOL_LENGTH]!r} is not a valid symbol "
                f"(ASCII letters, digits and / : . _ -, at most {MAX_SYMBOL_LENGTH})"
            ]
        )
    return text.upper()


def bounds_problems(parsed: Parsed | None) -> list[str]:
    """Every number or symbol of ``parsed`` that the store cannot hold; empty when it fits.

    Canonical JSON is checked as it is read; this checks what other readers (the rule
    parser, an LLM) produced, before it is written.
    """
    problems: list[str] = []
    if isinstance(parsed, Signal):
        symbol: str | None = parsed.symbol
        numbers: list[tuple[str, Decimal | None]] = [
            ("entry.low", parsed.entry.low if parsed.entry else None),
            ("entry.high", parsed.entry.high if parsed.entry else None),
            ("stop_loss", parsed.stop_loss),
        ]
        numbers += [(f"take_profits[{i}]", tp) for i, tp in enumerate(parsed.take_profits, 1)]
    elif isinstance(parsed, SignalUpdate):
        symbol = parsed.symbol
        numbers = [("value", parsed.value)]
    else:
        return problems
    if symbol is not None and _SYMBOL.fullmatch(symbol) is None:
        problems.append(f"symbol {symbol[:MAX_SYMBOL_LENGTH]!r} is not a valid symbol")
    for what, number in numbers:
        if number is None:
            continue
        try:
            check_storable(number, what)
        except NumberOutOfBounds as exc:
            problems.append(str(exc))
    return problems


def parsed_from_dict(data: object, *, check_geometry: bool = True) -> Parsed:
    """Read SignalBridge's canonical JSON form (already decoded) into a domain object.

    Raises :class:`InvalidSignal` listing every problem; with ``check_geometry`` a signal
    whose stop loss or targets sit on the wrong side of the entry is refused too.
    """
    if not isinstance(data, dict):
        raise InvalidSignal(["body must be a JSON object"])
    kind = data.get("kind", "signal")
    if kind == "noise":
        return Noise()
    if kind == "update":
        return _update_from_dict(data)
    if kind != "signal":
        raise InvalidSignal([f"kind must be 'signal', 'update' or 'noise', got {repr(kind)[:40]}"])
    return _signal_from_dict(data, check_geometry)


def _signal_from_dict(data: dict[str, Any], check_geometry: bool) -> Signal:
    problems: list[str] = []

    def attempt(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidSignal as exc:
            problems.extend(exc.problems)
            return None

    symbol = attempt(validate_symbol, data.get("symbol"))
    side = attempt(_enum, Side, data.get("side"), "side")
    entry_raw = data.get("entry")
    entry: EntryZone | None = None
    if entry_raw is not None:
        if isinstance(entry_raw, dict):
            low = attempt(_positive, entry_raw.get("low"), "entry.low")
            high = attempt(_positive, entry_raw.get("high", entry_raw.get("low")), "entry.high")
            if low is not None and high is not None:
                entry = attempt(EntryZone, low, high)
        else:
            price = attempt(_positive, entry_raw, "entry")
            entry = None if price is None else EntryZone(price, price)
    default_type = OrderType.LIMIT if entry is not None else OrderType.MARKET
    order_type = attempt(_enum, OrderType, data.get("order_type", default_type.value), "order_type")
    if order_type is OrderType.LIMIT and entry_raw is None:
        problems.append("a limit signal needs an entry price or zone")
    sl_raw = data.get("stop_loss")
    stop_loss = None if sl_raw is None else attempt(_positive, sl_raw, "stop_loss")
    tps_raw = data.get("take_profits") or []
    take_profits: list[Decimal] = []
    if not isinstance(tps_raw, list):
        problems.append("take_profits must be a list of decimal strings")
    elif len(tps_raw) > MAX_TAKE_PROFITS:
        problems.append(f"at most {MAX_TAKE_PROFITS} take profits are allowed")
    else:
        for i, tp in enumerate(tps_raw, start=1):
            value = attempt(_positive, tp, f"take_profits[{i}]")
            if value is not None:
                take_profits.append(value)
    leverage = data.get("leverage")
    if leverage is not None and (
        isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 500
    ):
        problems.append("leverage must be a whole number from 1 to 500")
        leverage = None
    if problems:
        raise InvalidSignal(problems)
    signal = Signal(
        symbol=symbol,
        side=side,
        order_type=order_type,
        entry=entry,
        stop_loss=stop_loss,
        take_profits=tuple(take_profits),
        leverage=leverage,
    )
    if check_geometry:
        geometry = signal.geometry_problems()
        if geometry:
            raise InvalidSignal(geometry)
    return signal


def _update_from_dict(data: dict[str, Any]) -> SignalUpdate:
    action = _enum(UpdateAction, data.get("action"), "action")
    symbol = None if data.get("symbol") is None else validate_symbol(data.get("symbol"))
    raw = data.get("value")
    value = None if raw is None else to_decimal(raw, "value")
    needs_value = {
        UpdateAction.MOVE_SL,
        UpdateAction.CLOSE_PARTIAL,
        UpdateAction.MODIFY_TP,
    }
    if action in needs_value and value is None:
        raise InvalidSignal([f"update {action.value} needs a value"])
    if action is UpdateAction.CLOSE_PARTIAL and value is not None and not 0 < value <= 100:
        raise InvalidSignal(["close_partial value is a percentage from 0 to 100"])
    return SignalUpdate(action=action, symbol=symbol, value=value)


def _enum(enum: type[StrEnum], value: object, what: str) -> Any:
    try:
        if not isinstance(value, str) or not value.isascii():  # no folding of look-alikes
            raise ValueError(what)
        return enum(value.lower())
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise InvalidSignal([f"{what} must be one of {allowed}, got {repr(value)[:40]}"]) from None
