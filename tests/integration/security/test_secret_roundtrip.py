"""What the vault holds decrypts to exactly what was sent, for every adapter type with secrets.

The types come from the running container's registry, so an adapter type added later with
secret fields is covered without touching this file (if its config needs more than the
secrets to validate, the test says so and names ``REQUIRED_CONFIG``). Each secret goes
through create, PATCH (new secret, and a public-only change) and PUT /credentials; after
each step the row's ``secrets_enc`` is unsealed with the container's vault and compared
exactly, and the API's answer and the audit log must show masks only.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Callable
from typing import Any

from tests.platform_fixtures import Harness

from signalbridge.integrations.redaction import mask
from signalbridge.integrations.registry import AdapterSpec
from signalbridge.integrations.sealing import unseal
from signalbridge.web.routes.connections import KINDS, ConnectionKind

#: Non-secret config an adapter type needs to validate at all (everything else defaults).
#: ``provisioning_url: None`` keeps the MetaApi row from naming any outside host.
REQUIRED_CONFIG: dict[tuple[str, str], dict[str, Any]] = {
    ("exchange", "metaapi"): {"account_id": "acc-roundtrip", "provisioning_url": None},
    ("channel", "telegram_user"): {"api_id": 12345, "chats": ["@roundtrip"]},
    ("payment", "coinpayments"): {"merchant_id": "m0roundtrip", "public_key": "pub0roundtrip"},
    ("payment", "paypal"): {"client_id": "cid-roundtrip", "webhook_id": "WHROUNDTRIP01"},
    ("ai", "openrouter"): {"model": "openai/gpt-4o-mini"},
    ("ai", "openai_compatible"): {"model": "local-model", "base_url": "https://llm.example.com/v1"},
}

#: Secrets whose format is checked (a Telegram api_hash is 32 hexadecimal characters):
#: a fresh value of that shape instead of the mangling-prone default.
SHAPED: dict[tuple[str, str], Callable[[], str]] = {
    ("telegram_user", "api_hash"): lambda: random.token_hex(16),
}

#: Types that exist today; the enumeration must at least find these.
KNOWN = {("channel", "webhook"), ("exchange", "ccxt"), ("exchange", "metaapi")}


def _with_secrets(h: Harness) -> list[tuple[ConnectionKind, AdapterSpec]]:
    by_kind = {k.kind: k for k in KINDS}
    found = [
        (by_kind[spec.kind], spec)
        for spec in h.container.registry.specs()
        if spec.secret_fields and spec.kind in by_kind
    ]
    assert KNOWN <= {(spec.kind, spec.type) for _, spec in found}
    return found


def _values(spec: AdapterSpec, tag: str) -> dict[str, str]:
    """A distinct secret per field, with characters that a careless path would mangle."""
    return {
        field: SHAPED[(spec.type, field)]()
        if (spec.type, field) in SHAPED
        else f'{tag}-{spec.type}.{field} "q" \\ ü€ {random.token_urlsafe(18)}'
        for field in spec.secret_fields
    }


async def _sealed(h: Harness, kind: ConnectionKind, row_id: int) -> dict[str, str]:
    async with h.container.sessions() as session:
        row = await session.get(kind.model, row_id)
        assert row is not None
        return unseal(h.container.vault, kind.table, row.id, row.secrets_enc)


def _shows_masks_only(body: dict[str, Any], text: str, values: dict[str, str]) -> None:
    assert body["secrets"] == {f: mask(v) for f, v in values.items()}
    assert not set(values) & set(body["config"])
    for value in values.values():
        assert value not in text
        assert value.encode("unicode_escape").decode() not in text


async def _round_trip(h: Harness, kind: ConnectionKind, spec: AdapterSpec) -> None:
    where = f"{spec.kind} {spec.type}"
    base = REQUIRED_CONFIG.get((spec.kind, spec.type), {})
    sent = _values(spec, "create")
    created = await h.api(
        "POST",
        kind.path,
        json={"name": f"rt {spec.type}", "type": spec.type, "config": {**base, **sent}},
    )
    assert created.status_code == 201, (
        f"{where}: create failed ({created.text}); add its required config to REQUIRED_CONFIG"
    )
    row_id = created.json()["id"]
    assert await _sealed(h, kind, row_id) == sent, where
    _shows_masks_only(created.json(), created.text, sent)
    assert "generated_secrets" not in created.json()

    # A PATCH carrying a new secret stores it; the stored one must not win.
    first, *_ = spec.secret_fields
    patched_value = _values(spec, "patch")[first]
    patched = await h.api("PATCH", f"{kind.path}/{row_id}", json={"config": {first: patched_value}})
    assert patched.status_code == 200, f"{where}: {patched.text}"
    after_patch = {**sent, first: patched_value}
    assert await _sealed(h, kind, row_id) == after_patch, where
    _shows_masks_only(patched.json(), patched.text, after_patch)

    # A PATCH of public config only keeps every secret exactly.
    renamed = await h.api("PATCH", f"{kind.path}/{row_id}", json={"name": "renamed", "config": {}})
    assert renamed.status_code == 200, f"{where}: {renamed.text}"
    assert await _sealed(h, kind, row_id) == after_patch, where

    # Sending the displayed mask back is refused, and changes nothing.
    echoed = await h.api(
        "PATCH", f"{kind.path}/{row_id}", json={"config": {first: mask(patched_value)}}
    )
    assert echoed.status_code == 422, f"{where}: a masked value was accepted"
    assert patched_value not in echoed.text
    assert await _sealed(h, kind, row_id) == after_patch, where

    replaced = _values(spec, "put")
    put = await h.api("PUT", f"{kind.path}/{row_id}/credentials", json=replaced)
    assert put.status_code == 200, f"{where}: {put.text}"
    assert await _sealed(h, kind, row_id) == replaced, where
    _shows_masks_only(put.json(), put.text, replaced)

    for shown in (
        await h.api("GET", f"{kind.path}/{row_id}"),
        await h.api("GET", kind.path),
        await h.api("GET", "/audit"),
    ):
        assert shown.status_code == 200, shown.text
        for value in (*sent.values(), patched_value, *replaced.values()):
            assert value not in shown.text
            assert value.encode("unicode_escape").decode() not in shown.text
    audit = (await h.ok("GET", "/audit"))["items"]
    updates = [
        a
        for a in audit
        if a["entity"] == kind.entity and a["entity_id"] == str(row_id) and first in a["changes"]
    ]
    # create, the PATCH with a new secret and the PUT each record the field (masked).
    assert len(updates) == 3, f"{where}: {updates}"


async def test_every_secret_field_round_trips_exactly(harness: Harness) -> None:
    for kind, spec in _with_secrets(harness):
        await _round_trip(harness, kind, spec)


async def test_patch_without_the_secret_keeps_it_and_a_bad_one_is_refused(
    harness: Harness,
) -> None:
    h = harness
    token = "metaapi-token-" + random.token_urlsafe(24)
    created = await h.ok(
        "POST",
        "/connections",
        json={
            "name": "mt5",
            "type": "metaapi",
            "config": {"account_id": "acc-1", "provisioning_url": None, "token": token},
        },
    )
    cid = created["id"]
    exchange = next(k for k in KINDS if k.kind == "exchange")
    moved = await h.ok("PATCH", f"/connections/{cid}", json={"config": {"region": "london"}})
    assert moved["config"]["region"] == "london"
    assert await _sealed(h, exchange, cid) == {"token": token}
    for bad in (None, "", "**********"):
        refused = await h.api("PATCH", f"/connections/{cid}", json={"config": {"token": bad}})
        assert refused.status_code == 422, f"token {bad!r}: {refused.text}"
        assert token not in refused.text
    assert await _sealed(h, exchange, cid) == {"token": token}
