"""Scripts and number styles of goal 0 (issue 14), beyond the matrix of
test_parse_lang_matrix: Thai written without spaces, locale number styles, Arabic zones
in words, Turkish capitals, and how sure the parser is of what it read. Examples written
for these tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse
from signalbridge.parsing.cjk import segment
from signalbridge.parsing.lexicon import LANGUAGES, default_lexicon
from signalbridge.parsing.numbers import parse_number
from signalbridge.parsing.text import normalise
from signalbridge.parsing.thai import fold

A = UpdateAction
D = Decimal


def _signal(text: str) -> Signal:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    return result.parsed


def _levels(sig: Signal) -> tuple[object, ...]:
    assert sig.entry is not None
    return (sig.symbol, sig.side, sig.entry.low, sig.entry.high, sig.stop_loss, sig.take_profits)


# --- Thai: no spaces between words -------------------------------------------------


def test_thai_marks_fold_away_and_sara_am_reads_as_nfkc_leaves_it() -> None:
    assert fold("ตัดขาดทุน") == "ตดขาดทน"
    # NFKC splits SARA AM into NIKHAHIT + SARA AA: both spellings fold alike
    assert fold(normalise("ทำกำไร")) == fold("ทำกำไร")


def test_no_two_thai_words_of_the_lexicon_fold_alike() -> None:
    words = {w for entries in LANGUAGES["th"].values() for w in entries}
    folded_words = {fold(w) for w in words}
    assert len(folded_words) == len(words)
    assert all(len(w) > 1 for w in folded_words)  # one letter would split every run


def test_a_thai_run_is_split_on_the_lexicon_words() -> None:
    out = segment(normalise("ซื้อที่65000ตัดขาดทุน63000"), default_lexicon()).split()
    assert out == [fold("ซื้อที่"), "65000", fold("ตัดขาดทุน"), "63000"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # glued: the words and the numbers without a space
            "BTCUSDT เปิดลองที่ 65000 ตัดขาดทุน 63000 เป้า 67000 69000 เลเวอเรจ 10x",
            ("BTC/USDT", Side.LONG, D(65000), D(65000), D(63000), (D(67000), D(69000))),
        ),
        (
            "ETH/USDT ชอร์ต\nจุดเข้า 3500-3550\nหยุดขาดทุน 3650\nเป้าหมาย 3400 / 3300",
            ("ETH/USDT", Side.SHORT, D(3500), D(3550), D(3650), (D(3400), D(3300))),
        ),
        (  # gold in Thai, Thai digits
            "ทองคำ ขาย\nจุดเข้า ๒๓๕๐\nจุดตัดขาดทุน ๒๓๖๕\nทำกำไร ๒๓๔๐ - ๒๓๓๐",
            ("XAUUSD", Side.SHORT, D(2350), D(2350), D(2365), (D(2340), D(2330))),
        ),
    ],
)
def test_thai_signals(text: str, expected: tuple[object, ...]) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    assert _levels(result.parsed) == expected
    assert result.confidence >= 0.9, result.reasons


def test_thai_market_word() -> None:
    sig = _signal("BTC/USDT ชอร์ตราคาตลาด ตัดขาดทุน 67000 ทำกำไร 63000 61000")
    assert (sig.side, sig.order_type) == (Side.SHORT, OrderType.MARKET)


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("เลื่อน SL ไปที่จุดเข้า", A.MOVE_SL_TO_ENTRY, None),
        ("ย้ายจุดตัดขาดทุนไปที่ 64500", A.MOVE_SL, D(64500)),
        ("ETH ถึงเป้า 1 แล้ว ✅", A.TP_HIT, D(1)),
        ("โดนตัดขาดทุน", A.SL_HIT, None),
        ("ปิดออเดอร์ทั้งหมด", A.CLOSE_ALL, None),
        ("ปิด 50% ของออเดอร์", A.CLOSE_PARTIAL, D(50)),
        ("ออเดอร์ลิมิตถูกยกเลิก", A.CANCEL, None),
    ],
)
def test_thai_updates(text: str, action: UpdateAction, value: Decimal | None) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    assert (result.parsed.action, result.parsed.value) == (action, value)


@pytest.mark.parametrize(
    "text",
    [
        "ตลาดวันนี้ผันผวนมาก ระวังความเสี่ยงนะครับ",  # the market is volatile, mind the risk
        "ไม่ควรซื้อ BTC ตอนนี้",  # one should not buy BTC now: a negation, no call
        "ขอบคุณทุกคนที่ติดตามช่องของเรา",  # thanks for following the channel
    ],
)
def test_thai_chatter_and_negation_are_not_a_call(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons


# --- number styles --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("65.000,50", D("65000.50")),  # dot groups, decimal comma
        ("1.250.000,5", D("1250000.5")),
        ("2350,5", D("2350.5")),  # decimal comma
        ("42,000", D(42000)),  # comma groups
        ("1.250.000", D(1250000)),  # dot groups, two or more
        ("1.0850", D("1.0850")),
        ("2.350,2360", None),  # a list without its space, not one price
    ],
)
def test_number_styles(raw: str, value: Decimal | None) -> None:
    assert parse_number(raw) == value


def test_one_dot_group_is_thousands_where_the_message_writes_that_style() -> None:
    sig = _signal("BTC/USDT LONG\nEntry: 65.000,50\nSL: 63.000\nTP: 67.500,00 / 69.000,00")
    assert _levels(sig) == (
        "BTC/USDT",
        Side.LONG,
        D("65000.50"),
        D("65000.50"),
        D(63000),
        (D("67500.00"), D("69000.00")),
    )


def test_a_lone_dot_group_stays_ambiguous_and_unsure() -> None:
    # "65.000" alone may be 65 or 65 thousand: never acted on without a human
    result = parse("BTC/USDT LONG\nEntry: 65.000\nSL: 63.000\nTP: 67.500")
    assert result.confidence < 0.9


@pytest.mark.parametrize(
    ("text", "entry", "stop", "targets"),
    [
        (  # space groups with a decimal comma (French, Polish, Russian style)
            "BTC/USDT ЛОНГ\nВход: 65 000,5\nСтоп: 63 000\nТейк: 67 000 / 69 000",
            D("65000.5"),
            D(63000),
            (D(67000), D(69000)),
        ),
        (  # Eastern Arabic digits with the Arabic decimal separator
            "الذهب شراء\nالدخول: ٢٣٥٠٫٥\nوقف الخسارة: ٢٣٤٠\nالأهداف: ٢٣٦٠ - ٢٣٧٠",
            D("2350.5"),
            D(2340),
            (D(2360), D(2370)),
        ),
        (  # Persian digits
            "BTC/USDT لانگ\nورود: ۶۵۰۰۰\nحد ضرر: ۶۳۰۰۰\nتارگت: ۶۷۰۰۰ - ۶۹۰۰۰",
            D(65000),
            D(63000),
            (D(67000), D(69000)),
        ),
    ],
)
def test_locale_digits_and_separators(
    text: str, entry: Decimal, stop: Decimal, targets: tuple[Decimal, ...]
) -> None:
    sig = _signal(text)
    assert sig.entry is not None
    assert (sig.entry.low, sig.stop_loss, sig.take_profits) == (entry, stop, targets)


# --- Arabic zones in words, Turkish capitals, gold ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # "from X to Y" as the zone, targets with dashes
            "بيع EURUSD من 1.0850 إلى 1.0870\nوقف الخسارة 1.0900\nالأهداف 1.0800 - 1.0750 - 1.0700",
            ("EURUSD", Side.SHORT, D("1.0850"), D("1.0870"), D("1.0900")),
        ),
        (  # "between X and Y", the stop as traders transliterate it
            "الذهب شراء\nالدخول بين ٢٣٥٠ و ٢٣٤٥\nالستوب: ٢٣٣٥\n"
            "الهدف الأول: ٢٣٦٠\nالهدف الثاني: ٢٣٧٠",
            ("XAUUSD", Side.LONG, D(2345), D(2350), D(2335)),
        ),
    ],
)
def test_arabic_zones_in_words(text: str, expected: tuple[object, ...]) -> None:
    sig = _signal(text)
    assert _levels(sig)[:5] == expected
    assert len(sig.take_profits) >= 2


def test_turkish_capitals_read_as_their_words() -> None:
    sig = _signal(
        "ALTIN ALIŞ\nGİRİŞ: 2350\nSTOP: 2340\nHEDEF 1: 2360\nHEDEF 2: 2370\nKALDIRAÇ: 10X"
    )
    assert _levels(sig) == ("XAUUSD", Side.LONG, D(2350), D(2350), D(2340), (D(2360), D(2370)))
    assert sig.leverage == 10


@pytest.mark.parametrize(
    "text",
    [
        "ALTIN SAT\nGiriş: 2350\nStop: 2360\nHedef: 2340",
        "黄金 做空\n入场 2350\n止损 2360\n止盈 2340",
        "ทองคำ ขาย\nจุดเข้า 2350\nตัดขาดทุน 2360\nทำกำไร 2340",
    ],
)
def test_local_names_for_gold(text: str) -> None:
    assert _signal(text).symbol == "XAUUSD"


# --- confidence: read whole, or partly unread -------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Hủy lệnh chờ",
        "止损上移至开仓价",
        "ปิดออเดอร์ทั้งหมด",
        "ETH 止盈1已达到",
        "指値注文をキャンセル",
        "損切りを建値に移動",
        "ETH 开空 入场价格 3500 止损价 3600 目标价 3300/3200",
        "Vàng MUA tại 2350\nSL 2340\nTP1 2360\nTP2 2370",
    ],
)
def test_a_message_read_whole_is_not_capped_as_unread(text: str) -> None:
    result = parse(text)
    assert result.kind in ("signal", "update")
    assert result.confidence >= 0.9, result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "止损移至开仓价，明天我们再看看行情",  # an unread clause after the instruction
        "Dời SL về entry, mai tính tiếp nhé cả nhà",
        "損切りを建値に移動、明日また様子を見ます",
    ],
)
def test_words_the_tables_do_not_read_still_cap_the_confidence(text: str) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    assert result.confidence <= 0.8


# --- more update wordings of the languages read as data ---------------------------------


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("Stop auf Einstand setzen", A.MOVE_SL_TO_ENTRY, None),
        ("Stop auf 2345 nachziehen", A.MOVE_SL, D(2345)),
        ("Ziel 2 erreicht", A.TP_HIT, D(2)),
        ("SL ausgelöst", A.SL_HIT, None),
        ("Schließen Sie die Position", A.CLOSE_ALL, None),
        ("Die Order wurde storniert", A.CANCEL, None),
        ("Déplacez le stop-loss au prix d'entrée", A.MOVE_SL_TO_ENTRY, None),
        ("Déplacez le stop à 1.0820", A.MOVE_SL, D("1.0820")),
        ("Objectif 2 atteint", A.TP_HIT, D(2)),
        ("Fermez la moitié de la position", A.CLOSE_PARTIAL, D(50)),
        ("Portiamo lo stop a pareggio", A.MOVE_SL_TO_ENTRY, None),
        ("Obiettivo 2 raggiunto", A.TP_HIT, D(2)),
        ("Chiudete tutte le posizioni", A.CLOSE_ALL, None),
        ("Przesuń stop loss na 63500", A.MOVE_SL, D(63500)),
        ("Cel 2 osiągnięty", A.TP_HIT, D(2)),
        ("Zamknij połowę pozycji", A.CLOSE_PARTIAL, D(50)),
        ("Переносимо стоп-лосс на точку входу", A.MOVE_SL_TO_ENTRY, None),
        ("Ціль 1 досягнута", A.TP_HIT, D(1)),
        ("Стоп спрацював", A.SL_HIT, None),
        ("ٹارگٹ 1 ہٹ ہو گیا", A.TP_HIT, D(1)),
        ("목표가 1 도달", A.TP_HIT, D(1)),
        ("Alihkan henti rugi ke 2345", A.MOVE_SL, D(2345)),
        ("Fechem 50% da posição", A.CLOSE_PARTIAL, D(50)),
        ("Cerramos el 50% de la posición", A.CLOSE_PARTIAL, D(50)),
        ("Отменяем лимитный ордер", A.CANCEL, None),
    ],
)
def test_more_update_wordings(text: str, action: UpdateAction, value: Decimal | None) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    assert (result.parsed.action, result.parsed.value) == (action, value)
    assert result.confidence >= 0.9, result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "Wir schließen heute früher",  # we close early today
        "Der Flug wurde storniert",  # the flight was cancelled
        "Nous allons fermer le salon ce soir",
        "Chiudiamo per ferie",
        "Zamykamy sklep o 18",
        "Giá vàng hôm nay tăng mạnh, anh em chú ý nhé",
    ],
)
def test_everyday_close_and_cancel_words_are_no_update(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons


# --- other layouts of the same languages ------------------------------------------------

_L, _S = Side.LONG, Side.SHORT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "#BTC Шорт\nТочка входа: 65000-65500\nСтоп-лосс: 66500\n"
            "Тейки: 64000 / 63000 / 62000\nПлечо: x10",
            ("BTC/USDT", _S, D(65000), D(65500), D(66500), (D(64000), D(63000), D(62000))),
        ),
        (
            "Купуємо ETH\nВхід: 3500\nСтоп: 3400\nЦілі: 3600, 3700",
            ("ETH/USDT", _L, D(3500), D(3500), D(3400), (D(3600), D(3700))),
        ),
        (
            "COMPRA BTC/USDT\nEntrada: 65000 - 64500\nStop Loss: 63000\nAlvos: 67000 | 69000",
            ("BTC/USDT", _L, D(64500), D(65000), D(63000), (D(67000), D(69000))),
        ),
        (
            "VENTE GBPUSD\nEntrée : 1,2710\nSL : 1,2760\nTP1 : 1,2660\nTP2 : 1,2610",
            ("GBPUSD", _S, D("1.2710"), D("1.2710"), D("1.2760"), (D("1.2660"), D("1.2610"))),
        ),
        (
            "GOLD KAUFEN\nEinstiegszone: 2345 - 2350\nSL: 2335\nKursziele: 2360 / 2370",
            ("XAUUSD", _L, D(2345), D(2350), D(2335), (D(2360), D(2370))),
        ),
        (
            "SPRZEDAŻ GBPJPY\nWejście: 191,50\nSL: 192,20\nTP1: 190,80\nTP2: 190,10",
            ("GBPJPY", _S, D("191.50"), D("191.50"), D("192.20"), (D("190.80"), D("190.10"))),
        ),
        (
            "BTCUSDT LONG\nGiriş bölgesi: 65000 - 64500\nStop: 63000\nHedefler: 67000 - 69000",
            ("BTC/USDT", _L, D(64500), D(65000), D(63000), (D(67000), D(69000))),
        ),
        (
            "زوج EUR/USD\nبيع من 1.0850\nالهدف الأول 1.0800\nالهدف الثاني 1.0750\n"
            "وقف الخسارة 1.0900",
            ("EURUSD", _S, D("1.0850"), D("1.0850"), D("1.0900"), (D("1.0800"), D("1.0750"))),
        ),
        (
            "#ETH\nپوزیشن شورت\nورود: ۳۵۰۰\nاستاپ: ۳۶۰۰\nتارگت ها: ۳۴۰۰ - ۳۳۰۰\nلوریج: ۲۰x",
            ("ETH/USDT", _S, D(3500), D(3500), D(3600), (D(3400), D(3300))),
        ),
        (
            "EURUSD فروخت\nانٹری 1.0850\nاسٹاپ لاس 1.0900\nٹارگٹ 1.0800 / 1.0750",
            ("EURUSD", _S, D("1.0850"), D("1.0850"), D("1.0900"), (D("1.0800"), D("1.0750"))),
        ),
        (
            "BELI EURUSD\nHarga masuk: 1.0850\nHenti rugi: 1.0800\nAmbil untung: 1.0900 / 1.0950",
            ("EURUSD", _L, D("1.0850"), D("1.0850"), D("1.0800"), (D("1.0900"), D("1.0950"))),
        ),
        (
            "BTC/USDT LONG\nVùng vào lệnh: 65000 - 64500\nDừng lỗ: 63000\n"
            "Mục tiêu: 67000 - 69000\nĐòn bẩy: x10",
            ("BTC/USDT", _L, D(64500), D(65000), D(63000), (D(67000), D(69000))),
        ),
        (
            "Vùng mua: 2345 - 2350\nXAUUSD\nCắt lỗ: 2335\nChốt lời: 2360 - 2370",
            ("XAUUSD", _L, D(2345), D(2350), D(2335), (D(2360), D(2370))),
        ),
        (
            "【BTC/USDT】\n方向：做多\n入场区间：65000-64500\n止损：63000\n止盈：67000/69000\n杠杆：10倍",
            ("BTC/USDT", _L, D(64500), D(65000), D(63000), (D(67000), D(69000))),
        ),
        (
            "ETH 开空 入场价格 3500 止损价 3600 目标价 3300/3200",
            ("ETH/USDT", _S, D(3500), D(3500), D(3600), (D(3300), D(3200))),
        ),
        (
            "ゴールド 買い\nエントリー：2350\n損切り：2340\n利確：2360 / 2370",
            ("XAUUSD", _L, D(2350), D(2350), D(2340), (D(2360), D(2370))),
        ),
        (
            "BTC 롱\n진입: 65000\n손절: 63000\n익절: 67000, 69000\n레버리지: 10배",
            ("BTC/USDT", _L, D(65000), D(65000), D(63000), (D(67000), D(69000))),
        ),
    ],
)
def test_other_layouts(text: str, expected: tuple[object, ...]) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    assert _levels(result.parsed) == expected
    assert result.confidence >= 0.9, result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "XAUUSD abhi becho\nSL 2360\nTP1 2340\nTP2 2330",
        "JUAL XAUUSD sekarang\nSL: 2360\nTP1: 2340\nTP2: 2330",
        "BTC/USDT 做多 市价 止损 63000 止盈 67000",
        "BTC/USDT ชอร์ตราคาตลาด ตัดขาดทุน 67000 ทำกำไร 63000",
    ],
)
def test_market_words(text: str) -> None:
    assert _signal(text).order_type is OrderType.MARKET
