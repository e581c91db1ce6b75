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
from signalbridge.parsing.cjk import any_cjk, segment
from signalbridge.parsing.context import instruction_under_call, split_context
from signalbridge.parsing.evidence import (
    ANY_SPECULATIVE,
    SPECULATIVE,
    beyond_stop,
    corroborated,
    price_like,
)
from signalbridge.parsing.fields import Reading, best_symbol, one_side, read_fields
from signalbridge.parsing.lexer import Lexeme, Lx, join_spaced_thousands, lex
from signalbridge.parsing.lexicon import Cat, Lexicon
from signalbridge.parsing.links import blank_links
from signalbridge.parsing.number_style import may_group_with_dots, regroup_dotted
from signalbridge.parsing.plausibility import (
    ANY_PIP_UNIT,
    BIG_COINS,
    PIP_LEVEL,
    far_targets,
    implausibility,
    looks_like_sats,
)
from signalbridge.parsing.result import ParseResult, noise
from signalbridge.parsing.symbols import KNOWN_COINS, STRONG, TAGGED
from signalbridge.parsing.tables import may_hold_table, rewrite_table
from signalbridge.parsing.text import lower
from signalbridge.parsing.update_evidence import value_doubt, weigh_update
from signalbridge.parsing.update_languages import READ_WORDS
from signalbridge.parsing.update_reader import UpdateHit, find_update
from signalbridge.parsing.update_scope import out_of_scope
from signalbridge.parsing.wording import (
    ANY_ACTION_WORD,
    ANY_CALL_STATUS,
    ANY_HEDGE_WORD,
    ANY_REPORT_HINT,
    ANY_STOP_LATER,
    ANY_UPDATE_HEDGE,
    CALL_QUESTION,
    CALL_STATUS,
    CANCEL_CONDITION,
    HEDGE,
    REPORT,
    STOP_LATER,
    UNREAD,
    UPDATE_HEDGE,
)

_WORD: Final = int(Lx.WORD)


def parse_rules(
    text: str, lexicon: Lexicon, aliases: Mapping[str, str] | None = None
) -> ParseResult:
    """Parse normalised free text with the keyword rules.

    Headers (a forward, a date line) are dropped and quoted text (a reply's quote) is
    context: only the message's own words can open a trade, and a reply that names no
    symbol manages the trade of the signal it quotes.
    """
    ctx = split_context(text)
    if ctx is None:
        return _read(text, lexicon, aliases, None, False)
    if not ctx.own.strip():
        if ctx.reply:
            return noise(0.9, "only quoted text: a reply with no words of its own")
        return noise(0.95, "only a header")
    result = _read(ctx.own, lexicon, aliases, ctx.quoted if ctx.reply else None, ctx.forwarded)
    if ctx.reply and isinstance(result.parsed, Signal):
        # a new call in a reply is unusual, and a quote we could not delimit looks like one
        return ParseResult(
            result.parsed,
            min(result.confidence, 0.85),
            (*result.reasons, "a reply that quotes another message: a human checks the call"),
        )
    return result


