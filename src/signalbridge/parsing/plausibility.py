"""Whether a signal's prices are plausible for its instrument: checks that cap confidence.

A level written in pips or points is a distance, not a price; a price far outside the
range an instrument trades in (CADCHF at 73.94, a target five times the entry) is a
misreading more often than a call. The general rules (:mod:`signalbridge.parsing.rules`)
keep such a parse but never let it act alone.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import EntryZone
from signalbridge.parsing.fields import Reading
from signalbridge.parsing.text import contains_any, literal_first, word_start

_PIP_LABELS: Final = (
    *("sl", "s/l", "stop", r"stop\s?loss", r"tp\s?\d?", r"take\s?profit\s?\d?"),
    r"target\s?\d?",
)
PIP_LEVEL: Final = re.compile(
    literal_first(
        (
            map(word_start, _PIP_LABELS),
            r"\s?[:=\-]?\s?\d+(?:[.,]\d+)?\s?(?:pips?|points?|pts|пунктов|пипсов)\b",
        )
    )
)
_PIP_UNITS: Final = ("pip", "point", "pts", "пункт", "пипс")  # one is in every PIP_LEVEL match
ANY_PIP_UNIT: Final = contains_any(_PIP_UNITS)
_MAJOR_QUOTES: Final = frozenset({"USD", "EUR", "GBP", "CHF", "AUD", "NZD", "CAD"})
_RANGES: Final[dict[str, tuple[Decimal, Decimal]]] = {
    "XAUUSD": (Decimal(250), Decimal(20000)),
    "XAGUSD": (Decimal(3), Decimal(300)),
    "US30": (Decimal(5000), Decimal(150000)),
    "NAS100": (Decimal(1000), Decimal(80000)),
    "SPX500": (Decimal(500), Decimal(30000)),
    "GER40": (Decimal(3000), Decimal(80000)),
    "USOIL": (Decimal(5), Decimal(300)),
    "UKOIL": (Decimal(5), Decimal(300)),
}
_JPY_RANGE: Final = (Decimal(20), Decimal(400))  # any xxxJPY pair
# the two largest coins against a dollar stable coin: a price far outside is a misread
_COIN_RANGES: Final[dict[str, tuple[Decimal, Decimal]]] = {
    "BTC": (Decimal(500), Decimal(10_000_000)),
    "ETH": (Decimal(20), Decimal(1_000_000)),
}
_DOLLAR_QUOTES: Final = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD"})
_MAJOR_RANGE: Final = (Decimal("0.2"), Decimal(5))  # a pair of two other major currencies


def implausibility(symbol: str, entry: EntryZone | None, sl: Decimal | None) -> str | None:
    """A forex, metal or index price far outside any level it has traded at: a misprint."""
    ref = entry.low if entry is not None else sl
    if ref is None:
        return None
    bounds = _RANGES.get(symbol)
    if bounds is None and "/" in symbol:
        base, _, quote = symbol.partition("/")
        if quote in _DOLLAR_QUOTES:
            bounds = _COIN_RANGES.get(base)
    if bounds is None and len(symbol) == 6 and symbol.isalpha():
        if symbol[3:] == "JPY":
            bounds = _JPY_RANGE
        elif symbol[3:] in _MAJOR_QUOTES and symbol[:3] in _MAJOR_QUOTES:
            bounds = _MAJOR_RANGE
    if bounds is not None and not bounds[0] <= ref <= bounds[1]:
        return f"price {ref} is implausible for {symbol}"
    return None


BIG_COINS: Final = frozenset(
    {"BTC", "ETH", "BNB", "SOL", "LTC", "BCH", "MKR", "YFI", "AAVE", "TAO"}
)


def looks_like_sats(entry: EntryZone | None, r: Reading) -> bool:
    if entry is None or entry.low < 100:
        return False
    levels = [entry.low, entry.high, *r.take_profits]
    if r.stop_loss is not None:
        levels.append(r.stop_loss)
    return all(level == level.to_integral_value() for level in levels)


_FIFTH: Final = Decimal("0.2")
_ONE_AND_HALF: Final = Decimal("1.5")


def far_targets(entry: EntryZone | None, sl: Decimal | None, tps: list[Decimal]) -> bool:
    """A target or stop more than 5x (or under a fifth of) the entry is a misread."""
    if entry is None or entry.low <= 0:
        return False
    ref = entry.low
    high, low = ref * 5, ref * _FIFTH  # multiplications: a Decimal division costs more
    if sl is not None and (sl > high or sl < low):
        return True
    for level in tps:
        if level > high or level < low:
            return True
    return entry.high > entry.low * _ONE_AND_HALF
