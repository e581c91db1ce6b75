"""Throughput of ``signalbridge parse`` over 100,000 messages, beside a same-run baseline.

Usage: .venv/bin/python bench/parse_speed.py [--messages N] [--rounds R] [--adversarial]

The messages are the dev corpus texts with every digit replaced at random (same shapes,
unique content, so no cache can help), cycled to N lines. The baseline is a process that
reads and echoes the same JSONL with orjson, i.e. the floor any JSONL tool pays. When the
parser is compiled (``make compile``), the same parser also runs from its source
(``SIGNALBRIDGE_PARSER=source``), and the two outputs must be identical byte for byte.
``--adversarial`` also times 100 KB hostile inputs one by one (each must stay < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
ECHO = (
    "import sys, orjson\n"
    "w = sys.stdout.write\n"
    "for line in sys.stdin:\n"
    "    w(orjson.dumps(orjson.loads(line)).decode() + '\\n')\n"
)


PARSE = [sys.executable, "-m", "signalbridge.cli", "parse"]


def make_messages(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = [
        json.loads(line)["text"]
        for path in sorted(CORPUS.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    out = []
    for i in range(n):
        text = texts[i % len(texts)]
        out.append("".join(str(rng.randrange(10)) if c.isdigit() else c for c in text))
    return out


def run(cmd: list[str], payload: Path, env: dict[str, str] | None = None) -> Run:
    """Wall seconds, CPU seconds of the child (immune to a busy shared machine), output."""
    with payload.open("rb") as stdin:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            cmd, stdin=stdin, capture_output=True, check=True, env={**os.environ, **(env or {})}
        )
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(elapsed, cpu, done.stdout)


@dataclass
class Run:
    wall: float
    cpu: float
    out: bytes

    @property
    def lines(self) -> int:
        return self.out.count(b"\n")


def parser_is_compiled() -> bool:
    probe = "import signalbridge.parsing as p; print(p.compiled())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True)
    return done.stdout.strip() == b"True"


def adversarial_inputs() -> dict[str, str]:
    size = 100_000
    return {
        "digits": "7" * size,
        "separators": ("1.2-3/4,5 " * (size // 10)),
        "keywords": ("buy sell sl tp entry target stop long short " * (size // 44))[:size],
        "tp lines": ("TP1: 1.2345\n" * (size // 12))[:size],
        "numbers": " ".join(str(i) for i in range(size // 6))[:size],
        "emoji": ("🚀🎯✅❌" * (size // 4))[:size],
        "dots": "." * size,
        "hashtags": ("#btc $eth " * (size // 10))[:size],
        "close words": ("close move sl to entry cancel tp hit " * (size // 37))[:size],
        "mixed": ("BUY EURUSD @ 1.0850 SL 1.08 TP 1.09 / 1.1 / " * (size // 44))[:size],
    }


def time_adversarial() -> None:
    from signalbridge.parsing import parse

    print("\nadversarial 100 KB inputs (limit 50 ms each):")
    for name, text in adversarial_inputs().items():
        start = time.perf_counter()
        result = parse(text)
        ms = (time.perf_counter() - start) * 1000
        print(f"  {name:<12} {ms:7.2f} ms  -> {result.kind}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=1, help="alternate the runs this often")
    ap.add_argument("--adversarial", action="store_true")
    args = ap.parse_args()
    messages = make_messages(args.messages)
    compiled = parser_is_compiled()
    # (name, command, environment): the baseline first, the parser as it ships last
    plans: list[tuple[str, list[str], dict[str, str] | None]] = [
        ("baseline (read + echo JSONL)", [sys.executable, "-c", ECHO], None)
    ]
    if compiled:
        source = {"SIGNALBRIDGE_PARSER": "source"}
        plans.append(("parse, source (SIGNALBRIDGE_PARSER=source)", PARSE, source))
    plans.append(("signalbridge parse" + (" (compiled)" if compiled else ""), PARSE, None))
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in plans}
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "messages.jsonl"
        with payload.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(messages):
                fh.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
        for _ in range(args.rounds):
            for name, cmd, env in plans:
                runs[name].append(run(cmd, payload, env))
    base, *parsers = (runs[name] for name, _, _ in plans)
    assert len({r.out for results in parsers for r in results}) == 1, "outputs differ"
    assert all(r.lines == len(messages) for results in runs.values() for r in results)
    print(f"command: {' '.join(PARSE[1:])}")
    print(f"messages: {len(messages)}, rounds: {args.rounds} (best round shown)")
    print(f"{'':46}{'wall msg/s':>12}{'CPU msg/s':>12}")
    for name, results in runs.items():
        wall, cpu = min(r.wall for r in results), min(r.cpu for r in results)
        print(f"{name:46}{len(messages) / wall:12,.0f}{len(messages) / cpu:12,.0f}")
    final = min(r.cpu for r in parsers[-1])
    print(f"parse cost relative to echo: {final / min(r.cpu for r in base):.1f}x (CPU time)")
    if compiled:
        from_source = min(r.cpu for r in parsers[0])
        print(f"compiled speed-up over the source: {from_source / final:.2f}x; outputs identical")
    if args.adversarial:
        time_adversarial()
    return 0


if __name__ == "__main__":
    sys.exit(main())
