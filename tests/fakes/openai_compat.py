"""A loopback OpenAI-compatible server, and OpenRouter's flavour of it.

It answers as OpenAI's API reference and the official ``openai`` SDK (3.57) expect, so the
SDK runs unmodified against it, and as OpenRouter's documentation describes its variant:

- ``POST /v1/chat/completions`` (OpenRouter: ``/api/v1/chat/completions``) and
  ``GET /v1/models`` (``/api/v1/models``);
- ``Authorization: Bearer <key>`` checked on every request (``api_key=None``: a local server
  that takes none); a wrong or missing key is 401 with the flavour's error shape — OpenAI
  ``{"error": {"message", "type", "param", "code"}}``, OpenRouter ``{"error": {"code",
  "message"}}``;
- request checks OpenAI makes: ``response_format`` ``json_schema`` with ``strict: true``
  needs ``additionalProperties: false`` and every property required, at every level (else
  400 ``invalid_request_error``); ``json_object`` needs the word "json" in the messages;
  a forced ``tool_choice`` must name a declared function;
- answers in OpenAI's response shape (``id``, ``object: "chat.completion"``, ``created``,
  ``model``, ``choices[0].message.content`` or ``.tool_calls`` when tools were sent,
  ``finish_reason``, ``usage.prompt_tokens/completion_tokens/total_tokens``). With a
  ``models`` list (OpenRouter) the answering model is the first one not in
  :attr:`FakeOpenAI.down_models`.

What it answers is scripted per test: :meth:`answer_for` (a substring of the message
text → an answer object), :attr:`responder` (the message text → an answer), a queue of
one-off replies (:meth:`push`: :func:`well`, :func:`slow`, :func:`status`,
:func:`error_in_200`, :func:`malformed`, :func:`content`), else :attr:`default`. An
"answer" is any JSON object the test chooses (a valid parse, one outside the schema, an
attacker's): it is sent as the message content (or the tool call's arguments). Every
request is recorded (:attr:`requests`: path, headers with the key redacted, JSON body).

Usage::

    with FakeOpenAI(api_key="sk-test") as fake:
        fake.answer_for("BTC", {"answer": {"kind": "noise", "confidence": 0.9}})
        fake.push(status(429, retry_after=7))     # the next request only
        config = fake.config(structured_output="tools")  # an ai_configs row's config
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer

__all__ = [
    "DEFAULT_KEY",
    "FakeOpenAI",
    "Reply",
    "SeenRequest",
    "content",
    "error_in_200",
    "malformed",
    "slow",
    "status",
    "user_text",
    "well",
]

DEFAULT_KEY = "sk-fake-0123456789abcdefFAKEKEY"
Flavour = Literal["openai", "openrouter"]
Answer = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One scripted reply. ``kind``: well | slow | status | error200 | content."""

    kind: str
    answer: Answer | None = None
    text: str | None = None
    code: int = 200
    message: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    then: Reply | None = None


def well(answer: Answer) -> Reply:
    """A 200 whose content (or tool arguments) is ``answer`` as JSON."""
    return Reply("well", answer=answer)


def content(text: str) -> Reply:
    """A 200 whose content is exactly ``text`` (malformed JSON, prose, a fence...)."""
    return Reply("content", text=text)


def malformed() -> Reply:
    return content('{"answer": {"kind": "signal", "symbol": "BTC/USDT",')


def slow(delay: float, then: Reply | None = None) -> Reply:
    """Wait ``delay`` seconds, then answer ``then`` (default: the scripted answer)."""
    return Reply("slow", delay=delay, then=then)


def status(code: int, message: str = "", *, retry_after: float | None = None) -> Reply:
    """An error status with the flavour's error body (429 may carry ``Retry-After``)."""
    return Reply("status", code=code, message=message, retry_after=retry_after)


def error_in_200(code: int = 502, message: str = "upstream provider failed") -> Reply:
    """OpenRouter after generation started: HTTP 200 with ``{"error": {...}}``."""
    return Reply("error200", code=code, message=message)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    authorized: bool

    @property
    def user_text(self) -> str:
        return user_text(self.body)


