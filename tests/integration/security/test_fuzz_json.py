"""Arbitrary JSON to the webhook and to every POST, PUT and PATCH route: never a 5xx.

The routes are enumerated from the application's route table, so a new write route is
fuzzed without touching this file. Each route gets a bounded number of examples (JSON of
every kind, and objects made of the route's own field names with hostile values), sent
with the tokens of an admin, an operator and a member.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.security.fuzzing import (
    JSON_VALUES,
    Populated,
    body_strategy,
    fill_path,
    populate,
)
from tests.platform_fixtures import Harness, make_settings, running_harness

from signalbridge.web.app import create_app
from signalbridge.web.console.app import is_page

WRITE_METHODS = ("POST", "PUT", "PATCH")
EXAMPLES_PER_ROUTE = 30


class SyncPlatform:
    """A running platform driven from synchronous hypothesis tests through one event loop."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.runner = asyncio.Runner()
        self.context = running_harness(make_settings(tmp_path, database_url))
        self.h: Harness = self.runner.run(self.context.__aenter__())
        self.populated: Populated = self.runner.run(populate(self.h))

    def close(self) -> None:
        try:
            self.runner.run(self.context.__aexit__(None, None, None))
        finally:
            self.runner.close()


@pytest.fixture
def platform(tmp_path: Path, database_url: str) -> Iterator[SyncPlatform]:
    running = SyncPlatform(tmp_path, database_url)
    try:
        yield running
    finally:
        running.close()


def write_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every (method, path, body schema) of the API's write routes, from the route table."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    operations = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not isinstance(route.original_route, APIRoute) or path.startswith("/webhooks/"):
            continue
        if is_page(path):  # forms, not JSON: their own tests and test_page_matrix.py
            continue
        for method in sorted((route.methods or set()) & set(WRITE_METHODS)):
            operation = spec["paths"][path][method.lower()]
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema and "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            operations.append((method, path, schema))
    return operations


def fuzz_route(
    platform: SyncPlatform, method: str, url: str, schema: dict[str, Any] | None
) -> None:
    """Send ``EXAMPLES_PER_ROUTE`` bodies to one route as a random role; no 5xx."""
    h, tokens = platform.h, platform.populated.tokens

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=body_strategy(schema), role=st.sampled_from(sorted(tokens)))
    def send(body: Any, role: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[role]}", "Content-Type": "application/json"}
        response = platform.runner.run(
            h.client.request(method, url, content=json.dumps(body), headers=headers)
        )
        assert response.status_code < 500, (method, url, role, body, response.text)

    send()


def test_arbitrary_json_to_every_write_route_is_never_a_5xx(platform: SyncPlatform) -> None:
    h, populated = platform.h, platform.populated
    operations = write_operations(create_app(h.container))
    routes = {(method, path) for method, path, _ in operations}
    assert {("POST", "/api/v1/follows"), ("PUT", "/api/v1/plans/{plan_id}")} <= routes
    for method, path, schema in operations:
        fuzz_route(platform, method, fill_path(path, populated), schema)
    for path in ("/signals", "/follows", "/connections", "/channels", "/plans", "/audit"):
        response = platform.runner.run(h.api("GET", path))
        assert response.status_code == 200, (path, response.text)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    payload=JSON_VALUES
    | st.fixed_dictionaries(
        {"kind": st.sampled_from(["signal", "update", "noise"])},
        optional={
            k: JSON_VALUES
            for k in ("symbol", "side", "order_type", "entry", "stop_loss", "take_profits")
        },
    )
    | st.text(max_size=200)
)
def send_webhook_examples(platform: SyncPlatform, payload: Any) -> None:
    h = platform.h
    channel_id, secret = platform.populated.webhook
    body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    response = platform.runner.run(h.post_signal(channel_id, secret, body))
    assert response.status_code in (200, 202, 422), (payload, response.text)


def test_arbitrary_signed_json_to_the_webhook_is_never_a_5xx(platform: SyncPlatform) -> None:
    send_webhook_examples(platform)
    h = platform.h
    for path in ("/signals", "/executions"):
        response = platform.runner.run(h.api("GET", path))
        assert response.status_code == 200, (path, response.text)
    signals = platform.runner.run(h.api("GET", "/signals")).json()["items"]
    for signal in signals:
        assert platform.runner.run(h.api("GET", f"/signals/{signal['id']}")).status_code == 200
