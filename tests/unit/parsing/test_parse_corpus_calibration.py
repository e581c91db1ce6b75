"""Calibration guard: on the dev corpus, confidence >= 0.9 must be right >= 99 % of the time.

Rows of bench/label_disputes.jsonl (a label that contradicts the contract) are judged by
the contract's reading."""

import importlib.util
import json
from pathlib import Path

import pytest

from signalbridge.parsing import parse

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
EVAL = ROOT / "bench" / "eval_parser.py"


@pytest.mark.skipif(not CORPUS.is_dir() or not EVAL.is_file(), reason="dev corpus not present")
def test_high_confidence_is_right_on_the_dev_corpus() -> None:
    spec = importlib.util.spec_from_file_location("eval_parser", EVAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    disputes = module.load_disputes(module.DEFAULT_DISPUTES)
    right = total = 0
    for path in sorted(CORPUS.glob("*.jsonl")):
        source = path.stem.split("__")[0]
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if not row.get("expected"):
                continue
            result = parse(row["text"])
            expected = row["expected"]
            dispute = disputes.get(module.text_key(row["text"]))
            if dispute is not None:  # a label that contradicts the contract: the contract
                expected = {**expected, **dispute["contract"]}
            verdict = module.judge(expected, result, source, row["text"])
            if verdict is None or result.confidence < 0.9:
                continue
            total += 1
            right += not verdict[1]
    assert total > 300
    assert right / total >= 0.99, f"{right}/{total}"
