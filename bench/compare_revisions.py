"""Every benchmark at two revisions, side by side, measured in one run on this machine.

    .venv/bin/python bench/compare_revisions.py BASE [HEAD] [--rounds 2] [--only NAME]

BASE and HEAD (default ``HEAD``; ``.`` is this checkout as it is) are checked out as git
worktrees in a temporary directory, with the dev corpus linked beside them where
``parse_speed.py`` looks for it, and each one's parser is compiled. Then every benchmark
runs for both revisions in turn (BASE, HEAD, BASE, HEAD, ...), each with its own tree's
``src`` first on ``PYTHONPATH`` and this interpreter, so both see the same machine, the same
load and the same dependencies. A figure is the best of its rounds (the lowest time, the
highest rate); the spread is how far one revision's rounds lie apart, the run's own measure
of noise. Beside the figures, the CPU seconds each benchmark's whole process tree used
(servers included) measure its work, which the machine's load barely moves. A change is
called a regression only when HEAD is worse than BASE by more than both the spread and 10 %.

Sizes are reduced so that two rounds take about ten minutes on two cores; ``--full`` runs
the benchmarks' own defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS_ROOT = REPO.parent / "shared"


@dataclass(frozen=True)
class Figure:
    """One number a benchmark prints: the n-th match of a pattern in its output."""

    label: str
    pattern: str
    higher_is_better: bool = False
    occurrence: int = 0
    unit: str = ""

    def read(self, output: str) -> float | None:
        found = re.findall(self.pattern, output)
        if len(found) <= self.occurrence:
            return None
        return float(str(found[self.occurrence]).replace(",", ""))


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    quick: tuple[str, ...]
    figures: tuple[Figure, ...]


SENT = r"every order sent\s+batched\s+([\d.]+) s"
RECORDED = r"every order recorded\s+batched\s+([\d.]+) s"
ORDER_SENT = r"received -> order_sent\s+([\d.]+)"

BENCHES = (
    Bench(
        "monitor",
        "bench/bench_monitor.py",
        ("--positions", "100000", "--runs", "5"),
        (
            Figure(
                "monitor tick, 100k positions",
                r"monitor tick \(sorted index\):\s+([\d.]+)",
                unit="ms",
            ),
            Figure(
                "  baseline: naive tick", r"naive tick \(query\+check each\):\s+([\d.]+)", unit="ms"
            ),
        ),
    ),
    Bench(
        "fanout",
        "bench/bench_fanout.py",
        ("--paper", "300", "--binance", "300"),
        (
            Figure("fan-out paper: every order sent", SENT, unit="s"),
            Figure("fan-out paper: every order recorded", RECORDED, unit="s"),
            Figure("fan-out Binance: every order sent", SENT, occurrence=1, unit="s"),
            Figure("fan-out Binance: every order recorded", RECORDED, occurrence=1, unit="s"),
        ),
    ),
    Bench(
        "webhook",
        "bench/bench_webhook_latency.py",
        ("--count", "300", "--rate", "20", "--burst", "300"),
        (
            Figure("webhook at 20/s: order sent p50", ORDER_SENT, unit="ms"),
            Figure(
                "webhook at 20/s: order sent p99",
                r"received -> order_sent\s+[\d.]+\s+([\d.]+)",
                unit="ms",
            ),
            Figure("webhook back to back: order sent p50", ORDER_SENT, occurrence=1, unit="ms"),
            Figure(
                "webhook back to back: sustained rate",
                r"max sustained rate[^:]*:\s+([\d.]+)",
                higher_is_better=True,
                unit="/s",
            ),
            Figure(
                "  baseline: bare FastAPI p50", r"bare FastAPI round trip\s+([\d.]+)", unit="ms"
            ),
        ),
    ),
    Bench(
        "parse",
        "bench/parse_speed.py",
        ("--messages", "50000", "--rounds", "2"),
        (
            Figure(
                "parse (compiled), CPU",
                r"signalbridge parse \(compiled\)\s+[\d,]+\s+([\d,]+)",
                higher_is_better=True,
                unit="msg/s",
            ),
            Figure(
                "parse (source), CPU",
                r"parse, source \(SIGNALBRIDGE_PARSER=source\)\s+[\d,]+\s+([\d,]+)",
                higher_is_better=True,
                unit="msg/s",
            ),
            Figure("parse cost / echo", r"parse cost relative to echo: ([\d.]+)x", unit="x"),
        ),
    ),
)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def checkouts(revisions: list[str]) -> Iterator[list[Path]]:
    """Worktrees of the revisions (``.`` is this checkout), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sb-compare-") as tmp:
        (Path(tmp) / "shared").symlink_to(CORPUS_ROOT)
        trees: list[Path] = []
        made: list[Path] = []
        try:
            for index, rev in enumerate(revisions):
                if rev == ".":
                    trees.append(REPO)
                    continue
                tree = Path(tmp) / f"tree{index}"
                git("worktree", "add", "--detach", str(tree), rev)
                made.append(tree)
                trees.append(tree)
            yield trees
        finally:
            for tree in made:
                git("worktree", "remove", "--force", str(tree))


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src")
    return env


