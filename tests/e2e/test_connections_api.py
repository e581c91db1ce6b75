"""Connection management through the API: types from the registry, validated configs,
masked secrets, activation, probes, breakers, credentials, deletion, audit."""

from __future__ import annotations

from tests.platform_fixtures import SIGNAL, Harness, eventually

KEY = "AKIAcanaryKEY0000000001"
SECRET = "canarySECRET000000000000002"


async def test_unknown_type_and_bad_config_are_clear_422(harness: Harness) -> None:
    h = harness
    r = await h.api("POST", "/connections", json={"name": "x", "type": "kraken-direct"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "unknown_type" and "paper" in error["details"]["known"]
    r = await h.api(
        "POST",
        "/connections",
        json={"name": "x", "type": "paper", "config": {"balances": {"USDT": "-1"}, "nonsense": 1}},
    )
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert "nonsense" in fields
    r = await h.api(
        "POST",
        "/connections",
        json={
            "name": "x",
            "type": "ccxt",
            "config": {"exchange": "not-an-exchange", "secret": SECRET},
        },
    )
    assert r.status_code == 422 and SECRET not in r.text
    r = await h.api("POST", "/channels", json={"name": "x", "type": "telegram-userbot"})
    assert r.status_code == 422 and "webhook" in r.text


async def test_secrets_masked_replaced_and_audited(harness: Harness) -> None:
    h = harness
    created = await h.ok(
        "POST",
        "/connections",
        json={
            "name": "binance",
            "type": "ccxt",
            "config": {
                "exchange": "binance",
                "market_type": "linear",
                "api_key": KEY,
                "secret": SECRET,
            },
        },
    )
    cid = created["id"]
    assert created["secrets"] == {"api_key": "****" + KEY[-4:], "secret": "****" + SECRET[-4:]}
    assert created["config"]["market_type"] == "linear" and "secret" not in created["config"]
    assert "generated_secrets" not in created

    bad = await h.api("PUT", f"/connections/{cid}/credentials", json={"exchange": "x"})
    assert bad.status_code == 422
    replaced = await h.ok(
        "PUT", f"/connections/{cid}/credentials", json={"secret": "newSECRET99887766"}
    )
    assert replaced["secrets"]["secret"] == "****7766"
    assert replaced["secrets"]["api_key"] == "****" + KEY[-4:]

    patched = await h.ok(
        "PATCH",
        f"/connections/{cid}",
        json={"name": "binance main", "config": {"timeout_ms": 5000}},
    )
    assert patched["name"] == "binance main" and patched["config"]["timeout_ms"] == 5000
    assert patched["secrets"]["secret"] == "****7766"  # a config change keeps the credentials

    assert (await h.ok("POST", f"/connections/{cid}/deactivate"))["is_active"] is False
    assert (await h.ok("POST", f"/connections/{cid}/activate"))["is_active"] is True

    audit = (await h.ok("GET", "/audit"))["items"]
    mine = [a for a in audit if a["entity"] == "connection" and a["entity_id"] == str(cid)]
    actions = [a["action"] for a in reversed(mine)]
    assert actions == ["create", "update", "update", "update", "update"]
    text = str(mine)
    assert KEY not in text and SECRET not in text and "newSECRET99887766" not in text
    assert all(a["actor"] == "admin@example.com" for a in mine)


async def test_probe_breaker_reset_and_delete(harness: Harness) -> None:
    h = harness
    paper = await h.paper_connection()
    probe = await h.ok("POST", f"/connections/{paper}/test")
    assert probe["ok"] is True and probe["can_withdraw"] is False and probe["latency_ms"] >= 0
    detail = await h.ok("GET", f"/connections/{paper}")
    assert detail["breaker"]["state"] == "closed"
    assert detail["health"]["last_success_at"] is not None
    reset = await h.ok("POST", f"/connections/{paper}/breaker/reset")
    assert reset["breaker"]["state"] == "closed"

    channel_id, _ = await h.webhook_channel()
    await h.follow(channel_id, paper)
    in_use = await h.api("DELETE", f"/channels/{channel_id}")
    assert in_use.status_code == 409 and "deactivate" in in_use.json()["error"]["message"]
    spare = await h.ok("POST", "/channels", json={"name": "spare", "type": "webhook"})
    assert (await h.api("DELETE", f"/channels/{spare['id']}")).status_code == 204
    assert (await h.api("GET", f"/channels/{spare['id']}")).status_code == 404
    entities = {(a["entity"], a["action"]) for a in (await h.ok("GET", "/audit"))["items"]}
    assert {("connection", "update"), ("channel", "delete"), ("follow", "create")} <= entities


async def test_deactivated_connection_never_blocks_the_others(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    off = await h.paper_connection("off", account_id="off")
    on = await h.paper_connection("on", account_id="on")
    await h.follow(channel_id, off)
    await h.follow(channel_id, on)
    await h.ok("POST", f"/connections/{off}/deactivate")
    response = await h.post_signal(channel_id, secret, SIGNAL)
    signal_id = response.json()["signal_id"]

    async def both_decided() -> bool:
        items = (await h.ok("GET", f"/executions?signal_id={signal_id}"))["items"]
        return len(items) == 2 and all(e["status"] in ("open", "skipped") for e in items)

    await eventually(both_decided)
    items = {
        e["connection_id"]: e
        for e in (await h.ok("GET", f"/executions?signal_id={signal_id}"))["items"]
    }
    assert items[on]["status"] == "open"
    assert items[off]["status"] == "skipped" and "deactivated" in items[off]["reason"]


async def test_users_and_plans_are_audited(harness: Harness) -> None:
    h = harness
    user = await h.ok(
        "POST", "/users", json={"email": "m@example.com", "password": "members password"}
    )
    assert "password_hash" not in user
    await h.ok("PATCH", f"/users/{user['id']}", json={"role": "operator"})
    plan = await h.ok("POST", "/plans", json={"name": "Pro", "prices": {"USD": "29.99"}})
    assert plan["prices"] == {"USD": "29.99"}
    await h.ok("PUT", f"/plans/{plan['id']}", json={"name": "Pro", "prices": {"USD": "39.99"}})
    assert (await h.api("DELETE", f"/plans/{plan['id']}")).status_code == 204
    audit = (await h.ok("GET", "/audit"))["items"]
    seen = [(a["entity"], a["action"]) for a in reversed(audit)]
    assert seen[-5:] == [
        ("user", "create"),
        ("user", "update"),
        ("plan", "create"),
        ("plan", "update"),
        ("plan", "delete"),
    ]
    create_user = next(
        a
        for a in audit
        if a["entity"] == "user"
        and a["action"] == "create"
        and a["changes"].get("email") == "m@example.com"
    )
    assert "members password" not in str(create_user)
    price_change = next(a for a in audit if a["entity"] == "plan" and a["action"] == "update")
    assert price_change["changes"]["prices"] == [{"USD": "29.99"}, {"USD": "39.99"}]
