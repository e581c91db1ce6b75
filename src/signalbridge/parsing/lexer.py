"""Turn tokens into lexemes: keywords, prices, symbols, leverage, line breaks.

The lexer decides what each token *is* (a stop-loss keyword, a price, a pair, a list
index, a percentage to ignore); :mod:`fields` then decides which field a price belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from enum import IntEnum
from typing import Final

from signalbridge.parsing.lexicon import Cat, Lexicon
from signalbridge.parsing.numbers import MAX_BEFORE_K, MAX_DIGITS, parse_number
from signalbridge.parsing.symbols import (
    CRYPTO_QUOTES,
    FIAT,
    FIXED,
    INDEX_NUMBERS,
    KNOWN_COINS,
    METALS,
    NAMED_INDEX,
    NOT_SYMBOLS,
    STRONG,
    TAGGED,
    crypto_pair,
    forex_pair,
    named_index,
    resolve_bare,
    resolve_tag,
    resolve_word,
)
from signalbridge.parsing.text import CAMEL_RE, SPLIT_RE, lower, tokens_lowered


class Lx(IntEnum):
    NUM = 100
    SYM = 101
    NL = 102
    WORD = 103
    PUNCT = 104
    LEVNUM = 105
    IDX = 106


_AT: Final = int(Cat.AT)
_ENTRY: Final = int(Cat.ENTRY)
_JOIN: Final = int(Cat.JOIN)
_LONG: Final = int(Cat.LONG)
_SHORT: Final = int(Cat.SHORT)
_SKIP: Final = int(Cat.SKIP)
_SL: Final = int(Cat.SL)
_SPOT: Final = int(Cat.SPOT)
_TP: Final = int(Cat.TP)
_IDX: Final = int(Lx.IDX)
_LEVNUM: Final = int(Lx.LEVNUM)
_NL: Final = int(Lx.NL)
_NUM: Final = int(Lx.NUM)
_PUNCT: Final = int(Lx.PUNCT)
_SYM: Final = int(Lx.SYM)
_WORD: Final = int(Lx.WORD)


class Lexeme:
    """One token as the rules see it: a keyword, a price, a symbol, a word, a break.

    A plain class rather than a dataclass: mypyc compiles its ``__init__`` to C, where a
    dataclass's generated ``__init__`` would stay interpreted (lexemes are the parser's
    most frequent allocation).
    """

    __slots__ = ("kind", "strength", "symbol", "text", "upper", "value")

    def __init__(
        self,
        kind: int,  # a Cat or an Lx value
        text: str = "",
        value: Decimal | None = None,
        symbol: str = "",
        strength: int = 0,
        upper: bool = False,
    ) -> None:
        self.kind = kind
        self.text = text
        self.value = value
        self.symbol = symbol
        self.strength = strength
        self.upper = upper

    def _fields(self) -> tuple[object, ...]:
        return (self.kind, self.text, self.value, self.symbol, self.strength, self.upper)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lexeme):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # equal by value, so not hashable

    def __repr__(self) -> str:
        kind, text, value, symbol, strength, upper = self._fields()
        return f"Lexeme({kind=}, {text=}, {value=}, {symbol=}, {strength=}, {upper=})"


_SKIP_AFTER_NUMBER: Final = frozenset(
    {"pips", "pip", "points", "pts", "pip's", "pipettes", "пунктов", "пипсов"}
    | {"days", "day", "hours", "hour", "hrs", "minutes", "mins", "min", "weeks", "week"}
    | {"дней", "дня", "часов", "часа", "минут", "gün", "saat", "días", "dias", "horas"}
    | {"usd", "dollar", "dollars", "times", "trades", "signals"}
)
_TIMEFRAME_UNITS: Final = frozenset(
    {"m", "h", "d", "w", "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours"}
    | {"м", "ч", "мин", "час", "д", "s", "sec", "dk", "saat"}
)
_TIMEFRAME_PREFIX: Final = frozenset({"m", "h", "d", "w", "mn", "м", "ч"})
_LEV_SUFFIX: Final = frozenset({"x", "х", "倍", "배"})  # Latin, Cyrillic, "10倍", "10배"
_EMOJI: Final[dict[str, int]] = {"🛑": _SL, "⛔": _SL, "🎯": _TP}
# Markers some channels put in front of a bare price instead of a keyword.
_EMOJI_BEFORE_PRICE: Final[dict[str, int]] = {
    "🔻": _SL,
    "✖": _SL,
    "❌": _SL,
    "🚫": _SL,
    "🔹": _TP,
    "💰": _TP,
    "✅": _TP,
}
_DOTTED: Final[dict[tuple[str, str], int]] = {("s", "l"): _SL, ("t", "p"): _TP}
_SATOSHI: Final = frozenset({"sat", "sats", "satoshi", "satoshis"})
# Tokens after a number that change how it reads (see _number); any other next token
# leaves a plain price.
_NUM_SPECIAL: Final = (
    frozenset({"%", ":", "-", "/", "~", "k", ")"}) | _LEV_SUFFIX | _SKIP_AFTER_NUMBER | _SATOSHI
)
_RANGE_SEPS: Final = frozenset({"-", "/", "~"})
_LEV_TOKEN: Final = re.compile(r"\d{1,3}[xXх]")
_INDEX_NUMBER: Final = re.compile(r"(\d{1,2})\.(\d+\.\d+)")
_DATE_TOKEN: Final = re.compile(r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d")
_QUOTES: Final = frozenset(CRYPTO_QUOTES)
_PAIR_SEPS: Final = frozenset({"/", "-", "_"})
_SYMBOL_LABELS: Final = frozenset(
    {"coin", "pair", "symbol", "instrument", "ticker", "asset", "монета", "пара", "тикер"}
    | {"par", "moneda", "ativo", "activo", "parite", "sembol", "العملة", "الزوج", "name"}
    | {"رمزارز", "ارز", "币种", "交易对", "品种", "코인", "종목", "銘柄", "cặp", "koin"}
)
_HASH: Final = frozenset({"#", "$"})
NEWLINE: Final = Lexeme(_NL, "\n")  # the one newline lexeme: found by identity
_FAST: Final[dict[str, Lexeme]] = {
    "\n": NEWLINE,
    **{c: Lexeme(_PUNCT, c) for c in ":;()[]{}.,=!?*|%'\"•·°"},
    **{c: Lexeme(_JOIN, c) for c in ("-", "/", "~", "&", "–", "_", "__", "—")},
    "@": Lexeme(_AT, "@"),
}
FAST: Final = _FAST  # the shared punctuation lexemes (the field reader finds some by identity)
# Keyword lexemes are shared between messages (never mutated: only WORD lexemes are
# rewritten, by template aliases), which saves an allocation per keyword.
_KEYWORDS: Final[dict[tuple[int, str], Lexeme]] = {}


def _keyword(cat: int, low: str) -> Lexeme:
    lexeme = _KEYWORDS.get((cat, low))
    if lexeme is None:
        lexeme = Lexeme(cat, low)
        if len(_KEYWORDS) < 50_000:
            _KEYWORDS[(cat, low)] = lexeme
    return lexeme


_STABLE: Final = frozenset({"usdt", "usdc", "busd", "fdusd", "tusd"})
_PAIRABLE: Final = FIAT | METALS | frozenset(CRYPTO_QUOTES)
_PAIR_NEXT: Final = FIAT | _STABLE  # a word these follow (without a separator) may form a pair
_NEGATIONS: Final = frozenset(
    {"dont", "never", "not", "avoid", "nunca", "не", "asla", "não", "nao"}
    | {"不要", "不", "别", "勿", "không", "đừng", "jangan", "tidak", "nicht", "kein", "nie"}
    | {"ні", "نه", "نکنید", "مت"}
    | {"ไม", "ไมควร", "อยา"}  # Thai "ไม่", "ไม่ควร", "อย่า" as thai.fold leaves them
)


# A plain word's lexeme depends only on the word, unless the next token may make it half
# of a pair or of a phrase: then the full rules run. A cached word is never a currency or
# a quote itself, so without a separator only a stable coin can pair with it ("ROSE
# USDT"); after a separator only a quote can ("ROSE / USDT", "ROSE-BTC").
_PAIR_GUARD: Final = _PAIR_SEPS | _STABLE
_QUOTE_WORDS: Final = frozenset(CRYPTO_QUOTES)
_MAX_WORD_CACHE: Final = 50_000
_MISS: Final = Lexeme(0)  # "not in the cache" marker
_GUARD_KEY: Final = "\x00guard"  # no token holds a NUL, so this key never clashes with a word


def _plain_word(tok: str, lexicon: Lexicon) -> Lexeme | None:
    """The shared lexeme of a word whose reading needs no context, else ``None``.

    Mirrors the general path of :func:`lex` for the common case so that most words cost
    one dictionary look-up per message instead of a dozen string tests.
    """
    if not tok.isalpha():
        return None
    low = lower(tok)
    if not low.isalpha() or low in ("s", "t", "don"):
        return None
    if low in _NEGATIONS or low in _PAIRABLE or low in _SYMBOL_LABELS or low in NAMED_INDEX:
        return None
    cat = lexicon.words.get(low)
    if cat is not None:
        return _keyword(cat, low)
    if _glued_side(low) is not None:
        return None
    resolved = resolve_word(low)
    if resolved is not None:
        return Lexeme(_SYM, low, symbol=resolved[0], strength=resolved[1])
    if not (tok.islower() or tok.isupper() or tok.istitle()) and len(tok) > 3:
        return None  # glued words ("LONGLeverage") are split by the full rules
    return Lexeme(_WORD, low, upper=tok.isupper() and len(tok) > 1)


_SENTINELS: Final = ("", "")


def _guards(lexicon: Lexicon) -> tuple[frozenset[str], frozenset[str]]:
    """Next tokens after which a cached word must be re-read, and the words that start a
    phrase whose next part is a separator ("stop - loss", "s / l")."""
    sep_phrase = frozenset(
        first
        for first, entries in lexicon.phrases.items()
        for rest, _ in entries
        if rest and rest[0] in _PAIR_SEPS
    )
    return _PAIR_GUARD | lexicon.follow, sep_phrase


_GLUED_LONG: Final = ("buy", "long")
_GLUED_SIDES: Final = ("buy", "sell", "long", "short")


def _glued_side(low: str) -> tuple[str, str] | None:
    """``xauusdsell`` / ``buyeurusd``: an explicit pair glued to a side word."""
    if len(low) < 9:
        return None
    for side in _GLUED_SIDES:
        if low.endswith(side):
            rest = low[: -len(side)]
        elif low.startswith(side):
            rest = low[len(side) :]
        else:
            continue
        resolved = resolve_word(rest)
        if resolved is not None and resolved[1] >= STRONG:
            return resolved[0], side
    return None


def _resplit(lows: list[str], toks: list[str], i: int, grown: int) -> None:
    """Mirror in ``lows`` a token at ``i`` split in place into ``grown + 1`` tokens."""
    lows[i : i + 1] = [lower(t) for t in toks[i : i + grown + 1]]


def lex(text: str, lexicon: Lexicon) -> list[Lexeme]:
    """Lexemes of one normalised message, in order."""
    toks, lows = tokens_lowered(text)
    out: list[Lexeme] = []
    words = lexicon.words
    phrases = lexicon.phrases
    cache = lexicon.cache
    n = len(toks)
    i = 0
    want_symbol = False
    negate = -1  # index of the token a negation ("don't", "never") applies to
    cat: int | None
    fast = _FAST
    guards = cache.get(_GUARD_KEY)
    if guards is None:
        guards = cache[_GUARD_KEY] = _guards(lexicon)
    guard, sep_phrase = guards
    append = out.append
    # two empty sentinels, so that the next two tokens can be read without a bounds check
    lows += _SENTINELS
    while i < n:
        tok = toks[i]
        # one look-up per table (compiled, dict.get is a primitive, not a method call)
        punct = fast.get(tok)
        if punct is not None:  # newline and plain punctuation: the most common tokens
            append(punct)
            i += 1
            continue
        shared = cache.get(tok, _MISS)
        if shared is _MISS:
            first = tok[0]
            if first.isdigit():
                nx = lows[i + 1]
                if (
                    (
                        nx not in _NUM_SPECIAL
                        # "1.20 - 1.25": a zone, unless a leverage range follows ("3-5x")
                        or (nx in _RANGE_SEPS and lows[i + 2][-1:] not in _LEV_SUFFIX)
                    )
                    and (tok.isdigit() or not tok.isalnum())
                ):
                    price: Decimal | None
                    # "1085", "1.0850": parse_number's first case (PLAIN_NUMBER), tested
                    # with str methods: the token is digits, or digits joined by . and ,
                    if (
                        len(tok) <= MAX_DIGITS
                        and tok.isascii()
                        and (tok.isdigit() or (tok.count(".") == 1 and "," not in tok))
                    ):
                        price = Decimal(tok)
                    else:
                        price = parse_number(tok)
                    if price is not None:  # a plain price: the next most common token
                        append(Lexeme(_NUM, tok, price))
                        i += 1
                        continue
                shared = None
            elif first.isalpha():
                shared = _plain_word(tok, lexicon)
                if len(cache) < _MAX_WORD_CACHE:
                    cache[tok] = shared
            else:
                shared = None
        if (
            shared is not None
            and not want_symbol
            and negate != i
            and (
                (nx := lows[i + 1]) not in guard
                or (
                    nx in _PAIR_SEPS  # "Entry - 1.2": no quote after the dash, no phrase
                    and lows[i + 2] not in _QUOTE_WORDS
                    and shared.text not in sep_phrase
                )
            )
        ):
            append(shared)  # a word that reads the same in any context
            i += 1
            continue
        first = tok[0]
        if first == "." and len(tok) > 1:  # ".405"
            i = _number(toks, i, n, out)
            continue
        if first.isdigit():
            if tok.isdigit() or not tok.isalnum():
                i = _number(toks, i, n, out)
                continue
            low = lower(tok)
            resolved = resolve_word(low)
            if resolved is not None:
                out.append(Lexeme(_SYM, low, symbol=resolved[0], strength=resolved[1]))
                i += 1
                continue
            pair = _pair_at(toks, i, n, low)
            if pair is not None:
                out.append(Lexeme(_SYM, low, symbol=pair[0], strength=STRONG))
                i = pair[1]
                continue
            if low in KNOWN_COINS:
                out.append(Lexeme(_WORD, low, upper=tok.isupper()))
                i += 1
                continue
            i = _mixed(toks, i, low, words, out)
            if len(toks) != n:  # a glued token was split in place at i
                _resplit(lows, toks, i, len(toks) - n)
                n = len(toks)
            continue
        if tok.isalnum():
            low = lower(tok)
            if not low.isalpha():
                resolved = resolve_word(low)
                if resolved is None:
                    i = _mixed(toks, i, low, words, out)
                    if len(toks) != n:
                        _resplit(lows, toks, i, len(toks) - n)
                        n = len(toks)
                    continue
            if (low == "s" or low == "t") and i + 2 < n and toks[i + 1] in ".-/":
                nxt = lower(toks[i + 2])
                cat_dot = _DOTTED.get((low, nxt[:1]))
                if cat_dot is not None and (len(nxt) == 1 or nxt[1:].isdigit()):
                    out.append(Lexeme(cat_dot, low))
                    if len(nxt) > 1:
                        out.append(Lexeme(_IDX, nxt[1:]))
                    i += 3
                    continue
            if low in NAMED_INDEX:  # "Germany 40", "US Tech 100", "Wall Street"
                named = named_index(toks, lows, i, n)
                if named is not None:
                    out.append(Lexeme(_SYM, low, symbol=named[0], strength=STRONG))
                    i = named[1]
                    continue
            entries = phrases.get(low)
            if entries is not None:
                matched = _phrase(lows, i, n, entries)
                if matched is not None:
                    cat, width = matched
                    out.append(_keyword(cat, low))
                    i += width
                    continue
            cat = words.get(low)
            if (
                cat is not None
                and low not in _PAIRABLE
                and (
                    i + 1 == n
                    or (toks[i + 1] not in _PAIR_SEPS and lower(toks[i + 1]) not in _STABLE)
                )
            ):
                if negate == i and (cat == _LONG or cat == _SHORT):
                    cat = _SKIP  # "don't buy now"
                out.append(_keyword(cat, low))
                i += 1
                continue
            nxt_tok = toks[i + 1] if i + 1 < n else ""
            if nxt_tok in _PAIR_SEPS or lower(nxt_tok) in _PAIR_NEXT:
                pair = _pair_at(toks, i, n, low)
                if pair is not None:
                    out.append(Lexeme(_SYM, low, symbol=pair[0], strength=STRONG))
                    i = pair[1]
                    continue
            cat = words.get(low)
            if cat is not None:
                if negate == i and cat in (_LONG, _SHORT):
                    cat = _SKIP  # "don't buy now"
                out.append(_keyword(cat, low))
                i += 1
                continue
            if low in _NEGATIONS:
                negate = i + 1
                i += 1
                continue
            if low == "don" and i + 2 < n and toks[i + 1] == "'" and lower(toks[i + 2]) == "t":
                negate = i + 3
                i += 3
                continue
            glued = _glued_side(low)
            if glued is not None:  # "XAUUSDSELL": a pair and a side written as one word
                symbol, side = glued
                out.append(Lexeme(_SYM, low, symbol=symbol, strength=STRONG))
                out.append(
                    _keyword(words.get(side, _LONG if side in _GLUED_LONG else _SHORT), side)
                )
                i += 1
                continue
            resolved = resolve_word(low)
            if resolved is not None:
                out.append(Lexeme(_SYM, low, symbol=resolved[0], strength=resolved[1]))
                i += 1
                continue
            if not (tok.islower() or tok.isupper() or tok.istitle()) and len(tok) > 3:
                parts = [p for p in CAMEL_RE.split(tok) if p]
                if len(parts) > 1 and min(len(p) for p in parts) >= 2:
                    toks[i : i + 1] = parts  # "LONGLeverage", "UsdChf": glued words
                    _resplit(lows, toks, i, len(parts) - 1)
                    n = len(toks)
                    continue
            if want_symbol and low not in _SYMBOL_LABELS:
                bare = resolve_bare(low, True)
                want_symbol = False
                if bare is not None:
                    out.append(Lexeme(_SYM, low, symbol=bare[0], strength=TAGGED))
                    i += 1
                    continue
            out.append(Lexeme(_WORD, low, upper=tok.isupper() and len(tok) > 1))
            if low in _SYMBOL_LABELS:
                want_symbol = True
            i += 1
            continue
        # punctuation, emoji and other single characters
        if (
            first in _HASH
            and i + 1 < n
            and toks[i + 1].isalnum()
            # "0.06$ can be stop": a "$" after a price is its currency, not a cashtag
            and not (first == "$" and i and toks[i - 1][-1:].isdigit())
        ):
            nxt = lower(toks[i + 1])
            pair = _pair_at(toks, i + 1, n, nxt)
            if pair is not None:
                out.append(Lexeme(_SYM, nxt, symbol=pair[0], strength=STRONG))
                i = pair[1]
                continue
            if nxt.isdigit():
                i += 2 if first == "#" else 1  # "#1009" is a message id; "$65000" a price
                continue
            tagged = resolve_tag(nxt)
            if tagged is not None:
                out.append(Lexeme(_SYM, nxt, symbol=tagged[0], strength=tagged[1]))
                i += 2
                continue
            i += 1
            continue
        if first == "#" and i + 1 < n and toks[i + 1].isdigit():
            i += 2
            continue
        emoji = _EMOJI.get(tok)
        if emoji is None and tok in _EMOJI_BEFORE_PRICE:
            k = i + 1
            while k < n and toks[k] in (":", "-", "➡", "@"):
                k += 1
            if k < n and toks[k][0].isdigit():
                emoji = _EMOJI_BEFORE_PRICE[tok]
            elif out and out[-1].kind == _NUM and (k == n or toks[k] == "\n"):
                emoji = _EMOJI_BEFORE_PRICE[tok]  # "190.60 ❌" ends its line: a label after
        if tok == "+" and i + 1 < n and toks[i + 1][0].isdigit():
            i += 2  # "+70" pips, "+6%": a result, not a price
            continue
        if emoji is not None:
            out.append(_keyword(emoji, tok))
        elif tok == "@":
            out.append(_keyword(_AT, tok))
        else:
            cat = words.get(tok)
            out.append(_keyword(cat if cat is not None else _PUNCT, tok))
        i += 1
    return out


def _number(toks: list[str], i: int, n: int, out: list[Lexeme]) -> int:
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < n else ""
    if nxt == "%":
        return i + 2
    if nxt == ":" and len(tok) <= 2 and tok.isdigit() and i + 2 < n:
        after = toks[i + 2]
        # a time (02:25) or a ratio (1:3); "Target 2: 9" is a target's index and price
        if after.isdigit() and len(after) <= 2 and not (out and out[-1].kind == _TP):
            return i + 3
    value = parse_number(tok)
    if value is None:
        m = _INDEX_NUMBER.fullmatch(tok)
        if _DATE_TOKEN.fullmatch(tok) is not None:
            pass  # "12.03.2024": a date, not a target index and a price
        elif m is not None:  # "Tp1.1.96600": index 1, price 1.96600
            out.append(Lexeme(_IDX, m.group(1)))
            out.append(Lexeme(_NUM, m.group(2), value=parse_number(m.group(2))))
        elif "," in tok:  # "132.650,133.000": a list written without spaces
            for k, part in enumerate(tok.split(",")):
                number = parse_number(part)
                if number is not None:
                    if k:
                        out.append(Lexeme(_JOIN, ","))
                    out.append(Lexeme(_NUM, part, value=number))
        return i + 1
    low_next = lower(nxt)
    if nxt in ("-", "/", "~") and i + 2 < n and _LEV_TOKEN.fullmatch(toks[i + 2]) is not None:
        out.append(Lexeme(_LEVNUM, tok, value=value))  # "3-5x": a leverage range
        return i + 1
    if low_next in _LEV_SUFFIX:
        out.append(Lexeme(_LEVNUM, tok, value=value))
        return i + 2
    if low_next in _SKIP_AFTER_NUMBER:
        return i + 2
    if low_next in _SATOSHI:
        out.append(Lexeme(_NUM, tok, value=value))
        out.append(Lexeme(_SPOT, "sat"))
        return i + 2
    if low_next == "k":
        if value < MAX_BEFORE_K:  # larger would not fit the store
            out.append(Lexeme(_NUM, tok + "k", value=value * 1000))
        return i + 2
    if nxt == ")" and tok.isdigit() and len(tok) <= 2:
        out.append(Lexeme(_IDX, tok))
        return i + 2
    out.append(Lexeme(_NUM, tok, value=value))
    return i + 1


def _mixed(toks: list[str], i: int, low: str, words: Mapping[str, Cat], out: list[Lexeme]) -> int:
    """A run of letters and digits: ``20x``, ``113k``, ``4h``, ``tp1``, ``20xentry``."""
    parts = SPLIT_RE.findall(low)
    if len(parts) == 2:
        a, b = parts
        if a.isdigit():
            if b in _LEV_SUFFIX or b == "lev":
                out.append(Lexeme(_LEVNUM, a, value=parse_number(a)))
                return i + 1
            if b == "k":
                value = parse_number(a)
                if value is not None and value < MAX_BEFORE_K:
                    out.append(Lexeme(_NUM, low, value=value * 1000))
                return i + 1
            if b in _TIMEFRAME_UNITS or b in _SKIP_AFTER_NUMBER or b in ("st", "nd", "rd", "th"):
                return i + 1
        else:
            if a in _TIMEFRAME_PREFIX and len(b) <= 2:
                return i + 1
            if a in _LEV_SUFFIX:
                out.append(Lexeme(_LEVNUM, b, value=parse_number(b)))
                return i + 1
            cat: int | None = words.get(a)
            if a == "t" and len(b) <= 2:
                if i + 2 < len(toks) and toks[i + 1] == ":" and len(toks[i + 2]) == 2:
                    return i + 1  # "T10:30:00": an ISO time, not target 10
                cat = _TP
            if cat in (_TP, _SL, _ENTRY) and len(b) <= 2:
                out.append(Lexeme(cat, a))
                out.append(Lexeme(_IDX, b))
                return i + 1
    parts = [p for p in CAMEL_RE.split(toks[i]) for p in SPLIT_RE.findall(p)]
    if len(parts) < 2:  # nothing to split (combining marks, odd scripts): a plain word
        out.append(Lexeme(_WORD, low))
        return i + 1
    toks[i : i + 1] = parts
    return i


def _phrase(
    lows: list[str],
    i: int,
    n: int,
    entries: tuple[tuple[tuple[str, ...], Cat], ...],
) -> tuple[Cat, int] | None:
    """The first phrase of ``entries`` whose other words follow token ``i`` (``lows``:
    the tokens lower-cased), as its category and width in tokens."""
    for rest, cat in entries:
        width = len(rest)
        if i + width < n and tuple(lows[i + 1 : i + 1 + width]) == rest:
            return cat, width + 1
    return None


def _pair_at(toks: list[str], i: int, n: int, low: str) -> tuple[str, int] | None:
    """``EUR/USD``, ``Gbp cad``, ``ROSE / USDT``, ``BTC-USDT``: a pair spread over tokens."""
    if i + 1 >= n:
        return None
    j = i + 1
    if toks[j] in _PAIR_SEPS and j + 1 < n:
        j += 1
        sep = True
    else:
        sep = False
    other = lower(toks[j])
    if not other.isalpha():
        return None
    if low in FIAT or low in METALS:
        pair = forex_pair(low, other)
        if pair is not None:
            return pair, j + 1
        if low in METALS and low in FIXED:
            return None
    stable = other in ("usdt", "usdc", "busd", "fdusd")
    if other in _QUOTES and (sep or stable) and low != other and low not in _STABLE:
        if (
            low.isalnum()
            and low.isascii()
            and not low.isdigit()
            and len(low) <= 15
            and (sep or low not in NOT_SYMBOLS)
        ):
            if low in FIXED:
                return FIXED[low], j + 1
            return crypto_pair(low, other), j + 1
    return None


def split_symbol_word(word: str) -> tuple[str, int] | None:
    """Resolve a single word as a symbol (used by templates and dialects)."""
    low = lower(word.strip()).lstrip("#$")
    for sep in _PAIR_SEPS:
        if sep in low:
            a, _, b = low.partition(sep)
            pair = forex_pair(a, b)
            if pair is not None:
                return pair, STRONG
            if b in _QUOTES and a:
                return crypto_pair(a, b), STRONG
    cleaned = low.split(".")[0]
    resolved = resolve_word(cleaned)
    if resolved is not None:
        return resolved
    return resolve_tag(cleaned)


_SCALE: Final = Decimal("1.6")
_THOUSAND: Final = Decimal(1000)


def _group_head(text: str) -> bool:
    return len(text) <= 3 and text.isascii() and text.isdigit() and text[0] != "0"


def _group_tail(text: str) -> bool:
    return (
        len(text) >= 3
        and text[:3].isascii()
        and text[:3].isdigit()
        and (len(text) == 3 or (text[3] in ".," and text[4:].isdigit()))
    )


def _near(a: Decimal, b: Decimal) -> bool:
    return a <= b * _SCALE and b <= a * _SCALE


def join_spaced_thousands(lexemes: list[Lexeme]) -> list[Lexeme]:
    """Prices written with a space as the thousands separator ("68 150", "18 420,5"),
    read as one where the message agrees; the lexemes unchanged otherwise.

    Two prices side by side, the first of 1-3 digits and the second of three (and a
    decimal part), may be one price or two. They are one when every such pair in the
    message joins into prices of one scale (within 1.6x of their median), and either a
    group has a leading zero ("67 000" is never two prices), or no other price has the
    scale of the parts ("TP 110 120" after "Entry 100" are two targets) and there are
    two such pairs or another price has the joined scale.
    """
    pairs: list[int] = []  # the index of each pair's first lexeme
    n = len(lexemes)
    i = 0
    while i + 1 < n:
        a = lexemes[i]
        if a.kind == _NUM:
            b = lexemes[i + 1]
            if b.kind == _NUM and _group_head(a.text) and _group_tail(b.text):
                pairs.append(i)
                i += 2
                continue
        i += 1
    if not pairs:
        return lexemes
    joined: list[Decimal] = []
    for k in pairs:
        head, tail = lexemes[k].value, lexemes[k + 1].value
        assert head is not None and tail is not None
        joined.append(head * _THOUSAND + tail)
    ordered = sorted(joined)
    mid = ordered[len(ordered) // 2]
    if not all(_near(v, mid) for v in joined):
        return lexemes  # prices of different scales: not one instrument's levels
    if not any(lexemes[k + 1].text[0] == "0" for k in pairs):
        taken = set(pairs) | {k + 1 for k in pairs}
        parts = [lx.value for k in taken if (lx := lexemes[k]).value is not None]
        scale = len(pairs) > 1
        for k, lx in enumerate(lexemes):
            other = lx.value
            if lx.kind != _NUM or k in taken or other is None or not other:
                continue
            named = lexemes[k - 1].symbol if k else ""
            if named and lx.text in INDEX_NUMBERS.get(named, ()):
                continue  # "Nikkei 225 short 38 900": the index's name, not a price
            if any(_near(other, part) for part in parts):
                return lexemes  # another price has the parts' scale: they are prices
            scale = scale or _near(other, mid)
        if not scale:
            return lexemes
    out = list(lexemes)
    for k, value in zip(reversed(pairs), reversed(joined), strict=True):
        out[k : k + 2] = [Lexeme(_NUM, lexemes[k].text + lexemes[k + 1].text, value)]
    return out
