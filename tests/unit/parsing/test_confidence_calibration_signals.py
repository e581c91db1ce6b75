"""Signal confidence (issue 14, calibration): the evidence that lifts a call to the execution
threshold, and the wording that keeps one below it.

Raised, each on structural evidence, never on a corpus row: a chart link's digits are no
left-over price (links are blanked before reading), and a word of the other side that only
labels a price ("Buy = 36.40" in a short) is no second side once the stop and the targets
confirm the first. Kept below 0.9: a pending order named without its price, a call the
message says is cancelled, closed or another day's, a condition to withdraw the order, a
line of the call asked as a question, two different entry prices. Beside each, look-alikes
that must keep their reading. Every message was written for these tests.
"""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.parsing import parse

SURE = 0.9  # the default execution threshold


def signal(text: str) -> tuple[Signal, float, tuple[str, ...]]:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    return result.parsed, result.confidence, result.reasons


# --- links -------------------------------------------------------------------------


def test_a_chart_link_leaves_no_price_behind() -> None:
    sig, confidence, reasons = signal(
        "📈 chart: https://tradingview.com/x/Zq9vT4kL/\nAVAX/USDT LONG\n"
        "Entry 35.2 - 34.8\nTP 36.5 / 38 / 40\nSL 33.9"
    )
    assert confidence >= SURE, reasons
    assert not any("not attached" in r for r in reasons)
    assert sig.entry is not None and (sig.entry.low, sig.entry.high) == (
        Decimal("34.8"),
        Decimal("35.2"),
    )
    assert sig.take_profits == (Decimal("36.5"), Decimal(38), Decimal(40))


def test_a_link_number_is_never_a_price() -> None:
    sig, confidence, _ = signal("Join us: t.me/gold_vip_2350\nXAUUSD SELL 2351 SL 2360 TP 2330")
    assert sig.entry is not None and sig.entry.low == Decimal(2351)
    assert confidence >= SURE


@pytest.mark.parametrize(
    "text",
    [
        "https://www.tradingview.com/x/Ab3Cd9Ef/",
        # the link names a pair, a side and a price: its words are not the message's
        "https://www.tradingview.com/chart/GBPUSD/k2Lm-GBPUSD-long-from-1-2650/",
        "bit.ly/3xYz91 www.example.com/page?id=4417",
    ],
)
def test_a_message_that_is_only_a_link_is_noise(text: str) -> None:
    assert parse(text).kind == "noise"


# --- a word of the other side as a label -------------------------------------------


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("🔻 SHORT #AVAXUSDT\nBuy = 36.40\nTP1 = 35.10\nTP2 = 33.80\nSL = 37.60", Side.SHORT),
        ("#NEAR/USDT LONG 🟢\nSell: 5.40\nTarget 1: 5.65\nTarget 2: 5.90\nStop: 5.18", Side.LONG),
    ],
)
def test_an_other_side_label_confirmed_by_the_levels_reaches_the_threshold(
    text: str, side: Side
) -> None:
    sig, confidence, reasons = signal(text)
    assert sig.side is side
    assert confidence >= SURE, reasons


@pytest.mark.parametrize(
    "text",
    [
        # the other side in prose, not as a label: two sides stay a doubt
        "SHORT ETHUSDT - buyers exhausted, buy volume fading\nEntry: 3450\nTP: 3380\nSL: 3520",
        # no stop: nothing confirms the side
        "SHORT DOTUSDT\nBuy: 6.10\nTP: 5.80",
        # a second call after a complete one
        "XAUUSD SELL 2351 SL 2360 TP 2330\nBuy: 2320",
    ],
)
def test_other_side_words_that_are_not_a_confirmed_label_stay_below(text: str) -> None:
    _, confidence, reasons = signal(text)
    assert confidence < SURE, reasons


def test_an_other_side_label_against_the_levels_is_broken_geometry() -> None:
    sig, confidence, _ = signal("SELL EURUSD\nBuy: 1.0850\nSL 1.0800\nTP 1.0950")
    assert sig.side is Side.SHORT  # the written side is kept, never flipped
    assert confidence <= 0.25


