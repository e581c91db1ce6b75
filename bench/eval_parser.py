"""Exact-match accuracy of the rule parser on the dev corpus, and its confidence calibration.

Usage: .venv/bin/python bench/eval_parser.py [CORPUS_DIR] [--errors N] [--source NAME]
       [--disputes FILE] [--learn K [--folds F]]

Each labelled line's ``expected`` (in its source's own vocabulary, see the corpus
SOURCES.md) is mapped to the output contract and compared field by field: a row is
right only when the kind and every field the source asserts match exactly. Fields the
corpus flags as ``values_not_literal_in_text`` (a source's own convention, such as a
mid-price entry) and the symbol of ``symbol_not_in_text`` rows are not scored.

Rows listed in ``bench/label_disputes.jsonl`` (reviewed rows whose label contradicts the
output contract, each with its reason) are scored apart: against the label, and against
the contract's reading the file gives. Each line: ``key`` (the first 16 hex digits of the
SHA-256 of the row's text), ``source``, ``text`` (its start, for the reader), ``contract``
(the fields the contract reads instead, merged over the label), optionally ``below`` (the
contract wants a confidence under this: a reading a human reviews) and ``unscored`` (label
fields the contract check drops), and ``reason``. The parser is never tuned to a label
listed there. The **auto rate** is the share of signals and
updates that are right *and* at or above the execution threshold (0.9): what would run
without a human; it is printed per kind and per source, with the time spent in ``parse``.

``--learn K`` measures learning a channel's format (issue 14, goal 3) instead: for each
source, a template is learned from K of its signals (``parsing/learn.py``) and every other
labelled row of the source is read with it; repeated over F folds (different K each time,
seeded). It prints per source the accuracy of the general rules and with the learned
template on the same rows, the gain, the wrong parses at or above 0.9 of each, and the rows
right at or above 0.9 (the auto count) of each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from signalbridge.parsing import ParseResult, compiled, parse
from signalbridge.parsing.symbols import CRYPTO_QUOTES, FIXED

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "dev"
DEFAULT_DISPUTES = Path(__file__).resolve().parent / "label_disputes.jsonl"
THRESHOLD = 0.9  # the default confidence at which a parse is acted on without a human
AUTO_KINDS = ("signal", "update")  # the kinds the auto rate counts (multi_signal: signal)

_ACTIONS = {
    "close": "close_all",
    "close_all": "close_all",
    "close_all_longs": "close_all",
    "close_all_shorts": "close_all",
    "exit": "close_all",
    "close_position": "close_all",
    "partial_close": "close_partial",
    "close_percentage": "close_partial",
    "partial_close_tp1": "close_partial",
    "close_partial": "close_partial",
    "breakeven": "move_sl_to_entry",
    "move_sl_be": "move_sl_to_entry",
    "move_sl_to_entry": "move_sl_to_entry",
    "move_sl": "move_sl",
    "cancel": "cancel",
    "tp_hit": "tp_hit",
    "target_reached": "tp_hit",
    "sl_hit": "sl_hit",
    "modify_tp": "modify_tp",
}
# Where a source's own convention contradicts the output contract, the field is not scored
# (documented in bench/PARSER.md): tigger's order_type follows its marketExecution flag
# ("Buy NOW @ price" -> limit, a bare zone -> market), the reverse of the contract.
SKIP_FIELDS = {"LittleUmbrella": {"order_type"}}
# Sources whose parser keeps only the first N targets: their list is compared as a prefix.
TP_PREFIX = {"kmels", "wafflespeanut", "lukacsaron"}
_LEV_RANGE = re.compile(r"(\d+)\s*[xX]?\s*-\s*(\d+)\s*[xX]")
BUCKETS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01))


def canon_symbol(symbol: str) -> str:
    s = symbol.upper().replace("/", "").replace("-", "").replace("_", "")
    if s.lower() in FIXED:
        return FIXED[s.lower()]
    low = s.lower()
    if not any(low.endswith(q) and len(low) > len(q) + 1 for q in CRYPTO_QUOTES) and len(s) != 6:
        s += "USDT"
    return s


def dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def expected_kind(exp: dict[str, Any]) -> str | None:
    kind = exp.get("kind")
    if kind:
        return str(kind)
    pr = exp.get("parser_result")
    if pr == "non_null":
        return "signal"
    if pr in ("null", "noise"):
        return "not_signal"
    return None


def _range_first(text: str, ours: Any, theirs: Any) -> bool:
    for m in _LEV_RANGE.finditer(text):
        if (int(m.group(1)), int(m.group(2))) == (ours, theirs):
            return True
    return False


def check_signal(
    exp: dict[str, Any], out: dict[str, Any], source: str = "", text: str = ""
) -> list[str]:
    """Field mismatches between a mapped expectation and our output (empty = right)."""
    if out["kind"] != "signal":
        return [f"kind {out['kind']} != signal"]
    skip = set((exp.get("values_not_literal_in_text") or {}).keys())
    skip |= SKIP_FIELDS.get(source, set())
    if exp.get("symbol_not_in_text"):
        skip.add("symbol")
    bad: list[str] = []
    if (
        "symbol" in exp
        and "symbol" not in skip
        and canon_symbol(exp["symbol"]) != canon_symbol(out["symbol"])
    ):
        bad.append(f"symbol {out['symbol']} != {exp['symbol']}")
    if "side" in exp and exp["side"] != out["side"]:
        bad.append(f"side {out['side']} != {exp['side']}")
    if "order_type" in exp and "order_type" not in skip:
        want = "limit" if exp["order_type"] == "stop" else exp["order_type"]
        if want != out["order_type"]:
            bad.append(f"order_type {out['order_type']} != {want}")
    entry = out["entry"]
    low = dec(entry["low"]) if entry else None
    high = dec(entry["high"]) if entry else None
    if "entry" in exp and "entry" not in skip:
        want = dec(exp["entry"])
        ok = entry is not None and (
            low == high == want or (low != high and want in (low, high, (low + high) / 2))
        )
        if not ok:
            bad.append(f"entry {entry} != {exp['entry']}")
    if "entry_low" in exp and "entry_low" not in skip and low != dec(exp["entry_low"]):
        bad.append(f"entry_low {low} != {exp['entry_low']}")
    if "entry_high" in exp and "entry_high" not in skip and high != dec(exp["entry_high"]):
        bad.append(f"entry_high {high} != {exp['entry_high']}")
    if "entries" in exp and "entries" not in skip:
        values = [v for v in (dec(x) for x in exp["entries"]) if v is not None]
        if not values or (low, high) != (min(values), max(values)):
            bad.append(f"entries {entry} != {exp['entries']}")
    if "stop_loss" in exp and "stop_loss" not in skip:
        got = dec(out["stop_loss"]) if out["stop_loss"] is not None else None
        if got != dec(exp["stop_loss"]):
            bad.append(f"stop_loss {out['stop_loss']} != {exp['stop_loss']}")
    tps = [dec(t) for t in out["take_profits"]]
    if "take_profits" in exp and "take_profits" not in skip:
        want = [dec(t) for t in exp["take_profits"]]
        if source in TP_PREFIX and len(want) < len(tps):
            tps = tps[: len(want)]
        if tps != want:
            bad.append(f"take_profits {out['take_profits']} != {exp['take_profits']}")
    if "take_profits_first" in exp and "take_profits_first" not in skip:
        if not tps or tps[0] != dec(exp["take_profits_first"]):
            bad.append(f"take_profits[0] {tps[:1]} != {exp['take_profits_first']}")
    if "leverage" in exp and "leverage" not in skip and out["leverage"] != exp["leverage"]:
        # Sources that default to 1x or take the top of "5-10x" differ from the contract
        # (no leverage in the text -> null; a range -> its first number).
        default_one = exp["leverage"] == 1 and out["leverage"] is None
        if not default_one and not _range_first(text, out["leverage"], exp["leverage"]):
            bad.append(f"leverage {out['leverage']} != {exp['leverage']}")
    return bad


def judge(
    exp: dict[str, Any], result: ParseResult, source: str = "", text: str = ""
) -> tuple[str, list[str]] | None:
    """(kind label, mismatches) for a labelled row; None when the row asserts nothing."""
    kind = expected_kind(exp)
    if kind is None:
        return None
    if exp.get("symbol_not_in_text") and exp.get("values_not_literal_in_text"):
        return None  # SOURCES.md: the expectation belongs to another message
    out = result.to_dict()
    if kind == "signal":
        return kind, check_signal(exp, out, source, text)
    if kind == "multi_signal":
        firsts = [check_signal(s, out, source, text) for s in exp.get("signals", [])]
        return kind, [] if any(not f for f in firsts) else (firsts[0] if firsts else ["none"])
    if kind == "update":
        if out["kind"] != "update":
            return kind, [f"kind {out['kind']} != update"]
        raw = exp.get("action") or (exp.get("actions") or [None])[0]
        want = _ACTIONS.get(str(raw)) if raw else None
        if want is not None and out["action"] != want:
            return kind, [f"action {out['action']} != {want} ({raw})"]
        return kind, []
    if kind == "rejected":
        ok = out["kind"] != "signal" or result.confidence < 0.5
        return kind, [] if ok else ["a rejected signal was accepted with confidence"]
    if kind == "non_management":
        return kind, [] if out["kind"] != "update" else ["read as an update"]
    # non_signal, indicator_alert, signal_details, not_signal: no call to trade
    if kind == "not_signal":  # a source parser's refusal: low confidence is a refusal too
        ok = out["kind"] != "signal" or result.confidence < 0.5
        return kind, [] if ok else ["read as a signal"]
    return kind, [] if out["kind"] == "noise" else [f"kind {out['kind']} != noise"]


def text_key(text: str) -> str:
    """A corpus row's identity in the disputes file: the SHA-256 of its text (16 hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_disputes(path: Path) -> dict[str, dict[str, Any]]:
    """The reviewed rows whose label contradicts the contract, by :func:`text_key`."""
    if not path.is_file():
        return {}
    disputes: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            disputes[entry["key"]] = entry
    return disputes


