"""Channel templates: their patterns and words win over the general rules."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from signalbridge.domain.signals import Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse
from signalbridge.parsing.templates import load_template

PATTERN_TEMPLATE = {
    "name": "golden-eagle",
    "patterns": [
        {
            "regex": r"(?P<side>AL|SAT)\s+(?P<symbol>\w+)\s+@(?P<entry>[\d.]+)\s+"
            r"koruma\s+(?P<stop_loss>[\d.]+)\s+kar\s+(?P<take_profits>[\d./ ]+)",
        },
        {"kind": "update", "action": "move_sl_to_entry", "regex": r"kartal sıfırda"},
        {"kind": "noise", "regex": r"^reklam"},
    ],
    "keywords": {"long": ["AL"], "short": ["SAT"]},
}


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_regex_template_takes_precedence(tmp_path: Path) -> None:
    template = load_template(write(tmp_path, "t.json", json.dumps(PATTERN_TEMPLATE)))
    text = "SAT XAUUSD @2350 koruma 2360 kar 2340 / 2330"
    result = parse(text, template)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.side is Side.SHORT
    assert result.parsed.symbol == "XAUUSD"
    assert result.parsed.take_profits == (Decimal(2340), Decimal(2330))
    assert "template 'golden-eagle'" in result.reasons
    assert parse("kartal sıfırda", template).parsed == SignalUpdate(UpdateAction.MOVE_SL_TO_ENTRY)
    assert parse("reklam: buy gold now sl 2300 tp 2400", template).kind == "noise"


def test_keyword_map_extends_the_general_rules(tmp_path: Path) -> None:
    toml = (
        'name = "moon"\n[keywords]\nlong = ["to the moon"]\nstop_loss = ["bail"]\n'
        'take_profit = ["cash out"]\n[symbols]\n"yellow" = "XAUUSD"\n'
    )
    template = load_template(write(tmp_path, "t.toml", toml))
    text = "yellow to the moon 2300 bail 2290 cash out 2320"
    without = parse(text)
    assert without.kind != "signal"
    result = parse(text, template)
    assert isinstance(result.parsed, Signal)
    assert (result.parsed.symbol, result.parsed.side) == ("XAUUSD", Side.LONG)
    assert result.parsed.stop_loss == Decimal(2290)
    assert result.parsed.take_profits == (Decimal(2320),)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid"),
        ("[]", "must be an object"),
        ('{"patterns": [{"regex": "(unclosed"}]}', "not a valid regular expression"),
        ('{"patterns": [{"regex": "(?P<price>\\\\d+)", "side": "long"}]}', "unknown named groups"),
        ('{"patterns": [{"regex": "buy (?P<symbol>\\\\w+)"}]}', "without a side"),
        ('{"patterns": [{"kind": "update", "regex": "x"}]}', "without an action"),
        ('{"patterns": [{"kind": "update", "action": "explode", "regex": "x"}]}', "action must be"),
        ('{"keywords": {"sideways": ["x"]}}', "unknown keyword meaning"),
        ('{"symbols": {"x": "not a symbol!"}}', "symbol alias"),
        ('{"colour": "red"}', "unknown template keys"),
        ("{}", "at least one pattern"),
    ],
)
def test_invalid_template_is_a_clear_value_error(
    tmp_path: Path, content: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_template(write(tmp_path, "bad.json", content))


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read template"):
        load_template(tmp_path / "nope.json")


def test_keywords_lower_like_the_message_in_any_script(tmp_path: Path) -> None:
    # "ΑΓΟΡΑΣ" ends in a capital sigma, which lowers to the final form "ς": the keyword
    # and the message's word must lower alike, compiled (mypyc's own lower gave "σ") or not
    toml = 'name = "gr"\n[keywords]\nlong = ["ΑΓΟΡΑΣ"]\nstop_loss = ["ΣΤΟΠ"]\n'
    template = load_template(write(tmp_path, "t.toml", toml))
    result = parse("EURUSD ΑΓΟΡΑΣ 1.0850 ΣΤΟΠ 1.0800 TP 1.0950", template)
    assert isinstance(result.parsed, Signal)
    assert (result.parsed.side, result.parsed.stop_loss) == (Side.LONG, Decimal("1.0800"))