@dataclass
class FakeOpenAI(ThreadedAiohttpServer):
    """The fake; ``flavour`` picks paths and error shapes (``openai`` or ``openrouter``)."""

    api_key: str | None = DEFAULT_KEY
    flavour: Flavour = "openai"
    models: tuple[str, ...] = ("test/model-a", "test/model-b", "gpt-4o-mini")
    default: Reply = field(
        default_factory=lambda: well({"answer": {"kind": "noise", "confidence": 0.5}})
    )
    responder: Callable[[str], Answer | Reply | None] | None = None
    down_models: set[str] = field(default_factory=set)
    requests: list[SeenRequest] = field(default_factory=list)
    name = "fake openai"

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._by_text: list[tuple[str, Answer | Reply]] = []
        self._sleepers: set[asyncio.Task[Any]] = set()

    def stop(self) -> None:
        """Stop serving; a reply still sleeping (``slow``) is cancelled, not left pending."""
        loop = self._loop
        if loop is not None:
            for task in list(self._sleepers):
                loop.call_soon_threadsafe(task.cancel)
        super().stop()

    # -- scripting ----------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """The base URL a client is configured with (``.../v1`` or ``.../api/v1``)."""
        return self.base_url + ("/api/v1" if self.flavour == "openrouter" else "/v1")

    def config(self, model: str | None = None, **changes: Any) -> dict[str, Any]:
        """An AI configuration (public fields and ``api_key``) pointed at this fake."""
        config: dict[str, Any] = {"model": model or self.models[0], "base_url": self.api_base}
        if self.api_key is not None:
            config["api_key"] = self.api_key
        config.update(changes)
        return config

    def push(self, *replies: Reply) -> None:
        """Replies for the next requests, in order (before any other rule)."""
        with self._lock:
            self._queue.extend(replies)

    def answer_for(self, substring: str, answer: Answer | Reply) -> None:
        """Messages whose text contains ``substring`` get ``answer`` (first match wins)."""
        with self._lock:
            self._by_text.append((substring, answer))

    def chat_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._by_text.clear()
            self.requests.clear()

    # -- serving ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        prefix = "/api/v1" if self.flavour == "openrouter" else "/v1"
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorized = self._authorized(request)
        seen = SeenRequest(
            request.method, request.path, _redacted_headers(request), body, authorized
        )
        with self._lock:
            self.requests.append(seen)
        if request.path not in (f"{prefix}/chat/completions", f"{prefix}/models"):
            return self._error(404, "not found", "invalid_request_error", "unknown_url")
        if not authorized:
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if request.path.endswith("/models"):
            if request.method != "GET":
                return self._error(405, "method not allowed", "invalid_request_error", None)
            return web.json_response(self._model_list())
        if request.method != "POST" or not isinstance(body, dict):
            return self._error(400, "body must be a JSON object", "invalid_request_error", None)
        problem = request_problem(body)
        if problem is not None:
            return self._error(400, problem, "invalid_request_error", None)
        return await self._reply(body, self._next_reply(body))

    def _authorized(self, request: web.Request) -> bool:
        if self.api_key is None:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        text = user_text(body)
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            for substring, answer in self._by_text:
                if substring in text:
                    return answer if isinstance(answer, Reply) else well(answer)
        if self.responder is not None:
            found = self.responder(text)
            if found is not None:
                return found if isinstance(found, Reply) else well(found)
        return self.default

    async def _reply(self, body: dict[str, Any], reply: Reply) -> web.StreamResponse:
        if reply.kind == "slow":
            task = asyncio.current_task()
            if task is not None:
                self._sleepers.add(task)
            try:
                await asyncio.sleep(reply.delay)
            finally:
                self._sleepers.discard(task)  # type: ignore[arg-type]
            after = reply.then
            if after is None:
                with self._lock:
                    matched = next((a for s, a in self._by_text if s in user_text(body)), None)
                after = (
                    matched
                    if isinstance(matched, Reply)
                    else well(matched)
                    if matched is not None
                    else self.default
                )
            return await self._reply(body, after)
        if reply.kind == "status":
            headers = {}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            kind = "rate_limit_exceeded" if reply.code == 429 else "server_error"
            return self._error(
                reply.code, reply.message or _REASONS.get(reply.code, "error"), kind, None, headers
            )
        if reply.kind == "error200":
            return web.json_response(
                {"error": {"code": reply.code, "message": reply.message}}, status=200
            )
        if reply.kind == "content":
            return web.json_response(self._completion(body, reply.text or ""))
        text = json.dumps(reply.answer, separators=(",", ":"))
        return web.json_response(self._completion(body, text))

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        model = self._answering_model(body)
        tool = _forced_tool(body)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        if tool is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {"name": tool, "arguments": text},
                }
            ]
        prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
        completion_tokens = max(1, len(text) // 4)
        answer: dict[str, Any] = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }
        if self.flavour == "openrouter":
            answer["provider"] = "FakeProvider"
        return answer

    def _answering_model(self, body: dict[str, Any]) -> str:
        listed = body.get("models")
        candidates = listed if isinstance(listed, list) and listed else [body.get("model")]
        for model in candidates:
            if isinstance(model, str) and model not in self.down_models:
                return model
        return str(body.get("model"))

    def _model_list(self) -> dict[str, Any]:
        created = 1_700_000_000
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": created, "owned_by": "fake"}
                for m in self.models
            ],
        }

    def _error(
        self,
        code: int,
        message: str,
        type_: str,
        err_code: str | None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        if self.flavour == "openrouter":
            body: dict[str, Any] = {"error": {"code": code, "message": message}}
        else:
            body = {"error": {"message": message, "type": type_, "param": None, "code": err_code}}
        return web.json_response(body, status=code, headers=headers)


_REASONS = {
    400: "Bad request",
    402: "Insufficient credits",
    408: "Request timed out",
    429: "Rate limit reached for requests",
    500: "The server had an error while processing your request.",
    502: "Bad gateway",
    503: "The engine is currently overloaded, please try again later",
}


def user_text(body: Any) -> str:
    """Every user message's text in a request body, joined (what answer_for matches)."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return ""
    return "\n".join(
        m["content"]
        for m in body["messages"]
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
    )


def _forced_tool(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return str(function["name"])
    tools = body.get("tools")
    if isinstance(tools, list) and tools and choice in (None, "auto", "required"):
        first = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        name = first.get("name")
        return name if isinstance(name, str) else None
    return None


def request_problem(body: dict[str, Any]) -> str | None:
    """What OpenAI would refuse with 400 in a chat-completion request, or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return "response_format.json_schema needs a name"
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec["name"]):
                return "response_format.json_schema.name is invalid"
            if spec.get("strict") is True:
                problem = strict_schema_problem(spec.get("schema"), "schema")
                if problem is not None:
                    return f"Invalid schema for response_format '{spec['name']}': {problem}"
        elif kind == "json_object":
            if "json" not in json.dumps(messages).lower():
                return "'messages' must contain the word 'json' in some form"
        elif kind != "text":
            return f"unknown response_format type {kind!r}"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "tools must be a non-empty array"
        names = set()
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                return "each tool needs a function with a name"
            names.add(function["name"])
            if function.get("strict") is True:
                problem = strict_schema_problem(function.get("parameters"), "parameters")
                if problem is not None:
                    return f"Invalid schema for function '{function['name']}': {problem}"
        forced = _forced_tool(body)
        if forced is not None and forced not in names:
            return f"tool_choice names an undeclared function {forced!r}"
    return None


def strict_schema_problem(schema: Any, where: str) -> str | None:
    """OpenAI strict mode: objects closed and fully required; the root an object."""
    if where in ("schema", "parameters"):
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"{where}: the root must be an object (not anyOf)"
    return _strict(schema, where)


def _strict(schema: Any, where: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    types = schema.get("type")
    if types == "object" or (isinstance(types, list) and "object" in types):
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"{where}: 'additionalProperties' is required to be supplied and to be false"
        missing = [name for name in props if name not in schema.get("required", [])]
        if missing:
            return f"{where}: 'required' is required to include every property; missing {missing}"
        for name, sub in props.items():
            problem = _strict(sub, f"{where}.{name}")
            if problem is not None:
                return problem
    for key in ("anyOf",):
        for i, sub in enumerate(schema.get(key, []) or []):
            problem = _strict(sub, f"{where}.{key}[{i}]")
            if problem is not None:
                return problem
    if "items" in schema:
        return _strict(schema["items"], f"{where}.items")
    return None


def _redacted_headers(request: web.Request) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items()}
    for name in list(headers):
        if name.lower() == "authorization":
            headers[name] = "Bearer ***" if headers[name].startswith("Bearer ") else "***"
    return headers
