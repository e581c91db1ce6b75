"""Keyword tables: what each word means to a trader, in every supported language.

Languages: English, Russian, Spanish, Portuguese, Turkish, Arabic (plus the Persian and
Indonesian words real channels mix in) in the tables below, and every language of
:data:`LANGUAGES` (Chinese, Japanese, Korean, Persian, Vietnamese, Ukrainian, French,
German, Italian, Polish, Urdu, romanised Hindi, Thai, Malay and Indonesian), one entry
each (and a few more Arabic words).
A channel template can extend a copy of the table with its own words, so the same rules
read that channel's dialect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from typing import Any, Final

from signalbridge.parsing.text import lower
from signalbridge.parsing.thai import fold


class Cat(IntEnum):
    LONG = 1
    SHORT = 2
    WLONG = 3  # weak long: "bullish", Turkish "al"
    WSHORT = 4
    ENTRY = 5
    SL = 6
    TP = 7
    LEV = 8
    MARKET = 9
    PENDING = 10  # "limit" / "stop" order wording after a side word
    AT = 11  # "@", "at", "around": a price follows
    JOIN = 12  # zone joiner: "-", "to", "and"
    STOPWORD = 13  # ends a field: "risk", "lot", "dca"
    TPCONT = 14  # "short term:" inside a target list
    SPOT = 15
    OPEN = 16  # "TP: open"
    SKIP = 17  # words that look like side words but are not: "short term"
    METRIC = 18  # a market statistic ("funding", "ratio"): the number after it is no price


_WORDS: Final[dict[Cat, str]] = {
    Cat.LONG: """buy long longs buying bought longing compra comprar compramos compre comprando
        купить покупка покупаем покупай лонг лонга лонгуем лонги long'a alış alis alım alim
        شراء اشتر خرید لانگ beli""",
    Cat.SHORT: """sell short shorts selling sold shorting venta vender vendemos vende venda
        vendendo продать продажа продаем продаём продавай шорт шорта шортим шорты satış satis
        بيع بع فروش شورت jual""",
    Cat.WLONG: "bullish al alin alın бычий рост роста росту alcista altista yükseliş",
    Cat.WSHORT: """bearish sat медвежий снижение снижения снижению падение падения bajista
        baixista düşüş""",
    Cat.ENTRY: """entry entries entry's enter entering entrada entradas entrar вход входа входим
        giriş giris giriş: دخول الدخول ورود ent open_price entry_price buyzone buy_zone
        masuk""",
    Cat.SL: """sl stoploss stopls stoplos stop s/l стоп стоп-лосс стоплосс сл stopu zarar
        وقف ستاپ استاپ sll stp stl invalidation invalid invalidated""",
    Cat.TP: """tp tps target targets take_profit takeprofit profit_target objetivo objetivos
        alvo alvos тейк тейки тейков цель цели тп тейкпрофит hedef hedefler hedef1 هدف
        الهدف أهداف اهداف تارگت تی‌پی tgt tgts tg targeting targetting""",
    Cat.LEV: "leverage lev leveraged плечо плечом apalancamiento alavancagem kaldıraç kaldirac "
    "الرافعة رافعة اهرم cross isolated margin_mode",
    Cat.MARKET: """now cmp market immediately instant ahora agora сейчас şimdi simdi الآن
        الان فوری sekarang""",
    Cat.AT: "@ at around near from price prices zone di по em en a_partir",
    Cat.JOIN: "- – / ~ & to and till until __ _ y e и до ile و ta تا",
    Cat.STOPWORD: """risk rr rrr reward lot lots volume invest investment capital margin
        balance period time timeframe spread bid ask previous dca ote ideal pips pip points
        wallet size id risco riesgo риск объем объём услов duration exchange exchanges
        trailing trigger activation profit chart""",
    Cat.SPOT: "spot",
    Cat.METRIC: """funding ratio dominance rsi macd liquidations liquidation apr apy yield
        volatility basis fundings фандинг фандингу фандинга доминация доминирование
        financiación financiamento fonlama""",
    Cat.OPEN: "open abierto aberto открыт açık",
}

_PHRASES: Final[dict[Cat, list[str]]] = {
    Cat.SL: [
        "stop loss",
        "stop - loss",
        "stop los",
        "s l",
        "stop lose",
        "stol loss",
        "stop out",
        "stop zone",
        "stop targets",
        "stop target",
        "s / l",
        "zarar durdur",
        "stop perdida",
        "stop pérdida",
        "stop de perdida",
        "stop de pérdida",
        "limite de perdida",
        "stop de perda",
        "حد ضرر",
        "وقف الخسارة",
        "وقف خسارة",
        "стоп лосс",
        "стоп - лосс",
    ],
    Cat.TP: [
        "take profit",
        "take - profit",
        "take profits",
        "take - profit - targets",
        "take profit targets",
        "profit target",
        "profit targets",
        "toma de ganancias",
        "tomar ganancias",
        "tomar lucro",
        "kar al",
        "kâr al",
        "тейк профит",
        "тейк - профит",
        "جني الأرباح",
        "جني الارباح",
        "sell targets",
        "sell target",
        "targets zone",
        "close targets",
        "t p",
        "t / p",
        "looking for",
        "look for",
        "aiming for",
        "aim for",
    ],
    Cat.ENTRY: [
        "entry zone",
        "entry price",
        "entry point",
        "entry targets",
        "entry target",
        "entry range",
        "enter above",
        "enter below",
        "buy zone",
        "buy between",
        "buy around",
        "buy range",
        "sell around",
        "sell between",
        "sell range",
        "entry area",
        "open price",
        "точка входа",
        "диапазон входа",
        "zona de entrada",
        "punto de entrada",
        "ponto de entrada",
        "giriş bölgesi",
        "giris bolgesi",
        "نقطة الدخول",
        "منطقة الدخول",
        "در نقطه",
        "price we entered at",
    ],
    Cat.MARKET: [
        "market price",
        "current price",
        "at market",
        "market execution",
        "market order",
        "текущей цене",
        "по рынку",
        "precio actual",
        "a mercado",
        "preço atual",
        "a mercado",
        "piyasa fiyatı",
        "سعر السوق",
    ],
    Cat.OPEN: ["trailing stop", "leave open", "open target"],
    Cat.SKIP: [
        "short term",
        "long term",
        "mid term",
        "medium term",
        "short - term",
        "long - term",
        "mid - term",
        "sell - off",
        "buy - in",
    ],
    Cat.STOPWORD: [
        "expected profit",
        "stop: breakeven",
        "current price",
        "risk reward",
        "previous low",
        "previous high",
    ],
    Cat.LEV: ["cross margin", "isolated margin", "кредитное плечо"],
    Cat.METRIC: ["open interest", "funding rate", "long / short ratio", "fear and greed"],
}


# Languages added as data. A new language is one more entry here (and its tests): its
# side words, labels, leverage, market and order words. A phrase is written with its
# spaces; Chinese and Japanese words are written whole (the CJK segmenter splits a run
# of those scripts on the words of this table).
LANGUAGES: Final[dict[str, dict[Cat, tuple[str, ...]]]] = {
    "zh": {
        Cat.LONG: ("做多", "开多", "多单", "买入", "买进", "做多单", "開多", "買入"),
        Cat.SHORT: ("做空", "开空", "空单", "卖出", "卖空", "做空单", "開空", "賣出"),
        Cat.WLONG: ("看多", "看涨", "看漲"),
        Cat.WSHORT: ("看空", "看跌"),
        Cat.ENTRY: (
            *("入场", "入场价", "进场", "进场价", "开仓价", "入场区间", "入場", "進場"),
            *("入场价格", "进场价格", "开仓价格", "入场位", "进场位", "入场点", "入场区域"),
        ),
        Cat.SL: ("止损", "止损价", "止損", "止蝕", "止损位", "止损价格", "止损点"),
        Cat.TP: (
            *("止盈", "止盈价", "止盈位", "目标", "目标价", "目標", "目标位", "止盈目标"),
            *("止盈价格", "目标价格", "止盈点"),
        ),
        Cat.LEV: ("杠杆", "槓桿", "倍数"),
        Cat.MARKET: ("市价", "现价", "市價", "現價", "立即"),
        Cat.PENDING: ("限价", "挂单", "限價", "掛單"),
        Cat.JOIN: ("至", "到"),
    },
    "ja": {
        Cat.LONG: ("ロング", "買い"),
        Cat.SHORT: ("ショート", "売り"),
        Cat.ENTRY: ("エントリー", "エントリー価格"),
        Cat.SL: ("損切り", "損切", "ストップロス", "損切りライン"),
        Cat.TP: ("利確", "利益確定", "利確目標", "ターゲット"),
        Cat.LEV: ("レバレッジ",),
        Cat.MARKET: ("成行",),
        Cat.PENDING: ("指値",),
    },
    "ko": {
        Cat.LONG: ("롱", "매수"),
        Cat.SHORT: ("숏", "매도"),
        Cat.ENTRY: ("진입", "진입가", "진입가격"),
        Cat.SL: ("손절", "손절가"),
        Cat.TP: ("익절", "익절가", "목표", "목표가"),
        Cat.LEV: ("레버리지",),
        Cat.MARKET: ("시장가", "현재가"),
        Cat.PENDING: ("지정가",),
    },
    "fa": {
        Cat.LONG: ("خرید", "لانگ"),
        Cat.SHORT: ("فروش", "شورت"),
        Cat.ENTRY: ("ورود", "نقطه ورود", "نقاط ورود", "در نقاط", "قیمت ورود", "نقطه‌ی ورود"),
        Cat.SL: ("حد ضرر", "حدضرر", "استاپ", "استاپ لاس", "استاپ‌لاس"),
        Cat.TP: ("حد سود", "حدسود", "تارگت", "تارگت ها", "تارگت‌ها", "اهداف", "هدف"),
        Cat.LEV: ("اهرم", "لوریج", "لورج", "لوریج‌"),
        Cat.MARKET: ("قیمت فعلی", "قیمت لحظه ای", "مارکت"),
    },
    "vi": {
        Cat.LONG: ("mua",),
        Cat.SHORT: ("bán",),
        Cat.ENTRY: ("vào lệnh", "điểm vào", "giá vào", "vùng vào", "vùng giá vào", "vùng"),
        Cat.AT: ("tại", "giá"),
        Cat.SL: ("cắt lỗ", "dừng lỗ"),
        Cat.TP: ("chốt lời", "chốt lãi", "mục tiêu"),
        Cat.LEV: ("đòn bẩy",),
        Cat.MARKET: ("giá hiện tại", "giá thị trường", "ngay", "ngay lập tức"),
    },
    "uk": {
        Cat.LONG: ("купівля", "купити", "купуємо"),
        Cat.SHORT: ("продаж", "продати", "продаємо"),
        Cat.ENTRY: ("вхід", "входу"),
        Cat.TP: ("ціль", "цілі"),
        Cat.LEV: ("плече", "плечем"),
        Cat.MARKET: ("зараз", "по ринку"),
    },
    "fr": {
        Cat.LONG: ("achat", "acheter", "achète", "achetez"),
        Cat.SHORT: ("vente", "vendre", "vendez"),
        Cat.ENTRY: ("entrée", "entree", "point d ' entrée"),
        Cat.TP: ("objectif", "objectifs", "cible", "cibles"),
        Cat.LEV: ("levier",),
        Cat.MARKET: ("prix actuel", "au marché", "maintenant"),
    },
    "de": {
        Cat.LONG: ("kaufen", "kauf", "kaufe"),
        Cat.SHORT: ("verkaufen", "verkauf", "verkaufe"),
        Cat.ENTRY: ("einstieg", "einstiegspreis", "einstiegszone"),
        Cat.TP: ("ziel", "ziele", "kursziel", "kursziele"),
        Cat.LEV: ("hebel",),
        Cat.MARKET: ("jetzt", "sofort", "marktpreis"),
    },
    "it": {
        Cat.LONG: ("acquisto", "acquista"),
        Cat.SHORT: ("vendita", "vendi"),
        Cat.ENTRY: ("ingresso", "entrata"),
        Cat.TP: ("obiettivo", "obiettivi"),
        Cat.LEV: ("leva",),
        Cat.MARKET: ("adesso", "subito", "prezzo attuale"),
    },
    "pl": {
        Cat.LONG: ("kupno", "kup", "kupuj", "kupujemy"),
        Cat.SHORT: ("sprzedaż", "sprzedaz", "sprzedaj", "sprzedajemy"),
        Cat.ENTRY: ("wejście", "wejscie"),
        Cat.TP: ("cel", "cele"),
        Cat.LEV: ("dźwignia", "dzwignia"),
        Cat.MARKET: ("teraz", "po cenie rynkowej"),
    },
    "ur": {
        Cat.LONG: ("خریدیں", "خریدو"),
        Cat.SHORT: ("فروخت", "بیچیں", "بیچو"),
        Cat.ENTRY: ("انٹری",),
        Cat.SL: ("اسٹاپ لاس", "سٹاپ لاس", "اسٹاپ"),
        Cat.TP: ("ٹارگٹ", "ٹیک پرافٹ"),
        Cat.LEV: ("لیوریج",),
        Cat.MARKET: ("ابھی",),
    },
    "hi-latn": {
        Cat.LONG: ("kharido", "kharidein", "kharid", "khareedo", "kharidna"),
        Cat.SHORT: ("becho", "bechein", "bech", "bechna"),
        Cat.MARKET: ("abhi",),
    },
    "th": {
        # written with their marks; stored folded (thai.fold), as the segmenter reads them
        Cat.LONG: ("ซื้อ", "เปิดลอง", "เปิดลองที่", "ซื้อที่", "เข้าซื้อ"),
        Cat.SHORT: ("ขาย", "ชอร์ต", "ช็อต", "เปิดชอร์ต", "เปิดช็อต", "เปิดชอร์ตที่", "ขายที่"),
        Cat.SKIP: ("ซื้อขาย", "การซื้อขาย", "นักลงทุน"),  # "trading", "investor"
        Cat.ENTRY: ("จุดเข้า", "ราคาเข้า", "จุดเข้าซื้อ", "โซนเข้า", "เข้าที่", "จุดเข้าเทรด"),
        Cat.SL: ("ตัดขาดทุน", "จุดตัดขาดทุน", "หยุดขาดทุน", "คัทลอส", "จุดคัท"),
        Cat.TP: ("ทำกำไร", "จุดทำกำไร", "เป้าหมาย", "เป้า", "เป้ากำไร", "เทคโปรฟิต"),
        Cat.LEV: ("เลเวอเรจ", "เลเวอเรท", "เลฟเวอเรจ"),
        Cat.MARKET: ("ราคาตลาด", "ทันที", "ตอนนี้", "ราคาปัจจุบัน"),
        Cat.PENDING: ("ลิมิต", "รอเข้า"),
        Cat.JOIN: ("ถึง",),
    },
    "ar": {
        Cat.SL: ("الستوب", "ستوب", "ستوب لوس", "إيقاف الخسارة", "ايقاف الخسارة"),
        Cat.TP: ("الأهداف", "الاهداف", "تيك بروفيت", "جني الربح"),
        Cat.AT: ("من", "بين", "عند"),  # "من 1.0850 إلى 1.0870": from ... to
        Cat.JOIN: ("إلى", "الى"),
    },
    "ms-id": {
        Cat.ENTRY: ("harga masuk", "kemasukan"),
        Cat.SL: ("henti rugi", "hentikan kerugian", "batas rugi"),
        Cat.TP: ("ambil untung", "ambil keuntungan", "sasaran", "ambil profit"),
        Cat.LEV: ("leveraj",),
        Cat.MARKET: ("harga semasa", "harga pasar"),
    },
}


@dataclass(frozen=True)
class Lexicon:
    """Word -> category, and phrase (first word -> [(rest, category)]) tables."""

    words: Mapping[str, Cat]
    phrases: Mapping[str, tuple[tuple[tuple[str, ...], Cat], ...]] = field(default_factory=dict)
    # token -> its context-free lexeme (or None when the full rules must read it); filled
    # by the lexer as it meets words, bounded there
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # lower-case tokens after which a word may be half of a phrase (its cached reading
    # then does not apply): every phrase's second word
    follow: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        follow = frozenset(rest[0] for entries in self.phrases.values() for rest, _ in entries)
        object.__setattr__(self, "follow", follow)

    def extended(self, extra: Mapping[Cat, Iterable[str]]) -> Lexicon:
        """A copy with a channel's own keywords added (they win over the defaults)."""
        words = dict(self.words)
        phrases = {k: list(v) for k, v in self.phrases.items()}
        for cat, items in extra.items():
            for item in items:
                _add(words, phrases, item, cat)
        return Lexicon(words, _freeze(phrases))


