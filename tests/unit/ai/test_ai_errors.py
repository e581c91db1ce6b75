"""The openai SDK's errors translated into our tree, the key never in the text."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from signalbridge.ai.errors import MalformedAnswer, retry_after_seconds, translate
from signalbridge.integrations.errors import (
    AuthenticationError,
    IntegrationError,
    InvalidRequest,
    RateLimited,
    TransientError,
)
from signalbridge.integrations.redaction import register_secret

KEY = "sk-or-v1-0123456789abcdef0123456789abcdef"
_REQUEST = httpx2.Request("POST", "https://openrouter.ai/api/v1/chat/completions")


_SDK_CLASS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def _status(code: int, body: Any, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """What the SDK raises for ``code`` (its mapping in ``openai/_client.py``)."""
    response = httpx2.Response(code, headers=headers or {}, json=body, request=_REQUEST)
    cls = _SDK_CLASS.get(code, openai.InternalServerError if code >= 500 else openai.APIStatusError)
    return cls(f"Error code: {code}", response=response, body=body)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (402, AuthenticationError),
        (403, AuthenticationError),
        (404, InvalidRequest),
        (408, TransientError),
        (429, RateLimited),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
    ],
)
def test_status_errors_map_by_class(code: int, expected: type[IntegrationError]) -> None:
    body = {"error": {"code": code, "message": "provider says no"}}
    translated = translate(_status(code, body), connection_id="ai:1")
    assert type(translated) is expected
    assert "provider says no" in translated.message
    assert translated.connection_id == "ai:1"


def test_a_429_carries_retry_after() -> None:
    exc = _status(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"})
    translated = translate(exc)
    assert isinstance(translated, RateLimited)
    assert translated.retry_after == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None


def test_timeouts_and_connection_failures_are_transient() -> None:
    assert type(translate(openai.APITimeoutError(request=_REQUEST))) is TransientError
    assert type(translate(openai.APIConnectionError(request=_REQUEST))) is TransientError


def test_our_own_refusal_inside_the_sdk_error_passes_unchanged() -> None:
    ours = InvalidRequest("address 10.0.0.1 is private; request refused")
    try:
        raise openai.APIConnectionError(request=_REQUEST) from ours
    except openai.APIConnectionError as exc:
        assert translate(exc, connection_id="ai:3") is ours
    assert ours.connection_id == "ai:3"


def test_an_unreadable_answer_is_malformed() -> None:
    assert isinstance(translate(openai.OpenAIError("bad")), MalformedAnswer)
    assert issubclass(MalformedAnswer, TransientError)  # counts for the breaker


def test_the_key_never_reaches_the_message() -> None:
    register_secret(KEY)
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}
    translated = translate(_status(401, body))
    assert KEY not in translated.message
    assert KEY[-8:] not in str(translated)
