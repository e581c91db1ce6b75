"""Updates: sure when every word is explained, unsure when a word contradicts or is left
over, and never a new signal when a call stands above the instruction.

Examples written for these tests (none is a corpus row).
"""

import re
from decimal import Decimal

import pytest

from signalbridge.domain.signals import Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse
from signalbridge.parsing.lexer import lex
from signalbridge.parsing.lexicon import default_lexicon
from signalbridge.parsing.update_evidence import NEGATED, leftovers, value_doubt

A = UpdateAction


def update(text: str) -> tuple[SignalUpdate, float]:
    result = parse(text)
    assert isinstance(result.parsed, SignalUpdate), (result.kind, result.reasons)
    return result.parsed, result.confidence


# -- a negated instruction is no instruction ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Don't move the SL to entry yet",
        "do not close the gold trade",
        "No need to close, we hold",
        "Never cancel the buy limit before London",
        "We won't move SL to breakeven on this one",
        "Не закрываем, держим",
        "No cierren todavía",
        "Jangan tutup posisi dulu",
        "Đừng đóng lệnh vội",
        "不要平仓，继续持有",
        "پوزیشن را نبندید",
        # a target not reached is no hit report
        "TP2 not hit yet, hold",
        "TP3 kenapa belum kena",
        "止盈2还没到达",
        "TP1 chưa chạm",
    ],
)
def test_a_negated_instruction_is_no_instruction(text: str) -> None:
    result = parse(text)
    assert result.kind == "noise" or result.confidence < 0.5, (result.kind, result.reasons)


def test_a_limit_not_triggered_is_a_cancel_not_a_negation() -> None:
    parsed, confidence = update("Our buy limit was not triggered, cancel it")
    assert parsed.action is A.CANCEL
    assert confidence >= 0.9


def test_a_hit_word_is_read_whole() -> None:
    assert update("TP2 kena ✅")[0].value == Decimal(2)
    assert parse("TP2 kenapa lama").kind == "noise"  # "kenapa" (why) is not "kena" (hit)


def test_price_close_to_a_target_is_no_close() -> None:
    assert parse("Close to TP1 now guys").kind == "noise"


def test_dont_forget_to_is_still_the_instruction() -> None:
    parsed, confidence = update("Don't forget to move SL to entry")
    assert parsed.action is A.MOVE_SL_TO_ENTRY
    assert confidence >= 0.9


# -- words left over in a script the tables read in part ----------------------------


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("止损移至成本价", A.MOVE_SL_TO_ENTRY, None),
        ("全部平仓", A.CLOSE_ALL, None),
        ("止盈2已达到", A.TP_HIT, Decimal(2)),
        ("平仓一半", A.CLOSE_PARTIAL, Decimal(50)),
        ("Đóng hết lệnh này nhé", A.CLOSE_ALL, None),
        ("Dời SL về giá vào nha anh em", A.MOVE_SL_TO_ENTRY, None),
        ("Dịch sl lên 2391 cả nhà", A.MOVE_SL, Decimal(2391)),
        ("Hủy lệnh chờ nhé", A.CANCEL, None),
        ("TP1 đã chạm", A.TP_HIT, Decimal(1)),
    ],
)
def test_an_update_with_every_word_explained_is_sure(
    text: str, action: UpdateAction, value: Decimal | None
) -> None:
    parsed, confidence = update(text)
    assert (parsed.action, parsed.value) == (action, value)
    assert confidence >= 0.9


@pytest.mark.parametrize(
    "text",
    [
        "Đóng lệnh này khi giá hồi",  # "when the price pulls back": a condition in words
        "止损移至成本价如果明天不涨",  # the same, with a condition
        "Chốt kèo sell lướt thôi",  # "lướt": the trade it means is not read
    ],
)
def test_an_update_with_words_left_over_stays_below_the_threshold(text: str) -> None:
    result = parse(text)
    assert result.confidence < 0.9, (result.kind, result.reasons)


