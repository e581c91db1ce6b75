"""Throughput of ``signalbridge parse`` over 100,000 messages, beside a same-run baseline.

Usage: .venv/bin/python bench/parse_speed.py [--messages N] [--adversarial]

The messages are the dev corpus texts with every digit replaced at random (same shapes,
unique content, so no cache can help), cycled to N lines. The baseline is a process that
reads and echoes the same JSONL with orjson, i.e. the floor any JSONL tool pays.
``--adversarial`` also times 100 KB hostile inputs one by one (each must stay < 50 ms).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
ECHO = (
    "import sys, orjson\n"
    "w = sys.stdout.write\n"
    "for line in sys.stdin:\n"
    "    w(orjson.dumps(orjson.loads(line)).decode() + '\\n')\n"
)


def parse_command() -> list[str]:
    """The CLI once ``signalbridge.cli`` exists, else the module entry point."""
    if importlib.util.find_spec("signalbridge.cli") is not None:
        return [sys.executable, "-m", "signalbridge.cli", "parse"]
    return [sys.executable, "-m", "signalbridge.parsing.jsonl"]


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


def run(cmd: list[str], payload: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the child (immune to a busy shared machine), lines."""
    with payload.open("rb") as stdin:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(cmd, stdin=stdin, capture_output=True, check=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout.count(b"\n")


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
    ap.add_argument("--adversarial", action="store_true")
    args = ap.parse_args()
    messages = make_messages(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "messages.jsonl"
        with payload.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(messages):
                fh.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
        cmd = parse_command()
        base_s, base_cpu, base_n = run([sys.executable, "-c", ECHO], payload)
        parse_s, parse_cpu, parse_n = run(cmd, payload)
    assert base_n == parse_n == len(messages), (base_n, parse_n)
    print(f"command: {' '.join(cmd[1:])}")
    print(f"messages: {len(messages)}")
    print(f"{'':30}{'wall msg/s':>12}{'CPU msg/s':>12}")
    print(f"{'baseline (read + echo JSONL)':30}{base_n / base_s:12,.0f}{base_n / base_cpu:12,.0f}")
    print(f"{'signalbridge parse':30}{parse_n / parse_s:12,.0f}{parse_n / parse_cpu:12,.0f}")
    print(f"parse cost relative to echo: {parse_cpu / base_cpu:.1f}x (CPU time)")
    if args.adversarial:
        time_adversarial()
    return 0


if __name__ == "__main__":
    sys.exit(main())
