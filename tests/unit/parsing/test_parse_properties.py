"""Untrusted input: any text parses to a valid contract object, fast, without crashing."""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.signals import Noise, Signal, SignalUpdate, parsed_from_dict
from signalbridge.parsing import parse

KEYWORDS = st.sampled_from(
    [
        "buy",
        "sell",
        "long",
        "short",
        "sl",
        "tp",
        "tp1",
        "entry",
        "@",
        "-",
        "/",
        ":",
        "\n",
        "#btc",
        "$eth",
        "eurusd",
        "gold",
        "now",
        "limit",
        "stop",
        "10x",
        "close",
        "move sl to",
        "50%",
        "1.0850",
        "42,000",
        "0,5",
        "٣",
        "➊",
        "🎯",
        "🛑",
        "вход",
        "стоп",
        "giriş",
        "هدف",
    ]
)
TRADING_TEXT = st.lists(st.one_of(KEYWORDS, st.text(max_size=8)), max_size=40).map(" ".join)


def check(text: str) -> None:
    result = parse(text)
    assert 0.0 <= result.confidence <= 1.0
    assert isinstance(result.parsed, Signal | SignalUpdate | Noise)
    data = result.to_dict()
    assert data["kind"] in ("signal", "update", "noise")
    if isinstance(result.parsed, Signal):
        assert len(data["take_profits"]) <= 10
        assert data["side"] in ("long", "short")
        assert data["order_type"] in ("market", "limit")
        # the domain reads our own output back (geometry is reported, not enforced here)
        parsed_from_dict({k: v for k, v in data.items() if k != "confidence"}, check_geometry=False)
        if result.parsed.geometry_problems():
            assert result.confidence < 0.5


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_never_crashes(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(TRADING_TEXT)
def test_trading_like_text_gives_valid_output(text: str) -> None:
    check(text)


ADVERSARIAL = {
    "digits": "7" * 100_000,
    "separators": "1.2-3/4,5 " * 10_000,
    "keywords": ("buy sell sl tp entry target stop long short " * 2300)[:100_000],
    "tp lines": ("TP1: 1.2345\n" * 8400)[:100_000],
    "emoji": "🚀🎯✅❌" * 25_000,
    "dots": "." * 100_000,
    "close words": ("close move sl to entry cancel tp hit " * 2800)[:100_000],
    "json": "{" + '"a":' * 25_000 + "1}",
    "hashtags": "#btc $eth " * 10_000,
}


def _best_check_seconds(text: str, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        check(text)
        times.append(time.perf_counter() - start)
    return min(times)


PROSE = ("The market opened quietly and traders waited for the central bank. " * 1500)[:100_000]


def test_adversarial_100kb_inputs_cost_no_more_than_prose() -> None:
    """Hostile 100 KB inputs cost about what 100 KB of ordinary prose costs.

    A ratio in the same run, so a slow machine cannot fail it; the absolute figures
    are printed by ``bench/parse_speed.py --adversarial``. Measured here: at most 3 times.
    """
    prose = _best_check_seconds(PROSE)
    for name, text in ADVERSARIAL.items():
        ratio = _best_check_seconds(text) / prose
        assert ratio < 20, f"{name}: {ratio:.1f} times the prose"


def test_a_signal_at_the_start_of_a_huge_message_is_kept() -> None:
    text = "EURUSD BUY 1.0850 SL 1.0800 TP 1.0950\n" + "blah " * 30_000
    result = parse(text)
    assert result.kind == "signal"
    assert any("characters were read" in r for r in result.reasons)


def test_scripts_with_combining_marks_terminate() -> None:
    # regression: a word that is neither letters nor digits to str.isalpha (Devanagari
    # vowel signs) once made the lexer re-split it forever
    result = parse("क्या buy gold 2300 sl 2290 tp 2320 x\u0301y")
    assert result.kind == "signal"
    assert result.confidence < 0.9