def _read(
    text: str,
    lexicon: Lexicon,
    aliases: Mapping[str, str] | None,
    quoted: str | None,
    forwarded: bool,
) -> ParseResult:
    """The rules on a message's own words; ``quoted``: the text its reply quotes (context),
    ``forwarded``: a forwarded call followed by an instruction reads as the instruction."""
    text = blank_links(text)  # a chart link's digits are no price
    if may_hold_table(text):
        table = rewrite_table(text)
        if table is not None:
            text = table
    if "&" in text:
        text = _SP500.sub("SPX", text)
    low = lower(text)
    # a letter of a script the tables read only in part (Vietnamese, Chinese ...): one
    # scan, which also gates the Chinese/Japanese word split
    script = not low.isascii() and UNREAD.search(low) is not None
    if script and any_cjk(text):
        text = segment(text, lexicon)  # "BTC做多入场65000": words the lexer can read
        low = lower(text)
    lexemes = join_spaced_thousands(lex(text, lexicon))  # "68 150": one price, if agreed
    if may_group_with_dots(text):
        lexemes = regroup_dotted(lexemes)  # "63.000" beside "65.000,50": 63 thousand
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
    if side is None and symbol is not None and structured:
        # crypto without a side word reads as a spot buy when every level agrees; any
        # call whose entry, stop and targets all agree can only be the side they name
        side, side_reasons, side_score = _infer_side(r, entry_nums, "/" in symbol)
    if side is None and symbol is not None and symbol.endswith(("/BTC", "/ETH")):
        side, side_reasons, side_score = Side.LONG, ["a spot pair quoted in BTC/ETH: a long"], -0.1
    # words in a script the tables do not read (the words of those scripts the tables do
    # read, Chinese or Vietnamese keywords, are keywords, not words)
    # (any word the tables did not read counts: in a message with a letter of those
    # scripts, an unknown word is one of theirs far more often than not; one test a lexeme)
    # (a word the update tables read is read; so is a coin's ticker: "ETH", "BTC")
    r.unread = script and any(
        lx.kind == _WORD and lx.text not in READ_WORDS and lx.text not in KNOWN_COINS
        for lx in lexemes
    )
    if ANY_REPORT_HINT(low) and REPORT.search(low) is not None:
        return noise(0.8, "a results report, not a call")
    full = bool(entry_nums) and has_levels and side is not None
    # a complete call is not an update, except a bot's "trailing stop moved" report, which
    # repeats the position's entry and new stop but names no target
    trailed = full and not r.take_profits and "trailing" in low
    # "Close the sell, buy gold 4327 SL 4319": a close first, then the opposite call
    reversal = full and bool(r.long_words) and bool(r.short_words)
    update = None if full and not trailed and not forwarded and not reversal else find_update(low)
    if reversal and update is not None and update.action not in _CLOSES:
        update = None
    if full and update is None and not forwarded and (under := instruction_under_call(low)):
        # a call above "Move SL to 1.0850 now": the call is the signal a reply quotes
        return _update(under[1], symbol, r, under[0], None, lexicon, aliases, True, lexemes)
    if update is not None and not (structured and update.action is UpdateAction.CANCEL):
        return _update(
            update, symbol, r, low, quoted, lexicon, aliases, forwarded and full, lexemes
        )
    if (
        side is None
        and len(r.take_profits) > 1
        and r.stop_loss is None
        and not entry_nums
        and low.count("\n") < _TARGET_LIST_LINES
        and not (ANY_HEDGE_WORD(low) and HEDGE.search(low) is not None)
    ):
        # "Tp xauusd / Tp 4336 / Tp 4340": new targets for the open trade, no call
        value = r.take_profits[0]
        reasons = ("update: modify_tp", "targets without a call: new targets for the open trade")
        extra = ("only the first of the targets is carried",)
        return ParseResult(
            SignalUpdate(UpdateAction.MODIFY_TP, symbol, value), 0.6, reasons + extra
        )
    if side is None or symbol is None:
        return _noise(r, symbol, side, low)
    if r.metric and not r.labels and not r.market and not has_levels:
        # "BTC funding at 0.03%, longs are paying": a remark on a statistic, not a call
        return noise(0.6, "analysis of a market statistic (funding, a ratio ...), not a call")
    if (
        r.stop_loss is None
        and not r.market
        and not r.entry_explicit
        and ANY_HEDGE_WORD(low)
        and HEDGE.search(low) is not None
    ):
        # "could look to buy", "possible long if it holds": analysis, not a call
        return noise(0.5, "conditional or speculative wording and no stop loss")
    return _signal(r, symbol, strength, n_strong, side, side_reasons, side_score, entry_nums, low)


_SP500: Final = re.compile(r"\b[Ss]\s?&\s?[Pp](?=\s?500\b)")  # "S&P 500": no token holds "&"


def _side(r: Reading) -> tuple[Side | None, list[str], float]:
    if r.long_words and r.short_words:
        side = Side.LONG if r.first_side == Cat.LONG else Side.SHORT
        if one_side(r):  # "SHORT LINKUSDT / Buy: 27.00": lifted only when the levels agree
            return side, [_SIDE_LABEL], -0.25
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


_TARGET_LIST_LINES: Final = 12  # a target update is a short message
_SIDE_LABEL: Final = 'a word of the other side labels a price ("Buy: 27" in a short)'


def _infer_side(
    r: Reading, entry_nums: list[Decimal], crypto: bool
) -> tuple[Side | None, list[str], float]:
    """No side word: a spot-style crypto call whose levels all agree can only be a long;
    one with an entry, a stop above it and targets below can only be a short."""
    ref = entry_nums[0] if entry_nums else r.stop_loss
    if ref is None or not r.take_profits:
        return None, [], 0.0
    up = all(tp > ref for tp in r.take_profits) and (r.stop_loss is None or r.stop_loss < ref)
    down = all(tp < ref for tp in r.take_profits) and (r.stop_loss is None or r.stop_loss > ref)
    if up and not down and crypto:
        return (
            Side.LONG,
            ["no side word: a spot-style call with targets above, read as long"],
            -0.15,
        )
    if down and not up and crypto and entry_nums and r.stop_loss is not None:
        # beyond the contract's spot rule: a reading a human confirms (capped below 0.5)
        return Side.SHORT, [_GEOMETRY_SHORT], -0.15
    return None, [], 0.0  # forex, metals, indices: no side word, no call


