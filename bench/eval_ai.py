"""The dev corpus through rules + AI (issue 17, item 8): eval_parser.py's report, plus cost.

Usage: .venv/bin/python bench/eval_ai.py [CORPUS_DIR] [--source NAME] [--errors N]
       [--error-rate P] [--seed S] [--concurrency C] [--act-alone]

Every row is read by the rule parser first, exactly as ``bench/eval_parser.py`` does; a
row whose reading is below the execution threshold (0.9) is asked of the AI as the hybrid
step does (services/ai_parsing.py): through the official ``openai`` client, the fallback
chain and the versioned parse prompt, with the answer cache keyed by the normalised text.
The AI's reading is combined as the platform combines it: agreement raises the rules'
confidence to 0.95, disagreement leaves the rules' reading in review, a reading the rules
did not have (``ai_only``) waits in review unless ``--act-alone``. The combined readings are
scored with eval_parser.py's judge, tallies and tables; the rules-only score of the same
rows is printed beside them, then the AI's calls, tokens, cost, cache hits and failovers.

The endpoint is ``SIGNALBRIDGE_EVAL_AI_BASE_URL`` / ``_MODEL`` / ``_KEY`` (prices from
``SIGNALBRIDGE_EVAL_AI_USD_IN`` / ``_USD_OUT``, US dollars per million tokens). When no
base URL is set, the fake OpenAI-compatible server of the tests answers from the corpus
labels (two configurations, so failovers happen), failing a share ``--error-rate`` of the
requests (500, malformed JSON, an error inside a 200): such a run measures the plumbing
and the cost accounting, never a model's quality.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' fake server

from prometheus_client import CollectorRegistry  # noqa: E402

from eval_parser import (  # noqa: E402 - bench/ is the script's own directory
    _ACTIONS,
    AUTO_KINDS,
    BUCKETS,
    DEFAULT_CORPUS,
    DEFAULT_DISPUTES,
    THRESHOLD,
    Tally,
    _table,
    calibration_report,
    dec,
    expected_kind,
    judge,
    load_disputes,
    text_key,
)
from signalbridge.ai.chain import FallbackChain  # noqa: E402
from signalbridge.ai.client import ChatClient  # noqa: E402
from signalbridge.ai.config import OpenAICompatibleConfig  # noqa: E402
from signalbridge.ai.parser import AiFailure, AiParser, AiReading  # noqa: E402
from signalbridge.ai.prompt import clean_text  # noqa: E402
from signalbridge.domain.signals import Signal, SignalUpdate, UpdateAction  # noqa: E402
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore  # noqa: E402
from signalbridge.integrations.http import HttpClientFactory  # noqa: E402
from signalbridge.integrations.kernel import Kernel  # noqa: E402
from signalbridge.integrations.ratelimit import RateLimiter  # noqa: E402
from signalbridge.parsing import ParseResult, parse  # noqa: E402
from signalbridge.services.ai_cache import text_hash  # noqa: E402
from signalbridge.services.ai_parsing import AGREED_CONFIDENCE, compare  # noqa: E402

FAKE_MODEL = "fake/labels"
#: Fake-run prices (USD per million tokens): a small hosted model's order of magnitude.
FAKE_PRICES = (Decimal("0.15"), Decimal("0.60"))
_ACTION_NAMES = {a.value for a in UpdateAction}
#: Update actions the domain refuses without a value (domain/signals.py).
_VALUED = {"move_sl", "close_partial", "modify_tp"}


# -- the fake's answers: the corpus labels in the answer schema -------------------------------


def _signal_answer(exp: dict[str, Any], rules: ParseResult) -> dict[str, Any] | None:
    """The label as a model would answer it; fields the label lacks from the rules."""
    base = rules.parsed.to_dict() if isinstance(rules.parsed, Signal) else {}
    skip = set((exp.get("values_not_literal_in_text") or {}).keys())
    symbol = exp.get("symbol") if "symbol" not in skip else None
    symbol = symbol or base.get("symbol")
    side = exp.get("side") or base.get("side")
    if not isinstance(symbol, str) or side not in ("long", "short", "buy", "sell"):
        return None
    entry = base.get("entry")
    low, high = dec(exp.get("entry_low")), dec(exp.get("entry_high"))
    values = [v for v in (dec(x) for x in exp.get("entries") or []) if v is not None]
    single = dec(exp.get("entry")) if "entry" in exp and "entry" not in skip else None
    if single is not None:
        entry = {"low": str(single), "high": str(single)}
    elif low is not None and high is not None:
        entry = {"low": str(min(low, high)), "high": str(max(low, high))}
    elif values:
        entry = {"low": str(min(values)), "high": str(max(values))}
    stop = dec(exp["stop_loss"]) if "stop_loss" in exp else dec(base.get("stop_loss"))
    tps = exp.get("take_profits") if "take_profits" in exp else base.get("take_profits")
    leverage = exp.get("leverage", base.get("leverage"))
    order_type = exp.get("order_type") or base.get("order_type")
    order_type = "limit" if order_type == "stop" else order_type
    return {
        "kind": "signal",
        "symbol": symbol,
        "side": "buy" if side in ("long", "buy") else "sell",
        "order_type": order_type if order_type in ("market", "limit") else "limit",
        "entry": entry,
        "stop_loss": None if stop is None else str(stop),
        "take_profits": [str(t) for t in (dec(x) for x in tps or []) if t is not None][:10],
        "leverage": None if not isinstance(leverage, int) else str(leverage),
        "confidence": 0.9,
    }


def label_answer(exp: dict[str, Any] | None, rules: ParseResult) -> dict[str, Any]:
    """What the fake answers for a row: its label; unlabelled rows as the rules read them."""
    noise = {"kind": "noise", "confidence": 0.9}
    kind = expected_kind(exp) if exp else None
    answer: dict[str, Any] | None = None
    if exp is None or kind is None:
        answer = _from_rules(rules)
    elif kind == "signal":
        answer = _signal_answer(exp, rules)
    elif kind == "multi_signal" and exp.get("signals"):
        answer = _signal_answer(exp["signals"][0], rules)
    elif kind == "update":
        raw = exp.get("action") or (exp.get("actions") or [None])[0]
        action = _ACTIONS.get(str(raw)) if raw else None
        ruled = rules.parsed.to_dict() if isinstance(rules.parsed, SignalUpdate) else {}
        if action is None and ruled:
            action = ruled["action"]
        same = ruled.get("action") == action
        value = ruled.get("value") if same else _label_value(exp)
        if action in _ACTION_NAMES and (value is not None or action not in _VALUED):
            answer = {
                "kind": "update",
                "action": action,
                "symbol": ruled.get("symbol") if same else None,
                "value": value,
                "confidence": 0.9,
            }
    return {"answer": answer or noise}


def _label_value(exp: dict[str, Any]) -> str | None:
    for name in ("value", "percentage", "percent", "new_sl", "new_stop_loss", "price"):
        found = dec(exp.get(name)) if exp.get(name) is not None else None
        if found is not None and found.is_finite() and found > 0:
            return str(found)
    return None


def _from_rules(rules: ParseResult) -> dict[str, Any] | None:
    data = rules.parsed.to_dict()
    if data["kind"] == "signal":
        side = "buy" if data["side"] == "long" else "sell"
        lev = data["leverage"]
        return {
            **data,
            "side": side,
            "leverage": None if lev is None else str(lev),
            "confidence": 0.9,
        }
    if data["kind"] == "update":
        return {**data, "confidence": 0.9}
    return None


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Row:
    source: str
    text: str
    exp: dict[str, Any] | None
    rules: ParseResult
    final: ParseResult | None = None
    outcome: str = "rules"  # rules | agree | disagree | ai_only | noise | failed


@dataclass
class Usage:
    asked: int = 0
    requests: int = 0
    cache_hits: int = 0
    failovers: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def load_rows(corpus: Path, source: str) -> list[Row]:
    rows = []
    for path in sorted(corpus.glob("*.jsonl")):
        if source and source not in path.name:
            continue
        name = path.stem.split("__")[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append(Row(name, row["text"], row.get("expected"), parse(row["text"])))
    return rows


def combine(row: Row, reading: AiReading, act_alone: bool) -> ParseResult:
    """The hybrid step's reading of a row after the AI answered (services/ai_parsing.py)."""
    rules_parsed = row.rules.parsed if isinstance(row.rules.parsed, Signal | SignalUpdate) else None
    row.outcome = compare(rules_parsed, reading.parsed)
    if row.outcome == "agree":
        conf = max(row.rules.confidence, float(AGREED_CONFIDENCE))
        return ParseResult(row.rules.parsed, conf, (*row.rules.reasons, "AI agrees"))
    if row.outcome == "ai_only":
        conf = float(reading.confidence)
        if not act_alone:  # waits in review: never at the execution threshold
            conf = min(conf, THRESHOLD - 0.01)
        return ParseResult(reading.parsed, conf, ("read by the AI alone",))
    return row.rules  # disagree (review) or noise: the rules' reading stands


