"""ChatClient against the fake server: the request it sends per mode, every failure mode."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from tests.fakes.openai_compat import (
    FakeOpenAI,
    content,
    error_in_200,
    malformed,
    slow,
    status,
    well,
)

from signalbridge.ai.answer import PARSE_SCHEMA, PARSE_SCHEMA_NAME
from signalbridge.ai.client import ChatClient
from signalbridge.ai.config import OpenAICompatibleConfig
from signalbridge.ai.errors import MalformedAnswer
from signalbridge.ai.prompt import build_parse_messages
from signalbridge.ai.registration import openai_compatible_client, probe, probe_stored, register
from signalbridge.integrations.errors import (
    AuthenticationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.kernel import Kernel
from signalbridge.integrations.registry import AdapterRegistry

ANSWER = {
    "answer": {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "market",
        "entry": None,
        "stop_loss": "41000.25",
        "take_profits": ["43000"],
        "leverage": None,
        "confidence": 0.9,
    }
}
MESSAGES = build_parse_messages("BTC long now, sl 41000.25, tp 43000")


async def ask(client: Any) -> Any:
    return await client.complete_json(MESSAGES, PARSE_SCHEMA, PARSE_SCHEMA_NAME)


async def test_json_schema_mode_sends_the_strict_schema(fake: FakeOpenAI, make_client: Any) -> None:
    fake.push(well(ANSWER))
    client = make_client(fake, temperature="0.2", max_tokens=300)
    answer = await ask(client)
    assert answer.data == json.loads(json.dumps(ANSWER), parse_float=Decimal)
    assert answer.data["answer"]["confidence"] == Decimal("0.9")  # no float touched it
    assert answer.model == fake.models[0]
    assert answer.input_tokens > 0 and answer.output_tokens > 0
    body = fake.chat_requests()[-1].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": PARSE_SCHEMA_NAME, "strict": True, "schema": PARSE_SCHEMA},
    }
    assert "tools" not in body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 300
    assert body["messages"] == MESSAGES


async def test_tools_mode_forces_one_function_call(fake: FakeOpenAI, make_client: Any) -> None:
    fake.push(well(ANSWER))
    answer = await ask(make_client(fake, structured_output="tools"))
    assert answer.data["answer"]["symbol"] == "BTC/USDT"
    body = fake.chat_requests()[-1].body
    assert "response_format" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": PARSE_SCHEMA_NAME}}
    (tool,) = body["tools"]
    assert tool["function"]["parameters"] == PARSE_SCHEMA
    assert tool["function"]["strict"] is True


async def test_json_object_mode_sends_the_schema_in_a_system_message(
    fake: FakeOpenAI, make_client: Any
) -> None:
    fake.push(well(ANSWER))
    await ask(make_client(fake, structured_output="json_object"))
    body = fake.chat_requests()[-1].body
    assert body["response_format"] == {"type": "json_object"}
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "system", "user"]
    assert json.dumps(PARSE_SCHEMA, separators=(",", ":")) in body["messages"][1]["content"]


async def test_openrouter_gets_attribution_models_and_require_parameters(
    router: FakeOpenAI, make_client: Any
) -> None:
    router.down_models.add("primary/model")
    router.push(well(ANSWER))
    client = make_client(
        router,
        model="primary/model",
        fallback_models=["backup/model", "last/model"],
        app_url="https://signals.example.com",
        app_title="SignalBridge",
    )
    answer = await ask(client)
    assert answer.model == "backup/model"  # billed and reported: the one that answered
    seen = router.chat_requests()[-1]
    assert seen.path == "/api/v1/chat/completions"
    assert seen.body["models"] == ["primary/model", "backup/model", "last/model"]
    assert seen.body["provider"] == {"require_parameters": True}
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["http-referer"] == "https://signals.example.com"
    assert headers["x-openrouter-title"] == "SignalBridge"
    assert headers["x-title"] == "SignalBridge"


async def test_a_plain_endpoint_gets_no_openrouter_extras(
    fake: FakeOpenAI, make_client: Any
) -> None:
    fake.push(well(ANSWER))
    await ask(make_client(fake))
    seen = fake.chat_requests()[-1]
    assert "models" not in seen.body and "provider" not in seen.body
    assert not {"http-referer", "x-title"} & {k.lower() for k in seen.headers}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (status(500), TransientError),
        (status(502), TransientError),
        (status(503), TransientError),
        (status(400, "response_format is not supported by this model"), InvalidRequest),
        (status(402, "Insufficient credits"), AuthenticationError),
        (error_in_200(502, "provider disconnected"), MalformedAnswer),
        (malformed(), MalformedAnswer),
        (content("Sure! Here is the signal: BUY BTC"), MalformedAnswer),
        (content('["a list", "not an object"]'), MalformedAnswer),
        (content(""), MalformedAnswer),
    ],
)
async def test_failures_map_to_our_tree(
    router: FakeOpenAI, make_client: Any, reply: Any, expected: type[Exception]
) -> None:
    router.push(reply)
    with pytest.raises(expected) as caught:
        await ask(make_client(router))
    assert type(caught.value) is expected
    assert caught.value.connection_id == "ai:1"  # type: ignore[attr-defined]


async def test_a_429_is_rate_limited_with_retry_after(fake: FakeOpenAI, make_client: Any) -> None:
    fake.push(status(429, retry_after=12))
    with pytest.raises(RateLimited) as caught:
        await ask(make_client(fake))
    assert caught.value.retry_after == 12.0
    assert len(fake.chat_requests()) == 1  # the SDK's own retries are off


async def test_a_slow_answer_times_out(fake: FakeOpenAI, http_factory: HttpClientFactory) -> None:
    fake.push(slow(3.0))
    config = OpenAICompatibleConfig.model_validate(fake.config())
    client = ChatClient(
        config_id=1,
        config=config,
        http=http_factory.create("ai:1", user_url=True),
        api_key=fake.api_key,
        timeout=0.3,  # the schema's minimum is 1 s; a test waits less
    )
    try:
        with pytest.raises(TransientError, match="timed out"):
            await ask(client)
    finally:
        await client.aclose()


async def test_a_wrong_key_is_refused_and_never_shown(
    fake: FakeOpenAI, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-ABCDEF0123456789"
    client = make_client(fake, api_key=wrong)
    with pytest.raises(AuthenticationError) as caught:
        await ask(client)
    assert wrong not in str(caught.value)
    assert wrong not in caplog.text
    assert fake.chat_requests()[-1].authorized is False
    assert fake.api_key is not None and fake.api_key not in caplog.text


async def test_probe_reports_whether_the_model_is_listed(
    fake: FakeOpenAI, make_client: Any
) -> None:
    found = await probe(make_client(fake))
    assert found["ok"] is True and found["model_found"] is True
    missing = await probe(make_client(fake, model="not/listed"))
    assert missing["ok"] is False and "not among" in missing["message"]
    key = fake.api_key or ""
    mangled = key[: len(key) // 2] + "x" + key[len(key) // 2 + 1 :]  # one character off
    refused = await probe(make_client(fake, api_key=mangled))
    assert refused == refused | {"ok": False, "error_class": "AuthenticationError"}
    assert mangled not in refused["message"]


async def test_a_private_address_is_refused_without_the_operator_setting(
    fake: FakeOpenAI,
) -> None:
    strict = HttpClientFactory()  # no loopback on the allow-list
    config = fake.config()
    key = config.pop("api_key")
    client = openai_compatible_client(7, config, {"api_key": key}, http_factory=strict)
    try:
        with pytest.raises(InvalidRequest):
            await ask(client)
    finally:
        await client.aclose()
    assert fake.chat_requests() == []


async def test_a_stored_row_is_tested_through_its_guard(
    router: FakeOpenAI, http_factory: HttpClientFactory, kernel: Kernel
) -> None:
    registry = AdapterRegistry()
    register(registry)
    public, secrets = registry.split_config("ai", "openrouter", router.config())
    guard = kernel.guard("ai", 4, "openrouter")
    found = await probe_stored(
        registry, "openrouter", 4, public, secrets, http_factory=http_factory, guard=guard
    )
    assert found["ok"] is True and found["model_found"] is True
    assert guard.health.consecutive_failures == 0
    refused = await probe_stored(
        registry, "openrouter", 4, public, {"api_key": "sk-or-v1-wrong"}, http_factory=http_factory
    )
    assert refused["ok"] is False and refused["error_class"] == "AuthenticationError"
    broken = await probe_stored(registry, "openrouter", 4, {}, {}, http_factory=http_factory)
    assert broken["ok"] is False and broken["error_class"] == "InvalidRequest"
