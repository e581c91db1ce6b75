"""What the fuzz tests share: a populated platform, a token per role, bounded JSON.

The rows are made once per test through the API (as a user would), so path ids point at
real rows of every kind and a fuzzed request reaches the handler's real work, not only the
404 of a missing row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from tests.platform_fixtures import SIGNAL, Harness

from signalbridge.services.auth import create_token, create_user
from signalbridge.services.login import ROLE_SCOPES
from signalbridge.store import models as m

PASSWORD = "correct horse battery staple"

#: JSON of every kind, bounded so a whole run stays well under a minute.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["1e-9999990", "NaN", "0,5", "6_00", "ſol/usdt", "\u0000", "9" * 40]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@dataclass
class Populated:
    """Tokens by role and one row id of each kind the path parameters name."""

    tokens: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)
    webhook: tuple[int, str] = (0, "")


async def populate(h: Harness) -> Populated:
    """An operator and a member with tokens, and a row of every kind (owned by the member)."""
    tokens = {"admin": h.admin_token}
    user_ids: dict[str, int] = {}
    async with h.container.sessions() as s, s.begin():
        for role in (m.Role.OPERATOR, m.Role.MEMBER):
            user = await create_user(s, f"{role}@example.com", PASSWORD, role)
            _, plain = await create_token(s, user, f"{role} fuzz", list(ROLE_SCOPES[role]))
            tokens[role] = plain
            user_ids[role] = user.id
    member = {"Authorization": f"Bearer {tokens[m.Role.MEMBER]}"}
    webhook = await h.webhook_channel("fuzzed hook")
    channel = await h.ok(
        "POST", "/channels", json={"name": "public", "type": "webhook", "visibility": "public"}
    )
    connection = await h.ok(
        "POST",
        "/connections",
        json={"name": "paper", "type": "paper", "config": {"feed": {"seed": 1}}},
        headers=member,
    )
    follow = await h.ok(
        "POST",
        "/follows",
        json={
            "channel_id": channel["id"],
            "connection_id": connection["id"],
            "sizing": {"mode": "fixed_quote", "value": "100"},
        },
        headers=member,
    )
    signal = await h.post_signal(*webhook, SIGNAL)
    assert signal.status_code == 202, signal.text
    plan = await h.ok("POST", "/plans", json={"name": "gold", "prices": {"USD": "9.99"}})
    token = await h.ok("POST", "/tokens", json={"name": "spare"}, headers=member)
    ids = {
        "channel": channel["id"],
        "connection": connection["id"],
        "follow": follow["id"],
        "plan": plan["id"],
        "user": user_ids[m.Role.MEMBER],
        "token": token["id"],
        "signal": signal.json()["signal_id"],
        "message": signal.json()["message_id"],
    }
    return Populated(tokens=tokens, ids=ids, webhook=webhook)


_PARAM = re.compile(r"\{(\w+)\}")
_KINDS = {
    "channels": "channel",
    "connections": "connection",
    "follows": "follow",
    "plans": "plan",
    "users": "user",
    "tokens": "token",
    "signals": "signal",
    "messages": "message",
}


def path_ids(path: str, parameters: list[str], populated: Populated) -> dict[str, int]:
    """Each path parameter set to the id of a real row of the kind its path segment names.

    Kinds with no row (an AI config, a payment gateway) get an id that answers 404.
    """
    segments = path.split("/")
    found: dict[str, int] = {}
    for name in parameters:
        kind = _KINDS.get(segments[segments.index("{" + name + "}") - 1])
        found[name] = populated.ids[kind] if kind else 1
    return found


def fill_path(path: str, populated: Populated) -> str:
    """A route path with every ``{param}`` replaced by :func:`path_ids`."""
    ids = path_ids(path, _PARAM.findall(path), populated)
    return _PARAM.sub(lambda match: str(ids[match.group(1)]), path)


def body_strategy(schema: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Arbitrary JSON, and objects made of the body model's own field names."""
    properties = (schema or {}).get("properties") or {}
    if not properties:
        return JSON_VALUES
    shaped = st.fixed_dictionaries({}, optional={name: JSON_VALUES for name in properties})
    return shaped | JSON_VALUES