async def ask_all(
    rows: list[Row], parser: AiParser, usage: Usage, concurrency: int, act_alone: bool
) -> None:
    sem = asyncio.Semaphore(concurrency)
    cache: dict[str, asyncio.Future[AiReading | AiFailure]] = {}

    async def one(row: Row) -> None:
        if row.rules.confidence >= THRESHOLD:
            row.final = row.rules
            return
        usage.asked += 1
        key = text_hash(row.text)
        hit = key in cache
        if hit:
            usage.cache_hits += 1
        else:
            cache[key] = asyncio.get_running_loop().create_future()
            async with sem:
                reading = await parser.read(row.text)
            usage.requests += len(reading.attempts)
            if isinstance(reading, AiReading):
                usage.input_tokens += reading.input_tokens
                usage.output_tokens += reading.output_tokens
                usage.cost += reading.cost
                usage.latency_ms.append(reading.latency_ms)
            for attempt in reading.attempts:
                if attempt.error:
                    usage.errors[attempt.error.split(":", 1)[0]] += 1
            if len(reading.attempts) > 1 and isinstance(reading, AiReading):
                usage.failovers += 1
            cache[key].set_result(reading)
        reading = await cache[key]
        if isinstance(reading, AiFailure):
            usage.failures += 0 if hit else 1
            row.outcome, row.final = "failed", row.rules
        else:
            row.final = combine(row, reading, act_alone)
        usage.outcomes[row.outcome] += 1

    await asyncio.gather(*(one(r) for r in rows))


