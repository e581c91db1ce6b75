"""Layouts from issue 14 that the rules read, with examples written for these tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal
from signalbridge.parsing.engine import parse


def _signal(text: str) -> Signal:
    result = parse(text)
    assert isinstance(result.parsed, Signal), result
    return result.parsed


def _d(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


@pytest.mark.parametrize(
    "text",
    [
        "ATOM/USDT SHORT\nEntry: 6.40\nTargets: 6.10 - 5.85\n6.75$ can be stop",
        "ATOM/USDT SHORT\nEntry: 6.40\nTargets: 6.10 - 5.85\n6.75 is the stop",
        "ATOM/USDT SHORT\nEntry: 6.40\nTargets: 6.10 - 5.85\n6.75 will be our stop",
    ],
)
def test_a_label_after_its_number_with_linking_words(text: str) -> None:
    """ "X can be stop", "X is the stop": the keyword still names the price before it,
    which never joins the target list above."""
    signal = _signal(text)
    assert signal.stop_loss == Decimal("6.75")
    assert signal.take_profits == _d("6.10", "5.85")


def test_a_dollar_sign_after_a_price_is_its_currency_not_a_cashtag() -> None:
    """ "0.9$ can" is not the coin $CAN, and "6.2$Target" (glued) still opens the targets."""
    signal = _signal("FIL/USDT LONG Entry: 4.10 - 4.25$Target: 4.60 - 4.95$Stoploss: 3.85$")
    assert signal.symbol == "FIL/USDT"
    assert signal.take_profits == _d("4.60", "4.95")
    assert signal.stop_loss == Decimal("3.85")
    signal = _signal("OP/USDT LONG\nEntry: 1.80\nTarget: 2.10\n1.62$ can be stop")
    assert signal.symbol == "OP/USDT"


def test_a_one_digit_target_after_its_index_and_colon_is_a_price() -> None:
    """ "Target 2: 9" is index 2 and the price 9, not the ratio 2:9."""
    signal = _signal("LINK/USDT LONG\nEntry: 7.10\nTarget 1: 8.2\nTarget 2: 9\nStop: 6.40")
    assert signal.take_profits == _d("8.2", "9")


def test_a_ratio_or_a_time_is_still_no_price() -> None:
    signal = _signal("EURCHF BUY 0.9420\nSL 0.9390\nTP 0.9480\nRR 1:2, opened 14:35")
    assert signal.take_profits == _d("0.9480")
    assert parse("EURCHF BUY 0.9420\nSL 0.9390\nTP 0.9480\nRR 1:2").reasons == ()


@pytest.mark.parametrize(
    "header",
    [
        "Forwarded from Indices Desk",
        "[Forwarded from FX Room PRO]",
        "05/03/2026 09:12",
        "Mar 5, 2026 at 09:12",
    ],
)
def test_a_forward_or_a_date_line_before_the_signal(header: str) -> None:
    signal = _signal(f"{header}\nNAS100 SELL 18240\nSL 18310\nTP 18120")
    assert (signal.symbol, signal.side) == ("NAS100", Side.SHORT)
    assert signal.entry is not None and signal.entry.low == Decimal("18240")
    assert signal.stop_loss == Decimal("18310")


@pytest.mark.parametrize(
    "text",
    [
        "USDCAD buy at market (now ~1.3710)\nSL 1.3670\nTP 1.3790",
        "SELL USDCAD @ market, close=1.3710\nSL 1.3750\nTP 1.3650",
        "USDCAD SELL NOW 1.3710 - 1.3715\nSL 1.3750\nTP 1.3650",
        "buy now usdcad, price near 1.3710\nstop 1.3670\ntarget 1.3790",
    ],
)
def test_a_reference_price_beside_market_words_is_a_market_order(text: str) -> None:
    assert _signal(text).order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("DAX SELL 22 480 SL 22 560 TP 22 300", "GER40"),
        ("FTSE 100 long 8 310, stop 8 270, target 8 390", "UK100"),
        ("Nikkei 225 sell 39 850 sl 40 050 tp 39 500", "JP225"),
    ],
)
def test_index_names_with_space_grouped_prices(text: str, symbol: str) -> None:
    signal = _signal(text)
    assert signal.symbol == symbol
    assert signal.entry is not None and signal.entry.low > 8000
    assert signal.stop_loss is not None and signal.stop_loss > 8000


@pytest.mark.parametrize(
    "text",
    [
        "TP 1.1010\nSL 1.0890\nEURUSD SELL 1.0950",  # label-first, no separator
        "Stop: 1.0890 | Take profit: 1.1010\nBUY EURUSD 1.0950",
    ],
)
def test_label_first_layouts_keep_their_levels(text: str) -> None:
    signal = _signal(text)
    assert signal.entry is not None and signal.entry.low == Decimal("1.0950")
    assert {signal.stop_loss, *signal.take_profits} == {Decimal("1.0890"), Decimal("1.1010")}


@pytest.mark.parametrize(
    "text",
    [
        "AUDUSD BUY @ 0.6610\n0.6650 ✅\n0.6690 ✅\n0.6570 ❌",
        "AUDUSD BUY @ 0.6610\n0.6570 ❌\n0.6650 🎯\n0.6690 🎯",
    ],
)
def test_emoji_labels_after_their_price(text: str) -> None:
    signal = _signal(text)
    assert signal.stop_loss == Decimal("0.6570")
    assert signal.take_profits == _d("0.6650", "0.6690")


def test_a_check_mark_after_a_timeframe_is_no_label() -> None:
    signal = _signal("AUDUSD H4 ✅\n\nBuy!\nEntry: 0.6610\nTP: 0.6690\nSL: 0.6570")
    assert signal.entry is not None and signal.entry.low == Decimal("0.6610")
    assert signal.take_profits == _d("0.6690")


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("Germany 40 sell 22480 sl 22560 tp 22300", "GER40"),
        ("US Tech 100 long 19850 stop 19780 target 20000", "NAS100"),
        ("Wall Street sell 42100, SL 42250, TP 41800", "US30"),
        ("Japan 225 buy 38 150 sl 37 900 tp 38 600", "JP225"),
        ("Hang Seng short 17 350 sl 17 480 tp 17 100", "HK50"),
        ("US 500 buy 5610 sl 5590 tp 5650", "SPX500"),
    ],
)
def test_indices_by_their_broker_names(text: str, symbol: str) -> None:
    signal = _signal(text)
    assert signal.symbol == symbol
    assert signal.entry is not None and signal.entry.low > 5000


def test_plain_english_us_is_no_index() -> None:
    signal = _signal("give us 100 pips: EURUSD buy 1.0850 sl 1.0800 tp 1.0950")
    assert signal.symbol == "EURUSD"


def test_the_number_in_an_index_name_does_not_block_space_grouped_prices() -> None:
    """ "Nikkei 225" names the index; "38 900" is still one price."""
    signal = _signal("Nikkei 225 short 38 900 stop 39 200 target 38 400")
    assert signal.entry is not None and signal.entry.low == Decimal("38900")
    assert signal.stop_loss == Decimal("39200")
    assert signal.take_profits == _d("38400")


def test_a_target_list_ends_at_a_price_on_the_losing_side() -> None:
    """Unlabelled lines after the targets ("0.5% - 2.41": a stop by risk) are not targets;
    the call keeps its targets but waits for a human."""
    result = parse(
        "#SOLUSDT\nLong\nEntry: 2.50\nTargets: 2.60, 2.70\n**0.5%** - 2.41\n**1%** - 2.35"
    )
    assert isinstance(result.parsed, Signal)
    assert result.parsed.take_profits == _d("2.60", "2.70")
    assert result.confidence < 0.9


def test_a_list_whose_first_target_is_already_wrong_is_left_as_written() -> None:
    """Nothing is dropped from a list that never agreed with the side: the geometry
    check reports it instead."""
    result = parse("ETHUSDT SHORT\nEntry 2450\nTP1 2500, TP2 2400\nSL 2480")
    assert isinstance(result.parsed, Signal)
    assert result.parsed.take_profits == _d("2500", "2400")
    assert result.confidence <= 0.25


@pytest.mark.parametrize(
    "text",
    [
        "Silver: buying the dip at 30.20, looking for 30.80 first and then 31.40, "
        "invalidated below 29.85",
        "XAGUSD long 30.20; looking for 30.80 first, then 31.40; invalid below 29.85",
    ],
)
def test_prose_targets_and_an_invalidation_level(text: str) -> None:
    signal = _signal(text)
    assert (signal.symbol, signal.side) == ("XAGUSD", Side.LONG)
    assert signal.stop_loss == Decimal("29.85")
    assert signal.take_profits == _d("30.80", "31.40")
