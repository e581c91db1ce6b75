"""KernelTransport: the SDK's requests go through the kernel's httpx client and its policies."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from tests.fakes.openai_compat import FakeOpenAI, well

from signalbridge.ai.answer import PARSE_SCHEMA, PARSE_SCHEMA_NAME
from signalbridge.ai.client import ChatClient
from signalbridge.ai.config import OpenAICompatibleConfig
from signalbridge.ai.prompt import build_parse_messages
from signalbridge.integrations.bounded import ResponseTooLarge
from signalbridge.integrations.errors import TransientError
from signalbridge.integrations.http import HttpClientFactory

MESSAGES = build_parse_messages("BTC 42000 ünïcødé ✓")


def _client(server: FakeOpenAI, factory: HttpClientFactory, **changes: Any) -> ChatClient:
    config = server.config(**changes)
    key = config.pop("api_key", None)
    return ChatClient(
        config_id=9,
        config=OpenAICompatibleConfig.model_validate(config),
        http=factory.create(
            "ai:9", user_url=True, config=factory.config.with_(max_response_bytes=4096)
        ),
        api_key=key,
    )


async def test_requests_pass_the_kernel_intact_and_are_counted(
    fake: FakeOpenAI, http_factory: HttpClientFactory
) -> None:
    fake.push(well({"kind": "noise", "confidence": 0.1}))
    client = _client(fake, http_factory)
    try:
        answer = await client.complete_json(MESSAGES, PARSE_SCHEMA, PARSE_SCHEMA_NAME)
    finally:
        await client.aclose()
    assert answer.data == {"kind": "noise", "confidence": answer.data["confidence"]}
    seen = fake.chat_requests()[-1]
    assert seen.authorized
    assert seen.body["messages"] == MESSAGES  # non-ASCII text unharmed
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("AsyncOpenAI/Python")
    counted = http_factory.metrics.registry.get_sample_value(
        "signalbridge_http_requests_total",
        {"connection": "ai:9", "method": "POST", "status": "200"},
    )
    assert counted == 1


async def test_the_kernels_response_cap_applies(
    fake: FakeOpenAI, http_factory: HttpClientFactory
) -> None:
    fake.push(well({"kind": "noise", "confidence": 0.1, "padding": "x" * 10_000}))
    client = _client(fake, http_factory)
    try:
        with pytest.raises(ResponseTooLarge):
            await client.complete_json(MESSAGES, PARSE_SCHEMA, PARSE_SCHEMA_NAME)
    finally:
        await client.aclose()


async def test_a_closed_port_is_a_transient_failure(http_factory: HttpClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = OpenAICompatibleConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1")
    client = ChatClient(config_id=3, config=config, http=http_factory.create("ai:3", user_url=True))
    try:
        with pytest.raises(TransientError, match="unreachable"):
            await client.complete_json(MESSAGES, PARSE_SCHEMA, PARSE_SCHEMA_NAME)
    finally:
        await client.aclose()