def score(
    rows: list[Row], disputes: dict[str, dict[str, Any]], hybrid: bool
) -> tuple[Tally, Tally, Tally, dict[int, list[int]], Counter[str], list[str], int]:
    """eval_parser.py's tallies for the rules' or the combined readings of the rows."""
    per_kind, per_source, auto = Tally(), Tally(), Tally()
    buckets: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    out_kinds: Counter[str] = Counter()
    errors: list[str] = []
    disputed = 0
    for row in rows:
        result = (row.final or row.rules) if hybrid else row.rules
        out_kinds[result.kind] += 1
        verdict = judge(row.exp, result, row.source, row.text) if row.exp else None
        if verdict is None:
            continue
        if text_key(row.text) in disputes:
            disputed += 1  # scored apart by eval_parser.py; left out here
            continue
        kind, bad = verdict
        right = not bad
        per_kind.add(kind, right)
        per_source.add(row.source, right)
        auto_kind = "signal" if kind == "multi_signal" else kind
        if auto_kind in AUTO_KINDS:
            auto.add(auto_kind, right and result.confidence >= THRESHOLD)
        b = next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= result.confidence < hi)
        buckets[b][0] += right
        buckets[b][1] += 1
        if not right:
            errors.append(
                f"[{row.source} {kind} {row.outcome} conf={result.confidence:.2f}] "
                f"{row.text[:160]!r}\n    -> {'; '.join(bad)}"
            )
    return per_kind, per_source, auto, buckets, out_kinds, errors, disputed


