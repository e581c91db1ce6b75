"""Confidence rises only with evidence: levels read by their labels that agree with each
other lift the doubts about how a field was read, never the doubts about what the
message is (issue 14, goal 2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from signalbridge.domain.signals import EntryZone, OrderType, Side, Signal
from signalbridge.parsing.engine import parse
from signalbridge.parsing.evidence import levels_agree, price_like

AUTO = 0.9


def _signal(text: str) -> tuple[Signal, float]:
    result = parse(text)
    assert isinstance(result.parsed, Signal), result
    return result.parsed, result.confidence


@pytest.mark.parametrize(
    ("text", "side"),
    [
        # no side word: a spot-style crypto call whose stop and targets agree
        ("DOT/USDT\nEntry zone: 6.10 - 6.25\nTargets: 6.60 - 6.95 - 7.40\nStop: 5.80", Side.LONG),
        # a weak side word that the levels confirm
        ("#ETHUSDT bullish\nEntry: 3120\nTP: 3180 / 3240\nSL: 3060", Side.LONG),
        ("#XAGUSD bearish setup\nEntry: 31.40\nTP: 30.90\nSL: 31.85", Side.SHORT),
    ],
)
def test_a_side_the_levels_confirm_may_act_alone(text: str, side: Side) -> None:
    signal, conf = _signal(text)
    assert signal.side is side
    assert conf >= AUTO


@pytest.mark.parametrize(
    "text",
    [
        # an id, a risk score and a lot size are numbers no field takes, far from the levels
        "Trade #7731\nAVAX/USDT LONG\nEntry: 24.10\nTP1: 24.90\nTP2: 25.60\nSL: 23.40\nRisk 4/10",
        "NZDUSD SELL @ 0.5915\nSL 0.5960\nTP 0.5850\nlot size: 0.05",
        # several entry prices, all on the right side of the stop and the targets
        "#ADAUSDT LONG\nBUY: 0.410 - 0.402 - 0.395\nTARGETS: 0.43 - 0.45 - 0.48\nSTOP: 0.37",
    ],
)
def test_left_over_numbers_that_cannot_be_prices_do_not_block_acting(text: str) -> None:
    _, conf = _signal(text)
    assert conf >= AUTO


@pytest.mark.parametrize(
    "text",
    [
        # a second stop among the levels: which one is meant?
        "SOL/USDT LONG\nEntry: 142 - 144\nStop: daily close below 136 or 131\nTargets: 150 - 158",
        # a level past the stop in prose: a second stop?
        "GBPUSD BUY 1.2710\nTP 1.2790\nSL 1.2660\nworst case 1.2630",
    ],
)
def test_a_left_over_price_past_the_stop_keeps_it_for_review(text: str) -> None:
    _, conf = _signal(text)
    assert conf < AUTO


@pytest.mark.parametrize(
    "text",
    [
        "LINK/USDT\nEntry: 14.20\nTargets: 14.80 - 15.40",  # no stop
        "#EURJPY bullish\nEntry 162.40\nSL 161.90",  # weak side, no target
        "BTC/USDT LONG\nETH/USDT SHORT\nEntry 64000\nTP 66000\nSL 63000",  # two of each
    ],
)
def test_doubts_about_what_the_message_is_are_never_lifted(text: str) -> None:
    result = parse(text)
    assert result.confidence < AUTO


def test_a_call_without_an_entry_still_goes_to_review() -> None:
    """The contract reads it as a market order, but the reviewed rule sends it to a human."""
    signal, conf = _signal("#USOIL SELL\nSL: 79.40\nTP: 76.80")
    assert signal.order_type is OrderType.MARKET
    assert conf < AUTO


def test_a_crypto_short_from_the_levels_alone_is_read_but_never_acts() -> None:
    """Beyond the contract's spot rule (a crypto long): the levels name the side, a human
    confirms it."""
    signal, conf = _signal("#ARBUSDT\nEntry: 1.02\nTargets: 0.97 - 0.93\nStop: 1.06")
    assert signal.side is Side.SHORT
    assert conf < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "AUDCAD\nEntry: 0.9120\nStop loss: 0.9080\nTake profit: 0.9190",
        "US30\nEntry 42150\nSL 42400\nTP 41700",
    ],
)
def test_no_side_word_outside_crypto_is_no_call(text: str) -> None:
    assert parse(text).kind == "noise"


def test_levels_agree_needs_a_stop_and_targets_on_their_sides() -> None:
    zone = EntryZone(Decimal("10"), Decimal("11"))
    good = Signal("X/USDT", Side.LONG, OrderType.LIMIT, zone, Decimal("9"), (Decimal("12"),))
    assert levels_agree(good)
    no_stop = Signal("X/USDT", Side.LONG, OrderType.LIMIT, zone, None, (Decimal("12"),))
    assert not levels_agree(no_stop)
    wrong = Signal("X/USDT", Side.SHORT, OrderType.LIMIT, zone, Decimal("9"), (Decimal("12"),))
    assert not levels_agree(wrong)
    no_entry = Signal("X/USDT", Side.SHORT, OrderType.MARKET, None, Decimal("12"), (Decimal("9"),))
    assert levels_agree(no_entry)


def test_price_like_counts_only_numbers_near_the_levels() -> None:
    zone = EntryZone(Decimal("100"), Decimal("100"))
    signal = Signal("X/USDT", Side.LONG, OrderType.LIMIT, zone, Decimal("95"), (Decimal("110"),))
    # the levels span 95..110; twice that span on each side is 65..140
    values = [Decimal(v) for v in ("3", "10", "2026", "96", "130", "150")]
    assert price_like(values, signal) == 2


@pytest.mark.parametrize(
    "text",
    [
        "#XRPUSDT LONG\nENTRY: 0.52 - 0.54\nTARGETS: 0.57 - 0.60\nSTOP: 0.49\n\nBUY & HOLD 💎",
        "#XRPUSDT LONG\nENTRY: 0.52 - 0.54\nTARGETS: 0.57 - 0.60\nSTOP: 0.49\nlong with low risk",
    ],
)
def test_the_same_side_word_again_after_a_complete_call_is_no_second_call(text: str) -> None:
    result = parse(text)
    assert "more than one call in the message; only the first was read" not in result.reasons
    assert result.confidence >= AUTO


@pytest.mark.parametrize(
    "text",
    [
        "#XRPUSDT LONG\nENTRY: 0.52\nTARGETS: 0.57\nSTOP: 0.49\nLONG #ADAUSDT too",
        "#XRPUSDT LONG\nENTRY: 0.52\nTARGETS: 0.57\nSTOP: 0.49\nlong again at 0.50",
        "#XRPUSDT LONG\nENTRY: 0.52\nTARGETS: 0.57\nSTOP: 0.49\nSHORT below 0.48",
    ],
)
def test_a_side_word_with_its_own_price_or_instrument_is_a_second_call(text: str) -> None:
    assert parse(text).confidence < AUTO


@pytest.mark.parametrize(
    "text",
    [
        "Possible long on AVAX/USDT\nEntry: 24.10\nTarget: 26\nStop: 23.20",
        "AVAX/USDT could be a short here\nEntry: 24.10\nTarget: 22.50\nStop: 24.90",
        "If AVAX/USDT breaks 24.50:\nEntry: 24.60\nTarget: 26\nStop: 23.90",
    ],
)
def test_a_possible_trade_waits_for_a_human(text: str) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.confidence < AUTO


@pytest.mark.parametrize(
    "text",
    [
        # a stop on a candle close and a remark about profits are no doubt about the call
        "THETA/USDT SHORT\nEntry: 1.52\nTargets: 1.44 - 1.38\n"
        "Stop: if a 4h candle closes above 1.61",
        "#ENAUSDT LONG\nEntry: 0.42\nTargets: 0.45 - 0.48\nSL: 0.40\nPotential for quick profits",
    ],
)
def test_conditions_on_the_stop_and_marketing_remarks_are_no_speculation(text: str) -> None:
    result = parse(text)
    assert "speculative wording: a possible trade more than an instruction" not in result.reasons


def test_a_whole_number_after_a_labels_colon_is_a_price_not_an_index() -> None:
    signal, _ = _signal("DOT/USDT LONG\nEntry: 14.2\nTarget: 15\nStop: 13.6")
    assert signal.take_profits == (Decimal("15"),)