_GEOMETRY_SHORT: Final = (
    "no side word: the stop above and the targets below the entry, read as short"
)


def _update(
    hit: UpdateHit,
    symbol: str | None,
    r: Reading,
    low: str,
    quoted: str | None,
    lexicon: Lexicon,
    aliases: Mapping[str, str] | None,
    forwarded_call: bool,
    lexemes: list[Lexeme],
) -> ParseResult:
    """An update, scored on its evidence: an explicit wording (a verb and its object), the
    value the action needs, a symbol (its own or the quoted signal's), and nothing in the
    message that makes it a suggestion, a condition or one of several actions."""
    action = hit.action
    reasons = [f"update: {action.value}"]
    conf = 0.72
    ev = weigh_update(hit, lexemes, low, r.unread)  # leftovers, a negation
    if ev.clear:
        conf += 0.15
    else:
        reasons.append("no explicit instruction (a verb and what it acts on)")
    if action in _NEED_VALUE and hit.value is None:
        conf -= 0.2
        reasons.append("no value given")
    else:
        conf += 0.05
    if symbol is None and quoted:
        symbol = _quoted_symbol(quoted, lexicon, aliases)
        if symbol is not None:
            reasons.append("symbol from the quoted signal")
    if symbol is not None:
        conf += 0.04
    others = hit.others
    if action is UpdateAction.CLOSE_ALL and ev.clear and hit.reports:
        # "TP2 hit, close the position fully": whatever the hit left open, the close ends
        # it (a partial close or a stop move beside a hit is not settled so: still doubts)
        others -= hit.reports
        reasons.append("a hit report beside an explicit close: the close settles it")
    if others:
        conf -= 0.12 * min(others, 2)
        reasons.append(f"the message also names {others} other action(s)")
    if r.long_words and r.short_words:
        conf -= 0.1  # "close the gold buy, gold sell now": a close and a new call
        reasons.append("both buy and sell words: more than one instruction")
    if len({sym for sym, st in r.symbols if st >= STRONG}) > 1:
        conf -= 0.12
        reasons.append("several instruments named; the update carries one")
    if ANY_UPDATE_HEDGE(low) and UPDATE_HEDGE.search(low) is not None:
        conf -= 0.2
        reasons.append("a suggestion or a condition, not an instruction")
    if low.count(" ") > _LONG_UPDATE and not ev.report:
        conf -= 0.1
        reasons.append("a long message: the instruction is one part of it")
    if r.numbers > _NUMBERS_ALLOWED.get(action, 1) and not ev.report:
        conf -= 0.08
        reasons.append("other numbers in the message")
    if forwarded_call:
        conf = min(conf, 0.7)
        reasons.append("a call above the instruction (forwarded or quoted): it is context")
    if ev.unread:
        conf = min(conf, 0.8)
        reasons.append("written partly in a language the rules do not read")
    if ev.negated:
        conf = min(conf, 0.45)
        reasons.append("negated: don't, no need to, not hit yet ...")
    if ev.question:
        conf = min(conf, 0.8)
        reasons.append("a question, not an instruction")
    if conf > _NOT_NOW and (scope := out_of_scope(action, low)) is not None:
        # asked only where it can change the outcome: an update sure enough to execute
        conf = _NOT_NOW
        reasons.append(scope)
    doubt = value_doubt(action, hit.value, symbol)
    if doubt is not None:
        conf = min(conf, doubt[0])
        reasons.append(doubt[1])
    if action is UpdateAction.CLOSE_PARTIAL and hit.value is not None and not 0 < hit.value <= 100:
        conf = 0.2
        reasons.append("percentage out of range")
    update = SignalUpdate(action, symbol, hit.value)
    return ParseResult(update, round(max(conf, 0.05), 3), tuple(reasons))


def _quoted_symbol(quoted: str, lexicon: Lexicon, aliases: Mapping[str, str] | None) -> str | None:
    """The symbol of the signal a reply quotes (none unless the quote reads as a call)."""
    result = _read(quoted, lexicon, aliases, None, False)
    return result.parsed.symbol if isinstance(result.parsed, Signal) else None