class Tally:
    """Right / total counters per key, and the auto-rate counters per kind."""

    def __init__(self) -> None:
        self.table: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, key: str, right: bool) -> None:
        self.table[key][0] += right
        self.table[key][1] += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--errors", type=int, default=0, help="print up to N wrong rows")
    ap.add_argument(
        "--unsure", type=int, default=0, help="print up to N right signals/updates below 0.9"
    )
    ap.add_argument("--source", default="", help="only files whose name contains this")
    ap.add_argument("--disputes", type=Path, default=DEFAULT_DISPUTES)
    ap.add_argument("--learn", type=int, default=0, help="leave-one-out: learn from K signals")
    ap.add_argument("--folds", type=int, default=3, help="with --learn: folds per source")
    args = ap.parse_args()
    disputes = load_disputes(args.disputes)
    if args.learn:
        return learn_report(args.corpus, args.source, disputes, args.learn, args.folds)
    per_kind, per_source, auto, auto_source = Tally(), Tally(), Tally(), Tally()
    parse_seconds = 0.0
    buckets: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    out_kinds: dict[str, int] = defaultdict(int)
    disputed = {"label": Tally(), "contract": Tally()}
    seen_disputes: set[str] = set()
    disputed_auto = Tally()  # the disputed signals and updates, judged by the contract
    errors: list[str] = []
    unsure: list[str] = []  # right, but below the threshold: what keeps the auto rate down
    total = 0
    for path in sorted(args.corpus.glob("*.jsonl")):
        if args.source and args.source not in path.name:
            continue
        source = path.stem.split("__")[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            started = time.perf_counter()
            result = parse(row["text"])
            parse_seconds += time.perf_counter() - started
            total += 1
            out_kinds[result.kind] += 1
            exp = row.get("expected")
            verdict = judge(exp, result, source, row["text"]) if exp else None
            if verdict is None:
                continue
            kind, bad = verdict
            dispute = disputes.get(text_key(row["text"]))
            if dispute is not None:
                seen_disputes.add(dispute["key"])
                contract = {**exp, **dispute["contract"]}
                for field in dispute.get("unscored", ()):
                    contract.pop(field, None)
                c_verdict = judge(contract, result, source, row["text"])
                c_ok = c_verdict is not None and not c_verdict[1]
                if c_ok and result.confidence >= dispute.get("below", 2.0):
                    c_ok, c_verdict = False, (kind, ["the contract asks for review (< 0.9)"])
                disputed["label"].add(kind, not bad)
                disputed["contract"].add(kind, c_ok)
                d_kind = "signal" if kind == "multi_signal" else kind
                if d_kind in AUTO_KINDS:
                    disputed_auto.add(d_kind, c_ok and result.confidence >= THRESHOLD)
                if not c_ok:
                    errors.append(
                        f"[{source} {kind} DISPUTED conf={result.confidence:.2f}] "
                        f"{row['text'][:160]!r}\n    -> contract: "
                        f"{'; '.join(c_verdict[1]) if c_verdict else 'unjudged'}"
                    )
                continue
            right = not bad
            per_kind.add(kind, right)
            per_source.add(source, right)
            auto_kind = "signal" if kind == "multi_signal" else kind
            if auto_kind in AUTO_KINDS:
                auto.add(auto_kind, right and result.confidence >= THRESHOLD)
                auto_source.add(source, right and result.confidence >= THRESHOLD)
                if right and result.confidence < THRESHOLD:
                    unsure.append(
                        f"[{source} {kind} conf={result.confidence:.2f}] {row['text'][:160]!r}"
                        f"\n    -> {result.reasons}"
                    )
            b = next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= result.confidence < hi)
            buckets[b][0] += right
            buckets[b][1] += 1
            if not right:
                errors.append(
                    f"[{source} {kind} conf={result.confidence:.2f}] {row['text'][:160]!r}\n"
                    f"    -> {'; '.join(bad)} | {result.reasons}"
                )
    print(f"messages: {total}  outputs: {dict(out_kinds)}")
    _table("exact-match accuracy per expected kind", per_kind.table)
    _table("exact-match accuracy per source", per_source.table)
    right = sum(v[0] for v in per_kind.table.values())
    scored = sum(v[1] for v in per_kind.table.values())
    print(f"\noverall: {right}/{scored} = {100 * right / max(scored, 1):.1f}%")
    calibration_report("confidence calibration (labelled rows)", buckets)
    _table(f"auto rate (right and confidence >= {THRESHOLD}) per kind", auto.table)
    a_ok = sum(v[0] for v in auto.table.values())
    a_n = sum(v[1] for v in auto.table.values())
    print(f"auto rate, signals and updates: {a_ok}/{a_n} = {100 * a_ok / max(a_n, 1):.1f}%")
    _table("auto rate per source (signals and updates)", auto_source.table)
    build = "compiled" if compiled() else "source"
    print(
        f"\nparse time ({build}): {parse_seconds:.3f} s for {total} messages, "
        f"{1e6 * parse_seconds / max(total, 1):.0f} us/message (one pass: a rough figure; "
        "bench/parse_speed.py measures throughput)"
    )
    n_disputed = sum(v[1] for v in disputed["label"].table.values())
    if disputes:
        print(f"\ndisputed labels ({args.disputes.name}, scored apart): {n_disputed} rows")
        for name in ("label", "contract"):
            ok = sum(v[0] for v in disputed[name].table.values())
            print(f"  right by the {name:<9}{ok:>5}/{n_disputed}")
        d_ok = sum(v[0] for v in disputed_auto.table.values())
        d_n = sum(v[1] for v in disputed_auto.table.values())
        print(
            f"  auto rate of its signals and updates (by the contract): {d_ok}/{d_n}; with "
            f"the rows above: {a_ok + d_ok}/{a_n + d_n} = "
            f"{100 * (a_ok + d_ok) / max(a_n + d_n, 1):.1f}%"
        )
        stale = len(disputes) - len(seen_disputes)
        if stale and not args.source:
            print(f"  {stale} dispute(s) match no labelled row of the corpus")
    for err in errors[: args.errors]:
        print(err)
    if args.unsure:
        print(f"\nright but below {THRESHOLD} (first {args.unsure} of {len(unsure)}):")
    for row_text in unsure[: args.unsure]:
        print(row_text)
    return 0


