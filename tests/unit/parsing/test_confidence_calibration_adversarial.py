"""Calibration guards (issue 14): the readings that must never act alone, in styles the dev
corpus does not hold. A quoted or forwarded call above an instruction is context, never a
second position; "market (now ~X)" and its kin are market orders; analysis prose that
names an instrument and a number is no call to execute. Every message was written for
these tests.
"""

import pytest

from signalbridge.domain.signals import OrderType, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse

SURE = 0.9  # the default execution threshold


@pytest.mark.parametrize(
    "text",
    [
        "> EURUSD BUY 1.0850\n> SL 1.0800\n> TP 1.0950\nMove SL to entry now",
        "» GBPUSD SELL 1.2700 SL 1.2750 TP 1.2600\n\nMove stop loss to entry now",
        "Replying to FX VIP:\nEURUSD BUY 1.0850 SL 1.0800 TP 1.0950\n\nMove SL to entry now",
        "Reply to: ETHUSDT SHORT 3450 SL 3520 TP 3300\nMove SL to entry now",
        "Replying to VIP Signals:\nEURUSD BUY 1.0850\nSL 1.0800\nTP 1.0950\n---\n"
        "Move SL to entry now",
        "Forwarded from Gold Desk\nXAUUSD BUY 2340\nSL 2332\nTP 2355\nMove SL to entry now",
        "XAUUSD BUY 2340\nSL 2332\nTP 2355\n\nMove SL to entry now",
        "┃ BTCUSDT LONG 64000 SL 63000 TP 66000\nMove SL to entry now 🔒",
    ],
)
def test_a_quoted_call_above_an_instruction_is_never_a_new_position(text: str) -> None:
    result = parse(text)
    assert not (isinstance(result.parsed, Signal) and result.confidence >= SURE), (
        result.kind,
        result.confidence,
        result.reasons,
    )
    if isinstance(result.parsed, SignalUpdate):
        assert result.parsed.action is UpdateAction.MOVE_SL_TO_ENTRY


@pytest.mark.parametrize(
    "text",
    [
        "BTCUSDT long market (now ~64,200)\nSL 63000\nTP 66000",
        "ETH long @ market (now ~3,420)\nSL 3,300\nTP 3,600",
        "BUY XAUUSD @ market, close=2351.4\nSL 2340\nTP 2370",
        "SELL NOW 2351 - 2355 XAUUSD\nSL 2362\nTP 2340",
        "gold sell now, price near 2351\nSL 2360\nTP 2330",
        "Sell NZDUSD market (~0.6050) SL 0.6090 TP 0.5990",
    ],
)
def test_a_market_call_with_a_quoted_price_is_a_market_order(text: str) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), result.reasons
    assert result.parsed.order_type is OrderType.MARKET


@pytest.mark.parametrize(
    "text",
    [
        "BTC funding +0.03% on Binance, longs pay 0.0345 every 8h",
        "ETH/BTC ratio at 0.0345 looks bullish, target 0.04",
        "EUR/GBP ratio at 0.8540, pound strength continues",
        "BTC dominance at 54.3 and BTC at 64000, alts bleeding. ETH/BTC 0.0345 is support.",
        "Funding on SOL at 0.012% while OI rose 8% to 2.1B, shorts crowded near 145.",
        "EURUSD daily: price holds 1.0850 support, next resistance 1.0950, stop hunts below "
        "1.0800 likely",
        "BTC 65000 support holds, next 68000, stop hunts at 63000 likely",
        "Signal from last week: BTC long 60000 sl 58000 tp 65000",
    ],
)
def test_analysis_prose_with_an_instrument_and_a_number_never_acts_alone(text: str) -> None:
    result = parse(text)
    assert not (isinstance(result.parsed, Signal) and result.confidence >= SURE), (
        result.kind,
        result.confidence,
        result.reasons,
    )