_CLOSES: Final = frozenset({UpdateAction.CLOSE_ALL, UpdateAction.CLOSE_PARTIAL})
# The cap on an update that is not an instruction for now, for this channel's trade, alone
# (update_scope): below the execution threshold, a human decides
_NOT_NOW: Final = 0.8
# Messages longer than this many spaces hold more than the instruction
_LONG_UPDATE: Final = 25
# The numbers an action's wording itself holds: a target's number, a price, a percentage
_NUMBERS_ALLOWED: Final = {UpdateAction.MODIFY_TP: 2, UpdateAction.MOVE_SL: 2}
# A clear report (update_evidence: a hit, a bot's trailing stop) lists the levels and
# fields it reports: its other numbers and its length are no doubt


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
    if r.unread:
        conf -= 0.3
        doubts.append("written in a language the rules do not read")
    elif r.numbers:
        conf -= 0.08
    if ANY_ACTION_WORD(text):
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
    positional = False
    if r.stop_loss is None and not r.take_profits and not r.labels and not r.entry_explicit:
        levels = _by_position(side, r.implicit_entry, r.stray_values)
        if levels is not None:
            # "XAUUSD BUY 1413.0 1409.0 1435.0": entry, stop, target, without labels
            entry_nums = [levels[0]]
            r.stop_loss, r.take_profits = levels[1], [levels[2]]
            r.stray = 0
            positional = True
            reasons.append("entry, stop and target read by their order (no labels)")
    # low <= high already: EntryZone.of would only sort them again
    entry = EntryZone(min(entry_nums), max(entry_nums)) if entry_nums else None
    if entry is None or r.market:
        order_type = OrderType.MARKET
    else:
        order_type = OrderType.LIMIT
    # by position, in the field order (binding keywords to an interpreted dataclass's
    # __init__ costs a third of its call)
    signal = Signal(symbol, side, order_type, entry, r.stop_loss, tuple(r.take_profits), r.leverage)
    implausible = implausibility(symbol, entry, r.stop_loss)
    problems = signal.geometry_problems()
    far = not problems and far_targets(entry, r.stop_loss, r.take_profits)
    # levels that vouch for the reading lift the doubts about how a field was read (asked
    # only when there is one to lift: a clean call, the common case, skips the test)
    sure = (
        (
            bool(side_reasons)
            or r.stray > 0
            or len(entry_nums) > 2
            or (entry is not None and not r.entry_explicit and not r.market and not r.pending)
        )
        and not positional
        and not implausible
        and not problems
        and not far
        and corroborated(signal, r, n_strong)
    )
    guessed = bool(side_reasons) and side_reasons[0] == _GEOMETRY_SHORT
    if guessed or (sure and side_reasons and side_score > _SURE_SIDE):
        pass  # a side from the levels alone, or a doubt smaller than the one lifted
    elif sure and side_reasons and one_side(r):
        side_score = _SURE_SIDE
        reasons.append("the stop and the targets confirm the side")
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
    if entry is None and r.pending:
        # "Sell limit: [enter when the market opens]": a pending order needs its price, and
        # the reading (no price) would place a market one; an incomplete call, as "SL: TBA"
        score = min(score, _PENDING_NO_PRICE)
        reasons.append("a limit or stop order named without its price: an incomplete call")
    if (
        strength < STRONG
        and symbol.partition("/")[0] not in BIG_COINS
        and symbol.endswith("/USDT")
        and looks_like_sats(entry, r)
    ):
        score -= 0.15
        reasons.append("whole-number prices on a coin without a quote: may be satoshis")
    if len(entry_nums) > 2:
        score -= 0.0 if sure else 0.08  # the zone's every price agrees with the levels
        reasons.append("several entry prices, read as one zone")
    if r.stray:
        # when sure, none of them could be a price of this trade (an id, a date, a ratio)
        score -= min(0.02 * r.stray, 0.06) if sure else min(0.06 * r.stray, 0.2)
        reasons.append(f"{r.stray} price(s) not attached to any field")
        if not positional and beyond_stop(r.stray_values, signal):
            score = min(score, 0.85)  # "close above 0.313 or 0.33": which stop is meant?
            reasons.append("a price no field took lies past the stop")
    if ANY_SPECULATIVE(text_low) and SPECULATIVE.search(text_low) is not None:
        score = min(score, 0.85)  # "possible long", "if it breaks 65000": a human decides
        reasons.append("speculative wording: a possible trade more than an instruction")
    if r.entry and r.implicit_entry and not positional and price_like(_rival_entries(r), signal):
        # "EURUSD long 1.0850 ... (entry cancelled if price opens above 1.0870)": a price
        # after the pair and another after an entry label; the label's was taken
        score = min(score, 0.85)
        reasons.append("two entry prices: one after the instrument, another after its label")
    if "cancel" in text_low and CANCEL_CONDITION.search(text_low) is not None:
        score = min(score, 0.85)  # "(cancelled if price reaches 2345 first)"
        reasons.append("a condition to withdraw the order, which the call cannot carry")
    elif ANY_CALL_STATUS(text_low) and CALL_STATUS.search(text_low) is not None:
        # "... ❌ CANCELLED", "repost, already closed", "we bought it yesterday": no new call
        score = min(score, _NOT_LIVE)
        reasons.append("the message says the call is cancelled, closed or past")
    if ("?" in text_low or "؟" in text_low) and CALL_QUESTION.search(text_low) is not None:
        score = min(score, 0.85)  # "shorts at 1.3650 look good, TP 1.3550?": a discussion
        reasons.append("a line of the call is a question")
    if r.tp_dropped:
        score = min(score, 0.85)  # the list ended there, or a target was mistyped
        reasons.append("the target list ran into a price on the losing side; it ends there")
    if r.multi:
        score -= 0.3
        reasons.append("more than one call in the message; only the first was read")
    if r.extra_stops:
        score -= 0.15
        reasons.append("more than one stop loss given")
    if r.tp_overflow:
        score -= 0.15
        reasons.append("more than 10 targets")
    if (
        entry is not None
        and r.entry_explicit is False
        and r.market is False
        and not r.pending
        and not sure
    ):
        score -= 0.03
    if positional:
        score = min(score, 0.7)  # levels by position: a guess a human confirms
    if guessed:
        score = min(score, 0.45)  # no side word outside a spot call: never acts alone
    if r.stop_loss is None or not r.take_profits:
        score = min(score, 0.85)  # tradeable, but a careful trader checks it first
    if r.stop_loss is None and ANY_STOP_LATER(text_low) and STOP_LATER.search(text_low):
        score = min(score, 0.45)  # "SL - ???", "SL: TBA": incomplete by its own words
        reasons.append("the stop is announced as missing: an incomplete call")
    if r.stop_loss is None and not r.take_profits:
        score = min(score, 0.7)  # a bare direction: an alert more than a trade plan
    if r.unread:
        score = min(score, 0.8)
        reasons.append(
            "written partly in a language the rules do not read"
        )  # tradeable, but a careful trader checks it first
    if implausible:
        reasons.append(implausible)
        score = min(score, 0.4)
    if problems:
        reasons.extend(problems)
        score = min(score, 0.25)
    elif far:
        score = min(score - 0.25, 0.45)  # a misread (or a typo) more often than not
        reasons.append("levels are implausibly far from the entry")
    if (
        (r.stop_loss is None or not r.take_profits)
        and ANY_PIP_UNIT(text_low)
        and PIP_LEVEL.search(text_low) is not None
    ):
        score = min(score, 0.45)  # "SL 30 pips": a level the contract cannot carry
        reasons.append("a stop or target is given in pips, not as a price")
    return ParseResult(signal, max(0.05, min(score, 0.98)), tuple(reasons))