def test_leftovers_counts_only_unexplained_words() -> None:
    lexicon = default_lexicon()
    assert leftovers(lex("Close all trades now please", lexicon)) == 0
    assert leftovers(lex("Close all trades now unless London opens", lexicon)) == 3


# -- a price that cannot be checked --------------------------------------------------


def test_an_abbreviated_price_without_an_instrument_is_not_sure() -> None:
    parsed, confidence = update("Move SL to 17")
    assert (parsed.action, parsed.value) == (A.MOVE_SL, Decimal(17))
    assert confidence < 0.9


def test_a_price_implausible_for_the_instrument_is_doubted() -> None:
    _, confidence = update("XAUUSD move SL to 23")
    assert confidence < 0.5
    assert value_doubt(A.MOVE_SL, Decimal("1.0850"), "EURUSD") is None
    assert value_doubt(A.CLOSE_ALL, None, None) is None


# -- a stop moved to no price: an update a human completes ---------------------------


@pytest.mark.parametrize(
    "text",
    ["Move your stop loss higher", "Trail the SL behind price", "dời sl lên 10 giá nhé"],
)
def test_a_stop_moved_to_no_price_is_an_unsure_move(text: str) -> None:
    parsed, confidence = update(text)
    assert (parsed.action, parsed.value) == (A.MOVE_SL, None)
    assert confidence < 0.9


# -- target changes in the languages added as data: the new price, not the index ----


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("止盈3改为2415", Decimal(2415)),
        ("目标2 调整至 0.6120", Decimal("0.612")),
        ("TP3 diubah ke 2415", Decimal(2415)),
        ("Ganti TP 2 ke 1.2780", Decimal("1.278")),
        ("Đổi TP3 thành 2415", Decimal(2415)),
        ("تارگت ۳ را به ۲۴۱۵ تغییر دهید", Decimal(2415)),
    ],
)
def test_a_target_change_in_more_languages_carries_the_new_price(text: str, value: Decimal) -> None:
    parsed, _ = update(text)
    assert (parsed.action, parsed.value) == (A.MODIFY_TP, value)


# -- updates in Chinese, Indonesian, Vietnamese and Persian -------------------------


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("止盈1已触及", A.TP_HIT, Decimal(1)),
        ("取消挂单", A.CANCEL, None),
        ("TP3 sudah tercapai", A.TP_HIT, Decimal(3)),
        ("Batalkan order limit GBPUSD", A.CANCEL, None),
        ("Tutup setengah posisi sekarang", A.CLOSE_PARTIAL, Decimal(50)),
        ("Lệnh limit vàng xoá nhé", A.CANCEL, None),
        ("chốt buy trước tin", A.CLOSE_ALL, None),
        ("تارگت ۱ تاچ شد", A.TP_HIT, Decimal(1)),
        ("سفارش لیمیت طلا را لغو کنید", A.CANCEL, None),
    ],
)
def test_updates_in_more_languages(text: str, action: UpdateAction, value: Decimal | None) -> None:
    parsed, _ = update(text)
    assert (parsed.action, parsed.value) == (action, value)


# -- a close first, then the opposite call ------------------------------------------


def test_a_close_above_the_opposite_call_is_the_close_and_not_sure() -> None:
    parsed, confidence = update("Close the sell now\nBUY GOLD 2350\nSL 2340\nTP 2370")
    assert parsed.action is A.CLOSE_ALL
    assert confidence < 0.9


def test_two_opposite_pending_orders_stay_a_signal() -> None:
    text = "Sell limit EURUSD 1.0950 sl 1.0980\nBuy limit EURUSD 1.0850 sl 1.0820\ncancel the other"
    assert parse(text).kind == "signal"


# -- a call above "Move SL to ... now" is the quoted signal, never a new one ----------


