"""The fallback chain and AiParser: failover in every failure mode, breakers, never raising."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.openai_compat import (
    FakeOpenAI,
    Reply,
    content,
    error_in_200,
    malformed,
    slow,
    status,
    well,
)

from signalbridge.ai.chain import FallbackChain
from signalbridge.ai.client import ChatClient
from signalbridge.ai.config import OpenAICompatibleConfig
from signalbridge.ai.parser import AiFailure, AiParser, AiReading
from signalbridge.domain.signals import Noise, Signal
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel

TEXT = "ETH short 3500 sl 3600 tp 3300"
GOOD = {
    "answer": {
        "kind": "signal",
        "symbol": "ETH/USDT",
        "side": "sell",
        "order_type": "limit",
        "entry": {"low": "3500", "high": "3500"},
        "stop_loss": "3600",
        "take_profits": ["3300"],
        "leverage": None,
        "confidence": 0.8,
    }
}
ATTACKER = {"answer": {**GOOD["answer"], "quantity": "100", "api_key": "send-it-here"}}
OFF_MARKET = {"answer": {**GOOD["answer"], "stop_loss": "3400"}}  # a short's stop below entry


def chain_of(kernel: Kernel, *clients: ChatClient) -> FallbackChain:
    return FallbackChain(
        clients, lambda config_id: kernel.guard("ai", config_id, "openai_compatible")
    )


@pytest.fixture
def pair(fake: FakeOpenAI, router: FakeOpenAI, make_client: Any, kernel: Kernel) -> FallbackChain:
    """Config 1 (priority 0) on ``fake``; config 2 (priority 5) on ``router``: answers well."""
    router.answer_for("ETH", GOOD)
    second = make_client(router, config_id=2, priority=5)
    first = make_client(
        fake, config_id=1, priority=0, usd_per_million_input="0.15", usd_per_million_output="0.6"
    )
    return chain_of(kernel, second, first)  # given out of order: sorted by priority


async def test_the_first_configuration_answers_when_it_can(
    pair: FallbackChain, fake: FakeOpenAI, router: FakeOpenAI
) -> None:
    fake.answer_for("ETH", GOOD)
    reading = await AiParser(pair).read(TEXT)
    assert isinstance(reading, AiReading)
    assert isinstance(reading.parsed, Signal) and reading.parsed.symbol == "ETH/USDT"
    assert reading.config_id == 1 and reading.confidence == Decimal("0.8")
    assert reading.prompt_version.startswith("parse-v")
    expected = (
        Decimal(reading.input_tokens) * Decimal("0.15")
        + Decimal(reading.output_tokens) * Decimal("0.6")
    ) / Decimal(1_000_000)
    assert reading.cost == expected.quantize(Decimal("1E-10"))
    assert reading.raw.startswith('{"answer"')
    assert [(a.config_id, a.error) for a in reading.attempts] == [(1, None)]
    assert router.chat_requests() == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (status(429, retry_after=30), "RateLimited"),
        (status(500), "TransientError"),
        (status(503), "TransientError"),
        (status(401), "AuthenticationError"),
        (error_in_200(), "MalformedAnswer"),
        (malformed(), "MalformedAnswer"),
        (content("I think it's a short on ETH"), "MalformedAnswer"),
        (well(ATTACKER), "MalformedAnswer"),
        (well(OFF_MARKET), "MalformedAnswer"),
        (well({"answer": {"kind": "signal", "confidence": 0.99}}), "MalformedAnswer"),
    ],
)
async def test_each_failure_hands_over_to_the_next_configuration(
    pair: FallbackChain, fake: FakeOpenAI, reply: Reply, error: str
) -> None:
    fake.push(reply)
    reading = await AiParser(pair).read(TEXT)
    assert isinstance(reading, AiReading), reading
    assert reading.config_id == 2
    first, second = reading.attempts
    assert first.config_id == 1 and first.error is not None
    assert first.error.startswith(error + ":")
    assert "send-it-here" not in first.error
    assert second.error is None
    assert len(fake.chat_requests()) == 1  # one attempt per config: the chain is the retry


async def test_a_timeout_hands_over(
    fake: FakeOpenAI,
    router: FakeOpenAI,
    make_client: Any,
    kernel: Kernel,
    http_factory: HttpClientFactory,
) -> None:
    fake.push(slow(3.0))
    router.answer_for("ETH", GOOD)
    slowpoke = ChatClient(
        config_id=1,
        config=OpenAICompatibleConfig.model_validate(fake.config()),
        http=http_factory.create("ai:1", user_url=True),
        api_key=fake.api_key,
        timeout=0.3,
    )
    try:
        reading = await AiParser(chain_of(kernel, slowpoke, make_client(router, 2, 1))).read(TEXT)
    finally:
        await slowpoke.aclose()
    assert isinstance(reading, AiReading) and reading.config_id == 2
    assert reading.attempts[0].error is not None
    assert reading.attempts[0].error.startswith("TransientError: AI provider timed out")


async def test_when_every_configuration_fails_nothing_raises(
    pair: FallbackChain, fake: FakeOpenAI, router: FakeOpenAI
) -> None:
    fake.push(status(502))
    router.push(well(ATTACKER))
    failure = await AiParser(pair).read(TEXT)
    assert isinstance(failure, AiFailure)
    assert "2 tried" in failure.reason
    assert [a.config_id for a in failure.attempts] == [1, 2]
    assert all(a.error for a in failure.attempts)


async def test_no_configuration_is_a_failure_not_an_error(kernel: Kernel) -> None:
    failure = await AiParser(chain_of(kernel)).read(TEXT)
    assert isinstance(failure, AiFailure) and failure.attempts == ()


async def test_the_breaker_opens_after_repeated_failures_and_is_skipped(
    pair: FallbackChain, fake: FakeOpenAI, router: FakeOpenAI, kernel: Kernel
) -> None:
    parser = AiParser(pair)
    fake.push(status(500), malformed(), status(429))
    for _ in range(kernel.failure_threshold):  # 3 counting failures in a row
        reading = await parser.read(TEXT)
        assert isinstance(reading, AiReading) and reading.config_id == 2
    assert (await kernel.breaker_state("ai", 1))["state"] == "open"
    fake.answer_for("ETH", GOOD)  # healthy again, but the breaker has not cooled down
    reading = await parser.read(TEXT)
    assert isinstance(reading, AiReading) and reading.config_id == 2
    assert reading.attempts[0].error is not None
    assert reading.attempts[0].error.startswith("CircuitOpen")
    assert len(fake.chat_requests()) == kernel.failure_threshold  # skipped: no 4th request
    assert len(router.chat_requests()) == kernel.failure_threshold + 1


async def test_a_noise_reading_is_a_reading(pair: FallbackChain, fake: FakeOpenAI) -> None:
    fake.push(well({"kind": "noise", "confidence": 0.95}))
    reading = await AiParser(pair).read("good morning traders")
    assert isinstance(reading, AiReading) and reading.parsed == Noise()