# corpus fields an operator would give as an example's contract (the rest are not learned)
_LEARN_FIELDS = ("symbol", "side", "entry", "entry_low", "entry_high", "entries")
_LEARN_FIELDS += ("stop_loss", "take_profits", "leverage", "order_type")


def example_contract(exp: dict[str, Any], source: str) -> dict[str, Any] | None:
    """A labelled signal row as an operator's example (its literal fields only), or None."""
    if expected_kind(exp) != "signal" or exp.get("symbol_not_in_text") or "symbol" not in exp:
        return None
    skip = set((exp.get("values_not_literal_in_text") or {}).keys())
    skip |= SKIP_FIELDS.get(source, set())
    out = {k: exp[k] for k in _LEARN_FIELDS if k in exp and k not in skip}
    if out.get("order_type") == "stop":
        out["order_type"] = "limit"
    if out.get("leverage") == 1:  # a source's default, not written in the text (PARSER.md)
        del out["leverage"]
    return out


def learn_report(
    corpus: Path, only: str, disputes: dict[str, dict[str, Any]], k: int, folds: int
) -> int:
    """Per source: accuracy of the rules alone and with a template learned from K signals."""
    from signalbridge.parsing.learn import LearnError, learn_template

    print(f"learning from {k} signals per source, {folds} folds, scored on the other rows")
    print(
        f"{'source':<30}{'folds':>6}{'rows':>7}{'generic':>9}{'learned':>9}{'gain':>7}"
        f"{'wrong>=.9 g/l':>15}{'auto g/l':>13}"
    )
    # rows, generic right, learned right, generic / learned sure-wrong, generic / learned auto
    totals = [0, 0, 0, 0, 0, 0, 0]
    refusals: list[str] = []
    for path in sorted(corpus.glob("*.jsonl")):
        if only and only not in path.name:
            continue
        source = path.stem.split("__")[0]
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            exp = row.get("expected")
            if not exp or text_key(row["text"]) in disputes:
                continue
            plain = parse(row["text"])
            if judge(exp, plain, source, row["text"]) is not None:
                rows.append((row["text"], exp, plain))
        pool = [i for i, (_, exp, _) in enumerate(rows) if example_contract(exp, source)]
        if len(pool) <= k:
            continue
        n = g_ok = l_ok = g_bad = l_bad = g_auto = l_auto = learned_folds = 0
        for fold in range(folds):
            train = set(random.Random(fold).sample(pool, k))
            examples = [(rows[i][0], example_contract(rows[i][1], source)) for i in train]
            try:
                template = learn_template(examples).template(source)
                learned_folds += 1
            except LearnError as exc:
                refusals.append(f"  {source} fold {fold}: {exc}")
                template = None
            for i, (text, exp, plain) in enumerate(rows):
                if i in train:
                    continue
                result = plain if template is None else parse(text, template)
                g = not judge(exp, plain, source, text)[1]  # type: ignore[index]
                r = not judge(exp, result, source, text)[1]  # type: ignore[index]
                n += 1
                g_ok += g
                l_ok += r
                g_bad += not g and plain.confidence >= THRESHOLD
                l_bad += not r and result.confidence >= THRESHOLD
                g_auto += g and plain.confidence >= THRESHOLD
                l_auto += r and result.confidence >= THRESHOLD
        gain = 100 * (l_ok - g_ok) / max(n, 1)
        print(
            f"{source:<30}{learned_folds:>3}/{folds:<2}{n:>7}{100 * g_ok / max(n, 1):>8.1f}%"
            f"{100 * l_ok / max(n, 1):>8.1f}%{gain:>+7.1f}{g_bad:>9}/{l_bad:<5}"
            f"{g_auto:>7}/{l_auto}"
        )
        for i, v in enumerate((n, g_ok, l_ok, g_bad, l_bad, g_auto, l_auto)):
            totals[i] += v
    n, g_ok, l_ok, g_bad, l_bad, g_auto, l_auto = totals
    gain = 100 * (l_ok - g_ok) / max(n, 1)
    print(
        f"{'all':<30}{'':>6}{n:>7}{100 * g_ok / max(n, 1):>8.1f}%"
        f"{100 * l_ok / max(n, 1):>8.1f}%{gain:>+7.1f}{g_bad:>9}/{l_bad:<5}{g_auto:>7}/{l_auto}"
    )
    if refusals:
        print(f"\nfolds where learning refused ({len(refusals)}; scored with the rules):")
        print("\n".join(r[:200] for r in refusals))
    return 0


