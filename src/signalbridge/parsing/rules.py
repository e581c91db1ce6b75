"""The general rules: read fields, then decide signal, update or noise, and how sure we are.

Confidence is a score of the evidence (an explicit pair, one clear side, a stop and
targets, coherent geometry) minus every doubt (two sides, two instruments, stray
prices). It was calibrated on the dev corpus so that >= 0.9 is right at least 99 % of
the time; :mod:`bench.eval_parser` prints the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from signalbridge.domain.signals import (
    EntryZone,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
)
from signalbridge.parsing.fields import Reading, best_symbol, read_fields
from signalbridge.parsing.lexer import Lexeme, Lx, lex
from signalbridge.parsing.lexicon import Cat, Lexicon
from signalbridge.parsing.result import ParseResult, noise
from signalbridge.parsing.symbols import STRONG, TAGGED
from signalbridge.parsing.text import contains_any, literal_first, lower, word_start
from signalbridge.parsing.update_reader import UpdateHit, find_update


def parse_rules(
    text: str, lexicon: Lexicon, aliases: Mapping[str, str] | None = None
) -> ParseResult:
    """Parse normalised free text with the keyword rules."""
    lexemes = lex(text, lexicon)
    if aliases:  # lexemes are shared between messages: replace, never mutate
        lexemes = [
            Lexeme(Lx.SYM, lx.text, symbol=aliases[lx.text], strength=STRONG + 1)
            if lx.kind == Lx.WORD and lx.text in aliases
            else lx
            for lx in lexemes
        ]
    r = read_fields(lexemes)
    symbol, strength, n_strong = best_symbol(r.symbols)
    if r.satoshi and symbol is not None and symbol.endswith("/USDT") and strength < STRONG:
        symbol = symbol[: -len("USDT")] + "BTC"  # prices in satoshis: a BTC pair
    side, side_reasons, side_score = _side(r)
    entry_nums = r.entry or r.implicit_entry
    has_levels = r.stop_loss is not None or bool(r.take_profits)
    structured = (bool(entry_nums) and has_levels) or (
        r.stop_loss is not None and bool(r.take_profits)
    )
    if side is None and symbol is not None and "/" in symbol and structured:
        # crypto without a side word reads as a spot buy when every level agrees
        side, side_reasons, side_score = _infer_side(r, entry_nums)
    if side is None and symbol is not None and symbol.endswith(("/BTC", "/ETH")):
        side, side_reasons, side_score = Side.LONG, ["a spot pair quoted in BTC/ETH: a long"], -0.1
    low = lower(text)
    if _ANY_REPORT_HINT(low) and REPORT.search(low) is not None:
        return noise(0.8, "a results report, not a call")
    full = bool(entry_nums) and has_levels and side is not None
    # a complete call is not an update, except a bot's "trailing stop moved" report, which
    # repeats the position's entry and new stop but names no target
    trailed = full and not r.take_profits and "trailing" in low
    update = None if full and not trailed else find_update(low)
    if update is not None and not (structured and update.action is UpdateAction.CANCEL):
        return _update(update, symbol, r)
    if side is None or symbol is None:
        return _noise(r, symbol, side, low)
    if (
        r.stop_loss is None
        and not r.market
        and not r.entry_explicit
        and _ANY_HEDGE_WORD(low)
        and _HEDGE.search(low) is not None
    ):
        # "could look to buy", "possible long if it holds": analysis, not a call
        return noise(0.5, "conditional or speculative wording and no stop loss")
    return _signal(r, symbol, strength, n_strong, side, side_reasons, side_score, entry_nums, low)


# Scripts and letters of languages the keyword tables do not cover (Vietnamese, Thai,
# Chinese, Hindi ...): a message in them may be a call we cannot read.
_UNREAD: Final = re.compile(
    "[ơưăđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ\u0e00-\u0e7f\u4e00-\u9fff\u0900-\u097f]"
)
# Spelled with literal_first and word_start: the scan skips to a possible first letter.
REPORT: Final = re.compile(
    literal_first(
        *(r"closed trades?", r"trades? closed", "trade results", word_start(r"results?\b")),
        *("recap", "summary", "statistics", "performance"),
        (("this", "last", "past"), " (?:week|month|year)"),
        *(r"today'?s (?:profit|result)", "pips (?:this|today)"),
        *("результат", "итоги", "resultados", "sonuçlar", "نتائج"),
    )
)


_HEDGE_WORDS: Final = (
    *("could", "might", "possib", "potential", "outlook", "expect", "wait", "watch", "look"),
    *("if ", "возможно", "может быть", "ждём", "ждем", "если", "podría", "podria", "posible"),
    *("esperamos", "si rompe", "poderia", "possível", "possivel", "aguardando", "se romper"),
    *("olabilir", "bekliyoruz", "eğer", "ربما", "ننتظر", "إذا"),
)  # a cheap gate: every _HEDGE match contains one of these
_HEDGE: Final = re.compile(
    r"\b(?:could|might|possible|possibly|potential|outlook|expect(?:ing)?|waiting|wait for|"
    r"watch(?:ing)?|look(?:ing)? (?:to|for)|if (?:it|price|the price|we see)|"
    r"возможно|может быть|ждём|ждем|если|podría|podria|posible|esperamos|si rompe|"
    r"poderia|possível|possivel|aguardando|se romper|olabilir|bekliyoruz|eğer|ربما|ننتظر|إذا)\b"
)


_REPORT_HINTS: Final = (
    "result",
    "recap",
    "summar",
    "statist",
    "perform",
    "week",
    "month",
    "year",
    "today",
    "closed",
    "результат",
    "итоги",
    "resultado",
    "sonuç",
    "نتائج",
)


_ANY_REPORT_HINT: Final = contains_any(_REPORT_HINTS)
_ANY_HEDGE_WORD: Final = contains_any(_HEDGE_WORDS)

_ACTION_WORDS: Final = (
    "close",
    "move",
    "change",
    "cancel",
    "modify",
    "adjust",
    "secure",
    "exit",
    "hit",
)
_ANY_ACTION_WORD: Final = contains_any(_ACTION_WORDS)


def _side(r: Reading) -> tuple[Side | None, list[str], float]:
    if r.long_words and r.short_words:
        side = Side.LONG if r.first_side == Cat.LONG else Side.SHORT
        return side, ["both buy and sell words; the first one was taken"], -0.25
    if r.long_words:
        return Side.LONG, [], 0.0
    if r.short_words:
        return Side.SHORT, [], 0.0
    if r.stop_loss is None and not r.take_profits:
        return None, [], 0.0  # "bullish" in analysis without levels is not a call
    if r.weak_long and not r.weak_short:
        return Side.LONG, ["side read from a weak word (bullish/al)"], -0.12
    if r.weak_short and not r.weak_long:
        return Side.SHORT, ["side read from a weak word (bearish/sat)"], -0.12
    if r.spot:
        return Side.LONG, ["spot call without a side word: a long"], -0.05
    return None, [], 0.0


def _infer_side(r: Reading, entry_nums: list[Decimal]) -> tuple[Side | None, list[str], float]:
    """No side word: a spot-style call whose levels all agree can only be one side."""
    ref = entry_nums[0] if entry_nums else r.stop_loss
    if ref is None or not r.take_profits:
        return None, [], 0.0
    up = all(tp > ref for tp in r.take_profits) and (r.stop_loss is None or r.stop_loss < ref)
    down = all(tp < ref for tp in r.take_profits) and (r.stop_loss is None or r.stop_loss > ref)
    if up and not down:
        return (
            Side.LONG,
            ["no side word: a spot-style call with targets above, read as long"],
            -0.15,
        )
    return None, [], 0.0


def _update(hit: UpdateHit, symbol: str | None, r: Reading) -> ParseResult:
    action = hit.action
    reasons = [f"update: {action.value}"]
    conf = 0.84
    if hit.others:
        conf -= 0.12 * min(hit.others, 2)
        reasons.append(f"the message also names {hit.others} other action(s)")
    if action in _NEED_VALUE and hit.value is None:
        conf -= 0.2
        reasons.append("no value given")
    if action is UpdateAction.CLOSE_PARTIAL and hit.value is not None and not 0 < hit.value <= 100:
        conf = 0.2
        reasons.append("percentage out of range")
    return ParseResult(SignalUpdate(action, symbol, hit.value), max(conf, 0.05), tuple(reasons))


# Enum members compared by identity: reading ``.value`` runs a Python-level descriptor.
_NEED_VALUE: Final = frozenset(
    {UpdateAction.MOVE_SL, UpdateAction.MODIFY_TP, UpdateAction.CLOSE_PARTIAL}
)


def _noise(r: Reading, symbol: str | None, side: Side | None, text: str) -> ParseResult:
    has_levels = r.stop_loss is not None or bool(r.take_profits)
    if has_levels and (symbol is not None or side is not None):
        missing = "a side" if side is None else "a symbol"
        return noise(0.35, f"looks like a signal but has no {missing}")
    if side is not None and r.numbers:
        return noise(0.6, "a side word with prices but no instrument")
    if symbol is not None and r.numbers and r.labels:
        return noise(0.6, "mentions an instrument and prices but makes no call")
    # Plain chatter is surely noise; chatter full of trading words may be a call or an
    # update the rules cannot read (another language, an odd phrasing): less sure.
    conf = 0.95
    doubts = []
    if symbol is not None:
        conf -= 0.15
        doubts.append("names an instrument")
    if side is not None:
        conf -= 0.15
        doubts.append("has a side word")
    if has_levels or r.labels:
        conf -= 0.15
        doubts.append("has trading keywords")
    if not text.isascii() and _UNREAD.search(text) is not None:
        conf -= 0.3
        doubts.append("written in a language the rules do not read")
    elif r.numbers:
        conf -= 0.08
    if _ANY_ACTION_WORD(text):
        conf -= 0.1
        doubts.append("uses trade-management words")
    reason = "no call to trade" + (f" ({', '.join(doubts)})" if doubts else "")
    return noise(max(conf, 0.4), reason)


def _signal(
    r: Reading,
    symbol: str,
    strength: int,
    n_strong: int,
    side: Side,
    side_reasons: list[str],
    side_score: float,
    entry_nums: list[Decimal],
    text_low: str,
) -> ParseResult:
    reasons = list(side_reasons)
    # low <= high already: EntryZone.of would only sort them again
    entry = EntryZone(min(entry_nums), max(entry_nums)) if entry_nums else None
    if entry is None or r.market:
        order_type = OrderType.MARKET
    else:
        order_type = OrderType.LIMIT
    # by position, in the field order (binding keywords to an interpreted dataclass's
    # __init__ costs a third of its call)
    signal = Signal(symbol, side, order_type, entry, r.stop_loss, tuple(r.take_profits), r.leverage)
    score = 0.55 + side_score
    score += 0.2 if strength >= STRONG else 0.12 if strength == TAGGED else 0.02
    if strength < TAGGED:
        reasons.append("symbol is a bare word")
    if n_strong > 1:
        score -= 0.3
        reasons.append(f"{n_strong} different instruments named")
    if r.stop_loss is not None:
        score += 0.1
    else:
        reasons.append("no stop loss")
    if r.take_profits:
        score += 0.1
    else:
        reasons.append("no take profit")
    if entry is not None or r.market:
        score += 0.05
    else:
        score -= 0.08
        reasons.append("no entry and no 'now': read as a market order")
    if (
        strength < STRONG
        and symbol.partition("/")[0] not in _BIG_COINS
        and symbol.endswith("/USDT")
        and _looks_like_sats(entry, r)
    ):
        score -= 0.15
        reasons.append("whole-number prices on a coin without a quote: may be satoshis")
    if len(entry_nums) > 2:
        score -= 0.08
        reasons.append("several entry prices, read as one zone")
    if r.stray:
        score -= min(0.06 * r.stray, 0.2)
        reasons.append(f"{r.stray} price(s) not attached to any field")
    if r.multi:
        score -= 0.3
        reasons.append("more than one call in the message; only the first was read")
    if r.extra_stops:
        score -= 0.15
        reasons.append("more than one stop loss given")
    if r.tp_overflow:
        score -= 0.15
        reasons.append("more than 10 targets")
    if entry is not None and r.entry_explicit is False and r.market is False and not r.pending:
        score -= 0.03
    if r.stop_loss is None or not r.take_profits:
        score = min(score, 0.85)  # tradeable, but a careful trader checks it first
    if r.stop_loss is None and not r.take_profits:
        score = min(score, 0.7)  # a bare direction: an alert more than a trade plan
    if not text_low.isascii() and _UNREAD.search(text_low) is not None:
        score = min(score, 0.8)
        reasons.append(
            "written partly in a language the rules do not read"
        )  # tradeable, but a careful trader checks it first
    implausible = _implausible(symbol, entry, r.stop_loss)
    if implausible:
        reasons.append(implausible)
        score = min(score, 0.4)
    problems = signal.geometry_problems()
    if problems:
        reasons.extend(problems)
        score = min(score, 0.25)
    elif _far(entry, r.stop_loss, r.take_profits):
        score = min(score - 0.25, 0.45)  # a misread (or a typo) more often than not
        reasons.append("levels are implausibly far from the entry")
    if (
        (r.stop_loss is None or not r.take_profits)
        and _ANY_PIP_UNIT(text_low)
        and PIP_LEVEL.search(text_low) is not None
    ):
        score = min(score, 0.45)  # "SL 30 pips": a level the contract cannot carry
        reasons.append("a stop or target is given in pips, not as a price")
    return ParseResult(signal, max(0.05, min(score, 0.98)), tuple(reasons))


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
_ANY_PIP_UNIT: Final = contains_any(_PIP_UNITS)
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
_MAJOR_RANGE: Final = (Decimal("0.2"), Decimal(5))  # a pair of two other major currencies


def _implausible(symbol: str, entry: EntryZone | None, sl: Decimal | None) -> str | None:
    """A forex, metal or index price far outside any level it has traded at: a misprint."""
    ref = entry.low if entry is not None else sl
    if ref is None:
        return None
    bounds = _RANGES.get(symbol)
    if bounds is None and len(symbol) == 6 and symbol.isalpha():
        if symbol[3:] == "JPY":
            bounds = _JPY_RANGE
        elif symbol[3:] in _MAJOR_QUOTES and symbol[:3] in _MAJOR_QUOTES:
            bounds = _MAJOR_RANGE
    if bounds is not None and not bounds[0] <= ref <= bounds[1]:
        return f"price {ref} is implausible for {symbol}"
    return None


_BIG_COINS: Final = frozenset(
    {"BTC", "ETH", "BNB", "SOL", "LTC", "BCH", "MKR", "YFI", "AAVE", "TAO"}
)


def _looks_like_sats(entry: EntryZone | None, r: Reading) -> bool:
    if entry is None or entry.low < 100:
        return False
    levels = [entry.low, entry.high, *r.take_profits]
    if r.stop_loss is not None:
        levels.append(r.stop_loss)
    return all(level == level.to_integral_value() for level in levels)


_FIFTH: Final = Decimal("0.2")
_ONE_AND_HALF: Final = Decimal("1.5")


def _far(entry: EntryZone | None, sl: Decimal | None, tps: list[Decimal]) -> bool:
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
