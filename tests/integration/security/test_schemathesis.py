"""schemathesis over /openapi.json (reliability row 34): no 5xx, no undocumented status.

The platform runs inside the app's own lifespan, so schemathesis' ASGI transport drives it
on one event loop. Every operation is fuzzed with positive and negative cases, as an
admin, an operator and a member, with path ids of real rows so requests reach the
handlers' work rather than only the 404 of a missing row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import status_code_conformance
from tests.integration.security.fuzzing import Populated, path_ids, populate
from tests.platform_fixtures import Harness, make_settings

from signalbridge.bootstrap import build_container
from signalbridge.jobs.runtime import Platform
from signalbridge.services.users import ensure_admin
from signalbridge.store.migrate import upgrade
from signalbridge.web.app import create_app

EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, status_code_conformance]


@dataclass
class Api:
    schema: Any
    populated: Populated


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The app with the platform started in its lifespan, and the schema loaded from it."""
    container = build_container(make_settings(tmp_path, database_url))
    seeded: list[Populated] = []
    running: list[tuple[Platform, httpx.AsyncClient]] = []

    async def start() -> None:
        await upgrade(container.engine)
        platform = Platform(container, worker=True, scheduler=False)
        await platform.start()
        admin = await ensure_admin(container.sessions, "admin@example.com", "correct horse")
        assert admin is not None
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sb.test"
        )
        running.append((platform, client))
        seeded.append(await populate(Harness(container, platform, client, admin.token, app)))

    async def stop() -> None:
        for platform, client in running:
            await client.aclose()
            await platform.stop()

    app = create_app(container, on_startup=start, on_shutdown=stop)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # runs the lifespan
    try:
        yield Api(schema, seeded[0])
    finally:
        shutdown_lifespans()


def fuzz_operation(operation: Any, populated: Populated) -> None:
    names = [p.name for p in operation.path_parameters]
    fixed = path_ids(operation.path, names, populated) if names else None
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
    )
    tokens = populated.tokens

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, role=st.sampled_from(sorted(tokens)))
    def run(case: Any, role: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_schemathesis_finds_no_5xx_and_no_undocumented_status(api: Api) -> None:
    operations = [result.ok() for result in api.schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert "POST /api/v1/follows" in labels and "GET /api/v1/signals" in labels
    failures: list[str] = []
    for operation in operations:
        try:
            fuzz_operation(operation, api.populated)
        except Exception as exc:  # every operation is fuzzed; all failures are reported
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