def _parts(item: str) -> list[str]:
    """A table entry as the lexer's tokens: lower case, dashes apart, Thai folded."""
    return fold(lower(item)).replace("-", " - ").split()


def _add(
    words: dict[str, Cat],
    phrases: dict[str, list[tuple[tuple[str, ...], Cat]]],
    item: str,
    cat: Cat,
) -> None:
    parts = _parts(item)
    if not parts:
        return
    if len(parts) == 1:
        words[parts[0]] = cat
        return
    entries = phrases.setdefault(parts[0], [])
    entries.insert(0, (tuple(parts[1:]), cat))
    entries.sort(key=lambda e: -len(e[0]))


def _freeze(
    phrases: dict[str, list[tuple[tuple[str, ...], Cat]]],
) -> dict[str, tuple[tuple[tuple[str, ...], Cat], ...]]:
    return {k: tuple(v) for k, v in phrases.items()}


@cache
def default_lexicon() -> Lexicon:
    """The built-in tables, built once on first use (not at import time)."""
    words: dict[str, Cat] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], Cat]]] = {}
    for cat, text in _WORDS.items():
        for word in text.split():
            words.setdefault(word, cat)
    for cat, items in _PHRASES.items():
        for item in items:
            parts = lower(item).replace("-", " - ").split()
            entries = phrases.setdefault(parts[0], [])
            entries.append((tuple(parts[1:]), cat))
    for table in LANGUAGES.values():
        for cat, entries_of_cat in table.items():
            for item in entries_of_cat:
                parts = _parts(item)
                if len(parts) == 1:
                    words.setdefault(parts[0], cat)
                elif parts:
                    phrases.setdefault(parts[0], []).append((tuple(parts[1:]), cat))
    for word, cat in list(words.items()):
        # Turkish "SATIŞ" lowers to "satiş": each word with a dotless ı is also read
        # with the i its capital lowers to
        if "ı" in word:
            words.setdefault(word.replace("ı", "i"), cat)
    for entries in phrases.values():
        entries.sort(key=lambda e: -len(e[0]))
    return Lexicon(words, _freeze(phrases))
