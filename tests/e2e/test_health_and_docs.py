from __future__ import annotations

from tests.platform_fixtures import Harness


async def test_health_ready_metrics_docs(harness: Harness) -> None:
    c = harness.client
    assert (await c.get("/healthz")).json() == {"status": "ok"}
    ready = await c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = await c.get("/metrics")
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    spec = (await c.get("/openapi.json")).json()
    for path in (
        "/api/v1/channels",
        "/api/v1/connections",
        "/api/v1/follows",
        "/api/v1/signals",
        "/api/v1/executions",
        "/api/v1/orders",
        "/api/v1/positions",
        "/api/v1/audit",
        "/webhooks/channels/{channel_id}",
    ):
        assert path in spec["paths"], path
    assert (await c.get("/docs")).status_code == 200


async def test_errors_have_one_shape(harness: Harness) -> None:
    c = harness.client
    for response in (
        await c.get("/nowhere"),
        await c.get("/api/v1/signals"),
        await harness.api("GET", "/signals/12345"),
        await harness.api("POST", "/follows", json={"channel_id": "x"}),
    ):
        error = response.json()["error"]
        assert set(error) >= {"code", "message"} and isinstance(error["message"], str)


async def test_metrics_show_breakers_and_outgoing_http_collectors(harness: Harness) -> None:
    h = harness
    paper = await h.paper_connection()
    assert (await h.ok("POST", f"/connections/{paper}/test"))["ok"] is True
    text = (await h.client.get("/metrics")).text
    assert f'signalbridge_breaker_state{{connection="exchange:{paper}"}} 0.0' in text
    assert "signalbridge_http_request_duration_seconds" in text