# --- a pending order without its price ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["EURUSD sell limit\nSL 1.0900\nTP 1.0800", "Buy stop on gold, SL 2330, TP 2370"],
)
def test_a_pending_order_without_its_price_is_an_incomplete_call(text: str) -> None:
    _, confidence, reasons = signal(text)
    assert confidence < 0.5
    assert any("without its price" in r for r in reasons)


@pytest.mark.parametrize(
    ("text", "order_type"),
    [
        ("GBPUSD buy limit 1.2650 SL 1.2600 TP 1.2750", OrderType.LIMIT),
        ("USDJPY sell stop 151.20 SL 151.60 TP 150.40", OrderType.LIMIT),
        ("Gold sell now, SL 2360, TP 2330", OrderType.MARKET),
    ],
)
def test_priced_pending_orders_and_market_calls_keep_their_confidence(
    text: str, order_type: OrderType
) -> None:
    sig, confidence, reasons = signal(text)
    assert sig.order_type is order_type
    assert confidence >= SURE, reasons


# --- a call that says it is not live -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "GOLD BUY 2340 SL 2332 TP 2355 ❌ CANCELLED",
        "EURUSD BUY 1.0850 SL 1.0800 TP 1.0950 — closed at TP ✅",
        "XAUUSD BUY 2340 SL 2332 TP 2355 closed +150 pips",
        "Repost: BTCUSDT LONG 64000 SL 63000 TP 66000 (TP1 hit ✅)",
        "XAUUSD BUY 2340 SL 2332 TP 2355\nSL hit",
        "BTCUSDT LONG 64000 SL 63000 TP 66000 🎯 target reached",
        "We opened XAUUSD SELL at 2351 yesterday, SL 2360, TP 2330",
        "ETHUSDT LONG 3400 SL 3300 TP 3600 — invalidated",
        "Sell USDJPY 151.20 stop 151.60 target 150.40 (posted 3 days ago)",
        "Сигнал отменён: BTCUSDT LONG 64000 SL 63000 TP 66000",
        "ETHUSDT SHORT 3450 SL 3520 TP 3300 — cancelada",
    ],
)
def test_a_call_said_to_be_cancelled_closed_or_past_is_no_new_call(text: str) -> None:
    _, confidence, reasons = signal(text)
    assert confidence < 0.5, reasons


@pytest.mark.parametrize(
    "text",
    [
        # a candle's close in the stop's wording is no status
        "EURUSD BUY 1.0850\nSL 1.0790 (4h candle closed below)\nTP 1.0950",
        # the call's own plan, not a report
        "BTCUSDT LONG 64000 SL 63000 TP 66000\nOnce TP1 has been hit, move SL to entry",
        # a question with no price or side in it asks nothing about the call
        "Ready? 🚀\nBUY XAUUSD 2340 SL 2332 TP 2355",
        # "we entered at" is how some channels give a live call's entry
        "NZDCAD SELL (4H)\nSL: 0.8240\nTP: 0.8110\nWe entered at: 0.8195",
    ],
)
def test_live_calls_with_look_alike_words_keep_their_confidence(text: str) -> None:
    _, confidence, reasons = signal(text)
    assert confidence >= SURE, reasons


# --- a condition, a question, two entries -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "GOLD BUY LIMIT 2330 SL 2320 TP 2350 (cancel if price reaches 2345 first)",
        "BUY LIMIT EURUSD 1.0820\nSL 1.0790\nTP 1.0880\nIf TP is reached before entry, "
        "cancel the order",
        "USDCAD shorts at 1.3650 look good, SL 1.3700, TP 1.3550?",
        "XAUUSD buy now 2340\nSL 2332\nTP 2355\nHit TP1 already?",
        # a price after the pair, another after an entry label in a remark
        "EURUSD long 1.0850 sl 1.0800 tp 1.0950 (entry cancelled if price opens above 1.0870)",
    ],
)
def test_a_condition_a_question_or_two_entries_wait_for_a_human(text: str) -> None:
    _, confidence, reasons = signal(text)
    assert confidence < SURE, reasons


def test_a_count_in_the_prose_is_no_second_entry() -> None:
    sig, confidence, reasons = signal(
        "#ARB/USDT LONG\nThere are 3 reasons for this trade.\nEntry: 1.12-1.08\n"
        "TP: 1.20, 1.28\nSL: 1.02"
    )
    assert sig.entry is not None and sig.entry.high == Decimal("1.12")
    assert confidence >= SURE, reasons
