"""Symbol normalisation: table for forex, metals, oil and indices, rules for crypto.

Crypto becomes ``BASE/QUOTE`` (USDT when the quote is left out); everything a broker
lists as a CFD becomes a plain ticker (``EURUSD``, ``XAUUSD``, ``US30``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from signalbridge.parsing.text import lower

FIAT: Final = frozenset(
    "usd eur gbp jpy chf aud nzd cad sgd hkd nok sek dkk zar mxn try pln huf czk cnh".split()
)
METALS: Final = frozenset({"xau", "xag", "xpt", "xpd"})

# Aliases (lower case, already tokenised: letters and digits only) -> canonical ticker.
FIXED: Final[dict[str, str]] = {
    # gold in the languages channels use
    "gold": "XAUUSD",
    "xau": "XAUUSD",
    "xauusd": "XAUUSD",
    "goldusd": "XAUUSD",
    "oro": "XAUUSD",
    "ouro": "XAUUSD",
    "altin": "XAUUSD",
    "altın": "XAUUSD",
    "золото": "XAUUSD",
    "золоту": "XAUUSD",
    "золота": "XAUUSD",
    "ذهب": "XAUUSD",
    "الذهب": "XAUUSD",
    "طلا": "XAUUSD",
    "vàng": "XAUUSD",
    "黄金": "XAUUSD",
    "黃金": "XAUUSD",
    "现货黄金": "XAUUSD",
    "ゴールド": "XAUUSD",
    "골드": "XAUUSD",
    "emas": "XAUUSD",
    "złoto": "XAUUSD",
    "zloto": "XAUUSD",
    "گولڈ": "XAUUSD",
    "سونا": "XAUUSD",
    "ทองคา": "XAUUSD",  # Thai "ทองคำ", as thai.fold leaves it
    "ทอง": "XAUUSD",
    "白银": "XAGUSD",
    "白銀": "XAGUSD",
    "原油": "USOIL",
    "纳指": "NAS100",
    "道指": "US30",
    "日经": "JP225",
    "xauusdm": "XAUUSD",
    "silver": "XAGUSD",
    "xag": "XAGUSD",
    "xagusd": "XAGUSD",
    "plata": "XAGUSD",
    "prata": "XAGUSD",
    "gümüş": "XAGUSD",
    "серебро": "XAGUSD",
    "الفضة": "XAGUSD",
    "فضة": "XAGUSD",
    # oil
    "wti": "USOIL",
    "usoil": "USOIL",
    "crude": "USOIL",
    "crudeoil": "USOIL",
    "xtiusd": "USOIL",
    "cl": "USOIL",
    "brent": "UKOIL",
    "ukoil": "UKOIL",
    "xbrusd": "UKOIL",
    "petróleo": "USOIL",
    "petroleo": "USOIL",
    "нефть": "USOIL",
    "النفط": "USOIL",
    # indices
    "us30": "US30",
    "dj30": "US30",
    "dow": "US30",
    "djia": "US30",
    "wallstreet": "US30",
    "us30cash": "US30",
    "us100": "NAS100",
    "nas100": "NAS100",
    "nasdaq": "NAS100",
    "nasdaq100": "NAS100",
    "ustec": "NAS100",
    "usnas100": "NAS100",
    "nq": "NAS100",
    "us500": "SPX500",
    "spx500": "SPX500",
    "spx": "SPX500",
    "sp500": "SPX500",
    "us2000": "US2000",
    "ger40": "GER40",
    "ger30": "GER40",
    "de40": "GER40",
    "de30": "GER40",
    "dax": "GER40",
    "dax40": "GER40",
    "uk100": "UK100",
    "ftse": "UK100",
    "ftse100": "UK100",
    "jp225": "JP225",
    "nikkei": "JP225",
    "jpn225": "JP225",
    "fra40": "FRA40",
    "cac40": "FRA40",
    "aus200": "AUS200",
    "hk50": "HK50",
    "eu50": "EU50",
    "stoxx50": "EU50",
    "stoxx": "EU50",
    "eurostoxx": "EU50",
    "cac": "FRA40",
    "asx": "AUS200",
    "asx200": "AUS200",
    "russell": "US2000",
    "hangseng": "HK50",
    "hsi": "HK50",
    "nikkei225": "JP225",
    "n225": "JP225",
    "footsie": "UK100",
}
# An index written out with its number ("FTSE 100", "Nikkei 225", "DAX 40"): the number
# after the name is part of the name, not a price.
INDEX_NUMBERS: Final[dict[str, frozenset[str]]] = {
    "UK100": frozenset({"100"}),
    "JP225": frozenset({"225"}),
    "SPX500": frozenset({"500"}),
    "NAS100": frozenset({"100"}),
    "US30": frozenset({"30"}),
    "GER40": frozenset({"40", "30"}),
    "FRA40": frozenset({"40"}),
    "EU50": frozenset({"50"}),
    "AUS200": frozenset({"200"}),
    "HK50": frozenset({"50"}),
    "US2000": frozenset({"2000"}),
}

# Indices by the names brokers write out in several words ("Germany 40", "US Tech 100",
# "Wall Street"): the first word, then the words that must follow it (tried in order,
# longest first). A first word that is also plain English ("us", "uk") counts only in
# upper case: "give us 100 pips" names no index.
NAMED_INDEX: Final[dict[str, tuple[tuple[tuple[str, ...], str], ...]]] = {
    "germany": ((("40",), "GER40"), (("30",), "GER40")),
    "japan": ((("225",), "JP225"),),
    "france": ((("40",), "FRA40"),),
    "australia": ((("200",), "AUS200"),),
    "hong": ((("kong", "50"), "HK50"),),
    "hang": ((("seng",), "HK50"),),
    "wall": ((("street", "30"), "US30"), (("street",), "US30")),
    "eu": ((("stocks", "50"), "EU50"),),
    "us": (
        (("tech", "100"), "NAS100"),
        (("tech",), "NAS100"),
        (("30",), "US30"),
        (("100",), "NAS100"),
        (("500",), "SPX500"),
        (("2000",), "US2000"),
    ),
    "uk": ((("100",), "UK100"),),
}
_UPPER_ONLY: Final = frozenset({"us", "uk", "eu"})


def named_index(toks: list[str], lows: list[str], i: int, n: int) -> tuple[str, int] | None:
    """The index a run of words names from ``i`` (its symbol and the next token's
    position), or ``None``. ``lows`` holds the tokens lower-cased."""
    entries = NAMED_INDEX.get(lows[i])
    if entries is None or (lows[i] in _UPPER_ONLY and not toks[i].isupper()):
        return None
    for rest, symbol in entries:
        end = i + 1 + len(rest)
        if end <= n and all(lows[i + 1 + k] == word for k, word in enumerate(rest)):
            return symbol, end
    return None


# Words that look like tickers in hashtags but are instruments.
NOT_SYMBOLS: Final = frozenset(
    """
    signal signals vip free binance bybit bingx mexc okx kucoin futures future spot scalp
    scalping swing idea update live trade trades new long short buy sell entry target
    targets tp sl stop leverage cross isolated usdt usd btcusdt the and for from now
    crypto forex premium alert alerts news result results profit profits update updates
    breakout pump dump gem setup analysis chart daily weekly h1 h4 m15 tf call calls pair
    coin token market strongsignal bitcoin ethereum day week month channel bot exchange
    ccc crr bfp mvip b vip1 ccs
    """.split()
)

# Bare coin names recognised without a # or $ (kept short on purpose: a bare word is a
# weak symbol, and a false one costs confidence).
KNOWN_COINS: Final = frozenset(
    """
    btc eth bnb sol xrp ada doge dot avax matic link ltc bch trx xlm atom uni fil apt arb
    algo icp vet hbar egld sand mana axs ape gala enj chz ftm rune inj sui sei tia
    pepe shib floki bonk wif jup pyth ordi sats wld aave mkr crv ldo snx yfi sushi 1inch
    grt imx rndr render fet agix ocean kas ton stx blur gmt gmx dydx zil iota xmr zec
    neo qtum ont waves kava celo ksm mina theta lrc bat hnt rsr ankr
    trb lpt ena wld strk manta xai nfp jto zeta ondo ethfi tnsr
    rez zk zro pol eigen hmstr cati neiro mew popcat brett
    lunc luna ustc ens joe ssv cfx arkm tao ygg pendle trx xtz eos
    """.split()
)

RU_COINS: Final = {
    "биткоин": "BTC",
    "биткоина": "BTC",
    "биткоину": "BTC",
    "биткоином": "BTC",
    "биток": "BTC",
    "битку": "BTC",
    "биткойн": "BTC",
    "эфир": "ETH",
    "эфира": "ETH",
    "эфиру": "ETH",
    "эфириум": "ETH",
    "солана": "SOL",
    "солане": "SOL",
    "соляне": "SOL",
    "соляна": "SOL",
    "bitcoin": "BTC",
    "ethereum": "ETH",
    # the coins' names in other scripts (the table is named for its first language)
    "比特币": "BTC",
    "比特幣": "BTC",
    "以太坊": "ETH",
    "ビットコイン": "BTC",
    "イーサリアム": "ETH",
    "비트코인": "BTC",
    "이더리움": "ETH",
    "بیتکوین": "BTC",
    "اتریوم": "ETH",
}

# Longest first so BTCUSDT splits as BTC + USDT, not BTCUSD + T.
CRYPTO_QUOTES: Final = ("fdusd", "usdt", "usdc", "busd", "tusd", "usd", "btc", "eth")
STABLE_QUOTES: Final = frozenset({"usdt", "usdc", "busd", "fdusd", "tusd"})

STRONG: Final = 3  # an explicit pair (BTC/USDT, BTCUSDT, EURUSD) or a table instrument
TAGGED: Final = 2  # a #hashtag or $cashtag
WEAK: Final = 1  # a bare word next to a side word or a known coin name


def _is_base(word: str) -> bool:
    return 1 <= len(word) <= 15 and word.isascii() and word.isalnum() and not word.isdigit()


def forex_pair(a: str, b: str) -> str | None:
    """``eur`` + ``usd`` -> ``EURUSD``; also metals against a currency (``xau usd``)."""
    if (a in FIAT or a in METALS) and b in FIAT and a != b:
        ticker = (a + b).upper()
        return FIXED.get(lower(ticker), ticker) if a in METALS else ticker
    return None


def crypto_pair(base: str, quote: str) -> str:
    return f"{base.upper()}/{quote.upper()}"


@lru_cache(maxsize=16384)
def resolve_word(word: str) -> tuple[str, int] | None:
    """Resolve one lower-case alnum word that names an instrument on its own."""
    fixed = FIXED.get(word)
    if fixed is not None:
        return fixed, STRONG
    if word.endswith("perp") and len(word) > 6:
        word = word[:-4]
    if len(word) == 6:
        pair = forex_pair(word[:3], word[3:])
        if pair is not None:
            return pair, STRONG
    for quote in CRYPTO_QUOTES:
        if word.endswith(quote) and len(word) > len(quote) + 1:
            base = word[: -len(quote)]
            if not _is_base(base):
                continue
            if quote in ("btc", "eth") and (len(base) < 3 or word in KNOWN_COINS):
                continue
            if quote == "usd" and (base in FIAT or base in METALS):
                continue
            return crypto_pair(base, quote), STRONG
    return None


def resolve_tag(word: str) -> tuple[str, int] | None:
    """A ``#word`` or ``$word``: an instrument, a pair, or a crypto base quoted in USDT."""
    if word in NOT_SYMBOLS or not _is_base(word) or len(word) < 2:
        return None
    resolved = resolve_word(word)
    if resolved is not None:
        return resolved
    if word.isalpha() or word[0].isdigit():
        return crypto_pair(word, "usdt"), TAGGED
    return None


@lru_cache(maxsize=16384)
def resolve_bare(word: str, upper: bool) -> tuple[str, int] | None:
    """A bare word: a known coin, or an upper-case ticker-looking word (weak)."""
    if word in RU_COINS:
        return crypto_pair(lower(RU_COINS[word]), "usdt"), WEAK
    if word in NOT_SYMBOLS or not _is_base(word):
        return None
    if word in KNOWN_COINS or (upper and 2 <= len(word) <= 10 and word.isalpha()):
        return crypto_pair(word, "usdt"), WEAK
    return None
