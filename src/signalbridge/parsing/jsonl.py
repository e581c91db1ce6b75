"""``signalbridge parse``: JSON Lines in, one result object per line out, same order.

Each input line is ``{"text": ...}``; other keys are passed through unchanged (after the
result's own keys, which win on a clash). A line that cannot be read becomes
``{"kind":"error","error":...}`` on its own output line and the run goes on.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import orjson

from signalbridge.domain.signals import fmt_decimal
from signalbridge.parsing.engine import parse
from signalbridge.parsing.templates import Template, load_template

_RESULT_KEYS = frozenset(
    {"kind", "symbol", "side", "order_type", "entry", "stop_loss", "take_profits"}
    | {"leverage", "action", "value", "confidence", "error"}
)
_VALUE_NULL = b'"value":null'
MAX_LINE = 1_000_000


def run(stdin: TextIO, stdout: TextIO, template_path: Path | None) -> int:
    """Parse every line of ``stdin``; exit code 0, or 2 when the template is unusable."""
    template: Template | None = None
    if template_path is not None:
        try:
            template = load_template(template_path)
        except ValueError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
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


def process_line(line: str, template: Template | None = None) -> str:
    """One input line to one output line (without the newline); never raises."""
    try:
        if len(line) > MAX_LINE:
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
        data = result.to_dict()
        value = data.get("value")
        if isinstance(value, Decimal):
            data["value"] = None
        for key, extra in obj.items():
            if key != "text" and key not in _RESULT_KEYS:
                data[key] = extra
        out = orjson.dumps(data)
        if isinstance(value, Decimal):
            # Our keys come first, so the first "value":null is ours: write the exact
            # decimal text as a JSON number, with no float in between.
            out = out.replace(_VALUE_NULL, b'"value":' + fmt_decimal(value).encode(), 1)
        return out.decode()
    except Exception as exc:  # the contract: a bad line never stops the run
        return _error(f"internal error: {type(exc).__name__}")


def _error(message: str) -> str:
    return orjson.dumps({"kind": "error", "error": message}).decode()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    template_path: Path | None = None
    if args[:1] == ["--template"] and len(args) == 2:
        template_path = Path(args[1])
    elif args:
        sys.stderr.write("usage: python -m signalbridge.parsing.jsonl [--template FILE]\n")
        return 2
    return run(sys.stdin, sys.stdout, template_path)


if __name__ == "__main__":
    raise SystemExit(main())
