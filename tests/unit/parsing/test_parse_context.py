"""Replies, quotes, forwards and date headers: the quoted text is context, never a new signal.

Every example here is written for these tests (the held-out texts stay unseen).
"""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.signals import Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction
EURUSD_CALL = "EURUSD BUY 1.0850\nSL 1.0800\nTP1 1.0900\nTP2 1.0950"
GOLD_CALL = "#XAUUSD SELL 2351.5\nStop loss: 2360\nTake profit: 2340 / 2330"


def update(text: str) -> SignalUpdate:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    return result.parsed


def quoted(call: str) -> str:
    return "\n".join("> " + line for line in call.splitlines())


@pytest.mark.parametrize(
    ("text", "action", "value", "symbol"),
    [
        # Telegram-style "> " lines above the instruction
        (quoted(EURUSD_CALL) + "\nMove SL to 1.0870 now", A.MOVE_SL, Decimal("1.087"), "EURUSD"),
        (quoted(GOLD_CALL) + "\n\nMove SL to 2345 now", A.MOVE_SL, Decimal(2345), "XAUUSD"),
        (quoted(EURUSD_CALL) + "\nClose half now", A.CLOSE_PARTIAL, Decimal(50), "EURUSD"),
        (quoted(GOLD_CALL) + "\nTP1 hit ✅", A.TP_HIT, Decimal(1), "XAUUSD"),
        # a reply header that carries the quoted preview on its own line
        (
            "Reply to: #BTC/USDT LONG Entry 65000 SL 63000 TP 68000\nMove SL to 65500 now",
            A.MOVE_SL,
            Decimal(65500),
            "BTC/USDT",
        ),
        (
            "In reply to: EURUSD BUY 1.0850 SL 1.0800 TP 1.0950\nMove stop to entry",
            A.MOVE_SL_TO_ENTRY,
            None,
            "EURUSD",
        ),
        # a header naming the channel, then the quoted lines, then the instruction
        (
            "[In reply to Gold Masters VIP]\n" + quoted(GOLD_CALL) + "\nMove SL to 2345 now",
            A.MOVE_SL,
            Decimal(2345),
            "XAUUSD",
        ),
        (
            "(replying to Forex Pro)\n" + quoted(EURUSD_CALL) + "\nClose all now",
            A.CLOSE_ALL,
            None,
            "EURUSD",
        ),
        # "Replying to ...:" and the quoted block up to the blank line
        (
            "Replying to FX Desk:\n" + EURUSD_CALL + "\n\nMove SL to 1.0870 now",
            A.MOVE_SL,
            Decimal("1.087"),
            "EURUSD",
        ),
        # a forwarded signal with the instruction below it
        (
            "Forwarded from Gold Masters\n" + GOLD_CALL + "\n\nMove SL to 2345 now",
            A.MOVE_SL,
            Decimal(2345),
            "XAUUSD",
        ),
        # the instruction names its own symbol: that one wins over the quote's
        (
            quoted(EURUSD_CALL) + "\nGBPUSD: move SL to 1.2650",
            A.MOVE_SL,
            Decimal("1.265"),
            "GBPUSD",
        ),
    ],
)
def test_a_quoted_signal_above_an_instruction_reads_as_the_update(
    text: str, action: UpdateAction, value: Decimal | None, symbol: str
) -> None:
    parsed = update(text)
    assert (parsed.action, parsed.value, parsed.symbol) == (action, value, symbol)


@pytest.mark.parametrize(
    "text",
    [
        quoted(EURUSD_CALL) + "\nNice trade everyone 🔥",
        quoted(GOLD_CALL),
        "Reply to: EURUSD BUY 1.0850 SL 1.0800 TP 1.0950\nthanks!",
        "[In reply to Forex Pro]\n" + quoted(EURUSD_CALL) + "\n👍",
    ],
)
def test_a_quoted_signal_with_chatter_is_noise(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons


def test_a_new_signal_in_a_reply_still_reads_but_is_reviewed() -> None:
    text = quoted(GOLD_CALL) + "\n\nNew setup:\nEURUSD BUY 1.0850\nSL 1.0800\nTP 1.0950"
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.symbol == "EURUSD"
    assert result.confidence < 0.9
    assert any("reply" in r for r in result.reasons)


@pytest.mark.parametrize(
    "header",
    [
        "Forwarded from Gold Masters VIP",
        "[Forwarded from Crypto Whales]",
        "Forwarded from: Silver Lining Signals",
        "12.03.2024 14:35",
        "[12.03.24 14:35]",
        "2024-03-12 14:35:07",
        "2024-03-12T14:35:07Z",
        "Mar 12, 2024 at 2:35 PM",
        "Tuesday, 12 March 2024 14:35 UTC",
        "14:35",
        "FX Channel, [12.03.24 14:35]",
        "FX Channel, [12.03.24 14:35]\n[Forwarded from Gold Masters]",
        "Переслано от Gold Masters",
    ],
)
def test_a_header_before_a_complete_signal_is_only_a_header(header: str) -> None:
    plain = parse(EURUSD_CALL)
    result = parse(header + "\n" + EURUSD_CALL)
    assert result == plain, result.reasons


def test_a_date_inside_a_line_is_not_a_price() -> None:
    result = parse("EURUSD BUY 1.0850 (12.03.2024)\nSL 1.0800\nTP 1.0950")
    assert isinstance(result.parsed, Signal)
    assert result.parsed.take_profits == (Decimal("1.095"),)
    assert not any("not attached" in r for r in result.reasons)


def test_a_table_pipe_is_not_a_quote() -> None:
    result = parse("EURUSD | BUY | 1.0850\nSL | 1.0800\nTP | 1.0950")
    assert isinstance(result.parsed, Signal)


_CALLS = st.sampled_from(
    [
        EURUSD_CALL,
        GOLD_CALL,
        "BTC/USDT LONG\nEntry: 65000 - 64000\nSL: 62000\nTP: 67000, 69000\nLeverage 10x",
        "GBPJPY SELL NOW 191.20\nSL 191.80\nTP 190.50",
        "ETH/USDT SHORT entry 3500 sl 3600 tp 3300",
    ]
)
_TAILS = st.sampled_from(
    [
        "",
        "Move SL to entry",
        "Move SL to 1.0870 now",
        "TP1 hit",
        "Close half",
        "close all now",
        "Great trade!",
        "SL moved to 2345",
        "Cancel this one",
        "hold",
    ]
)
_QUOTE_STYLES = st.sampled_from(["gt", "reply_line", "reply_header", "reply_block"])


def _wrap(style: str, call: str) -> str:
    if style == "gt":
        return quoted(call)
    if style == "reply_line":
        return "Reply to: " + " ".join(call.splitlines())
    if style == "reply_header":
        return "[In reply to Signals Hub]\n" + quoted(call)
    return "In reply to:\n" + call + "\n"


@settings(max_examples=200, deadline=None)
@given(_CALLS, _TAILS, _QUOTE_STYLES)
def test_never_a_signal_from_a_quoted_block(call: str, tail: str, style: str) -> None:
    result = parse(_wrap(style, call) + "\n" + tail)
    assert result.kind != "signal", (result.reasons, style, tail)
