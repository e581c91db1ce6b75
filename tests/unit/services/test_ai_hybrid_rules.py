"""The pure rules of the hybrid step: which messages are worth an AI call, how the AI's
reading compares with the rules', when an item may go on without a human, the budgets,
and the cache key (hypothesis feeds it untrusted text)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.domain.signals import (
    EntryZone,
    Noise,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
)
from signalbridge.services.ai_cache import normalise, text_hash
from signalbridge.services.ai_parsing import compare, may_act, waiting_reason, wants_ai
from signalbridge.services.ai_usage import BUDGET_SPENT, Spent, check_budgets
from signalbridge.services.ingest import IngestResult, Interpretation
from signalbridge.store import models as m

D = Decimal
LONG = Signal(
    "BTC/USDT",
    Side.LONG,
    OrderType.LIMIT,
    EntryZone(D(60000), D(60000)),
    stop_loss=D(58000),
    take_profits=(D(62000),),
)


def channel(**settings: Any) -> m.ChannelSource:
    values: dict[str, Any] = {
        "ai_assist": True,
        "ai_may_act_alone": False,
        "parse_text": True,
        "min_confidence": D("0.9"),
        **settings,
    }
    return m.ChannelSource(**values)


def stored(status: str, duplicate: bool = False) -> IngestResult:
    return IngestResult(1, status, duplicate)


def read_as(confidence: str) -> Interpretation:
    return Interpretation(Noise(), D(confidence))


@pytest.mark.parametrize(
    ("status", "meaning", "settings", "wanted"),
    [
        ("review", None, {}, True),
        ("rejected", None, {}, True),
        ("noise", read_as("0.35"), {}, True),
        ("noise", read_as("0.95"), {}, False),  # the rules are sure: no call
        ("noise", None, {}, False),  # (no reading to judge by)
        ("parsed", None, {}, False),
        ("review", None, {"ai_assist": False}, False),
        ("rejected", None, {"parse_text": False}, False),  # canonical JSON only
        ("review", None, {"parse_text": False}, True),
    ],
)
def test_which_messages_get_an_ai_parse(
    status: str, meaning: Interpretation | None, settings: dict[str, Any], wanted: bool
) -> None:
    assert wants_ai(channel(**settings), stored(status), meaning) is wanted


def test_a_duplicate_never_gets_a_second_ai_parse() -> None:
    assert not wants_ai(channel(), stored("review", duplicate=True))


def test_compare_reads_the_same_contract_as_agreement() -> None:
    same_but_spelled = Signal(
        "BTCUSDT",
        Side.LONG,
        OrderType.LIMIT,
        EntryZone(D("60000.00"), D("60000")),
        stop_loss=D("58000.0"),
        take_profits=(D(62000),),
    )
    assert compare(LONG, same_but_spelled) == "agree"
    other_stop = Signal(**{**_fields(LONG), "stop_loss": D(57000)})
    assert compare(LONG, other_stop) == "disagree"
    other_symbol = Signal(**{**_fields(LONG), "symbol": "ETH/USDT"})
    assert compare(LONG, other_symbol) == "disagree"
    assert compare(LONG, Noise()) == "disagree"
    assert compare(LONG, SignalUpdate(UpdateAction.CLOSE_ALL, "BTC/USDT")) == "disagree"


def test_compare_when_the_rules_had_nothing() -> None:
    assert compare(None, LONG) == "ai_only"
    assert compare(Noise(), SignalUpdate(UpdateAction.CLOSE_ALL)) == "ai_only"
    assert compare(None, Noise()) == "noise"
    assert compare(Noise(), Noise()) == "noise"


def _fields(signal: Signal) -> dict[str, Any]:
    return {
        "symbol": signal.symbol,
        "side": signal.side,
        "order_type": signal.order_type,
        "entry": signal.entry,
        "stop_loss": signal.stop_loss,
        "take_profits": signal.take_profits,
        "leverage": signal.leverage,
    }


def test_an_item_acts_alone_only_where_the_channel_lets_it() -> None:
    assert may_act(channel(), D("0.95"), alone=False)
    assert not may_act(channel(), D("0.85"), alone=False)  # below the threshold
    assert not may_act(channel(), D("0.99"), alone=True)  # AI only, not allowed
    assert may_act(channel(ai_may_act_alone=True), D("0.9"), alone=True)
    assert not may_act(channel(ai_may_act_alone=True), D("0.89"), alone=True)
    assert "below the channel's threshold 0.9" in waiting_reason(channel(), D("0.85"), alone=False)
    assert "act alone" in waiting_reason(channel(), D("0.99"), alone=True)


def test_budgets_per_configuration_and_in_all() -> None:
    spent = Spent(D("3"), {1: D("2"), 2: D("1")})
    budgets: dict[int, Decimal | None] = {1: D("2"), 2: D("5"), 3: None}
    assert check_budgets(budgets, spent, None).allowed == (2, 3)
    assert check_budgets(budgets, spent, D("3.01")).allowed == (2, 3)
    everything = check_budgets(budgets, spent, D("3"))
    assert everything.allowed == () and (everything.reason or "").startswith(BUDGET_SPENT)
    spent_each = check_budgets({1: D("2"), 2: D("0")}, spent, None)
    assert spent_each.allowed == () and "every AI configuration" in (spent_each.reason or "")
    assert check_budgets({}, Spent(D(0), {}), None).reason is None  # none configured


INVISIBLE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066"])


@given(st.text(max_size=200), st.lists(st.tuples(st.integers(0, 200), INVISIBLE), max_size=5))
def test_the_cache_key_ignores_what_a_reader_cannot_see(
    text: str, inserts: list[tuple[int, str]]
) -> None:
    noisy = text
    for at, char in inserts:
        noisy = noisy[:at] + char + noisy[at:]
    assert text_hash(noisy) == text_hash(text)
    assert text_hash(f"  {text}\n\t") == text_hash(text)
    once = normalise(text)
    assert normalise(once) == once  # a fixed point
    assert unicodedata.is_normalized("NFKC", once)


def test_the_cache_key_folds_width_and_spacing_but_not_meaning() -> None:
    assert text_hash("BTC　TP ６２０００") == text_hash("BTC TP 62000")  # full-width
    assert text_hash("Buy  BTC\n\nSL 58000") == text_hash("Buy BTC SL 58000")
    assert text_hash("Buy BTC SL 58000") != text_hash("Buy BTC SL 57000")
    assert text_hash("buy btc") != text_hash("sell btc")
    assert len(text_hash("x")) == 64


def test_an_update_only_the_ai_read_acts_only_when_it_names_its_market() -> None:
    alone = channel(ai_may_act_alone=True)
    close_all = SignalUpdate(action=UpdateAction.CLOSE_ALL)
    closing = SignalUpdate(action=UpdateAction.CLOSE_ALL, symbol="BTC/USDT")
    assert not may_act(alone, D("0.99"), alone=True, parsed=close_all)
    assert "names no symbol" in waiting_reason(alone, D("0.99"), alone=True, parsed=close_all)
    assert may_act(alone, D("0.99"), alone=True, parsed=closing)
    # the rules read the same update: agreement, not the AI alone
    assert may_act(alone, D("0.99"), alone=False, parsed=close_all)