def _rival_entries(r: Reading) -> list[Decimal]:
    """The prices after the instrument that differ from the labelled entry (a whole number
    beside an entry with decimals is a count in the prose: "there are 2 local highs")."""
    decimals = any(e != e.to_integral_value() for e in r.entry)
    return [
        v
        for v in r.implicit_entry
        if v not in r.entry and not (decimals and v == v.to_integral_value())
    ]


# A call the message itself says is cancelled, closed or another day's: never a new one
_NOT_LIVE: Final = 0.45
# A pending order without its price cannot be placed: capped as a stop announced missing
_PENDING_NO_PRICE: Final = 0.45
# the doubt left on a side the levels confirm (a guessed side costs up to 0.15)
_SURE_SIDE: Final = -0.03


def _by_position(
    side: Side, implicit: list[Decimal], stray: list[Decimal]
) -> tuple[Decimal, Decimal, Decimal] | None:
    """Three prices after the side and no label: the entry, then a stop on the losing
    side and a target on the winning side (in that order, and only then)."""
    seq = [*implicit, *stray]
    if len(seq) != 3:
        return None
    entry, sl, tp = seq
    if side is Side.LONG and sl < entry < tp:
        return entry, sl, tp
    if side is Side.SHORT and sl > entry > tp:
        return entry, sl, tp
    return None