def report(rows: list[Row], disputes: dict[str, dict[str, Any]], n_errors: int) -> None:
    per_kind, per_source, auto, buckets, out_kinds, errors, disputed = score(rows, disputes, True)
    print(f"messages: {len(rows)}  outputs: {dict(out_kinds)}")
    _table("exact-match accuracy per expected kind (rules + AI)", per_kind.table)
    _table("exact-match accuracy per source (rules + AI)", per_source.table)
    right = sum(v[0] for v in per_kind.table.values())
    scored = sum(v[1] for v in per_kind.table.values())
    r_kind, _, r_auto, _, _, _, _ = score(rows, disputes, False)
    r_right = sum(v[0] for v in r_kind.table.values())
    print(f"\noverall, rules + AI: {right}/{scored} = {100 * right / max(scored, 1):.1f}%")
    print(f"overall, rules only: {r_right}/{scored} = {100 * r_right / max(scored, 1):.1f}%")
    calibration_report("confidence calibration (labelled rows, rules + AI)", buckets)
    _table(f"auto rate (right and confidence >= {THRESHOLD}) per kind, rules + AI", auto.table)
    for name, tally in (("rules + AI", auto), ("rules only", r_auto)):
        a_ok = sum(v[0] for v in tally.table.values())
        a_n = sum(v[1] for v in tally.table.values())
        rate = 100 * a_ok / max(a_n, 1)
        print(f"auto rate, signals and updates, {name}: {a_ok}/{a_n} = {rate:.1f}%")
    if disputed:
        print(f"\ndisputed labels (scored apart by eval_parser.py, left out here): {disputed} rows")
    for err in errors[:n_errors]:
        print(err)


def print_usage(usage: Usage, wall: float, fake: bool, prices: tuple[Decimal, Decimal]) -> None:
    print("\nAI calls")
    print(f"  rows asked (rules below {THRESHOLD}):  {usage.asked}")
    print(f"  cache hits (same normalised text):  {usage.cache_hits}")
    print(f"  requests sent:                      {usage.requests}")
    print(f"  failovers (answered by a later config): {usage.failovers}")
    print(f"  every config failed (rules stand):  {usage.failures}")
    print(f"  outcomes: {dict(sorted(usage.outcomes.items()))}")
    if usage.errors:
        print(f"  attempt errors: {dict(usage.errors.most_common())}")
    print(f"  tokens: {usage.input_tokens} in, {usage.output_tokens} out")
    print(f"  cost: {usage.cost} USD (at {prices[0]} / {prices[1]} USD per million in / out)")
    if usage.latency_ms:
        lat = sorted(usage.latency_ms)
        print(
            f"  latency per answered call: median {lat[len(lat) // 2]:.1f} ms, max {lat[-1]:.1f} ms"
        )
    print(f"  wall time: {wall:.1f} s")
    if fake:
        print(
            "\nNOTE: no SIGNALBRIDGE_EVAL_AI_BASE_URL: a fake server answered from the corpus "
            "labels.\nThis run measures the plumbing (prompt, schema, chain, failover, cache) and "
            "the cost accounting,\nnot a model's quality; token counts are the fake's estimate."
        )


def _kernel() -> Kernel:
    return Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=RateLimiter(),
        metrics=BreakerMetrics(CollectorRegistry()),
        failure_threshold=10_000,  # measure every request; the breaker has its own tests
    )


