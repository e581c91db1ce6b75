"""The compiled parser (``make compile``) reads exactly what its source reads.

Three guarantees: the C tokeniser returns the tokens of ``TOKEN_RE`` for every code
point and for arbitrary text; the mypyc-built modules write byte for byte the output of
the sources; and a build older than its source is never used.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.parsing import compiled
from signalbridge.parsing import text as text_module
from signalbridge.parsing.text import PUNCT, TOKEN_RE

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "signalbridge" / "parsing"
CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
BUILT = (PACKAGE / "compiled.json").exists()
SOURCE_ONLY = os.environ.get("SIGNALBRIDGE_PARSER") == "source"
CLI = [sys.executable, "-m", "signalbridge.cli", "parse"]

# Messages of every kind and script the rules read, for a run without the dev corpus.
MESSAGES = [
    "EURUSD BUY 1.0850 SL 1.0800 TP 1.0950 / 1.1000",
    "#BTC LONG 🚀\nEntry: 42,000 - 42,500\nSL: 41000\nTP1 43000\nTP2 44000\nLev: Cross 20x",
    "XAU/USD BUY NOW @ 1945 SL 1940 TP 1955",
    "ЗОЛОТО ПОКУПКА 2345-2341 стоп 2335 тейк 2360",
    "ORO VENTA 2350 SL 2360 TP 2340",
    "ALTIN SAT 2350 SL 2360 TP 2340 / 2330",
    "ذهب شراء 2345 وقف الخسارة 2335 الهدف 2360",
    "Move SL to entry",
    "TP 2 hit ✅",
    "close half on gold",
    "cancel #ETHUSDT",
    "Good morning traders! +450 pips this week 💰",
    '{"ticker": "BTCUSDT", "action": "buy", "price": "42000"}',
    "123456789,buy,EURUSD,sl=1.0800,tp=1.0950",
    "SYMBOL=BTC/USDT\nSIDE=SELL\nPRICE=42000",
    "𝐁𝐓𝐂 𝐒𝐇𝐎𝐑𝐓 ➊ 45000 ❷ 44000 stop 46000",
    "Tp1.1.96600 sl 1.9500 gbpusd buy",
]

needs_tokens = pytest.mark.skipif(
    SOURCE_ONLY or not BUILT, reason="the parser is not compiled (make compile)"
)


# The tokenisers the parser uses: the C ones wherever needs_tokens lets a test run
# (test_make_built_parser_runs_compiled holds that they are not the expression)
_native = text_module.tokens
_lowered = text_module.tokens_lowered


def _expected_lowered(text: str) -> tuple[list[str], list[str]]:
    toks = TOKEN_RE.findall(text)
    return toks, [t.lower() for t in toks]


@needs_tokens
def test_make_built_parser_runs_compiled() -> None:
    assert compiled()
    assert _native != TOKEN_RE.findall and _lowered != text_module.python_tokens_lowered


CONTEXTS = ["{c}", "a{c}1", "1{c}2", ".{c}5"]  # the character alone, in words, numbers
MORE_CONTEXTS = ["{c}.5", "x1{c}", "1.{c}", "_{c}_", "{c}{c}", "1{c}.2", "a1{c}", "é{c}٣"]


def _signature(c: str) -> tuple[bool, ...]:
    """What the tokeniser may ask of a character."""
    return (c.isdecimal(), c.isalnum(), c in PUNCT, c in " \n._")


@needs_tokens
def test_c_tokeniser_matches_the_expression_on_every_code_point() -> None:
    tokens = _native
    kinds: dict[tuple[bool, ...], list[str]] = {}
    for start in range(0, 0x110000, 4096):
        points = [chr(p) for p in range(start, min(start + 4096, 0x110000))]
        points = [c for c in points if not "\ud800" <= c <= "\udfff"]
        for c in points:
            kinds.setdefault(_signature(c), []).append(c)
        chunk = " ".join(f.format(c=c) for c in points for f in CONTEXTS)
        assert tokens(chunk) == TOKEN_RE.findall(chunk), hex(start)
        assert _lowered(chunk) == _expected_lowered(chunk), hex(start)
    # every kind of character in every context, with a few of each kind
    sample = [c for chars in kinds.values() for c in chars[:: max(1, len(chars) // 50)]]
    chunk = " ".join(f.format(c=c) for c in sample for f in CONTEXTS + MORE_CONTEXTS)
    assert tokens(chunk) == TOKEN_RE.findall(chunk)
    assert len(kinds) >= 6


PIECES = st.sampled_from(
    [
        *(" ", "\n", "\t", ".", ",", "-", "_", "#", "'", "1", "20", "0.5", "1,5", "a"),
        *(
            "Tp1",
            "SL",
            "x",
            "🚀",
            "🎯",
            "✅",
            "→",
            "é",
            "٣",
            "𝐁",
            "½",
            "²",
            "Ⅻ",
            "〇",
            "٫",
            "ΑΣ",
            "İ",
            "Σ.",
        ),
    ]
)


@needs_tokens
@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(PIECES, max_size=40).map("".join), st.text(max_size=80)))
def test_c_tokeniser_matches_the_expression_on_arbitrary_text(text: str) -> None:
    assert _native(text) == TOKEN_RE.findall(text)
    assert _lowered(text) == _expected_lowered(text)
    assert text_module.python_tokens_lowered(text) == _expected_lowered(text)  # the fallback


def _cli(payload: bytes, **env: str) -> bytes:
    done = subprocess.run(
        CLI, input=payload, capture_output=True, check=True, env={**os.environ, **env}
    )
    return done.stdout


@needs_tokens
def test_compiled_and_source_parsers_write_the_same_bytes() -> None:
    texts = list(MESSAGES)
    for path in sorted(CORPUS.glob("*.jsonl")):  # the dev corpus, when it is beside us
        texts += [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]
    payload = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    built = _cli(payload.encode())
    assert built.count(b"\n") == len(texts)
    assert built == _cli(payload.encode(), SIGNALBRIDGE_PARSER="source")


@needs_tokens
def test_a_build_older_than_its_source_is_not_used(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    lexer = src / "signalbridge" / "parsing" / "lexer.py"
    lexer.write_text(lexer.read_text() + "\n# edited after the build\n")
    probe = "import signalbridge.parsing as p; p.select_build(); "
    probe += "import signalbridge.parsing.text as t; "
    probe += "print(p.compiled(), t.tokens == t.TOKEN_RE.findall)"
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, check=True, text=True, env=env
    )
    assert done.stdout.split() == ["False", "True"]
    assert "older than its source" in done.stderr


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(PIECES, max_size=20).map("".join), st.text(max_size=40)))
def test_lower_is_the_interpreters_str_lower(text: str) -> None:
    assert text_module.lower(text) == text.lower()


def test_lower_keeps_the_final_sigma() -> None:
    for text in ["ΑΣ", "ΑΣ.Β", "ΟΔΟΣ 1", "Σ", "ΑΣΑ"]:
        assert text_module.lower(text) == text.lower()


def test_importing_the_package_chooses_nothing() -> None:
    """The choice (hashing the sources, a finder on sys.meta_path) waits for first use."""
    probe = "import sys; n = len(sys.meta_path); import signalbridge.parsing as p; "
    probe += "mods = [k for k in sys.modules if k.startswith(p.__name__ + '.')]; "
    probe += "print(len(sys.meta_path) == n, mods); "
    probe += "p.parse('EURUSD BUY 1.0850 SL 1.0800 TP 1.0950'); "
    probe += "print('signalbridge.parsing.engine' in sys.modules)"
    env = {**os.environ, "SIGNALBRIDGE_PARSER": "source"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, check=True, text=True, env=env
    )
    assert done.stdout.split("\n")[:2] == ["True []", "True"]