@pytest.mark.parametrize(
    ("text", "action", "value"),
    [
        ("EURJPY BUY 161.20\nSL 160.70\nTP 162.20\n\nMove SL to 161.20 now", A.MOVE_SL, "161.2"),
        ("| NZDUSD SELL 0.6120 SL 0.6150 TP 0.6060\nMove SL to 0.6100 now", A.MOVE_SL, "0.61"),
        (
            "ETHUSDT LONG\nEntry 3150\nSL 3090\nTP 3300\n\nMove stop to entry now",
            A.MOVE_SL_TO_ENTRY,
            None,
        ),
        ("US30 SELL NOW 39200\nSL 39350\nTP 38900\n\nClose it now", A.CLOSE_ALL, None),
        ('"SOLUSDT LONG 145 SL 139 TP 160"\nUpdate: move SL to 147 now', A.MOVE_SL, "147"),
    ],
)
def test_a_call_above_an_instruction_is_an_update(
    text: str, action: UpdateAction, value: str | None
) -> None:
    result = parse(text)
    assert not isinstance(result.parsed, Signal), result.reasons
    parsed, confidence = update(text)
    assert parsed.action is action
    assert parsed.value == (None if value is None else Decimal(value))
    assert parsed.symbol is not None
    assert confidence < 0.9


@pytest.mark.parametrize(
    "text",
    [
        "BUY GBPUSD 1.2650\nSL 1.2600\nTP 1.2750\nMove SL to entry after TP1",
        "SELL GOLD 2380\nSL 2390\nTP 2360\nMove SL to breakeven at +30 pips",
        "LONG BTCUSDT 64000\nSL 63000\nTP 66000\nClose half at TP1",
        "BUY EURUSD 1.0850\nSL 1.0820\nTP 1.0900\nmove SL to BE once TP1 is hit",
    ],
)
def test_a_conditional_plan_under_a_call_keeps_the_signal(text: str) -> None:
    assert isinstance(parse(text).parsed, Signal)


def test_a_reply_header_with_its_preview_keeps_the_instruction() -> None:
    parsed, _ = update("Replying to AUDUSD BUY NOW 0.6650:\nMove SL to 0.6650 now")
    assert (parsed.action, parsed.value, parsed.symbol) == (A.MOVE_SL, Decimal("0.665"), "AUDUSD")


# -- analysis prose with a symbol and a number is noise ------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ETH funding flipped negative (-0.012%), shorts are paying longs",
        "SOL long/short ratio at 2.1 on Bybit, crowded longs",
        "BTCUSDT funding at 0.0345 - longs overheated, careful",
        "Gold/silver ratio at 82.5, silver looks cheap",
        "BTC dominance at 54.3%, alts bleeding",
    ],
)
def test_analysis_of_a_statistic_is_noise(text: str) -> None:
    assert parse(text).kind == "noise"


@pytest.mark.parametrize(
    "text",
    [
        "US30 | Bullish Setup\n\nBuy above 39450\nTarget 39600",
        "EURUSD idea: sell below 1.0800, target 1.0740",
    ],
)
def test_a_setup_that_waits_for_a_break_without_a_stop_is_not_a_call(text: str) -> None:
    result = parse(text)
    assert result.kind != "signal" or result.confidence < 0.5, result.reasons


def test_a_limit_entry_below_the_price_stays_a_call() -> None:
    result = parse("#LINKUSDT\nLONG below: 13.20\nTAKE PROFIT: 13.80 | 14.40")
    assert isinstance(result.parsed, Signal)


@pytest.mark.parametrize(
    "text",
    [
        "BUY AUDUSD @ 0.6650\nTP 0.6700\nSL: TBA",
        "Sell gold 2350\nTP 2330\nStop loss will be shared later",
        "LONG SOLUSDT 145\nTP 152\nSL ???",
    ],
)
def test_a_stop_announced_as_missing_is_an_incomplete_call(text: str) -> None:
    assert parse(text).confidence < 0.5


