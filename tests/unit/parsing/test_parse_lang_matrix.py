"""Goal 0 of issue 14, audited language by language: for every language the rules read, a
full signal (side, entry, stop, two or more targets, leverage) and three updates (stop to
entry, a close, a cancel), written for this test in the way that language's channels
write them, and the exact result each must give.

A language is one entry of :data:`MATRIX`; the words it needs live in the lexicon and
update tables, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction
L, S = Side.LONG, Side.SHORT


@dataclass(frozen=True)
class Call:
    """The signal a text must give: symbol, side, entry zone, stop, targets, leverage."""

    symbol: str
    side: Side
    entry: tuple[str, str]
    stop: str
    targets: tuple[str, ...]
    leverage: int | None
    order: OrderType = OrderType.LIMIT


@dataclass(frozen=True)
class Language:
    signal: str
    call: Call
    # (text, action, value): stop to entry, a close (all or part), a cancel
    updates: tuple[tuple[str, UpdateAction, Decimal | None], ...]


def _c(
    symbol: str,
    side: Side,
    entry: str | tuple[str, str],
    stop: str,
    targets: str,
    leverage: int | None,
    order: OrderType = OrderType.LIMIT,
) -> Call:
    low_high = (entry, entry) if isinstance(entry, str) else entry
    return Call(symbol, side, low_high, stop, tuple(targets.split()), leverage, order)


D = Decimal
MATRIX: dict[str, Language] = {
    "en": Language(
        "EURUSD BUY\nEntry: 1.0850\nSL: 1.0800\nTP1: 1.0900\nTP2: 1.0950\nLeverage: 20x",
        _c("EURUSD", L, "1.0850", "1.0800", "1.0900 1.0950", 20),
        (
            ("EURUSD: move the stop loss to entry", A.MOVE_SL_TO_ENTRY, None),
            ("Close 50% of the position now", A.CLOSE_PARTIAL, D(50)),
            ("Cancel the buy limit order", A.CANCEL, None),
        ),
    ),
    "ru": Language(
        "BTC/USDT ЛОНГ\nВход: 65000\nСтоп: 63000\nТейк 1: 67000\nТейк 2: 69000\nПлечо: 10х",
        _c("BTC/USDT", L, "65000", "63000", "67000 69000", 10),
        (
            ("Переносим стоп в безубыток", A.MOVE_SL_TO_ENTRY, None),
            ("Закрываем 50% позиции", A.CLOSE_PARTIAL, D(50)),
            ("Отменяем лимитный ордер", A.CANCEL, None),
        ),
    ),
    "uk": Language(
        "ETH/USDT ШОРТ\nВхід: 3 500\nСтоп-лосс: 3 600\nЦілі: 3 400, 3 300\nПлече: 20х",
        _c("ETH/USDT", S, "3500", "3600", "3400 3300", 20),
        (
            ("Переносимо стоп у беззбиток", A.MOVE_SL_TO_ENTRY, None),
            ("Закриваємо половину позиції", A.CLOSE_PARTIAL, D(50)),
            ("Скасовуємо лімітний ордер", A.CANCEL, None),
        ),
    ),
    "es": Language(
        "ORO COMPRA\nEntrada: 2350,5\nStop loss: 2340\nTP1: 2360\nTP2: 2370\nApalancamiento: 20x",
        _c("XAUUSD", L, "2350.5", "2340", "2360 2370", 20),
        (
            ("Mover el stop loss a precio de entrada", A.MOVE_SL_TO_ENTRY, None),
            ("Cerramos el 50% de la posición", A.CLOSE_PARTIAL, D(50)),
            ("Cancelen la orden limitada", A.CANCEL, None),
        ),
    ),
    "pt": Language(
        "EUR/USD VENDA\nEntrada: 1,0850\nStop: 1,0900\nAlvo 1: 1,0800\nAlvo 2: 1,0750\n"
        "Alavancagem: 50x",
        _c("EURUSD", S, "1.0850", "1.0900", "1.0800 1.0750", 50),
        (
            ("Mover o stop para o ponto de entrada", A.MOVE_SL_TO_ENTRY, None),
            ("Fechem 50% da posição", A.CLOSE_PARTIAL, D(50)),
            ("Cancelar a ordem pendente", A.CANCEL, None),
        ),
    ),
    "fr": Language(
        "EURUSD ACHAT\nPrix d'entrée : 1,0850\nStop loss : 1,0800\nObjectif 1 : 1,0900\n"
        "Objectif 2 : 1,0950\nLevier : 20x",
        _c("EURUSD", L, "1.0850", "1.0800", "1.0900 1.0950", 20),
        (
            ("Déplacez le stop loss au prix d'entrée", A.MOVE_SL_TO_ENTRY, None),
            ("Fermez 50 % de la position", A.CLOSE_PARTIAL, D(50)),
            ("Annulez l'ordre limite", A.CANCEL, None),
        ),
    ),
    "de": Language(
        "BTC/USDT KAUFEN\nEinstieg: 65 000\nStop Loss: 63 000\nZiel 1: 67 000\n"
        "Ziel 2: 69 000\nHebel: 10x",
        _c("BTC/USDT", L, "65000", "63000", "67000 69000", 10),
        (
            ("Stop Loss auf Einstieg nachziehen", A.MOVE_SL_TO_ENTRY, None),
            ("50 % der Position schließen", A.CLOSE_PARTIAL, D(50)),
            ("Limit-Order stornieren", A.CANCEL, None),
        ),
    ),
    "it": Language(
        "ORO VENDITA\nIngresso: 2350,5\nStop loss: 2360\nObiettivo 1: 2340\n"
        "Obiettivo 2: 2330\nLeva: 10x",
        _c("XAUUSD", S, "2350.5", "2360", "2340 2330", 10),
        (
            ("Spostate lo stop loss al prezzo di ingresso", A.MOVE_SL_TO_ENTRY, None),
            ("Chiudiamo il 50% della posizione", A.CLOSE_PARTIAL, D(50)),
            ("Annullate l'ordine limite", A.CANCEL, None),
        ),
    ),
    "pl": Language(
        "BTC/USDT KUPNO\nWejście: 65 000\nStop loss: 63 000\nCel 1: 67 000\nCel 2: 69 000\n"
        "Dźwignia: 10x",
        _c("BTC/USDT", L, "65000", "63000", "67000 69000", 10),
        (
            ("Przesuwamy stop loss na wejście", A.MOVE_SL_TO_ENTRY, None),
            ("Zamykamy 50% pozycji", A.CLOSE_PARTIAL, D(50)),
            ("Anulujemy zlecenie limit", A.CANCEL, None),
        ),
    ),
    "tr": Language(
        "ALTIN SATIŞ\nGiriş: 2350,50\nZarar durdur: 2360\nHedef 1: 2340\nHedef 2: 2330\n"
        "Kaldıraç: 10x",
        _c("XAUUSD", S, "2350.50", "2360", "2340 2330", 10),
        (
            ("Stopu giriş seviyesine çekin", A.MOVE_SL_TO_ENTRY, None),
            ("Pozisyonun %50'sini kapatın", A.CLOSE_PARTIAL, D(50)),
            ("Limit emir iptal edildi", A.CANCEL, None),
        ),
    ),
    "ar": Language(
        "الذهب بيع\nالدخول من ٢٣٥٠ إلى ٢٣٥٥\nوقف الخسارة: ٢٣٦٥\nالأهداف: ٢٣٤٠ - ٢٣٣٠ - ٢٣٢٠\n"
        "الرافعة: 10x",
        _c("XAUUSD", S, ("2350", "2355"), "2365", "2340 2330 2320", 10),
        (
            ("انقل وقف الخسارة إلى نقطة الدخول", A.MOVE_SL_TO_ENTRY, None),
            ("أغلق 50% من الصفقة", A.CLOSE_PARTIAL, D(50)),
            ("إلغاء الأمر المعلق", A.CANCEL, None),
        ),
    ),
    "fa": Language(
        "طلا خرید\nنقطه ورود: ۲۳۵۰\nحد ضرر: ۲۳۴۰\nتارگت ها: ۲۳۶۰ - ۲۳۷۰\nاهرم: ۱۰",
        _c("XAUUSD", L, "2350", "2340", "2360 2370", 10),
        (
            ("استاپ را به نقطه ورود ببرید", A.MOVE_SL_TO_ENTRY, None),
            ("نصف پوزیشن را ببندید", A.CLOSE_PARTIAL, D(50)),
            ("سفارش کنسل شد", A.CANCEL, None),
        ),
    ),
    "ur": Language(
        "گولڈ خریدیں\nانٹری: 2350\nاسٹاپ لاس: 2340\nٹارگٹ 1: 2360\nٹارگٹ 2: 2370\nلیوریج: 10x",
        _c("XAUUSD", L, "2350", "2340", "2360 2370", 10),
        (
            ("اسٹاپ لاس کو انٹری پر منتقل کریں", A.MOVE_SL_TO_ENTRY, None),
            ("آدھی پوزیشن بند کریں", A.CLOSE_PARTIAL, D(50)),
            ("آرڈر کینسل کر دیں", A.CANCEL, None),
        ),
    ),
    "hi-latn": Language(
        "GOLD becho\nentry 2350\nstoploss 2360\ntarget 1 2340\ntarget 2 2330\nleverage 10x",
        _c("XAUUSD", S, "2350", "2360", "2340 2330", 10),
        (
            ("SL ko entry pe shift karo", A.MOVE_SL_TO_ENTRY, None),
            ("50% position band karo", A.CLOSE_PARTIAL, D(50)),
            ("Limit order cancel kar do", A.CANCEL, None),
        ),
    ),
    "id": Language(
        "BTC/USDT BELI\nHarga masuk: 65000\nStop loss: 63000\nTarget 1: 67000\n"
        "Target 2: 69000\nLeverage: 10x",
        _c("BTC/USDT", L, "65000", "63000", "67000 69000", 10),
        (
            ("Geser SL ke harga masuk", A.MOVE_SL_TO_ENTRY, None),
            ("Tutup setengah posisi", A.CLOSE_PARTIAL, D(50)),
            ("Order limit dibatalkan", A.CANCEL, None),
        ),
    ),
    "ms": Language(
        "EMAS JUAL\nHarga masuk: 2350\nHenti rugi: 2360\nSasaran 1: 2340\nSasaran 2: 2330\n"
        "Leveraj: 10x",
        _c("XAUUSD", S, "2350", "2360", "2340 2330", 10),
        (
            ("Alihkan henti rugi ke harga masuk", A.MOVE_SL_TO_ENTRY, None),
            ("Tutup 50% kedudukan", A.CLOSE_PARTIAL, D(50)),
            ("Batalkan pesanan had", A.CANCEL, None),
        ),
    ),
    "vi": Language(
        "XAUUSD BÁN\nVào lệnh: 2350.5\nCắt lỗ: 2360\nChốt lời 1: 2340\nChốt lời 2: 2330\n"
        "Đòn bẩy: 10x",
        _c("XAUUSD", S, "2350.5", "2360", "2340 2330", 10),
        (
            ("Kéo SL về giá vào lệnh", A.MOVE_SL_TO_ENTRY, None),
            ("Chốt một nửa lệnh", A.CLOSE_PARTIAL, D(50)),
            ("Hủy lệnh chờ", A.CANCEL, None),
        ),
    ),
    "th": Language(
        "BTC/USDT ซื้อ\nจุดเข้า: 65000\nตัดขาดทุน: 63000\nทำกำไร 1: 67000\nทำกำไร 2: 69000\n"
        "เลเวอเรจ: 10x",
        _c("BTC/USDT", L, "65000", "63000", "67000 69000", 10),
        (
            ("เลื่อนจุดตัดขาดทุนไปที่จุดเข้า", A.MOVE_SL_TO_ENTRY, None),
            ("ปิดครึ่งหนึ่งของออเดอร์", A.CLOSE_PARTIAL, D(50)),
            ("ยกเลิกออเดอร์ลิมิต", A.CANCEL, None),
        ),
    ),
    "zh": Language(
        "黄金做空\n入场：2350-2355\n止损：2365\n止盈：2340、2330\n杠杆：10倍",
        _c("XAUUSD", S, ("2350", "2355"), "2365", "2340 2330", 10),
        (
            ("止损上移至开仓价", A.MOVE_SL_TO_ENTRY, None),
            ("先平仓50%", A.CLOSE_PARTIAL, D(50)),
            ("撤销挂单", A.CANCEL, None),
        ),
    ),
    "ja": Language(
        "BTC/USDT ショート\nエントリー：65000\n損切り：67000\n利確1：63000\n利確2：61000\n"
        "レバレッジ：10倍",
        _c("BTC/USDT", S, "65000", "67000", "63000 61000", 10),
        (
            ("損切りを建値に移動", A.MOVE_SL_TO_ENTRY, None),
            ("50%決済", A.CLOSE_PARTIAL, D(50)),
            ("指値注文をキャンセル", A.CANCEL, None),
        ),
    ),
    "ko": Language(
        "BTC/USDT 숏\n진입가: 65000\n손절가: 67000\n목표가 1: 63000\n목표가 2: 61000\n"
        "레버리지: 10배",
        _c("BTC/USDT", S, "65000", "67000", "63000 61000", 10),
        (
            ("손절가를 진입가로 이동", A.MOVE_SL_TO_ENTRY, None),
            ("50% 청산", A.CLOSE_PARTIAL, D(50)),
            ("지정가 주문 취소", A.CANCEL, None),
        ),
    ),
}

REQUIRED = {
    *("en", "ru", "uk", "es", "pt", "fr", "de", "it", "pl", "tr", "ar", "fa", "ur"),
    *("hi-latn", "id", "ms", "vi", "th", "zh", "ja", "ko"),
}


def test_every_language_of_goal_0_is_audited() -> None:
    assert set(MATRIX) == REQUIRED


@pytest.mark.parametrize("lang", sorted(MATRIX))
def test_full_signal(lang: str) -> None:
    case = MATRIX[lang]
    result = parse(case.signal)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    sig, want = result.parsed, case.call
    assert (sig.symbol, sig.side, sig.order_type) == (want.symbol, want.side, want.order)
    assert sig.entry is not None
    assert (sig.entry.low, sig.entry.high) == tuple(map(Decimal, want.entry))
    assert sig.stop_loss == Decimal(want.stop)
    assert list(sig.take_profits) == [Decimal(t) for t in want.targets]
    assert sig.leverage == want.leverage


UPDATE_CASES = [
    pytest.param(text, action, value, id=f"{lang}-{k}")
    for lang, case in sorted(MATRIX.items())
    for k, (text, action, value) in enumerate(case.updates)
]


@pytest.mark.parametrize(("text", "action", "value"), UPDATE_CASES)
def test_update(text: str, action: UpdateAction, value: Decimal | None) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    assert (result.parsed.action, result.parsed.value) == (action, value), result.reasons
