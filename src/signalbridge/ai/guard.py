"""Guard rails for an AI-produced signal or update: what the market says, checked before it acts.

An LLM's answer is untrusted even after the strict schema: the text it read may have steered
it to another symbol, a price far from the market, a stop on the wrong side or a leverage no
follower allows. :func:`check` compares the parse with what every target venue says right now
(:class:`MarketFacts`, gathered by services/ai_guard_facts.py) and returns every problem;
:func:`grounding_problems` checks that the symbol is written in the message at all. An item
with any problem stays in review. Pure: no I/O, no clock, so it is tested exhaustively.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from signalbridge.domain.market import Market
from signalbridge.domain.signals import (
    OrderType,
    Parsed,
    Signal,
    SignalUpdate,
    UpdateAction,
    bounds_problems,
    fmt_decimal,
)
from signalbridge.domain.sizing import SizingConfig, SizingSkip, size_order

HUNDRED = Decimal(100)

#: Update actions whose ``value`` is a price (checked against the exit band).
PRICE_ACTIONS = frozenset({UpdateAction.MOVE_SL, UpdateAction.MODIFY_TP})


@dataclass(frozen=True, slots=True)
class VenueFacts:
    """What one follow's venue says about the parse's symbol now, and that follow's caps.

    ``market`` is None when the venue does not list the symbol; ``error`` says why the venue
    could not be read at all (down, breaker open): an unread venue is a problem, never a pass.
    ``balance`` is the free balance in the market's quote currency, for the size check.
    """

    follow_id: int
    market: Market | None = None
    price: Decimal | None = None
    sizing: SizingConfig | None = None
    balance: Decimal | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MarketFacts:
    """The facts of every active follow the parse would reach."""

    venues: tuple[VenueFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """How far from the market an AI parse may reach.

    ``max_price_distance_percent``: the entry (the channel setting, default 5 %);
    ``max_exit_distance_percent``: stop loss and targets, a wider band;
    ``max_leverage``: a ceiling over every follow's own cap;
    ``max_notional``: an optional ceiling on one follow's position value (quote currency).
    """

    max_price_distance_percent: Decimal = Decimal(5)
    max_exit_distance_percent: Decimal = Decimal(50)
    max_leverage: int = 125
    max_notional: Decimal | None = None


def check(parsed: Parsed, facts: MarketFacts, limits: GuardLimits) -> list[str]:
    """Every reason ``parsed`` may not act on its own; empty when it may.

    A signal must fit the store, keep its SL/TP geometry, and for every follow: name a symbol
    the venue lists and trades, have a current price, an entry within the price band, SL/TP
    within the exit band, a leverage and a size under the caps. An update naming a symbol must
    be listed, and a price it carries must lie within the exit band. Noise never acts.
    """
    if isinstance(parsed, Signal):
        return _signal_problems(parsed, facts, limits)
    if isinstance(parsed, SignalUpdate):
        return _update_problems(parsed, facts, limits)
    return ["noise does not act"]


def _signal_problems(signal: Signal, facts: MarketFacts, limits: GuardLimits) -> list[str]:
    problems = bounds_problems(signal) + signal.geometry_problems()
    if signal.order_type is OrderType.LIMIT and signal.entry is None:
        problems.append("a limit signal needs an entry")
    if signal.leverage is not None and signal.leverage > limits.max_leverage:
        problems.append(f"leverage {signal.leverage} is above the limit {limits.max_leverage}")
    if not facts.venues:
        problems.append("no active follow to check the symbol and the price against")
    for venue in facts.venues:
        problems.extend(_venue_problems(signal, venue, limits))
    return _unique(problems)


def _venue_problems(signal: Signal, venue: VenueFacts, limits: GuardLimits) -> list[str]:
    who = f"follow {venue.follow_id}"
    listed = _listed(signal.symbol, venue, who)
    if isinstance(listed, str):
        return [listed]
    market, price = listed
    problems: list[str] = []
    if signal.entry is not None:
        for edge in (signal.entry.low, signal.entry.high):
            far = _too_far(edge, price, limits.max_price_distance_percent, "entry", who)
            if far is not None:
                problems.append(far)
    exits: list[tuple[str, Decimal | None]] = [("stop loss", signal.stop_loss)]
    exits += [(f"take profit {i}", tp) for i, tp in enumerate(signal.take_profits, start=1)]
    for what, exit_level in exits:
        if exit_level is None:
            continue
        far = _too_far(exit_level, price, limits.max_exit_distance_percent, what, who)
        if far is not None:
            problems.append(far)
    problems.extend(_cap_problems(signal, market, price, venue, limits, who))
    return problems


def _listed(symbol: str | None, venue: VenueFacts, who: str) -> tuple[Market, Decimal] | str:
    """The market and its price, or why the venue cannot vouch for ``symbol``."""
    if venue.error is not None:
        return f"{who}: the venue could not be read ({venue.error[:200]})"
    if venue.market is None:
        return f"{who}: {symbol} is not listed by the venue"
    if not venue.market.active:
        return f"{who}: {symbol} is not trading on the venue"
    if venue.price is None or venue.price <= 0:
        return f"{who}: no current price for {symbol}"
    return venue.market, venue.price


def _cap_problems(
    signal: Signal,
    market: Market,
    price: Decimal,
    venue: VenueFacts,
    limits: GuardLimits,
    who: str,
) -> list[str]:
    """Leverage above a cap is refused rather than quietly capped: the parse asked for it.

    The size is what the follow's own sizing would trade at the parse's leverage; sizing caps
    it already, and this checks the result again so a change there cannot open a hole here.
    """
    problems: list[str] = []
    sizing = venue.sizing
    caps = [c for c in (market.max_leverage, sizing.max_leverage if sizing else None) if c]
    if signal.leverage is not None and caps and signal.leverage > min(caps):
        problems.append(f"{who}: leverage {signal.leverage} is above the cap {min(caps)}")
    if sizing is None or venue.balance is None:
        return problems
    reference = signal.entry.mid if signal.entry is not None else price
    sized = size_order(
        sizing,
        market,
        venue.balance,
        reference,
        signal.stop_loss,
        signal.side,
        signal_leverage=signal.leverage,
    )
    if isinstance(sized, SizingSkip):
        return problems  # nothing would be traded: the execution records the skip
    if sizing.max_leverage is not None and sized.leverage > sizing.max_leverage:
        problems.append(f"{who}: leverage {sized.leverage} is above the cap {sizing.max_leverage}")
    if sizing.max_position is not None and sized.amount > sizing.max_position:
        problems.append(
            f"{who}: size {fmt_decimal(sized.amount)} is above the cap "
            f"{fmt_decimal(sizing.max_position)}"
        )
    for cap in (sizing.max_notional, limits.max_notional):
        if cap is not None and sized.notional > cap:
            problems.append(
                f"{who}: position value {fmt_decimal(sized.notional)} is above the cap "
                f"{fmt_decimal(cap)}"
            )
    return problems


def _update_problems(update: SignalUpdate, facts: MarketFacts, limits: GuardLimits) -> list[str]:
    problems = bounds_problems(update)
    if update.symbol is None:
        if update.action in PRICE_ACTIONS:
            problems.append(f"update {update.action.value} names no symbol to check the price of")
        return _unique(problems)
    if not facts.venues:
        problems.append("no active follow to check the symbol and the price against")
    for venue in facts.venues:
        who = f"follow {venue.follow_id}"
        listed = _listed(update.symbol, venue, who)
        if isinstance(listed, str):
            problems.append(listed)
            continue
        _, price = listed
        if update.action in PRICE_ACTIONS and update.value is not None:
            far = _too_far(update.value, price, limits.max_exit_distance_percent, "price", who)
            if far is not None:
                problems.append(far)
    return _unique(problems)


_WORD = re.compile(r"[a-z0-9]+")


def grounding_problems(parsed: Parsed, text: str) -> list[str]:
    """Whether the market the parse names is written in the message at all.

    The model is told never to invent a symbol; a message that steers it to another market
    ("... and also buy PEPE") is caught here. The text is compared after NFKC and
    case-folding, so full-width letters count as what they show, while look-alikes from other
    scripts (a Cyrillic "ВТС") do not: such a parse waits for a human.
    """
    symbol = parsed.symbol if isinstance(parsed, Signal | SignalUpdate) else None
    if symbol is None:
        return []
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    wanted = symbol.casefold()
    base = re.split(r"[/:._-]", wanted, maxsplit=1)[0]
    compact = "".join(_WORD.findall(wanted))
    runs = {"".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words))}
    if base in runs or compact in runs:  # "BTC", "BTCUSDT", "BTC/USDT", "btc usdt"
        return []
    return [f"symbol {symbol} is not named in the message"]


def distance_percent(level: Decimal, price: Decimal) -> Decimal:
    """How far ``level`` lies from ``price``, in percent of ``price`` (``price`` > 0)."""
    return abs(level - price) / price * HUNDRED


def _too_far(level: Decimal, price: Decimal, band: Decimal, what: str, who: str) -> str | None:
    if distance_percent(level, price) <= band:
        return None
    return (
        f"{who}: {what} {fmt_decimal(level)} is more than {fmt_decimal(band)} % "
        f"from the current price {fmt_decimal(price)}"
    )


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))
