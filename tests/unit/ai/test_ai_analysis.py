"""The AI market analyst: the strict answer, the prompt as data, the chain on a fake
OpenAI-compatible server, the analyst gate's decision, and candles from venues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tests.fakes.binance import FakeBinance
from tests.fakes.loopback import loopback_deps, loopback_http_factory
from tests.fakes.openai_compat import DEFAULT_KEY, FakeOpenAI, malformed, status, well

from signalbridge.ai.analysis import (
    ANALYSIS_SCHEMA,
    ANALYSIS_SCHEMA_NAME,
    AiAnalyst,
    Analysis,
    AnalysisAnswer,
    build_analysis_messages,
    parse_analysis,
)
from signalbridge.ai.chain import FallbackChain
from signalbridge.ai.client import ChatClient
from signalbridge.ai.config import OpenAICompatibleConfig
from signalbridge.ai.errors import MalformedAnswer
from signalbridge.ai.parser import AiFailure
from signalbridge.domain.market import Candle
from signalbridge.domain.signals import EntryZone, OrderType, Side, Signal
from signalbridge.execution.analyst_gate import AnalystView, gate
from signalbridge.execution.planner import RiskSettings, Skip, Wait
from signalbridge.integrations.breaker import BreakerMetrics, MemoryBreakerStore
from signalbridge.integrations.errors import InvalidRequest, SymbolNotListed
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.ratelimit import RateLimiter
from signalbridge.venues.candles import candles_from_ccxt, candles_from_prices
from signalbridge.venues.ccxt.adapter import CcxtAdapter
from signalbridge.venues.paper.exchange import PaperExchange
from signalbridge.venues.paper.store import MemoryPaperStore

LONG = Signal(
    "BTC/USDT",
    Side.LONG,
    OrderType.LIMIT,
    EntryZone.of(Decimal(60000)),
    Decimal(58000),
    (Decimal(62000), Decimal(64000)),
    10,
)
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CANDLES = [
    Candle(
        T0 + timedelta(hours=i),
        Decimal(59000 + i),
        Decimal(59500 + i),
        Decimal(58800 + i),
        Decimal(59200 + i),
        Decimal("12.5"),
    )
    for i in range(5)
]
TAKE: dict[str, Any] = {
    "trend": "up",
    "risk": "medium",
    "recommendation": "take",
    "reasons": ["higher lows on the hourly candles", "entry near support"],
    "adjusted_stop_loss": None,
    "adjusted_take_profits": None,
}
SKIP = {**TAKE, "recommendation": "skip", "trend": "down", "reasons": ["lower highs"]}


# -- the answer ---------------------------------------------------------------------------


def test_a_valid_answer_is_read_with_its_adjustments_as_exact_decimals() -> None:
    answer = parse_analysis(
        {
            **TAKE,
            "recommendation": "adjust",
            "adjusted_stop_loss": "58500.5",
            "adjusted_take_profits": ["61500", "63000"],
        },
        LONG,
    )
    assert answer.recommendation == "adjust"
    assert answer.adjusted_stop_loss == Decimal("58500.5")
    assert answer.adjustments() == {"stop_loss": "58500.5", "take_profits": ["61500", "63000"]}
    assert parse_analysis(TAKE, LONG).adjustments() == {}


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": "5"},  # extra fields are refused, however harmless they look
        {"api_key": "x"},
        {"recommendation": "buy_more"},
        {"trend": "UP"},
        {"risk": None},
        {"reasons": ["r"] * 6},
        {"reasons": ["x" * 201]},
        {"reasons": ["\u200b\u202e "]},  # nothing left once the invisible controls go
        {"adjusted_stop_loss": "-1"},
        {"adjusted_stop_loss": "1e-9999999"},
        {"adjusted_stop_loss": "61000"},  # above the entry of a long
        {"adjusted_take_profits": ["59000"]},  # below the entry of a long
        {"adjusted_take_profits": ["70000"] * 11},
    ],
)
def test_anything_outside_the_schema_is_the_providers_failure(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedAnswer):
        parse_analysis({**TAKE, **change}, LONG)
    with pytest.raises(MalformedAnswer):
        parse_analysis(["not", "an", "object"], LONG)


def test_reasons_lose_invisible_controls_and_extra_space() -> None:
    answer = parse_analysis({**TAKE, "reasons": ["bull\u202eish\u200b  trend\n"]}, LONG)
    assert answer.reasons == ["bullish trend"]


_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_json = _scalar | st.lists(_scalar, max_size=6) | st.dictionaries(st.text(max_size=8), _scalar)
_near = st.fixed_dictionaries(
    {k: st.one_of(st.just(v), _json) for k, v in TAKE.items()},
    optional={"extra": _json},
)


@settings(max_examples=80, deadline=None)
@given(st.one_of(_json, _near))
def test_untrusted_answers_are_read_or_refused_never_anything_else(data: Any) -> None:
    try:
        answer = parse_analysis(data, LONG)
    except MalformedAnswer:
        return
    assert isinstance(answer, AnalysisAnswer)
    assert set(answer.model_dump()) == set(TAKE)


def test_the_schema_is_strict_mode_shaped() -> None:
    assert ANALYSIS_SCHEMA["additionalProperties"] is False
    assert set(ANALYSIS_SCHEMA["required"]) == set(ANALYSIS_SCHEMA["properties"])


# -- the prompt ---------------------------------------------------------------------------


def test_the_signal_and_candles_reach_the_model_as_delimited_json_data() -> None:
    messages = build_analysis_messages(LONG, CANDLES, timeframe="1h", boundary="b0undary")
    system, user = messages[0]["content"], messages[1]["content"]
    assert "BTC/USDT" not in system and "59000" not in system
    lines = user.splitlines()
    start, end = lines.index("BEGIN-b0undary"), lines.index("END-b0undary")
    data = json.loads("\n".join(lines[start + 1 : end]))
    assert data["signal"] == LONG.to_dict()
    assert data["candles"]["rows"][0] == [
        "2026-12-07T12:00:00Z",
        "59000",
        "59500",
        "58800",
        "59200",
        "12.5",
    ]
    assert len(data["candles"]["rows"]) == len(CANDLES)


# -- the chain on the fake server -----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _chain(fake: FakeOpenAI, configs: int = 2) -> FallbackChain:
    kernel = Kernel(
        breaker_store=MemoryBreakerStore(),
        limiter=RateLimiter(),
        metrics=BreakerMetrics(CollectorRegistry()),
    )
    factory = loopback_http_factory()
    clients = [
        ChatClient(
            config_id=i,
            priority=i,
            config=OpenAICompatibleConfig(
                model="test/model-a",
                base_url=fake.api_base,
                usd_per_million_input=Decimal("0.5"),
                usd_per_million_output=Decimal(2),
            ),
            http=factory.create(f"ai:{i}", user_url=True),
            api_key=DEFAULT_KEY,
        )
        for i in range(1, configs + 1)
    ]
    return FallbackChain(clients, lambda i: kernel.guard("ai", i, "openai_compatible"))


async def test_the_analyst_hands_over_and_reports_tokens_cost_and_attempts(
    fake: FakeOpenAI,
) -> None:
    fake.push(status(503))
    fake.default = well(SKIP)
    chain = _chain(fake)
    try:
        result = await AiAnalyst(chain).analyse(LONG, CANDLES)
    finally:
        await chain.aclose()
    assert isinstance(result, Analysis)
    assert result.config_id == 2 and result.answer.recommendation == "skip"
    assert [a.config_id for a in result.attempts] == [1, 2]
    assert result.attempts[0].error is not None and result.attempts[1].error is None
    expected = (
        Decimal(result.input_tokens) * Decimal("0.5") + Decimal(result.output_tokens) * 2
    ) / 1_000_000
    assert result.input_tokens > 0 and result.cost == expected.quantize(Decimal("1E-10"))
    body = fake.chat_requests()[-1].body
    assert body["response_format"]["json_schema"]["name"] == ANALYSIS_SCHEMA_NAME
    assert all(DEFAULT_KEY not in json.dumps(r.headers) for r in fake.requests)


async def test_malformed_or_attacker_answers_never_become_an_analysis(fake: FakeOpenAI) -> None:
    fake.push(malformed(), well({**TAKE, "close_all": True}))
    chain = _chain(fake)
    try:
        result = await AiAnalyst(chain).analyse(LONG, CANDLES)
    finally:
        await chain.aclose()
    assert isinstance(result, AiFailure)
    assert len(result.attempts) == 2 and all(a.error for a in result.attempts)


# -- the gate -------------------------------------------------------------------------------

GATED = RiskSettings(analyst_gate="skip_when_skip", analyst_wait_seconds=20)


def _view(status: str | None = None, recommendation: str | None = None, on: bool = True) -> Any:
    return AnalystView(T0, on, status, recommendation, ("lower highs",))


def test_the_gate_off_never_holds() -> None:
    assert gate(RiskSettings(), _view(), T0) is None
    assert gate(RiskSettings(), _view("ok", "skip"), T0) is None


def test_the_gate_skips_on_skip_and_goes_on_for_take_and_adjust() -> None:
    held = gate(GATED, _view("ok", "skip"), T0)
    assert isinstance(held, Skip) and "lower highs" in held.reason
    assert gate(GATED, _view("ok", "take"), T0) is None
    assert gate(GATED, _view("ok", "adjust"), T0) is None


def test_the_gate_waits_a_bounded_time_then_does_what_on_missing_says() -> None:
    for status_ in (None, "pending"):
        assert isinstance(gate(GATED, _view(status_), T0 + timedelta(seconds=19)), Wait)
        late = T0 + timedelta(seconds=20)
        assert gate(GATED, _view(status_), late) is None
        strict = GATED.model_copy(update={"analyst_on_missing": "skip"})
        held = gate(strict, _view(status_), late)
        assert isinstance(held, Skip) and "within 20 s" in held.reason


def test_a_failed_analysis_or_analysis_off_is_missing_at_once() -> None:
    strict = GATED.model_copy(update={"analyst_on_missing": "skip"})
    assert gate(GATED, _view("failed"), T0) is None
    assert isinstance(gate(strict, _view("failed"), T0), Skip)
    assert gate(GATED, _view(on=False), T0) is None
    assert isinstance(gate(strict, _view(on=False), T0), Skip)


def test_the_gate_settings_are_bounded() -> None:
    with pytest.raises(ValueError):
        RiskSettings.model_validate({"analyst_wait_seconds": 301})
    with pytest.raises(ValueError):
        RiskSettings.model_validate({"analyst_gate": "always"})
    with pytest.raises(ValueError):
        RiskSettings.model_validate({"analyst_on_missing": "maybe"})


# -- candles ------------------------------------------------------------------------------


def test_ccxt_rows_become_candles_and_broken_rows_are_left_out() -> None:
    rows = [
        [1_765_108_800_000, 60000.5, 60100, 59900, 60050, 3.25],
        [1_765_105_200_000, "59900", "60000", "59800", "59950", "1"],
        [1_765_112_400_000, None, 1, 1, 1, 1],
        [1_765_112_400_000, -1, 1, 1, 1, 1],
        "junk",
        [1, 2],
    ]
    candles = candles_from_ccxt(rows)
    assert [c.close for c in candles] == [Decimal(59950), Decimal(60050)]
    assert candles[1].open == Decimal("60000.5") and candles[1].opened_at.tzinfo is not None


async def test_the_paper_venue_builds_candles_from_the_prices_it_applied() -> None:
    clock = [T0]
    exchange = PaperExchange(MemoryPaperStore(), clock=lambda: clock[0])
    for minute, price in enumerate([100, 104, 98, 101, 110, 107]):
        clock[0] = T0 + timedelta(minutes=30 * minute)
        await exchange.on_price("BTC/USDT", Decimal(price))
    candles = exchange.candles("BTC/USDT", "1h", 2)
    assert [(c.open, c.high, c.low, c.close) for c in candles] == [
        (Decimal(98), Decimal(101), Decimal(98), Decimal(101)),
        (Decimal(110), Decimal(110), Decimal(107), Decimal(107)),
    ]
    assert candles_from_prices([], 60, 5) == []
    with pytest.raises(ValueError):
        exchange.candles("BTC/USDT", "7m", 2)


@pytest.mark.parametrize("market_type", ["spot", "linear"])
async def test_the_ccxt_adapter_reads_klines_through_fetch_ohlcv(market_type: str) -> None:
    with FakeBinance() as fake:
        for price in ("60000", "60500", "59800"):
            fake.set_price("BTCUSDT", price)
        config = fake.adapter_config(market_type, timeout_ms=2000)
        adapter = CcxtAdapter.from_config(
            "conn-1", config, fake.adapter_secrets(), deps=loopback_deps()
        )
        adapter.exchange.timeout_on_exit = 0
        try:
            candles = await adapter.fetch_candles("BTC/USDT", "1h", 24)
            with pytest.raises(SymbolNotListed):
                await adapter.fetch_candles("NOPE/USDT", "1h", 24)
            with pytest.raises(InvalidRequest):
                await adapter.fetch_candles("BTC/USDT", "7m", 24)
        finally:
            await adapter.close()
    assert candles, "no bar came back"
    assert candles[-1].close == Decimal(59800)
    assert max(c.high for c in candles) == Decimal(60500)
    assert min(c.low for c in candles) == Decimal(59800)
    path = "/fapi/v1/klines" if market_type == "linear" else "/api/v3/klines"
    assert any(p == path for _, p in fake.request_log)