def calibration_report(title: str, buckets: dict[int, list[int]]) -> None:
    """Right / count per confidence bucket (``BUCKETS``), and how many of the readings at
    or above 0.90 were right: the calibration table of eval_parser.py and eval_ai.py."""
    print(f"\n{title}")
    print(f"{'bucket':<14}{'count':>7}{'right':>7}{'accuracy':>10}")
    for i, (lo, hi) in enumerate(BUCKETS):
        ok, n = buckets[i]
        label = f"[{lo:.2f},{min(hi, 1.0):.2f}{']' if hi > 1 else ')'}"
        print(f"{label:<14}{n:>7}{ok:>7}{(100 * ok / n if n else 0):>9.1f}%")
    hi_ok = sum(buckets[i][0] for i in (4, 5))
    hi_n = sum(buckets[i][1] for i in (4, 5))
    print(f"confidence >= 0.90: {hi_ok}/{hi_n} right = {100 * hi_ok / max(hi_n, 1):.1f}%")
    print(f"wrong at >= 0.90: {hi_n - hi_ok}")


def _table(title: str, table: dict[str, list[int]]) -> None:
    print(f"\n{title}")
    for key in sorted(table):
        ok, n = table[key]
        print(f"  {key:<36}{ok:>5}/{n:<5}{100 * ok / n:>7.1f}%")


if __name__ == "__main__":
    sys.exit(main())
