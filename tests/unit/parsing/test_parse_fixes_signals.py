"""Signal forms and doubts added after reading the dev corpus misses (real-style texts)."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import Side, Signal
from signalbridge.parsing import parse


def signal(text: str) -> tuple[Signal, float]:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (text, result)
    return result.parsed, result.confidence


@pytest.mark.parametrize(
    ("text", "symbol", "side"),
    [
        ("XAUUSDSELL 4626\nSL 4632\nTP 4620", "XAUUSD", Side.SHORT),
        ("BUYEURUSD 1.0850 SL 1.0800 TP 1.0950", "EURUSD", Side.LONG),
        ("btcusdtlong 60000 sl 59000 tp 61000", "BTC/USDT", Side.LONG),
    ],
)
def test_pair_glued_to_its_side_word(text: str, symbol: str, side: Side) -> None:
    sig, conf = signal(text)
    assert (sig.symbol, sig.side) == (symbol, side)
    assert sig.stop_loss is not None and sig.take_profits
    assert conf >= 0.9


def test_a_word_that_only_starts_like_a_side_stays_a_word() -> None:
    assert parse("Shortcut to profits: join us").kind == "noise"


def test_stop_loss_typo_still_reads_the_stop() -> None:
    sig, _ = signal(
        "#DOGEUSDT #LONG\n\nBUY : 0.3400$- 0.3650$\nTARGET 1 : 0.3850$\nTARGET 2 : 0.4000$\n\n"
        "❗️STOL LOSS : 0.28$"
    )
    assert sig.stop_loss == Decimal("0.28")
    assert sig.take_profits == (Decimal("0.385"), Decimal("0.4"))


def test_marker_emoji_after_a_numbered_target_is_decoration() -> None:
    sig, conf = signal(
        "GOLD SELL\nXAUUSD SELL NOW 🔻 4398_4402\n\nTP1: 🔻 4394\nTP2: 🔻 4390\nTP3: 🔻 4386\n\n"
        "❌ SL 4411\nUse Proper Money & Risk Management."
    )
    assert sig.stop_loss == Decimal(4411)
    assert sig.take_profits == (Decimal(4394), Decimal(4390), Decimal(4386))
    assert conf >= 0.9


@pytest.mark.parametrize(
    "text",
    [
        "signal 37\n chfjpy sell : 114.830\n\nsl : 50 pip\ntp1 : 100 pip\ntp 2 : 180 pip",
        "EURUSD BUY NOW 1.0850\nSL 30 pips\nTP 60 pips",
        "GOLD sell 2650 stop loss 40 points take profit 2600",
    ],
)
def test_levels_in_pips_are_never_trusted(text: str) -> None:
    """The contract carries prices; a stop or target in pips cannot be one: low confidence."""
    result = parse(text)
    assert result.kind == "noise" or result.confidence < 0.5, result


@pytest.mark.parametrize(
    "text",
    [
        "Eurusd Sell Now  1.07940\nSl 1.08550\nTp 0.0700",
        "Sell Gbpnzd at cmp 1.7610\nTp1 1.7517\nTp2 1.7419\nSl 1 7786",
    ],
)
def test_levels_far_from_the_entry_are_a_misread(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise" or result.confidence < 0.5, result


def test_with_both_side_words_the_first_one_wins_even_from_a_zone_phrase() -> None:
    """ "buy zone" sets the side as a plain int; it used to be compared by identity to the
    enum member, so a later "sell" flipped the call to a short."""
    sig, conf = signal("EURUSD buy zone 1.0800 - 1.0850 (no sell)\nSL 1.0750\nTP 1.0950")
    assert sig.side is Side.LONG
    assert conf < 0.9  # two side words: never trusted blindly


@pytest.mark.parametrize(
    "text",
    [
        "If gold breaks above 2650 we could look to buy towards 2680",
        "Watch EURUSD 1.0800 support, possible long if it holds",
        "BTC long-term outlook: we expect 100k, support 60k, resistance 70k",
        "Sell-off incoming? BTC dropped 5% to 61000",
    ],
)
def test_analysis_that_names_prices_is_not_a_call(text: str) -> None:
    assert parse(text).kind == "noise"


def test_a_labelled_call_with_a_hopeful_remark_is_still_a_call() -> None:
    sig, _ = signal("BTC/USDT LONG\nEntry: 64000\nTargets: 66000, 68000\nWe expect a breakout")
    assert sig.entry is not None and sig.take_profits == (Decimal(66000), Decimal(68000))
