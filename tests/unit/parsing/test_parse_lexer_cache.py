"""The lexer's per-word cache must never change a reading: context still decides."""

import itertools
import time
from pathlib import Path
from string import ascii_lowercase

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.signals import Signal
from signalbridge.parsing import parse
from signalbridge.parsing.lexer import Lx, lex
from signalbridge.parsing.lexicon import Lexicon, default_lexicon
from signalbridge.parsing.templates import load_template
from signalbridge.parsing.text import tokens


def fresh() -> Lexicon:
    base = default_lexicon()
    return Lexicon(base.words, base.phrases)


def warmed(text: str) -> Lexicon:
    """A lexicon that has already met every token of ``text`` on its own line."""
    lexicon = fresh()
    lex("\n".join(tokens(text)), lexicon)
    return lexicon


def test_a_cached_word_still_forms_a_pair() -> None:
    text = "ROSE / USDT long 0.05 sl 0.04 tp 0.06"
    assert lex(text, warmed(text)) == lex(text, fresh())
    result = parse("rose\n" + text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.symbol == "ROSE/USDT"


def test_negation_and_symbol_labels_still_apply_to_cached_words() -> None:
    for text in ("don't buy now, never sell", "Coin: rose\nrose"):
        assert lex(text, warmed(text)) == lex(text, fresh())
    kinds = [lx.kind for lx in lex("Coin: rose", warmed("rose"))]
    assert Lx.SYM in kinds


def test_template_aliases_do_not_leak_into_other_messages(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('name = "y"\n[symbols]\n"yellow" = "XAUUSD"\n', encoding="utf-8")
    template = load_template(path)
    text = "yellow buy 2300 sl 2290 tp 2320"
    before = parse(text)
    with_template = parse(text, template)
    after = parse(text)
    assert isinstance(with_template.parsed, Signal)
    assert with_template.parsed.symbol == "XAUUSD"
    assert after == before
    words = [lx for lx in lex(text, default_lexicon()) if lx.text == "yellow"]
    assert words and all(lx.kind == Lx.WORD for lx in words)


def test_the_cache_is_bounded() -> None:
    """Endless distinct words (a flood of junk) cannot grow memory without limit."""
    lexicon = fresh()
    words = [
        "".join(w) for w in itertools.islice(itertools.product(ascii_lowercase, repeat=4), 60_000)
    ]
    for start in range(0, len(words), 5_000):
        lex(" ".join(words[start : start + 5_000]), lexicon)
    assert 50_000 <= len(lexicon.cache) <= 50_001  # the bound, plus the guard entry


def _best_lex_seconds(text: str, rounds: int = 9) -> float:
    times = []
    for _ in range(rounds):
        lexicon = fresh()
        start = time.perf_counter()
        lex(text, lexicon)
        times.append(time.perf_counter() - start)
    return min(times)


def test_many_glued_tokens_stay_near_linear() -> None:
    """Each glued token is split in place; that must not re-read the whole message.

    Measured as a ratio in the same run (ten times the tokens against one), so a slow
    machine cannot fail it: a re-read per split would cost about 100 times, linear work 10
    (measured: about 17, the in-place list splices; best of nine rounds against noise).
    """
    small = " ".join(f"w{n}x" for n in range(400))
    large = " ".join(f"w{n}x" for n in range(4_000))
    ratio = _best_lex_seconds(large) / _best_lex_seconds(small)
    assert ratio < 60, f"ten times the glued tokens cost {ratio:.0f} times the time"


_WORDS = (
    "buy sell usd eur / - usdt rose BTC sl tp stop loss take profit entry zone don't not "
    "coin : 1.25 3 x gold s . l LONGLeverage # $ ✅ 10x k % pair eth _ tusd btc t p zone"
)
_ALPHABET = st.sampled_from([*_WORDS.split(), "\n"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=25))
def test_warm_and_cold_lexers_agree(parts: list[str]) -> None:
    text = " ".join(parts)
    assert lex(text, warmed(text)) == lex(text, fresh())