def _clients(
    base_url: str, model: str, key: str | None, count: int, prices: tuple[Decimal, Decimal]
) -> tuple[list[ChatClient], HttpClientFactory]:
    host = urlsplit(base_url).hostname or ""
    # The operator points the evaluation at an endpoint of their choosing, a local one too.
    factory = HttpClientFactory(allowed_hosts=(host,), registry=CollectorRegistry())
    clients = [
        ChatClient(
            config_id=i,
            priority=i,
            config=OpenAICompatibleConfig(
                model=model,
                base_url=base_url,
                timeout_seconds=60,
                usd_per_million_input=prices[0],
                usd_per_million_output=prices[1],
            ),
            http=factory.create(f"ai:{i}", user_url=True),
            api_key=key,
        )
        for i in range(1, count + 1)
    ]
    return clients, factory


def _fake_responder(rows: list[Row], rate: float, seed: int) -> Any:
    from tests.fakes.openai_compat import error_in_200, malformed, status

    answers = {text_hash(clean_text(r.text)): label_answer(r.exp, r.rules) for r in rows}
    rng = random.Random(seed)
    failures = [lambda: status(500), malformed, lambda: error_in_200(502)]

    def respond(user_text: str) -> Any:
        if rng.random() < rate:
            return rng.choice(failures)()
        lines = user_text.splitlines()
        try:
            text = json.loads("\n".join(lines[2:-1]))  # between BEGIN-… and END-…
        except ValueError:
            return None
        return answers.get(text_hash(text)) if isinstance(text, str) else None

    return respond


async def run(args: argparse.Namespace) -> int:
    # Each failed attempt is logged by the connection guard; the report counts them instead.
    logging.getLogger("signalbridge.integrations.guard").setLevel(logging.ERROR)
    rows = load_rows(args.corpus, args.source)
    disputes = load_disputes(args.disputes)
    base_url = os.environ.get("SIGNALBRIDGE_EVAL_AI_BASE_URL", "")
    fake = None
    if base_url:
        model = os.environ.get("SIGNALBRIDGE_EVAL_AI_MODEL", "")
        if not model:
            print("SIGNALBRIDGE_EVAL_AI_MODEL is required with SIGNALBRIDGE_EVAL_AI_BASE_URL")
            return 2
        key = os.environ.get("SIGNALBRIDGE_EVAL_AI_KEY") or None
        prices = (
            Decimal(os.environ.get("SIGNALBRIDGE_EVAL_AI_USD_IN", "0")),
            Decimal(os.environ.get("SIGNALBRIDGE_EVAL_AI_USD_OUT", "0")),
        )
        clients, _ = _clients(base_url, model, key, 1, prices)
        print(f"endpoint: {urlsplit(base_url).netloc}  model: {model}")
    else:
        from tests.fakes.openai_compat import DEFAULT_KEY, FakeOpenAI

        fake = FakeOpenAI(api_key=DEFAULT_KEY, models=(FAKE_MODEL,))
        fake.responder = _fake_responder(rows, args.error_rate, args.seed)
        fake.start()
        prices = FAKE_PRICES
        clients, _ = _clients(fake.api_base, FAKE_MODEL, DEFAULT_KEY, 2, prices)
        print(f"endpoint: fake (labels), error rate {args.error_rate:.0%}, seed {args.seed}")
    kernel = _kernel()
    chain = FallbackChain(clients, lambda i: kernel.guard("ai", i, "openai_compatible"))
    usage = Usage()
    started = time.perf_counter()
    try:
        await ask_all(rows, AiParser(chain), usage, args.concurrency, args.act_alone)
    finally:
        await chain.aclose()
        if fake is not None:
            fake.stop()
    wall = time.perf_counter() - started
    report(rows, disputes, args.errors)
    print_usage(usage, wall, fake is not None, prices)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--errors", type=int, default=0, help="print up to N wrong rows")
    ap.add_argument("--source", default="", help="only files whose name contains this")
    ap.add_argument("--disputes", type=Path, default=DEFAULT_DISPUTES)
    ap.add_argument("--error-rate", type=float, default=0.1, help="fake only: failed requests")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--act-alone", action="store_true", help="ai_only readings may act")
    args = ap.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
