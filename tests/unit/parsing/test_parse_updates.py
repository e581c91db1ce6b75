"""Follow-up messages: every update action, in English and the other languages."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction


@pytest.mark.parametrize(
    ("text", "action", "value", "symbol"),
    [
        ("TP1 hit on #BTC ✅", A.TP_HIT, Decimal(1), "BTC/USDT"),
        ("Target 2 reached 🎯", A.TP_HIT, Decimal(2), None),
        ("$XAUUSD TP3. DONE ✅ 170+ PIPS PROFIT 🎯✅", A.TP_HIT, Decimal(3), "XAUUSD"),
        ("SL hit, stopped out on EURUSD", A.SL_HIT, None, "EURUSD"),
        ("Stopped out on gold", A.SL_HIT, None, "XAUUSD"),
        ("Move SL to entry", A.MOVE_SL_TO_ENTRY, None, None),
        ("Move stop loss to break-even on GOLD", A.MOVE_SL_TO_ENTRY, None, "XAUUSD"),
        ("Move SL to 1.0850", A.MOVE_SL, Decimal("1.085"), None),
        ("GOLD | Live Update\n\nplace your sl around 4349", A.MOVE_SL, Decimal(4349), "XAUUSD"),
        ("Close all positions now", A.CLOSE_ALL, None, None),
        ("Book profits now", A.CLOSE_ALL, None, None),
        ("Move SL to TP1", A.MOVE_SL, None, None),
        ("Update TP2: 1.1050", A.MODIFY_TP, Decimal("1.105"), None),
        (
            "BTC/USDT Target 1: 25900✅\nTarget 2: 26300✅\nTarget 3: 27000✅",
            A.TP_HIT,
            Decimal(3),
            "BTC/USDT",
        ),
        ("Please close all longs now", A.CLOSE_ALL, None, None),
        ("Close 50% of ETH", A.CLOSE_PARTIAL, Decimal(50), "ETH/USDT"),
        ("Close 25% #ETHUSDT and move SL on entry", A.CLOSE_PARTIAL, Decimal(25), "ETH/USDT"),
        ("close half", A.CLOSE_PARTIAL, Decimal(50), None),
        ("Cancel the EURUSD order, not triggered", A.CANCEL, None, "EURUSD"),
        ("Order not triggered, delete it", A.CANCEL, None, None),
        ("Change TP2 to 1.1000", A.MODIFY_TP, Decimal("1.1"), None),
        ("New TP 2400 for gold", A.MODIFY_TP, Decimal(2400), "XAUUSD"),
        ("Закрываем позицию по BTC", A.CLOSE_ALL, None, "BTC/USDT"),
        ("Стоп в безубыток", A.MOVE_SL_TO_ENTRY, None, None),
        ("Cerrar todo", A.CLOSE_ALL, None, None),
        ("Mover SL a entrada", A.MOVE_SL_TO_ENTRY, None, None),
        ("Fechar metade", A.CLOSE_PARTIAL, Decimal(50), None),
        ("Pozisyonu kapat", A.CLOSE_ALL, None, None),
        ("Sipariş iptal", A.CANCEL, None, None),
        ("إغلاق الصفقة", A.CLOSE_ALL, None, None),
    ],
)
def test_update_actions(
    text: str, action: UpdateAction, value: Decimal | None, symbol: str | None
) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    assert result.parsed.action is action
    assert result.parsed.value == value
    assert result.parsed.symbol == symbol


def test_two_actions_lower_confidence() -> None:
    one = parse("Move SL to entry")
    two = parse("1 тейк, стоп в б/у 🔥")
    assert two.kind == "update"
    assert two.confidence < one.confidence


def test_update_value_is_a_json_number() -> None:
    assert parse("Move SL to 1.0850").to_dict()["value"] == Decimal("1.085")
    assert parse("close half").to_dict()["value"] == 50
    assert parse("TP2 hit").to_dict()["value"] == 2


def test_a_candle_close_is_not_a_close_instruction() -> None:
    result = parse("If the price closes above 2350 on a 4h candle close above it we look higher")
    assert result.kind == "noise"


def test_a_signal_with_a_hit_note_stays_a_signal() -> None:
    result = parse("AUDJPY Buy: 77.19\nTp1: 77.44\nTp2: 77.74\nSL 76.69\n\nHit tp1 +25pips")
    assert result.kind == "signal"
