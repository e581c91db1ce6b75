"""The ``signalbridge parse`` JSON Lines contract, end to end through a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from signalbridge.cli import plain_parse

CLI = [sys.executable, "-m", "signalbridge.cli", "parse"]

LINES = [
    {"id": 1, "text": "EURUSD BUY 1.0850 SL 1.0800 TP 1.0950 / 1.1000", "channel": "fx"},
    {"id": 2, "text": "Move SL to 1.0850"},
    "this is not json",
    {"id": 3, "text": "Good morning!"},
    ["not", "an", "object"],
    {"id": 4, "text": 42},
    {"id": 5, "text": "close half on gold"},
    {"id": 6, "text": "XAU/USD BUY NOW @ 1945 SL 1940 TP 1955", "meta": {"nested": [1, 2]}},
]


def run(
    cmd: list[str], lines: list[object], *extra: str
) -> tuple[int, list[dict[str, object]], str]:
    payload = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    done = subprocess.run(
        [*cmd, *extra], input=payload.encode(), capture_output=True, timeout=120, check=False
    )
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return done.returncode, out, done.stderr.decode()


def test_jsonl_contract_end_to_end() -> None:
    code, out, _ = run(CLI, LINES)
    assert code == 0
    assert len(out) == len(LINES)
    signal, move, bad_json, noise, not_object, bad_text, half, market = out
    assert signal == {
        "kind": "signal",
        "symbol": "EURUSD",
        "side": "long",
        "order_type": "limit",
        "entry": {"low": "1.085", "high": "1.085"},
        "stop_loss": "1.08",
        "take_profits": ["1.095", "1.1"],
        "leverage": None,
        "confidence": signal["confidence"],
        "id": 1,
        "channel": "fx",
    }
    assert move["kind"] == "update" and move["action"] == "move_sl" and move["id"] == 2
    assert bad_json["kind"] == "error" and "JSON" in str(bad_json["error"])
    assert noise["kind"] == "noise" and noise["id"] == 3
    assert not_object["kind"] == "error"
    assert bad_text["kind"] == "error"
    assert half["action"] == "close_partial" and half["value"] == 50 and half["symbol"] == "XAUUSD"
    assert market["order_type"] == "market" and market["meta"] == {"nested": [1, 2]}


def test_update_value_is_written_as_an_exact_json_number() -> None:
    payload = json.dumps({"text": "Move SL to 1.08500"}) + "\n"
    done = subprocess.run(CLI, input=payload.encode(), capture_output=True, timeout=60, check=True)
    assert b'"value":1.085,' in done.stdout


def test_template_option(tmp_path: Path) -> None:
    template = tmp_path / "t.json"
    template.write_text(
        json.dumps(
            {"patterns": [{"regex": r"^ZZ (?P<symbol>\w+) (?P<entry>[\d.]+)", "side": "long"}]}
        )
    )
    code, out, _ = run(CLI, [{"text": "ZZ EURUSD 1.0850"}], "--template", str(template))
    assert code == 0
    assert out[0]["kind"] == "signal" and out[0]["symbol"] == "EURUSD"


def test_unusable_template_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, out, err = run(CLI, [{"text": "x"}], "--template", str(bad))
    assert code == 2
    assert out == []
    assert "not valid" in err and "Traceback" not in err


def test_template_option_with_equals_sign(tmp_path: Path) -> None:
    template = tmp_path / "t.json"
    template.write_text(json.dumps({"symbols": {"yellow": "XAUUSD"}}))
    code, out, _ = run(CLI, [{"text": "yellow buy 2300 sl 2290 tp 2320"}], f"--template={template}")
    assert code == 0
    assert out[0]["symbol"] == "XAUUSD"


def test_parse_help_and_bad_options_go_to_the_full_cli() -> None:
    help_run = subprocess.run([*CLI, "--help"], capture_output=True, timeout=60, check=False)
    assert help_run.returncode == 0 and b"--template" in help_run.stdout
    bad = subprocess.run([*CLI, "--nope"], capture_output=True, timeout=60, check=False)
    assert bad.returncode == 2 and b"No such option" in bad.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["parse"], (True, None)),
        (["parse", "--template", "t.toml"], (True, Path("t.toml"))),
        (["parse", "--template=t.toml"], (True, Path("t.toml"))),
        (["parse", "--template", "--help"], (False, None)),
        (["parse", "--help"], (False, None)),
        (["parse", "x"], (False, None)),
        (["serve"], (False, None)),
        ([], (False, None)),
    ],
)
def test_only_a_plain_parse_skips_the_command_framework(
    args: list[str], expected: tuple[bool, Path | None]
) -> None:
    assert plain_parse(args) == expected