def compile_parser(tree: Path) -> None:
    tool = tree / "tools" / "compile_parser.py"
    if tool.exists():
        subprocess.run([sys.executable, str(tool)], cwd=tree, env=environment(tree), check=True)


def run(tree: Path, bench: Bench, full: bool) -> tuple[str, float]:
    """The benchmark's output and the CPU seconds its whole process tree used."""
    args = [] if full else list(bench.quick)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, bench.script, *args],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{bench.name} failed at {tree}:\n{done.stdout}\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, cpu


def cpu_label(bench: Bench) -> str:
    return f"  CPU of the whole {bench.name} run"


def best(values: list[float], figure: Figure) -> float:
    return max(values) if figure.higher_is_better else min(values)


def spread(values: list[float]) -> float:
    """How far apart the rounds lie, as a fraction of the best."""
    low, high = min(values), max(values)
    return (high - low) / low if low else 0.0


def verdict(base: list[float], head: list[float], figure: Figure) -> str:
    b, h = best(base, figure), best(head, figure)
    if not b:
        return ""
    worse = (b / h - 1) if figure.higher_is_better else (h / b - 1)
    noise = max(spread(base), spread(head), 0.10)
    if worse > noise:
        return "WORSE"
    if -worse > noise:
        return "better"
    return "same, within noise"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("base", help="the revision to compare against")
    ap.add_argument("head", nargs="?", default="HEAD", help="default HEAD; '.' = this checkout")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each benchmark per revision")
    ap.add_argument("--only", action="append", choices=[b.name for b in BENCHES])
    ap.add_argument("--full", action="store_true", help="the benchmarks' own default sizes")
    opts = ap.parse_args()
    if not shutil.which("git"):
        raise SystemExit("git is needed to check out the revisions")
    benches = [b for b in BENCHES if not opts.only or b.name in opts.only]
    names = {opts.base: git("rev-parse", "--short", opts.base)}
    names[opts.head] = (
        "working tree" if opts.head == "." else git("rev-parse", "--short", opts.head)
    )
    labels = [names[opts.base], names[opts.head]]
    with checkouts([opts.base, opts.head]) as trees:
        for tree in trees:
            compile_parser(tree)
        readings: dict[str, list[list[float]]] = {}
        for bench in benches:
            for round_no in range(opts.rounds):
                for side, tree in enumerate(trees):
                    print(
                        f"[{bench.name} round {round_no + 1}, {labels[side]}]",
                        flush=True,
                    )
                    output, cpu = run(tree, bench, opts.full)
                    readings.setdefault(cpu_label(bench), [[], []])[side].append(cpu)
                    for figure in bench.figures:
                        value = figure.read(output)
                        if value is None:
                            raise RuntimeError(f"{figure.label}: not in the output of {bench.name}")
                        readings.setdefault(figure.label, [[], []])[side].append(value)
    load = os.getloadavg()[0]
    print()
    print(
        f"base {names[opts.base]}  vs  head {names[opts.head]}; {opts.rounds} rounds each, "
        f"alternating; best of rounds (spread); load average now {load:.2f}"
    )
    print(f"{'figure':44} {'base':>18} {'head':>18} {'head/base':>9}  verdict")
    for bench in benches:
        for figure in (*bench.figures, Figure(cpu_label(bench), "", unit="s")):
            base, head = readings[figure.label]
            b, h = best(base, figure), best(head, figure)
            cells = [f"{v:,.2f} {figure.unit} ({spread(r):.0%})" for v, r in ((b, base), (h, head))]
            ratio = f"{h / b:.2f}" if b else "-"
            said = verdict(base, head, figure)
            print(f"{figure.label:44} {cells[0]:>18} {cells[1]:>18} {ratio:>9}  {said}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
