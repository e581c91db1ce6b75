"""``signalbridge parse``: JSON Lines in, one result object per line out, same order.

Each input line is ``{"text": ...}``; other keys are passed through unchanged (after the
result's own keys, which win on a clash). A line that cannot be read becomes
``{"kind":"error","error":...}`` on its own output line and the run goes on.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Final, TextIO

import orjson

from signalbridge.domain.signals import Signal, SignalUpdate, fmt_decimal
from signalbridge.parsing.engine import parse
from signalbridge.parsing.result import ParseResult, json_number
from signalbridge.parsing.templates import Template, load_template

_RESULT_KEYS: Final = frozenset(
    {"kind", "symbol", "side", "order_type", "entry", "stop_loss", "take_profits"}
    | {"leverage", "action", "value", "confidence", "error"}
)
_VALUE_NULL: Final = b'"value":null'
MAX_LINE: Final = 1_000_000


def run(stdin: TextIO, stdout: TextIO, template_path: Path | None) -> int:
    """Parse every line of ``stdin``; exit code 0, or 2 when the template is unusable."""
    template: Template | None = None
    if template_path is not None:
        try:
            template = load_template(template_path)
        except ValueError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    raw_in: BinaryIO | None = getattr(stdin, "buffer", None)
    raw_out: BinaryIO | None = getattr(stdout, "buffer", None)
    if raw_in is not None and raw_out is not None:
        stdout.flush()
        _run_bytes(raw_in, raw_out, template)
        return 0
    write = stdout.write
    batch: list[str] = []
    for line in stdin:
        if not line.strip():
            continue
        batch.append(process_line(line, template))
        if len(batch) >= 512:
            write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        write("\n".join(batch) + "\n")
    stdout.flush()
    return 0


def _run_bytes(stdin: BinaryIO, stdout: BinaryIO, template: Template | None) -> None:
    """The same loop on the raw streams: orjson reads UTF-8 bytes and writes bytes, so
    nothing is decoded into ``str`` and encoded back on the way (a real file or pipe)."""
    write = stdout.write
    batch: list[bytes] = []
    for raw in stdin:
        stripped = raw.strip()
        if not stripped or (stripped[0] >= 0x80 and not _decoded(raw).strip()):
            continue  # blank, even in Unicode whitespace, as the text loop reads it
        batch.append(_process(raw, template))
        if len(batch) >= 512:
            write(b"\n".join(batch) + b"\n")
            batch.clear()
    if batch:
        write(b"\n".join(batch) + b"\n")
    stdout.flush()


def _decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def process_line(line: str, template: Template | None = None) -> str:
    """One input line to one output line (without the newline); never raises."""
    return _process(line, template).decode()


def _process(line: str | bytes, template: Template | None) -> bytes:
    """One line (text or UTF-8 bytes) to one output line in bytes; never raises."""
    try:
        if (
            len(line) > MAX_LINE
            and len(line if isinstance(line, str) else _decoded(line)) > MAX_LINE
        ):
            return _error("line is longer than 1,000,000 characters")
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return _error("line is not valid JSON")
        if not isinstance(obj, dict):
            return _error("line must be a JSON object")
        text = obj.get("text")
        if not isinstance(text, str):
            return _error("'text' must be a string")
        result = parse(text, template)
        data, value = _output(result)
        for key, extra in obj.items():
            if key != "text" and key not in _RESULT_KEYS:
                data[key] = extra
        out = orjson.dumps(data)
        if isinstance(value, Decimal):
            # Our keys come first, so the first "value":null is ours: write the exact
            # decimal text as a JSON number, with no float in between.
            out = out.replace(_VALUE_NULL, b'"value":' + fmt_decimal(value).encode(), 1)
        return out
    except Exception as exc:  # the contract: a bad line never stops the run
        return _error(f"internal error: {type(exc).__name__}")


def _output(result: ParseResult) -> tuple[dict[str, Any], Decimal | None]:
    """The output object (as :meth:`ParseResult.to_dict`), built without the generic path.

    Enum members go to orjson as they are (it writes their value). A non-integral update
    value is returned apart, with ``None`` in its place, to be spliced in as exact text.
    """
    parsed = result.parsed
    conf = _rounded(result.confidence)
    if type(parsed) is Signal:
        entry = parsed.entry
        stop = parsed.stop_loss
        zone = None
        if entry is not None:
            low = _fmt(entry.low)
            # a single price is one Decimal in both places: formatted once
            zone = {"low": low, "high": low if entry.high is entry.low else _fmt(entry.high)}
        return {
            "kind": "signal",
            "symbol": parsed.symbol,
            "side": parsed.side,
            "order_type": parsed.order_type,
            "entry": zone,
            "stop_loss": None if stop is None else _fmt(stop),
            "take_profits": [_fmt(tp) for tp in parsed.take_profits],
            "leverage": parsed.leverage,
            "confidence": conf,
        }, None
    if type(parsed) is SignalUpdate:
        number = json_number(parsed.value)
        data = {
            "kind": "update",
            "symbol": parsed.symbol,
            "action": parsed.action,
            "value": None if isinstance(number, Decimal) else number,
            "confidence": conf,
        }
        return data, number if isinstance(number, Decimal) else None
    data = result.to_dict()
    return data, None


# The parser's confidences are a few hundred distinct sums of its weights, and round() of
# a float to three places goes through a decimal conversion: each is rounded once.
_ROUNDED: Final[dict[float, float]] = {}


def _rounded(confidence: float) -> float:
    """``round(confidence, 3)``, remembered (a positive float only: -0.0 == 0.0)."""
    done = _ROUNDED.get(confidence)
    if done is None:
        done = round(confidence, 3)
        if confidence > 0 and len(_ROUNDED) < 10_000:
            _ROUNDED[confidence] = done
    return done


def _fmt(value: Decimal) -> str:
    """:func:`fmt_decimal` for the common plain form, without its two Decimal operations."""
    text = str(value)
    if "E" in text or "e" in text:
        return fmt_decimal(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _error(message: str) -> bytes:
    return orjson.dumps({"kind": "error", "error": message})
