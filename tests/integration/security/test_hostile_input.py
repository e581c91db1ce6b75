"""Hostile numbers and shapes (reliability row 33): 422 or 404, never 5xx, and nothing is
stored that a later read cannot return.

Once a 176-byte signed body with the price ``1e-9999990`` grew the database by 56 MB and
left ``GET /api/v1/signals`` answering 500 for good; ``"0,5"`` became 5 and ``ſol/usdt``
became SOL/USDT. Every case here runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from tests.platform_fixtures import SIGNAL, Harness

from signalbridge.store import models as m

BIG = "1234567890" * 4  # 40 significant digits
DEEP = 10_000


def _signal(**fields: Any) -> dict[str, Any]:
    return {**SIGNAL, **fields}


def _raw_signal(replacements: dict[str, str]) -> bytes:
    """The canonical signal with some values spliced in as raw JSON (numbers, constants)."""
    body = json.dumps(SIGNAL)
    for old, new in replacements.items():
        assert old in body
        body = body.replace(old, new, 1)
    return body.encode()


# Each case: a name, then a signed webhook body (a dict is sent as JSON).
WEBHOOK_CASES: list[tuple[str, dict[str, Any] | bytes]] = [
    ("string 1e-9999990", _signal(stop_loss="1e-9999990")),
    ("number 1e-9999990", _raw_signal({'"58000"': "1e-9999990"})),
    ("number 1e+999999", _raw_signal({'"62000"': "1e+999999"})),
    ("number 0.1e-9999990 in the entry", _raw_signal({'"59900"': "0.1e-9999990"})),
    ("40-digit string", _signal(take_profits=[BIG])),
    ("40-digit number", _raw_signal({'"64000"': BIG})),
    ("40 significant digits", _signal(stop_loss="1234567890123456789.012345678901234567891")),
    ("19 decimals", _signal(stop_loss="58000.0000000000000000001")),
    ("21 integer digits", _signal(take_profits=["123456789012345678901"])),
    ("NaN string", _signal(stop_loss="NaN")),
    ("NaN constant", _raw_signal({'"58000"': "NaN"})),
    ("Infinity constant", _raw_signal({'"62000"': "Infinity"})),
    ("-Infinity constant", _raw_signal({'"58000"': "-Infinity"})),
    ("sNaN string", _signal(stop_loss="sNaN")),
    ("decimal comma", _signal(stop_loss="0,5")),
    ("underscore", _signal(stop_loss="6_00")),
    ("thousands separator", _signal(take_profits=["1,000.5"])),
    ("leading space", _signal(stop_loss=" 58000")),
    ("full-width digits", _signal(stop_loss="５８０００")),
    ("exponent string", _signal(stop_loss="5.8e4")),
    ("float-looking hex", _signal(stop_loss="0x10")),
    ("huge integer leverage", _raw_signal({"10}": "1" * 5000 + "}"})),
    ("long-s symbol", _signal(symbol="ſol/usdt")),
    ("dotless-i symbol", _signal(symbol="bıtcoin/usdt")),
    ("Cyrillic look-alike symbol", _signal(symbol="ВТС/USDT")),
    ("full-width symbol", _signal(symbol="ＢＴＣ/USDT")),
    ("Kelvin-sign side", _signal(side="\u212a")),
    ("41-character symbol", _signal(symbol="A" * 41)),
    ("update value 1e-9999990", {"kind": "update", "action": "move_sl", "value": "1e-9999990"}),
    ("update value NaN", b'{"kind": "update", "action": "move_sl", "value": NaN}'),
    ("open nesting 10,000 deep", b'{"a":' * DEEP),
    ("closed nesting 10,000 deep", b'{"kind": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    ("nesting 40 deep", b'{"kind": "signal", "x": ' + b"[" * 40 + b"]" * 40 + b"}"),
    ("NUL byte", b'{"kind": "signal", "symbol": "BTC/USDT\x00"}'),
]

# Free text: the rule parser never reads a number the store cannot hold (parsing/numbers.py),
# so such a message is stored, read without that number, and never executed on its own.
TEXT_CASES: list[tuple[str, bytes]] = [
    ("text with a 22-decimal stop", b"BUY BTCUSDT @ 60000 SL 0.0000000000000000000001 TP 70000"),
    ("text with 20-decimal prices", b"LONG BTC/USDT entry 0." + b"0" * 19 + b"1 sl 1 tp 2"),
    ("text with a 22-digit target", b"BUY BTCUSDT @ 60000 SL 59000 TP 1" + b"0" * 21),
]


async def _count(h: Harness, model: Any) -> int:
    async with h.container.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_hostile_webhook_bodies_are_kept_as_rejected_messages(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    message_ids: list[int] = []
    for name, payload in WEBHOOK_CASES:
        response = await h.post_signal(channel_id, secret, payload)
        assert response.status_code == 422, (name, response.status_code, response.text)
        error = response.json()["error"]
        assert error["message"], name
        details = error["details"]
        assert details["status"] == "rejected" and details["signal_id"] is None, name
        message_ids.append(details["message_id"])
    assert await _count(h, m.Signal) == 0
    assert await _count(h, m.SignalUpdate) == 0
    assert await _count(h, m.Execution) == 0
    # Everything that was stored reads back: lists and every detail answer 200.
    assert (await h.api("GET", "/signals")).status_code == 200
    for (name, _), message_id in zip(WEBHOOK_CASES, message_ids, strict=True):
        response = await h.api("GET", f"/messages/{message_id}")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["status"] == "rejected", name
    # A well-formed signal still goes through, and reads back with its exact prices.
    accepted = await h.post_signal(
        channel_id, secret, _signal(stop_loss="58000.123456789012345678")
    )
    assert accepted.status_code == 202, accepted.text
    signal_id = accepted.json()["signal_id"]
    body = (await h.api("GET", f"/signals/{signal_id}")).json()
    assert body["stop_loss"] == "58000.123456789012345678"
    assert (await h.api("GET", "/signals")).status_code == 200


async def test_unstorable_numbers_in_text_are_never_read(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    for name, payload in TEXT_CASES:
        response = await h.post_signal(channel_id, secret, payload)
        assert response.status_code in (202, 422), (name, response.status_code, response.text)
        answer = response.json()
        details = answer["error"]["details"] if response.status_code == 422 else answer
        assert details["status"] in ("review", "rejected"), (name, details)
        if details["signal_id"] is not None:
            signal = (await h.api("GET", f"/signals/{details['signal_id']}")).json()
            text = json.dumps(signal)
            assert "0000000000000000000001" not in text and "1" + "0" * 21 not in text, name
    assert await _count(h, m.Execution) == 0


async def test_messages_name_what_is_wrong(harness: Harness) -> None:
    h = harness
    channel_id, secret = await h.webhook_channel()
    # read, not refused for its size (50,000 characters): the parser names the nesting
    await h.ok("PATCH", f"/channels/{channel_id}", json={"max_message_chars": 100_000})
    expectations = {
        "decimal comma": "plain decimal",
        "underscore": "plain decimal",
        "number 1e-9999990": "at most 18 digits after the point",
        "40-digit number": "at most 20 digits before the point",
        "40 significant digits": "40 significant digits; at most 38",
        "21 integer digits": "at most 20 digits before the point",
        "NaN constant": "NaN",
        "long-s symbol": "not a valid symbol",
        "open nesting 10,000 deep": "nested deeper than 32",
    }
    cases = dict(WEBHOOK_CASES)
    for name, expected in expectations.items():
        response = await h.post_signal(channel_id, secret, cases[name])
        assert response.status_code == 422
        assert expected in response.json()["error"]["message"], (name, response.text)


async def _follow_prerequisites(h: Harness) -> tuple[int, int]:
    channel_id, _ = await h.webhook_channel()
    return channel_id, await h.paper_connection()


async def test_hostile_api_bodies_are_refused_before_anything_is_stored(harness: Harness) -> None:
    h = harness
    channel_id, connection_id = await _follow_prerequisites(h)
    base = {"channel_id": channel_id, "connection_id": connection_id}
    bad_sizing = [
        {"mode": "fixed_quote", "value": "1e-9999990"},
        {"mode": "fixed_quote", "value": BIG},
        {"mode": "fixed_quote", "value": "NaN"},
        {"mode": "fixed_quote", "value": "6_00"},
        {"mode": "fixed_quote", "value": "100", "max_notional": "1e+999999"},
    ]
    for sizing in bad_sizing:
        response = await h.api("POST", "/follows", json={**base, "sizing": sizing})
        assert response.status_code == 422, (sizing, response.text)
    for risk in ({"max_deviation_percent": "0,5"}, {"max_signal_age_seconds": 10**30}):
        response = await h.api("POST", "/follows", json={**base, "risk": risk})
        assert response.status_code == 422, (risk, response.text)
    for management in (
        {"trailing": {"distance": "1e-30"}},
        {"tp_split": [BIG]},
        {"trailing": {"percent": "NaN"}},
    ):
        response = await h.api("POST", "/follows", json={**base, "management": management})
        assert response.status_code == 422, (management, response.text)
    raw_bodies = [
        b'{"channel_id": 1, "connection_id": 1, "sizing": {"mode": "fixed_quote", "value": NaN}}',
        b'{"channel_id": 1, "connection_id": 1, "sizing": {"mode": "fixed_quote", "value": 1e999}}',
        b'{"channel_id": ' + b"9" * 5000 + b', "connection_id": 1}',
        b'{"name": "x\\u0000y", "type": "webhook"}',
        b'{"name": "x\\ud800y", "type": "webhook"}',
        b'{"a":' * DEEP,
        b"[" * DEEP + b"]" * DEEP,
        b'{"channel_id": 1, "connection_id": 1, "sizing": ' + b"[" * 40 + b"]" * 40 + b"}",
    ]
    for path in ("/follows", "/channels", "/connections", "/plans", "/users"):
        for raw in raw_bodies:
            response = await h.api(
                "POST", path, content=raw, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, (path, raw[:60], response.text)
            assert response.json()["error"]["code"] == "invalid"
    assert await _count(h, m.Follow) == 0
    for path in ("/follows", "/signals", "/channels", "/connections", "/plans", "/audit"):
        assert (await h.api("GET", path)).status_code == 200, path


async def test_connection_configs_must_fit(harness: Harness) -> None:
    """Paper balances and fees reach NUMERIC(38, 18) columns and arithmetic later on."""
    h = harness
    for config in (
        {"balances": {"USDT": "1e999999"}},
        {"balances": {"USDT": BIG}},
        {"max_fill_amount": "1e-9999990"},
        {"feed": {"start_prices": {"BTC/USDT": "1e+999999"}}},
        {"balances": {"USDT": "NaN"}},
    ):
        response = await h.api(
            "POST", "/connections", json={"name": "paper", "type": "paper", "config": config}
        )
        assert response.status_code == 422, (config, response.text)
    assert await _count(h, m.ExecutionConnection) == 0
    assert (await h.api("GET", "/connections")).status_code == 200


async def test_plan_prices_must_fit(harness: Harness) -> None:
    h = harness
    for price in ("1e-9999990", BIG, "NaN", "Infinity", "0,5", "6_00", "-1", "0"):
        response = await h.api("POST", "/plans", json={"name": "gold", "prices": {"USD": price}})
        assert response.status_code == 422, (price, response.text)
    ok = await h.api("POST", "/plans", json={"name": "gold", "prices": {"USD": "9.99"}})
    assert ok.status_code == 201, ok.text
    assert (await h.api("GET", "/plans")).status_code == 200


async def test_non_json_bodies_are_415_and_oversize_413(harness: Harness) -> None:
    h = harness
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await h.api(
            "POST",
            "/channels",
            content=b'{"name": "hook", "type": "webhook"}',
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415, (content_type, response.text)
        assert "application/json" in response.json()["error"]["message"]
    no_type = await h.api("POST", "/channels", content=b'{"name": "hook", "type": "webhook"}')
    assert no_type.status_code == 415
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await h.api(
        "POST", "/channels", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await _count(h, m.ChannelSource) == 0


async def test_ids_beyond_64_bits_are_404_or_422(harness: Harness) -> None:
    h = harness
    huge = str(2**64 + 1)
    for path in (f"/signals/{huge}", f"/messages/{huge}", f"/follows/{huge}", f"/orders/{huge}"):
        response = await h.api("GET", path)
        assert response.status_code in (404, 422), (path, response.text)
    response = await h.api("GET", f"/signals?before_id={huge}")
    assert response.status_code in (404, 422)
    anonymous = await h.client.get(f"/api/v1/signals/{huge}")
    assert anonymous.status_code in (401, 404, 422)
    webhook = await h.client.post(f"/webhooks/channels/{huge}", content=b"{}")
    assert webhook.status_code in (401, 404, 422)


async def test_nul_in_a_url_is_422(harness: Harness) -> None:
    """PostgreSQL refuses NUL in text: a query value holding one once came back as a 500."""
    h = harness
    for path in ("/signals?status=%00", "/audit?entity=a%00b", "/follows?x=%00", "/channels/%00"):
        response = await h.api("GET", path)
        assert response.status_code == 422, (path, response.text)
    assert (await h.api("GET", "/signals?status=%FF")).status_code == 200
