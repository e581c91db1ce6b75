"""The official openai SDK, on its own HTTP client, reads every answer of the fake.

With ``_strict_response_validation`` the SDK validates each response against its models,
so a field the fake got wrong (a missing ``created``, a wrong ``object``) fails here,
independent of our client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from tests.fakes.openai_compat import FakeOpenAI, error_in_200, status, well

ANSWER = {"answer": {"kind": "noise", "confidence": 0.4}}
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "json please: good morning"}
]


async def _sdk(server: FakeOpenAI, key: str | None = None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.api_base,
        api_key=key or server.api_key or "x",
        max_retries=0,
        _strict_response_validation=True,
        http_client=httpx2.AsyncClient(verify=False),  # plain HTTP on loopback
    )


@pytest.fixture
async def sdk(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    client = await _sdk(fake)
    yield client
    await client.close()


async def test_a_completion_parses_into_the_sdks_model(
    fake: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    fake.push(well(ANSWER))
    completion = await sdk.chat.completions.create(
        model="test/model-a", messages=MESSAGES, response_format={"type": "json_object"}
    )
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion"
    assert json.loads(completion.choices[0].message.content or "") == ANSWER
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_a_forced_tool_call_parses(fake: FakeOpenAI, sdk: openai.AsyncOpenAI) -> None:
    fake.push(well(ANSWER))
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    completion = await sdk.chat.completions.create(
        model="test/model-a",
        messages=MESSAGES,
        tools=[
            {"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}}
        ],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "f"
    assert json.loads(call.function.arguments) == ANSWER


async def test_the_model_list_parses(sdk: openai.AsyncOpenAI, fake: FakeOpenAI) -> None:
    page = await sdk.models.list()
    assert [m.id for m in page.data] == list(fake.models)


async def test_errors_parse_into_the_sdks_classes(
    fake: FakeOpenAI, sdk: openai.AsyncOpenAI
) -> None:
    fake.push(status(429, retry_after=3), status(503))
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "3"
    assert isinstance(limited.value.body, dict) and "message" in limited.value.body
    with pytest.raises(openai.InternalServerError):
        await sdk.chat.completions.create(model="m", messages=MESSAGES)
    bad = await _sdk(fake, key="sk-wrong")
    try:
        with pytest.raises(openai.AuthenticationError) as refused:
            await bad.models.list()
    finally:
        await bad.close()
    assert refused.value.code == "invalid_api_key"


async def test_a_non_strict_schema_is_refused_as_openai_refuses_it(
    sdk: openai.AsyncOpenAI,
) -> None:
    loose: dict[str, object] = {"type": "object", "properties": {"x": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        await sdk.chat.completions.create(
            model="m",
            messages=MESSAGES,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "strict": True, "schema": loose},
            },
        )


async def test_openrouters_error_shapes(router: FakeOpenAI) -> None:
    client = await _sdk(router)
    try:
        router.push(status(402, "Insufficient credits"))
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        assert caught.value.status_code == 402
        assert caught.value.body == {"code": 402, "message": "Insufficient credits"}
        router.push(error_in_200(502, "provider went away"))
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.status_code == 200
        assert json.loads(raw.http_response.content)["error"]["code"] == 502
    finally:
        await client.close()
