"""Languages added as lexicon data (issue 14): Chinese, Persian, Vietnamese and the others
of goal 0, signals and updates. Examples written for these tests."""

from decimal import Decimal

import pytest

from signalbridge.domain.signals import OrderType, Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse

A = UpdateAction

SIGNALS = [
    # Chinese: no spaces between words
    (
        "BTC/USDT 做多\n入场: 65000-64500\n止损: 63000\n止盈: 67000 / 69000\n杠杆: 10倍",
        ("BTC/USDT", Side.LONG, "64500", "65000", "63000", ["67000", "69000"], 10),
    ),
    (
        "ETH/USDT做空 入场3500 止损3600 止盈3300 3200 杠杆20倍",
        ("ETH/USDT", Side.SHORT, "3500", "3500", "3600", ["3300", "3200"], 20),
    ),
    (
        "黄金 做多 入场价 2350 止损 2340 止盈 2365",
        ("XAUUSD", Side.LONG, "2350", "2350", "2340", ["2365"], None),
    ),
    (
        "#SOL 做多\n入场：150\n止损：140\n目标：160、170\n杠杆：5倍",
        ("SOL/USDT", Side.LONG, "150", "150", "140", ["160", "170"], 5),
    ),
    # Persian labels and Persian digits
    (
        "#BTC/USDT\nپوزیشن لانگ\nنقطه ورود: ۶۵۰۰۰\nحد ضرر: ۶۳۰۰۰\nتارگت: ۶۷۰۰۰ - ۶۹۰۰۰\nاهرم: ۱۰",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000", "69000"], 10),
    ),
    (
        "طلا فروش\nورود: ۲۳۵۰٫۵\nحد ضرر: ۲۳۶۰\nحد سود: ۲۳۴۰",
        ("XAUUSD", Side.SHORT, "2350.5", "2350.5", "2360", ["2340"], None),
    ),
    (
        "رمزارز FORM\nبا لوریج 2 در نقاط 0.8571 و 0.816 پوزیشن لانگ باز کنید\n"
        "🎯تارگت: 0.9073 - 0.9844\n❌استاپ: 0.7572",
        ("FORM/USDT", Side.LONG, "0.816", "0.8571", "0.7572", ["0.9073", "0.9844"], 2),
    ),
    # Vietnamese labels
    (
        "BTC/USDT Mua\nVào lệnh: 65000\nCắt lỗ: 63000\nChốt lời: 67000 - 69000\nĐòn bẩy: 10x",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000", "69000"], 10),
    ),
    (
        "Vàng Bán\nĐiểm vào: 2350\nDừng lỗ: 2360\nMục tiêu: 2340",
        ("XAUUSD", Side.SHORT, "2350", "2350", "2360", ["2340"], None),
    ),
    # Japanese, Korean
    (
        "BTC/USDT ロング\nエントリー: 65000\n損切り: 63000\n利確: 67000\nレバレッジ: 10倍",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000"], 10),
    ),
    (
        "BTC/USDT 롱\n진입가: 65000\n손절가: 63000\n목표가: 67000\n레버리지: 10배",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000"], 10),
    ),
    # Ukrainian, French, German, Italian, Polish
    (
        "BTC/USDT ЛОНГ\nВхід: 65000\nСтоп: 63000\nЦіль: 67000\nПлече: 10x",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000"], 10),
    ),
    (
        "EURUSD ACHAT\nEntrée: 1.0850\nStop loss: 1.0800\nObjectif: 1.0950\nLevier: 20x",
        ("EURUSD", Side.LONG, "1.085", "1.085", "1.08", ["1.095"], 20),
    ),
    (
        "EURUSD VERKAUFEN\nEinstieg: 1.0850\nStop Loss: 1.0900\nZiel: 1.0800\nHebel: 10x",
        ("EURUSD", Side.SHORT, "1.085", "1.085", "1.09", ["1.08"], 10),
    ),
    (
        "ORO VENDITA\nIngresso: 2350\nStop loss: 2360\nObiettivo: 2340\nLeva: 10x",
        ("XAUUSD", Side.SHORT, "2350", "2350", "2360", ["2340"], 10),
    ),
    (
        "BTC/USDT KUPNO\nWejście: 65000\nStop loss: 63000\nCel: 67000\nDźwignia: 10x",
        ("BTC/USDT", Side.LONG, "65000", "65000", "63000", ["67000"], 10),
    ),
    # Urdu, romanised Hindi, Malay (Thai: test_parse_lang_scripts.py)
    (
        "گولڈ خریدیں\nانٹری: 2350\nاسٹاپ لاس: 2340\nٹارگٹ: 2365",
        ("XAUUSD", Side.LONG, "2350", "2350", "2340", ["2365"], None),
    ),
    (
        "GOLD kharido\nentry 2350\nstoploss 2340\ntarget 2365",
        ("XAUUSD", Side.LONG, "2350", "2350", "2340", ["2365"], None),
    ),
    (
        "EMAS beli\nmasuk: 2350\nhenti rugi: 2340\nambil untung: 2365",
        ("XAUUSD", Side.LONG, "2350", "2350", "2340", ["2365"], None),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SIGNALS)
def test_signals_in_more_languages(
    text: str,
    expected: tuple[str, Side, str, str, str, list[str], int | None],
) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    sig = result.parsed
    symbol, side, low, high, sl, tps, lev = expected
    assert (sig.symbol, sig.side) == (symbol, side)
    assert sig.entry is not None
    assert (sig.entry.low, sig.entry.high) == (Decimal(low), Decimal(high))
    assert sig.stop_loss == Decimal(sl)
    assert list(sig.take_profits) == [Decimal(t) for t in tps]
    assert sig.leverage == lev
    assert sig.order_type is OrderType.LIMIT


@pytest.mark.parametrize(
    "text",
    [
        "BTC/USDT 做多 市价 止损 63000 止盈 67000",
        "BTC/USDT Mua giá hiện tại\nCắt lỗ: 63000\nChốt lời: 67000",
        "BTC/USDT خرید قیمت فعلی\nحد ضرر: 63000\nتارگت: 67000",
    ],
)
def test_market_words_in_more_languages(text: str) -> None:
    result = parse(text)
    assert isinstance(result.parsed, Signal), (result.kind, result.reasons)
    assert result.parsed.order_type is OrderType.MARKET


UPDATES = [
    # Chinese
    ("止损移至成本价", A.MOVE_SL_TO_ENTRY, None),
    ("止损移到开仓价", A.MOVE_SL_TO_ENTRY, None),
    ("止损调整至 64500", A.MOVE_SL, Decimal(64500)),
    ("止盈1已达到 ✅", A.TP_HIT, Decimal(1)),
    ("目标2达成", A.TP_HIT, Decimal(2)),
    ("止损已触发", A.SL_HIT, None),
    ("全部平仓", A.CLOSE_ALL, None),
    ("平仓50%", A.CLOSE_PARTIAL, Decimal(50)),
    ("平一半仓位", A.CLOSE_PARTIAL, Decimal(50)),
    ("取消挂单", A.CANCEL, None),
    # Indonesian
    ("Pindahkan SL ke entry", A.MOVE_SL_TO_ENTRY, None),
    ("Geser SL ke 2345", A.MOVE_SL, Decimal(2345)),
    ("TP1 tercapai ✅", A.TP_HIT, Decimal(1)),
    ("Kena SL", A.SL_HIT, None),
    ("Tutup semua posisi", A.CLOSE_ALL, None),
    ("Tutup 50% posisi", A.CLOSE_PARTIAL, Decimal(50)),
    ("Batalkan order limit", A.CANCEL, None),
    # Vietnamese
    ("Dời SL về entry", A.MOVE_SL_TO_ENTRY, None),
    ("Dời SL lên 2345", A.MOVE_SL, Decimal(2345)),
    ("Chạm TP1 ✅", A.TP_HIT, Decimal(1)),
    ("Dính SL", A.SL_HIT, None),
    ("Đóng lệnh", A.CLOSE_ALL, None),
    ("Chốt 50% lệnh", A.CLOSE_PARTIAL, Decimal(50)),
    ("Hủy lệnh chờ", A.CANCEL, None),
    # Persian
    ("استاپ را به نقطه ورود منتقل کنید", A.MOVE_SL_TO_ENTRY, None),
    ("استاپ را به ۲۳۴۵ منتقل کنید", A.MOVE_SL, Decimal(2345)),
    ("تارگت ۱ تاچ شد ✅", A.TP_HIT, Decimal(1)),
    ("استاپ خورد", A.SL_HIT, None),
    ("پوزیشن را ببندید", A.CLOSE_ALL, None),
    ("۵۰٪ پوزیشن را ببندید", A.CLOSE_PARTIAL, Decimal(50)),
    ("سفارش لغو شد", A.CANCEL, None),
]


@pytest.mark.parametrize(("text", "action", "value"), UPDATES)
def test_updates_in_more_languages(text: str, action: UpdateAction, value: Decimal | None) -> None:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (text, result.kind, result.reasons)
    assert (result.parsed.action, result.parsed.value) == (action, value)


@pytest.mark.parametrize(
    "text",
    [
        "今天市场波动很大，大家注意风险",  # Chinese chatter: the market is volatile today
        "更多信息请关注我们的频道",  # "more information": 多 inside a word is no side
        "Chúc cả nhà một ngày tốt lành",  # Vietnamese greeting
        "Semoga harimu menyenangkan",  # Indonesian greeting
    ],
)
def test_chatter_in_these_languages_is_noise(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise", result.reasons