@pytest.mark.parametrize("text", ["Close 1/2 position now", "Chốt 1/2 lệnh", "Tutup 1/2 posisi"])
def test_a_half_written_as_a_fraction(text: str) -> None:
    parsed, _ = update(text)
    assert (parsed.action, parsed.value) == (A.CLOSE_PARTIAL, Decimal(50))


# The former spelling of NEGATED (one alternation behind groups): the literal-first form
# must find the same matches
_NEGATED_FORMER = re.compile(
    r"(?:don['’]?t|do\s+not|does\s+not|doesn['’]?t|never|no\s+need\s+to|not\s+yet"
    r"|won['’]?t|will\s+not|not\s+going\s+to|cannot|can['’]t|shouldn['’]?t|should\s+not"
    r"|avoid)"
    r"\s+(?!forget|hesitate|miss)(?:[^\W\d]+\s+){0,2}?(?:clos\w*|exit\w*|mov\w*|cancel\w*"
    r"|delet\w*|remov\w*|book\w*|tak\w*|secur\w*|set|shift\w*|chang\w*|modif\w*|adjust\w*"
    r"|trail\w*|touch\w*|hit|cut\w*)\b"
    r"|не\s+(?:\w+\s+)?(?:закр|двига|перенос|трога|отмен)\w*"
    r"|no\s+(?:cierr|cerr|muev|mover|cancel)\w*|não\s+(?:fech|mov|cancel)\w*"
    r"|(?:kapat|taşı|iptal\s+et)ma(?:y\w*|z\w*|\b)"
    r"|(?:jangan|tidak\s+perlu)\s+(?:\w+\s+)?(?:tutup|pindah|geser|batal|close|cut|cl)\w*"
    r"|(?:đừng|không\s+cần|chưa\s+cần)\s+(?:\w+\s+)?(?:đóng|chốt|dời|dịch|hủy|huỷ|cắt)"
    r"|không\s+(?:đóng|chốt|dời|dịch|hủy|huỷ|cắt)"
    r"|(?:不要|别|不用|暂不|先不|无需|不必)\s*\S{0,3}?\s*(?:平|移|取消|撤|调)"
    r"|نبند\w*|نکنید|نکن\b|لا\s+(?:تغلق|تحرك|تنقل|تلغ)\w*"
    r"|(?:not|never|didn['’]?t|did\s+not|hasn['’]?t|has\s+not|haven['’]?t|yet\s+to)\s+"
    r"(?:yet\s+)?(?:been\s+)?(?:hit|reach\w*|touch\w*|achiev\w*)"
    r"|belum\s+(?:\w+\s+)?(?:kena|tercapai|tersentuh|hit)|chưa\s+(?:\w+\s+)?(?:chạm|đạt|hit|tới)"
    r"|(?:还没|尚未|未|没有|没)\s*\S{0,2}?\s*(?:触及|达到|到达|达成|触发|打到)|نخورده|نرسیده"
)


@pytest.mark.parametrize(
    "text",
    [
        "don't move the sl to entry yet",
        "dont close",
        "we do not close the gold trade",
        "never cancel the buy limit",
        "we won’t move sl to breakeven",
        "you shouldn't take profit here",
        "tp2 not hit yet, hold",
        "tp1 hasn't been reached",
        "we haven’t touched the target",
        "не закрываем, держим",
        "no cierren todavía",
        "pozisyonu kapatmayın",
        "jangan tutup posisi dulu",
        "đừng đóng lệnh vội",
        "không đóng lệnh",
        "不要 平仓",
        "止盈 2 还没 到达",
        "پوزیشن را نبندید",
        "close half now",
        "don't forget to move sl to entry",
        "move sl to 1.0850 and never look back",
    ],
)
def test_negated_keeps_its_former_matches(text: str) -> None:
    new, old = NEGATED.search(text), _NEGATED_FORMER.search(text)
    assert (new and new.span()) == (old and old.span())
