"""Management messages as real channels write them, in every language the rules read.

Each case is a phrasing seen in the wild; the rules must name the action and its value.
"""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        # a target named by an ordinal word, not a digit
        ("First target achieved on GBPUSD, +30 pips", A.TP_HIT, Decimal(1)),
        ("Second target reached ✅", A.TP_HIT, Decimal(2)),
        ("The market has now reached our first downside target at 4046.", A.TP_HIT, Decimal(1)),
        ("تم تحقيق الهدف الأول ✅", A.TP_HIT, Decimal(1)),
        ("Первая цель достигнута ✅", A.TP_HIT, Decimal(1)),
        ("Primer objetivo alcanzado 🎯", A.TP_HIT, Decimal(1)),
        ("Segundo alvo atingido ✅", A.TP_HIT, Decimal(2)),
        ("İkinci hedef ulaşıldı", A.TP_HIT, Decimal(2)),
        # stopped out
        ("Сработал стоп", A.SL_HIT, None),
        ("Stop loss alcanzado en EURUSD", A.SL_HIT, None),
        ("Stop loss acionado no ouro", A.SL_HIT, None),
        # stop to entry
        ("Mover stop para o ponto de entrada", A.MOVE_SL_TO_ENTRY, None),
        ("Mueve el stop al precio de entrada", A.MOVE_SL_TO_ENTRY, None),
        # stop to a price
        ("Переносим стоп на 64500", A.MOVE_SL, Decimal(64500)),
        ("Mover stop a 1.0850", A.MOVE_SL, Decimal("1.085")),
        ("Mova o stop para 2650", A.MOVE_SL, Decimal(2650)),
        ("Stopu 2650 seviyesine çekin", A.MOVE_SL, Decimal(2650)),
        ("SL'yi 2650'ye taşı", A.MOVE_SL, Decimal(2650)),
        ("انقل وقف الخسارة إلى 2650", A.MOVE_SL, Decimal(2650)),
        # close everything
        ("Cierren todas las operaciones", A.CLOSE_ALL, None),
        ("Fechem a operação agora", A.CLOSE_ALL, None),
        ("أغلق جميع الصفقات", A.CLOSE_ALL, None),
        # close a part
        ("Pozisyonun %50'sini kapatın", A.CLOSE_PARTIAL, Decimal(50)),
        ("أغلق 50% من الصفقة", A.CLOSE_PARTIAL, Decimal(50)),
        ("اغلاق نصف الصفقة", A.CLOSE_PARTIAL, Decimal(50)),
        # stopped out, reported by the loss or crossed out
        ("EURUSD SL -40 pips ❌", A.SL_HIT, None),
        ("Стоп 🚫", A.SL_HIT, None),
        ("ضرب الستوب", A.SL_HIT, None),
        ("نقل الستوب لنقطة الدخول", A.MOVE_SL_TO_ENTRY, None),
        ("Take some profits", A.CLOSE_PARTIAL, None),
        ("Realizar 50% do lucro", A.CLOSE_PARTIAL, Decimal(50)),
        # a new target
        ("Новый тейк 65000", A.MODIFY_TP, Decimal(65000)),
        ("Nuevo TP 1.0950", A.MODIFY_TP, Decimal("1.095")),
        ("Novo alvo 1.0950", A.MODIFY_TP, Decimal("1.095")),
        ("Yeni hedef 2700", A.MODIFY_TP, Decimal(2700)),
        ("الهدف الجديد 2700", A.MODIFY_TP, Decimal(2700)),
    ],
)
def test_update_phrasings(text: str, action: UpdateAction, value: Decimal | None) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (text, result)
    assert result.parsed.action is action
    assert result.parsed.value == value
    assert result.confidence >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Who reached the first level of our course? Sign up today",
        "Stop: 2650 is where the invalidation sits, no trade yet",
        "The first target of the bulls is 2700 if the support holds",
    ],
)
def test_ordinal_and_stop_words_alone_are_not_updates(text: str) -> None:
    """An ordinal or a stop price without a hit/move verb is not a management message."""
    assert parse(text).kind != "update"


def test_a_trailing_stop_report_moves_the_stop() -> None:
    """A bot's report repeats entry and stop; it is the stop's new level, not a new call."""
    text = (
        "📍 **Trailing Stop Tightened**\n📋 Strategy: **Bear Scalp Short**\n"
        "💱 BTCUSD @ 65334.41\n🔒 SL: 65394.14 ← 65412.8\n📈 Best: 65328.57"
    )
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate)
    assert result.parsed.action is A.MOVE_SL
    assert result.parsed.value == Decimal("65394.14")


def test_a_call_that_mentions_a_trailing_stop_is_still_a_call() -> None:
    result = parse("BTC/USDT LONG entry 60000 SL 59000 TP 61000, trailing stop activated at TP1")
    assert result.kind == "signal"


@pytest.mark.parametrize(
    "text",
    [
        "Our signals hit 45 take profits this month 🔥",
        "+1,250 pips last month, join VIP for the next ones",
    ],
)
def test_results_reports_are_noise(text: str) -> None:
    assert parse(text).kind == "noise"


def test_a_weekly_close_condition_is_not_a_results_report() -> None:
    text = "ATABTC\n\nENTRY: 0.00000240 - 0.00000280\n\nSTOP: Close weekly below 0.00000220"
    assert parse(text).kind == "signal"


def test_a_stop_distance_written_with_a_dash_is_not_a_loss() -> None:
    """ "SL - 30 pips" in a call is the stop's distance; only "SL -30 pips" reports a loss."""
    assert parse("EURUSD SL - 30 pips").kind != "update"
    assert parse("EURUSD SL: -30 pips").kind == "update"
