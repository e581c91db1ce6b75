"""The authorization matrix (reliability row 31), generated from the application's route
table: every route × {anonymous, member A, member B, operator, admin} × {own row, another
user's row} gets the answer its rule expects.

- anonymous: 401 on every API route;
- a role the route is not for: 403 (before any row is read, so it says nothing of rows);
- another user's row: 404 with the very body a missing id gets (code and message, the id
  aside), or 422 worded like a missing id where a body names the row (a follow's
  connection or channel); an operator reads every account but changes only its own (403);
- lists: no item of another user (ownership read from the database, not from the API).

``RULES`` has one line per route. A route without a line fails the test, and so does a
line without a route, so a new route cannot skip the matrix. The world is built once per
database through the API of a running platform: each user has a paper connection
following a public channel, and one signal there gives every user an execution, an order,
a position and execution logs; each member also follows a private channel of its own.
A test double of a payment gateway (tests/fakes/gateway_double.py) sells the plans, and
each user has a subscription and payments, seeded in the database as the flow writes them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from tests.fakes.gateway_double import WORLDS, DoubleProvider, register_double
from tests.platform_fixtures import SIGNAL, Harness, eventually, make_settings, running_harness

from signalbridge.domain.signals import parsed_from_dict
from signalbridge.services.auth import SCOPES, create_token, create_user
from signalbridge.services.ingest import Interpretation, ingest
from signalbridge.store import models as m
from signalbridge.store.types import utcnow
from signalbridge.web.app import create_app
from signalbridge.web.console.app import is_page

ANON, A, B, OPS, ADMIN = "anonymous", "member_a", "member_b", "operator", "admin"
CALLERS = (ANON, A, B, OPS, ADMIN)
USERS = (A, B, OPS, ADMIN)
EVERYONE = frozenset(USERS)
STAFF = frozenset((OPS, ADMIN))
ADMINS = frozenset((ADMIN,))
NOBODY: frozenset[str] = frozenset()

MISSING_ID = 2**62  # a valid id that no row has
OUT_OF_RANGE = (0, 2**63, 2**64 + 1)
PASSWORD = "matrix password 1"
#: Everyone's token holds every scope but ``admin``: the role alone must do the filtering.
MEMBER_SCOPES = [s for s in SCOPES if s != "admin"]

Outcome = Literal["ok", "unauthorized", "forbidden", "hidden"]
Which = Literal["own", "other"]
BodyFn = Callable[["World", str, Which], Awaitable[Any]]


@dataclass(frozen=True)
class Rule:
    """What one route expects.

    ``kind``: ``row`` (a path id), ``list``, ``create`` (a POST to a collection) or
    ``public`` (no bearer token involved: every caller gets ``ok``; with an ``entity``,
    ``ok`` is the answer about that row, a missing id's is 404 and an out-of-range one's
    422, the same whoever asks).
    """

    kind: Literal["row", "list", "create", "public"]
    entity: str | None = None
    open_to: frozenset[str] = EVERYONE
    ok: tuple[int, ...] = (200,)
    #: an operator on another user's row: reads all accounts, changes only its own
    operator_other: Outcome = "ok"
    #: False for admin-only rows nobody owns (plans, AI configs, gateways): no "other" row
    owned: bool = True
    #: the call consumes its row (DELETE): each allowed call gets a fresh one
    fresh: bool = False
    body: BodyFn | None = None
    #: a body naming a row that does not exist (create routes with ``owned``)
    missing_body: BodyFn | None = None
    #: list routes: the query string, ``{entity}`` placeholders filled from ``World.shared``
    query: str = ""
    #: list routes: the roles that see other users' rows too
    sees_all: frozenset[str] = STAFF


def read(entity: str, **kw: Any) -> Rule:
    return Rule("row", entity, **kw)


def change(entity: str, **kw: Any) -> Rule:
    """A write on a row: an operator gets 403 on another user's account."""
    kw.setdefault("operator_other", "forbidden")
    return Rule("row", entity, **kw)


def listing(entity: str, **kw: Any) -> Rule:
    return Rule("list", entity, **kw)


def create(entity: str, **kw: Any) -> Rule:
    kw.setdefault("ok", (201,))
    kw.setdefault("owned", False)
    return Rule("create", entity, **kw)


def public(ok: int, body: BodyFn | None = None, entity: str | None = None) -> Rule:
    return Rule("public", entity, ok=(ok,), body=body)


# --- request bodies -------------------------------------------------------------------


def const(value: Any) -> BodyFn:
    async def body(world: World, caller: str, which: Which) -> Any:
        return value

    return body


async def new_connection(world: World, caller: str, which: Which) -> Any:
    return world.paper_body()


async def new_channel(world: World, caller: str, which: Which) -> Any:
    return {"name": f"channel {next(world.counter)}", "type": "webhook"}


async def new_user(world: World, caller: str, which: Which) -> Any:
    return {"email": f"new{next(world.counter)}@example.com", "password": PASSWORD}


async def new_plan(world: World, caller: str, which: Which) -> Any:
    n = next(world.counter)
    return {"name": f"plan {n}", "prices": {"USD": "5"}, "channel_ids": [world.pub]}


async def new_grant(world: World, caller: str, which: Which) -> Any:
    return {"user_id": world.user_ids[A], "plan_id": world.shared["plan"], "days": 30}


async def plan_body(world: World, caller: str, which: Which) -> Any:
    return {"name": "Matrix plan", "prices": {"USD": "12.5"}, "channel_ids": [world.pub]}


async def checkout_body(world: World, caller: str, which: Which) -> Any:
    """The shared plan through the test double's gateway: every caller buys for itself."""
    plan, gateway = world.shared["plan"], world.shared["double_gateway"]
    return {"plan_id": plan, "gateway_id": gateway, "currency": "USD"}


async def new_follow(world: World, caller: str, which: Which) -> Any:
    """Own: a fresh connection of the caller's; other: a fresh one of another user's."""
    owner = world.owner(caller, "connection", which)
    connection = await world.fresh("connection", owner)
    return {"connection_id": connection, "channel_id": world.pub, "sizing": SIZING}


async def follow_of_nothing(world: World, caller: str, which: Which) -> Any:
    return {"connection_id": MISSING_ID, "channel_id": world.pub, "sizing": SIZING}


async def not_adapter_type(world: World, caller: str, which: Which) -> Any:
    return {"name": "x", "type": "none-registered"}


SIZING = {"mode": "fixed_quote", "value": "100"}
LEARN_BODY = const(
    {
        "dry_run": True,
        "examples": [
            {
                "text": f"{mark} Pair: {pair}\nBox {low} - {high}\nBail {sl}\nAim {tp}",
                "expected": {
                    "symbol": pair,
                    "side": side,
                    "entry": {"low": low, "high": high},
                    "stop_loss": sl,
                    "take_profits": [tp],
                },
            }
            for mark, pair, side, low, high, sl, tp in (
                ("🟢", "SOLUSDT", "long", "140", "142", "133", "150"),
                ("🔴", "ETHUSDT", "short", "3500", "3520", "3600", "3400"),
                ("🟢", "ADAUSDT", "long", "0.45", "0.46", "0.42", "0.5"),
            )
        ],
    }
)
RENAME = const({"name": "renamed"})
NOTHING = const({})
LOGIN_WRONG = const({"email": "nobody@example.com", "password": "not the password"})
UNSIGNED = const({"kind": "signal"})
MANUAL_SIGNAL = {
    "kind": "signal",
    "symbol": "ETH/USDT",
    "side": "long",
    "order_type": "market",
    "stop_loss": "2900",
    "take_profits": ["3300"],
}

# No AI or payment adapter type is registered yet, so an admin passes every gate on these
# routes and then meets the type check (422) where a route needs the adapter.
ADAPTERLESS = (200, 422)


def connection_routes(
    path: str, entity: str, open_to: frozenset[str], **kw: Any
) -> dict[tuple[str, str], Rule]:
    """The one router shape of channels, connections, AI configs and payment gateways."""
    row = f"{path}/{{row_id}}"
    ok = kw.pop("ok", (200,))
    probe_ok = kw.pop("probe_ok", ok)
    create_ok = kw.pop("create_ok", (201,))
    create_body = kw.pop("create_body")
    rules = {
        ("GET", path): listing(entity, open_to=open_to, **kw.get("list", {})),
        ("POST", path): create(
            entity, open_to=kw.get("writers", open_to), ok=create_ok, body=create_body
        ),
        ("GET", row): read(entity, open_to=open_to, **kw.get("read", {})),
    }
    writes = {
        ("PATCH", row): (ok, RENAME),
        ("PUT", f"{row}/credentials"): (ok, NOTHING),
        ("POST", f"{row}/activate"): (ok, None),
        ("POST", f"{row}/deactivate"): (ok, None),
        ("DELETE", row): ((204,), None),
        ("POST", f"{row}/test"): (probe_ok, None),
        ("POST", f"{row}/breaker/reset"): (ok, None),
    }
    for key, (expected, body) in writes.items():
        rules[key] = change(
            entity,
            open_to=kw.get("writers", open_to),
            ok=expected,
            body=body,
            fresh=key[0] == "DELETE",
            **kw.get("write", {}),
        )
    return rules


#: Review desk items: a signal and an update as a reviewer corrects them.
REVIEW_CONTRACTS = {
    "review_signal": {
        "kind": "signal",
        "symbol": "BTC/USDT",
        "side": "long",
        "order_type": "market",
        "stop_loss": "58000",
        "take_profits": ["62000"],
    },
    "review_update": {"kind": "update", "action": "close_all", "symbol": "BTC/USDT"},
}


def review_routes(path: str, entity: str) -> dict[tuple[str, str], Rule]:
    """The review desk (web/routes/review.py): staff decide the items of the channels they
    may change, which for an operator is every channel; members are refused."""
    row = f"/api/v1/review/{path}/{{item_id}}"
    decide: dict[str, Any] = {"open_to": STAFF, "operator_other": "ok", "fresh": True}
    return {
        ("GET", row): read(entity, open_to=STAFF),
        ("PUT", row): change(entity, body=const(REVIEW_CONTRACTS[entity]), **decide),
        ("POST", f"{row}/approve"): change(entity, **decide),
        ("POST", f"{row}/reject"): change(entity, **decide),
    }


RULES: dict[tuple[str, str], Rule] = {
    # documentation and probes: open to everyone
    ("GET", "/openapi.json"): public(200),
    ("GET", "/docs"): public(200),
    ("GET", "/docs/oauth2-redirect"): public(200),
    ("GET", "/redoc"): public(200),
    ("GET", "/healthz"): public(200),
    ("GET", "/readyz"): public(200),
    ("GET", "/metrics"): public(200),
    # a delivery is authenticated by the channel's secret, never by a bearer token
    ("POST", "/webhooks/channels/{channel_id}"): public(401, body=UNSIGNED),
    # Telegram's deliveries carry the channel's webhook secret in a header: 403 without it
    ("POST", "/webhooks/telegram/{channel_id}"): public(403, body=UNSIGNED),
    ("POST", "/api/v1/auth/login"): public(401, body=LOGIN_WRONG),
    # channels: staff manage every channel; members read public ones and those they follow
    **connection_routes(
        "/api/v1/channels",
        "channel",
        EVERYONE,
        writers=STAFF,
        create_body=new_channel,
        write={"operator_other": "ok"},
    ),
    ("GET", "/api/v1/channels/{channel_id}/track-record"): read("channel"),
    ("GET", "/api/v1/channels/{channel_id}/track-record/chart"): read("channel"),
    ("POST", "/api/v1/channels/{channel_id}/track-record/enable"): change(
        "channel", open_to=ADMINS
    ),
    ("POST", "/api/v1/channels/{channel_id}/track-record/disable"): change(
        "channel", open_to=ADMINS
    ),
    # a channel's poll health shows how it is configured to fail: staff only
    ("GET", "/api/v1/channels/{row_id}/health"): read("channel", open_to=STAFF),
    ("POST", "/api/v1/channels/{row_id}/learn-template"): change(
        "channel", open_to=STAFF, operator_other="ok", body=LEARN_BODY
    ),
    # a Telegram bot channel's webhook: a channel write (the matrix's channels are webhook
    # channels, so whoever passes the gates meets the type check)
    ("POST", "/api/v1/channels/{row_id}/telegram/webhook"): change(
        "channel",
        open_to=STAFF,
        operator_other="ok",
        ok=(422,),
        body=const({"url": "https://hooks.example.com/webhooks/telegram/1"}),
    ),
    ("DELETE", "/api/v1/channels/{row_id}/telegram/webhook"): change(
        "channel", open_to=STAFF, operator_other="ok", ok=(422,)
    ),
    # trading accounts: everyone their own; the operator reads all, changes its own
    **connection_routes("/api/v1/connections", "connection", EVERYONE, create_body=new_connection),
    # AI configurations and payment gateways: admins only
    **connection_routes(
        "/api/v1/ai-configs",
        "ai_config",
        ADMINS,
        ok=ADAPTERLESS,
        create_ok=(422,),
        create_body=not_adapter_type,
        read={"owned": False},
        write={"owned": False},
    ),
    **connection_routes(
        "/api/v1/payment-gateways",
        "payment_gateway",
        ADMINS,
        ok=ADAPTERLESS,
        create_ok=(422,),
        create_body=not_adapter_type,
        read={"owned": False},
        write={"owned": False},
    ),
    ("GET", "/api/v1/follows"): listing("follow"),
    ("GET", "/api/v1/follows/{follow_id}"): read("follow"),
    # a follow joins the caller's own connection only (an admin's: anyone's)
    ("POST", "/api/v1/follows"): create(
        "follow",
        owned=True,
        body=new_follow,
        missing_body=follow_of_nothing,
        operator_other="hidden",
    ),
    ("PATCH", "/api/v1/follows/{follow_id}"): change("follow", body=const({"is_active": True})),
    ("DELETE", "/api/v1/follows/{follow_id}"): change("follow", ok=(204,), fresh=True),
    ("GET", "/api/v1/signals"): listing("signal", query="limit=1000"),
    ("GET", "/api/v1/signals/{signal_id}"): read("signal"),
    ("GET", "/api/v1/messages/{message_id}"): read("message"),
    ("GET", "/api/v1/executions"): listing("execution", query="limit=1000"),
    ("GET", "/api/v1/executions/{row_id}"): read("execution"),
    ("GET", "/api/v1/orders"): listing("order", query="limit=1000"),
    ("GET", "/api/v1/orders/{row_id}"): read("order"),
    ("GET", "/api/v1/positions"): listing("position", query="limit=1000"),
    ("GET", "/api/v1/positions/{row_id}"): read("position"),
    # live PnL (web/routes/pnl.py): sums of the positions the caller sees, per execution
    ("GET", "/api/v1/pnl"): listing("execution", query="group=execution"),
    # foreign positions (execution/position_sync.py): reported per connection, never touched
    ("GET", "/api/v1/foreign-positions"): listing("foreign_position", query="limit=1000"),
    ("GET", "/api/v1/foreign-positions/{row_id}"): read("foreign_position"),
    ("GET", "/api/v1/execution-logs"): listing("execution_log", query="limit=1000"),
    ("GET", "/api/v1/execution-logs/{row_id}"): read("execution_log"),
    ("GET", "/api/v1/audit"): listing("audit", query="limit=1000"),
    # execution quality (web/routes/quality.py): each order's figures are the orders list's
    # rows; summaries are aggregates of the caller's orders (see world.shared, specifics)
    ("GET", "/api/v1/execution-quality/orders"): listing("order", query="limit=1000"),
    ("GET", "/api/v1/execution-quality"): listing("execution_quality"),
    # manual override (web/routes/override.py): an account's rows are changed by whoever
    # may change the account (its owner, an admin; an operator sees others' read-only:
    # 403); a channel's panic by its writers (staff). Once the world's connections are
    # deactivated (their routes run first) an action that needs the venue is refused
    # (422), a channel's panic fails (502)
    ("POST", "/api/v1/positions/{row_id}/close"): change("position", ok=(200, 422)),
    ("POST", "/api/v1/positions/{row_id}/stop"): change(
        "position", ok=(200, 422), body=const({"stop_loss": "1"})
    ),
    ("POST", "/api/v1/orders/{row_id}/cancel"): change("order"),
    ("POST", "/api/v1/follows/{row_id}/pause"): change("follow"),
    ("POST", "/api/v1/follows/{row_id}/resume"): change("follow"),
    ("POST", "/api/v1/connections/{row_id}/panic"): change("connection", fresh=True),
    ("POST", "/api/v1/channels/{row_id}/panic"): change(
        "channel", operator_other="ok", ok=(200, 502)
    ),
    # manual actions read back: a member those it requested and those on its connections
    ("GET", "/api/v1/manual-actions"): listing("manual_action", query="limit=1000"),
    ("GET", "/api/v1/manual-actions/{row_id}"): read("manual_action"),
    # a manual signal is a channel write: staff, through the webhook's intake path (a
    # deactivated channel answers 403 there too)
    ("POST", "/api/v1/channels/{row_id}/signals"): change(
        "channel",
        open_to=STAFF,
        operator_other="ok",
        ok=(200, 202, 403),
        body=const(MANUAL_SIGNAL),
    ),
    # users: admins manage everyone; anyone else only themselves (and not their role)
    ("GET", "/api/v1/users"): listing("user", sees_all=ADMINS),
    ("POST", "/api/v1/users"): create("user", open_to=ADMINS, body=new_user),
    # (an empty change: argon2 per call would make the matrix slow; see specifics)
    ("PATCH", "/api/v1/users/{user_id}"): change("user", body=NOTHING, operator_other="hidden"),
    # plans (web/routes/payments.py): everyone reads the active ones, admins write them
    ("GET", "/api/v1/plans"): listing("plan"),
    ("POST", "/api/v1/plans"): create("plan", open_to=ADMINS, body=new_plan),
    ("PUT", "/api/v1/plans/{plan_id}"): change("plan", open_to=ADMINS, owned=False, body=plan_body),
    ("DELETE", "/api/v1/plans/{plan_id}"): change(
        "plan", open_to=ADMINS, owned=False, ok=(204,), fresh=True
    ),
    # buying: anyone with follows:read sees the gateways that sell a plan, and with
    # follows:write buys it for itself (the double gateway answers for real)
    ("GET", "/api/v1/checkout/gateways"): listing("payment_gateway", query="plan_id={plan}"),
    ("POST", "/api/v1/checkout"): create("payment", body=checkout_body),
    # subscriptions and payments: everyone its own, the admin all; an operator is a
    # customer like a member here (another's row is a missing one)
    ("GET", "/api/v1/subscriptions"): listing("subscription", sees_all=ADMINS),
    ("GET", "/api/v1/subscriptions/{row_id}"): read("subscription", operator_other="hidden"),
    ("POST", "/api/v1/subscriptions/{row_id}/portal"): change(
        "subscription",
        operator_other="hidden",
        body=const({"return_url": "https://sb.example/back"}),
    ),
    ("GET", "/api/v1/payments"): listing("payment", sees_all=ADMINS),
    ("GET", "/api/v1/payments/{row_id}"): read("payment", operator_other="hidden"),
    # an admin's hand on a pending payment (paid) and on a paid one (refunded)
    ("POST", "/api/v1/payments/{row_id}/mark-paid"): change(
        "payment", open_to=ADMINS, fresh=True, body=const({"note": "paid by bank transfer"})
    ),
    ("POST", "/api/v1/payments/{row_id}/mark-refunded"): change(
        "paid_payment", open_to=ADMINS, fresh=True, body=const({"note": "refunded by phone"})
    ),
    # a gateway's callback is authenticated by its signature: an unsigned one is a 400
    ("POST", "/webhooks/payments/{gateway_id}"): public(
        400, body=UNSIGNED, entity="double_gateway"
    ),
    # plan grants: staff grant and revoke; a member reads its own (services/entitlement*.py)
    ("GET", "/api/v1/grants"): listing("grant"),
    ("POST", "/api/v1/grants"): create("grant", open_to=STAFF, body=new_grant),
    ("POST", "/api/v1/grants/{grant_id}/revoke"): change(
        "grant", open_to=STAFF, operator_other="ok", fresh=True
    ),
    ("GET", "/api/v1/users/{user_id}/entitlements"): read("user"),
    ("GET", "/api/v1/review"): listing("review", open_to=STAFF),
    # AI parsing (web/routes/ai.py): staff only, as the review desk; usage is aggregates
    # per configuration and channel (no row of anyone's: see world.shared)
    ("GET", "/api/v1/ai-usage"): listing("ai_usage", open_to=STAFF),
    ("GET", "/api/v1/messages/{message_id}/ai-parses"): read("message", open_to=STAFF),
    **review_routes("signals", "review_signal"),
    **review_routes("updates", "review_update"),
    # tokens: everyone their own; an admin may revoke anyone's
    ("GET", "/api/v1/tokens"): listing("token", sees_all=NOBODY),
    ("POST", "/api/v1/tokens"): create("token", body=const({"name": "matrix"})),
    ("DELETE", "/api/v1/tokens/{token_id}"): change(
        "token", ok=(204,), fresh=True, operator_other="hidden"
    ),
    # notification settings: everyone their own chats; an admin anyone's
    ("POST", "/api/v1/notifications/link-code"): create("link_code", body=NOTHING),
    ("GET", "/api/v1/notifications/chats"): listing("notification_chat", sees_all=NOBODY),
    ("GET", "/api/v1/notifications/chats/{row_id}"): read(
        "notification_chat", operator_other="hidden"
    ),
    ("PATCH", "/api/v1/notifications/chats/{row_id}"): change(
        "notification_chat", body=const({"is_active": True}), operator_other="hidden"
    ),
    ("DELETE", "/api/v1/notifications/chats/{row_id}"): change(
        "notification_chat", ok=(204,), fresh=True, operator_other="hidden"
    ),
}


# --- the world ------------------------------------------------------------------------


@dataclass
class World:
    h: Harness
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    shared: dict[str, int] = field(default_factory=dict)
    pub: int = 0
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def call(self, caller: str, method: str, path: str, json: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[caller]}"} if caller != ANON else {}
        return await self.h.client.request(method, path, headers=headers, json=json)

    async def ok(self, caller: str, method: str, path: str, json: Any = None) -> Any:
        response = await self.call(caller, method, "/api/v1" + path, json)
        assert response.status_code < 300, (caller, method, path, response.text)
        return response.json() if response.content else None

    def paper_body(self) -> dict[str, Any]:
        n = next(self.counter)
        config = {"futures": True, "feed": {"seed": 3, "volatility": "0"}, "account_id": f"a{n}"}
        return {"name": f"paper {n}", "type": "paper", "config": config}

    def owner(self, caller: str, entity: str, which: Which) -> str:
        """Whose row a call is about: the caller's own, or another user's."""
        if which == "own":
            return caller if caller != ANON else A
        if entity == "channel":  # channels belong to staff; members "own" what they follow
            return {A: B, B: A, OPS: ADMIN, ADMIN: OPS, ANON: B}[caller]
        return {A: B, B: A, OPS: A, ADMIN: A, ANON: B}[caller]

    def row(self, owner: str, entity: str) -> int:
        if entity in self.shared:
            return self.shared[entity]
        return self.rows[owner][entity]

    async def fresh(self, entity: str, owner: str) -> int:
        """A new row of ``entity`` owned by ``owner``, made the way a user makes one."""
        if entity == "connection":
            return int((await self.ok(owner, "POST", "/connections", self.paper_body()))["id"])
        if entity == "follow":
            connection = await self.fresh("connection", owner)
            body = {"connection_id": connection, "channel_id": self.pub, "sizing": SIZING}
            return int((await self.ok(owner, "POST", "/follows", body))["id"])
        if entity == "channel":
            body = {"name": f"spare {next(self.counter)}", "type": "webhook"}
            return int((await self.ok(owner, "POST", "/channels", body))["id"])
        if entity == "plan":
            body = await new_plan(self, ADMIN, "own")
            return int((await self.ok(ADMIN, "POST", "/plans", body))["id"])
        if entity == "grant":
            body = {"user_id": self.user_ids[owner], "plan_id": self.shared["plan"]}
            return int((await self.ok(ADMIN, "POST", "/grants", body))["id"])
        if entity == "token":
            async with self.h.container.sessions() as s, s.begin():
                user = await s.get_one(m.User, self.user_ids[owner])
                row, _ = await create_token(s, user, "spare", ["signals:read"])
                return row.id
        if entity in ("ai_config", "payment_gateway"):
            model = m.AIConfig if entity == "ai_config" else m.PaymentGateway
            async with self.h.container.sessions() as s, s.begin():
                added = model(name=f"spare {next(self.counter)}", type="none", config={})
                s.add(added)
                await s.flush()
                return int(added.id)
        if entity in ("subscription", "payment", "paid_payment"):
            return await self.seed_billing(entity, owner)
        if entity == "notification_chat":  # as the bot links one (notifications/linking.py)
            async with self.h.container.sessions() as s, s.begin():
                chat = m.NotificationChat(
                    user_id=self.user_ids[owner], chat_id=next(self.counter), events=[]
                )
                s.add(chat)
                await s.flush()
                return int(chat.id)
        if entity in REVIEW_CONTRACTS:  # a parse below its channel's threshold
            channel_id = self.rows[owner if owner in STAFF else ADMIN]["review_channel"]
            contract = REVIEW_CONTRACTS[entity]
            async with self.h.container.sessions() as s, s.begin():
                result = await ingest(
                    s,
                    channel=await s.get_one(m.ChannelSource, channel_id),
                    external_id=f"review {next(self.counter)}",
                    text=str(contract),
                    content_type="text/plain",
                    received_at=utcnow(),
                    interpretation=Interpretation(parsed_from_dict(contract), Decimal("0.5")),
                )
            item = result.signal_id or result.update_id
            assert item is not None
            return item
        raise AssertionError(f"no fresh {entity}")

    async def seed_billing(self, entity: str, owner: str) -> int:
        """A subscription, a pending payment or a paid one of ``owner``'s, written as the
        payment flow writes them (services/payments/apply.py) after a double's checkout."""
        n = next(self.counter)
        now = utcnow()
        plan, gateway = self.shared["plan"], self.shared["double_gateway"]
        row: m.Subscription | m.Payment
        async with self.h.container.sessions() as s, s.begin():
            if entity == "subscription":
                row = m.Subscription(
                    user_id=self.user_ids[owner],
                    plan_id=plan,
                    gateway="double",
                    external_id=f"sub_matrix_{n}",
                    status="active",
                    current_period_end=now + timedelta(days=30),
                    connection_id=gateway,
                    customer_id=f"cus_matrix_{n}",
                )
            else:
                paid = entity == "paid_payment"
                row = m.Payment(
                    user_id=self.user_ids[owner],
                    gateway="double",
                    external_id=f"pay_matrix_{n}" if paid else None,
                    amount=Decimal("5"),
                    currency="USD",
                    status="paid" if paid else "pending",
                    plan_id=plan,
                    connection_id=gateway,
                    checkout_id=f"cs_matrix_{n}",
                    fee=Decimal(0) if paid else None,
                    paid_at=now if paid else None,
                )
            s.add(row)
            await s.flush()
            return int(row.id)

    async def owned_by(self, entity: str, user: str) -> set[int]:
        """Ids of ``entity`` that belong to ``user``, read from the database (ground truth).

        For channels, signals and messages: those a member may see (public channels, its
        own, and those its connections follow).
        """
        uid = self.user_ids[user]
        conns = select(m.ExecutionConnection.id).where(m.ExecutionConnection.owner_id == uid)
        execs = select(m.Execution.id).where(m.Execution.connection_id.in_(conns))
        followed = select(m.Follow.channel_id).where(m.Follow.connection_id.in_(conns))
        channels = select(m.ChannelSource.id).where(
            (m.ChannelSource.visibility == "public")
            | (m.ChannelSource.owner_id == uid)
            | m.ChannelSource.id.in_(followed)
        )
        queries: dict[str, Any] = {
            "connection": conns,
            "follow": select(m.Follow.id).where(m.Follow.connection_id.in_(conns)),
            "execution": execs,
            "order": select(m.Order.id).where(m.Order.connection_id.in_(conns)),
            "position": select(m.Position.id).where(m.Position.connection_id.in_(conns)),
            "foreign_position": select(m.ForeignPosition.id).where(
                m.ForeignPosition.connection_id.in_(conns)
            ),
            "execution_log": select(m.ExecutionLog.id).where(
                m.ExecutionLog.execution_id.in_(execs)
            ),
            "channel": channels,
            "signal": select(m.Signal.id).where(m.Signal.channel_id.in_(channels)),
            "audit": select(m.AuditEntry.id).where(m.AuditEntry.actor_id == uid),
            "user": select(m.User.id).where(m.User.id == uid),
            "token": select(m.ApiToken.id).where(m.ApiToken.user_id == uid),
            "plan": select(m.Plan.id),
            "review": select(m.Signal.id).where(
                m.Signal.status == "review",
                m.Signal.channel_id.in_(
                    select(m.ChannelSource.id).where(m.ChannelSource.owner_id == uid)
                ),
            ),
            "notification_chat": select(m.NotificationChat.id).where(
                m.NotificationChat.user_id == uid
            ),
            "grant": select(m.PlanGrant.id).where(m.PlanGrant.user_id == uid),
            "manual_action": select(m.ManualAction.id).where(
                (m.ManualAction.requested_by == uid) | m.ManualAction.connection_id.in_(conns)
            ),
            "subscription": select(m.Subscription.id).where(m.Subscription.user_id == uid),
            "payment": select(m.Payment.id).where(m.Payment.user_id == uid),
        }
        async with self.h.container.sessions() as s:
            return set((await s.scalars(queries[entity])).all())


async def build_world(h: Harness, provider: DoubleProvider) -> World:
    world = World(h)
    world.tokens[ADMIN] = h.admin_token
    async with h.container.sessions() as s, s.begin():
        admin = await s.scalar(select(m.User).where(m.User.role == m.Role.ADMIN))
        assert admin is not None
        world.user_ids[ADMIN] = admin.id
        for caller, role in ((A, m.Role.MEMBER), (B, m.Role.MEMBER), (OPS, m.Role.OPERATOR)):
            member_row = await create_user(s, f"{caller}@example.com", PASSWORD, role)
            _, world.tokens[caller] = await create_token(s, member_row, "matrix", MEMBER_SCOPES)
            world.user_ids[caller] = member_row.id
    world.rows = {u: {"user": world.user_ids[u]} for u in USERS}

    hooks: dict[str, tuple[int, str]] = {}
    for name, owner, visibility in (
        ("public", ADMIN, "public"),
        ("private a", ADMIN, "private"),
        ("private b", ADMIN, "private"),
        ("operator's", OPS, "private"),
    ):
        made = await world.ok(
            owner, "POST", "/channels", {"name": name, "type": "webhook", "visibility": visibility}
        )
        hooks[name] = (made["id"], made["generated_secrets"]["secret"])
    world.pub = hooks["public"][0]
    for user in USERS:
        connection = await world.fresh("connection", user)
        world.rows[user]["connection"] = connection
        body = {"connection_id": connection, "channel_id": world.pub, "sizing": SIZING}
        world.rows[user]["follow"] = (await world.ok(user, "POST", "/follows", body))["id"]
    # each member also follows a private channel, joined by the admin (paused: no trades)
    for member, name in ((A, "private a"), (B, "private b")):
        body = {
            "connection_id": world.rows[member]["connection"],
            "channel_id": hooks[name][0],
            "is_active": False,
            "sizing": SIZING,
        }
        await world.ok(ADMIN, "POST", "/follows", body)
    world.rows[ADMIN]["channel"] = world.pub
    world.rows[OPS]["channel"] = hooks["operator's"][0]
    world.rows[A]["channel"] = hooks["private a"][0]
    world.rows[B]["channel"] = hooks["private b"][0]

    signals: dict[str, int] = {}
    for name, (channel_id, secret) in hooks.items():
        response = await h.post_signal(channel_id, secret, SIGNAL)
        assert response.status_code == 202, response.text
        signals[name] = response.json()["signal_id"]
    public_signal = signals["public"]

    async def all_positions() -> bool:
        async with h.container.sessions() as s:
            rows = await s.scalars(select(m.Position).where(m.Position.signal_id == public_signal))
            return len(rows.all()) == len(USERS)

    await eventually(all_positions, timeout=30)
    async with h.container.sessions() as s:
        for user in USERS:
            mine = world.rows[user]
            execution = await s.scalar(
                select(m.Execution.id).where(
                    m.Execution.signal_id == public_signal,
                    m.Execution.connection_id == mine["connection"],
                )
            )
            assert execution is not None
            mine["execution"] = execution
            for entity, model in (
                ("order", m.Order),
                ("position", m.Position),
                ("execution_log", m.ExecutionLog),
            ):
                found = await s.scalar(
                    select(model.id).where(model.execution_id == execution).order_by(model.id)
                )
                assert found is not None, (user, entity)
                mine[entity] = found
            signal = public_signal if user in STAFF else signals[f"private {user[-1]}"]
            mine["signal"] = signal
            mine["message"] = (await s.get_one(m.Signal, signal)).message_id
            token = await s.scalar(
                select(m.ApiToken.id).where(m.ApiToken.user_id == world.user_ids[user])
            )
            assert token is not None
            mine["token"] = token
    for user in USERS:
        world.rows[user]["notification_chat"] = await world.fresh("notification_chat", user)
    async with h.container.sessions() as s, s.begin():  # what the position sync records
        for user in USERS:
            foreign = m.ForeignPosition(
                connection_id=world.rows[user]["connection"],
                symbol="ETH/USDT",
                side="long",
                amount=Decimal(1),
            )
            s.add(foreign)
            await s.flush()
            world.rows[user]["foreign_position"] = foreign.id
    async with h.container.sessions() as s, s.begin():  # a manual action done on each account
        for user in USERS:
            action = m.ManualAction(
                kind="pause",
                follow_id=world.rows[user]["follow"],
                connection_id=world.rows[user]["connection"],
                params={},
                idempotency_key=f"seed:matrix:{user}",
                status=m.ManualActionStatus.DONE,
                requested_by=world.user_ids[user],
                finished_at=utcnow(),
                result={"paused": True},
            )
            s.add(action)
            await s.flush()
            world.rows[user]["manual_action"] = action.id
    for user in STAFF:  # review desk items wait on a channel of the operator's and the admin's
        made = await world.ok(
            user, "POST", "/channels", {"name": f"desk {user}", "type": "webhook"}
        )
        world.rows[user]["review_channel"] = made["id"]
    for user in USERS:
        for entity in REVIEW_CONTRACTS:
            world.rows[user][entity] = await world.fresh(entity, user)
    world.shared["plan"] = await world.fresh("plan", ADMIN)
    for user in USERS:
        world.rows[user]["grant"] = await world.fresh("grant", user)
    world.shared["ai_config"] = await world.fresh("ai_config", ADMIN)
    world.shared["ai_usage"] = 0  # AI usage: aggregates, owned by nobody
    world.shared["execution_quality"] = 0  # summaries of orders: no row ids to check
    world.shared["payment_gateway"] = await world.fresh("payment_gateway", ADMIN)
    # a gateway that sells for real (an in-memory double), and each user's billing rows
    register_double(h.container.registry)
    gateway = {"world": provider.name, "webhook_secret": provider.secret}
    made = await world.ok(
        ADMIN, "POST", "/payment-gateways", {"name": "Double", "type": "double", "config": gateway}
    )
    world.shared["double_gateway"] = made["id"]
    for user in USERS:
        for entity in ("subscription", "payment", "paid_payment"):
            world.rows[user][entity] = await world.fresh(entity, user)
    return world


# --- the matrix -----------------------------------------------------------------------


def expect(rule: Rule, caller: str, which: Which) -> Outcome:
    if caller == ANON:
        return "unauthorized"
    if caller not in rule.open_to:
        return "forbidden"
    if which == "own" or caller == ADMIN:
        return "ok"
    if caller == OPS:
        return rule.operator_other
    return "hidden"


def route_table(h: Harness) -> dict[tuple[str, str], list[str]]:
    """Every (method, path) the application serves, in table order, with its query
    parameters' names. Read from an app built on the harness's container: the same table
    the served app has. The console's and portal's pages have their own matrix
    (test_page_matrix.py: sessions and CSRF instead of tokens)."""
    found: dict[tuple[str, str], list[str]] = {}
    for route in iter_route_contexts(create_app(h.container).routes):
        if route.path is not None and is_page(route.path):
            continue
        dependant = getattr(route, "dependant", None)
        query = [p.name for p in dependant.query_params] if dependant is not None else []
        for method in sorted(route.methods or ()):
            if method != "HEAD" and route.path is not None:
                found[(method, route.path)] = query
    return found


PATH_PARAM = re.compile(r"\{[^}]+\}")


def fill(path: str, row_id: int) -> str:
    return PATH_PARAM.sub(str(row_id), path)


def error_of(response: httpx.Response, row_id: int) -> tuple[int, str, str]:
    """Status, error code and message with the id taken out: what a 404 may reveal."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.status_code, "?", response.text[:200]
    return response.status_code, error["code"], error["message"].replace(str(row_id), "<id>")


@dataclass
class Matrix:
    world: World
    failures: list[str] = field(default_factory=list)
    checked: int = 0

    def fail(self, caller: str, what: str, method: str, path: str, message: str) -> None:
        self.failures.append(f"{caller:9} {what:8} {method:6} {path}: {message}")

    def verdict(
        self,
        rule: Rule,
        outcome: Outcome,
        response: httpx.Response,
        caller: str,
        what: str,
        method: str,
        path: str,
    ) -> bool:
        self.checked += 1
        status = response.status_code
        wanted = {
            "unauthorized": (401,),
            "forbidden": (403,),
            "hidden": (422,) if rule.kind == "create" else (404,),
            "ok": rule.ok,
        }[outcome]
        if status not in wanted:
            self.fail(
                caller,
                what,
                method,
                path,
                f"expected {outcome} {wanted}, got {status} {response.text[:160]}",
            )
            return False
        return True

    async def row_route(self, method: str, path: str, rule: Rule) -> None:
        assert rule.entity is not None
        for caller in CALLERS:
            for which in ("own", "other") if rule.owned else ("own",):
                outcome = expect(rule, caller, which)
                owner = self.world.owner(caller, rule.entity, which)
                if rule.fresh and outcome == "ok":
                    row_id = await self.world.fresh(rule.entity, owner)
                else:
                    row_id = self.world.row(owner, rule.entity)
                body = await rule.body(self.world, caller, which) if rule.body else None
                response = await self.world.call(caller, method, fill(path, row_id), body)
                if self.verdict(rule, outcome, response, caller, which, method, path) and (
                    outcome == "hidden"
                ):
                    missing = await self.world.call(caller, method, fill(path, MISSING_ID), body)
                    if error_of(response, row_id) != error_of(missing, MISSING_ID):
                        self.fail(
                            caller,
                            which,
                            method,
                            path,
                            f"another's row answers {error_of(response, row_id)}, "
                            f"a missing one {error_of(missing, MISSING_ID)}",
                        )
            for bad in OUT_OF_RANGE:  # ids past 64 bits (or 0) never reach the database
                body = await rule.body(self.world, caller, "own") if rule.body else None
                response = await self.world.call(caller, method, fill(path, bad), body)
                self.checked += 1
                if response.status_code not in (401, 403, 404, 422):
                    self.fail(caller, f"id {bad}"[:8], method, path, f"got {response.status_code}")

    async def create_route(self, method: str, path: str, rule: Rule) -> None:
        assert rule.body is not None
        for caller in CALLERS:
            for which in ("own", "other") if rule.owned else ("own",):
                outcome = expect(rule, caller, which)
                body = await rule.body(self.world, caller, which)
                response = await self.world.call(caller, method, path, body)
                if (
                    self.verdict(rule, outcome, response, caller, which, method, path)
                    and outcome == "hidden"
                ):
                    assert rule.missing_body is not None
                    missing_body = await rule.missing_body(self.world, caller, which)
                    missing = await self.world.call(caller, method, path, missing_body)
                    named = body["connection_id"]  # the one create rule with an owner
                    if error_of(response, named) != error_of(missing, MISSING_ID):
                        self.fail(
                            caller,
                            which,
                            method,
                            path,
                            f"another's row answers {error_of(response, named)}, "
                            f"a missing one {error_of(missing, MISSING_ID)}",
                        )

    async def list_route(self, method: str, path: str, rule: Rule) -> None:
        assert rule.entity is not None
        url = path + ("?" + rule.query.format(**self.world.shared) if rule.query else "")
        for caller in CALLERS:
            outcome = expect(rule, caller, "own")
            response = await self.world.call(caller, method, url)
            if not self.verdict(rule, outcome, response, caller, "list", method, path):
                continue
            if outcome != "ok":
                continue
            if rule.entity in self.world.shared:
                continue  # admin-only rows nobody owns
            ids = {item["id"] for item in response.json()["items"]}
            mine = await self.world.owned_by(rule.entity, caller)
            if caller in rule.sees_all:
                if not ids - mine:
                    self.fail(caller, "list", method, path, "sees no other user's row")
            elif foreign := sorted(ids - mine):
                self.fail(caller, "list", method, path, f"shows others' rows {foreign[:10]}")
            if not ids & mine:
                self.fail(caller, "list", method, path, "does not show the caller's own rows")

    async def public_route(self, method: str, path: str, rule: Rule) -> None:
        """Without an entity: the same refusal whoever asks, about whatever id. With one:
        the row's answer, a missing id's 404 and an out-of-range id's 422, each the same
        whoever asks (a bearer token changes nothing)."""
        answers: dict[int, set[tuple[int, str, str]]] = {}
        known = self.world.row(ADMIN, rule.entity) if rule.entity else self.world.pub
        for caller in CALLERS:
            body = await rule.body(self.world, caller, "own") if rule.body else None
            ids = (known, MISSING_ID, *OUT_OF_RANGE) if "{" in path else (0,)
            for row_id in ids:
                response = await self.world.call(caller, method, fill(path, row_id), body)
                wanted = rule
                if rule.entity and row_id != known:
                    wanted = replace(rule, ok=(404,) if row_id == MISSING_ID else (422,))
                self.verdict(wanted, "ok", response, caller, "public", method, path)
                if rule.ok[0] >= 400:
                    key = row_id if rule.entity else 0
                    answers.setdefault(key, set()).add(error_of(response, row_id))
        for seen in answers.values():
            if len(seen) > 1:
                self.fail("*", "public", method, path, f"answers differ: {seen}")

    async def run(self, routes: list[tuple[str, str]]) -> None:
        """Every route, in table order (so the seeded rows live until their DELETE)."""
        for method, path in routes:
            rule = RULES[(method, path)]
            if rule.kind == "row":
                await self.row_route(method, path, rule)
            elif rule.kind == "create":
                await self.create_route(method, path, rule)
            elif rule.kind == "list":
                await self.list_route(method, path, rule)
            else:
                await self.public_route(method, path, rule)


async def specifics(
    world: World, table: dict[tuple[str, str], list[str]], failures: list[str]
) -> None:
    """What the generated matrix cannot say by itself."""

    def check(ok: bool, message: str) -> None:
        if not ok:
            failures.append(f"specific: {message}")

    # a member sees how to follow a channel, nothing of how its sender is configured
    channels = (await world.call(A, "GET", "/api/v1/channels")).json()["items"]
    check(bool(channels), "member A lists no channel")
    for item in channels:
        check(
            not {"config", "secrets", "health", "breaker", "parse_template"} & set(item),
            f"a member sees a channel's configuration: {sorted(item)}",
        )
    # following: only public channels (or followed/owned ones) for members; staff any
    fresh_a = await world.fresh("connection", A)
    private_b = world.rows[B]["channel"]
    hidden = await world.call(
        A, "POST", "/api/v1/follows", {"connection_id": fresh_a, "channel_id": private_b}
    )
    missing = await world.call(
        A, "POST", "/api/v1/follows", {"connection_id": fresh_a, "channel_id": MISSING_ID}
    )
    check(
        hidden.status_code == 422 and error_of(hidden, private_b) == error_of(missing, MISSING_ID),
        f"a member following a private channel: {hidden.status_code} {hidden.text[:120]} "
        f"vs missing {missing.text[:120]}",
    )
    fresh_ops = await world.fresh("connection", OPS)
    staff = await world.call(
        OPS, "POST", "/api/v1/follows", {"connection_id": fresh_ops, "channel_id": private_b}
    )
    check(staff.status_code == 201, f"an operator may follow any channel: {staff.text[:120]}")
    # a member manages only itself: its password, never its own role or active flag
    me = f"/api/v1/users/{world.user_ids[A]}"
    r = await world.call(A, "PATCH", me, {"password": "a changed password"})
    check(r.status_code == 200, f"member A changing its password: {r.status_code}")
    for change_ in ({"role": "admin"}, {"role": "operator"}, {"is_active": False}):
        r = await world.call(A, "PATCH", me, change_)
        check(r.status_code == 403, f"member A changed its own {change_}: {r.status_code}")
    users = (await world.call(A, "GET", "/api/v1/users")).json()["items"]
    check([u["id"] for u in users] == [world.user_ids[A]], f"member A lists users {users}")
    # a signal's detail shows a member only its own executions
    public_signal = world.rows[ADMIN]["signal"]
    detail = (await world.call(A, "GET", f"/api/v1/signals/{public_signal}")).json()
    shown = {e["connection_id"] for e in detail.get("executions", [])}
    check(shown == {world.rows[A]["connection"]}, f"member A sees executions of {shown}")
    everyone = (await world.call(OPS, "GET", f"/api/v1/signals/{public_signal}")).json()
    check(len(everyone.get("executions", [])) == len(USERS), "the operator sees all executions")
    # execution quality: a member's summary counts its own sent orders, no one else's
    for caller in (A, OPS):
        figures = await world.call(caller, "GET", "/api/v1/execution-quality/orders?limit=1000")
        summed = (await world.call(caller, "GET", "/api/v1/execution-quality")).json()
        ids = {item["id"] for item in figures.json()["items"]}
        check(
            summed["orders"] == len(ids) == sum(i["orders"] for i in summed["items"]) > 0,
            f"{caller}'s execution-quality summary counts {summed['orders']}, lists {len(ids)}",
        )
        if caller == A:
            mine = await world.owned_by("order", A)
            check(bool(ids) and ids <= mine, f"member A's order figures show {ids - mine}")
    # another user's tokens are a missing user's
    other_user = await world.call(A, "GET", f"/api/v1/tokens?user_id={world.user_ids[B]}")
    no_user = await world.call(A, "GET", f"/api/v1/tokens?user_id={MISSING_ID}")
    check(
        error_of(other_user, world.user_ids[B]) == error_of(no_user, MISSING_ID)
        and other_user.status_code == 404,
        f"member A asking for B's tokens: {other_user.status_code} {other_user.text[:120]}",
    )
    # ids in queries and bodies are bounded too
    for (method, path), params in table.items():
        for name in (p for p in params if p.endswith("_id")):
            r = await world.call(ADMIN, method, f"{path}?{name}={2**64}")
            check(r.status_code == 422, f"{method} {path}?{name}=2**64 answers {r.status_code}")
    for body in (
        {"connection_id": 2**64, "channel_id": world.pub},
        {"connection_id": fresh_a, "channel_id": -1},
    ):
        r = await world.call(A, "POST", "/api/v1/follows", body)
        check(r.status_code == 422, f"follow body {body} answers {r.status_code}")
    usd = {"USD": "1"}
    for plan in (
        {"name": "p1", "prices": usd, "channel_ids": [2**64]},
        {"name": "p2", "prices": usd, "channel_ids": [MISSING_ID]},
        {"name": "p3", "prices": usd, "channel_ids": [0]},
        {"name": "p4", "prices": {"USD": "-1"}},
        {"name": "p5", "prices": {"USD": "1e-9999990"}},
        {"name": "p6", "prices": {"USD": "1e40"}},
        {"name": "p7", "prices": {"USD": "0.0000000000000000001"}},
        {"name": "p9", "prices": {"USD": "0"}},  # nothing to pay: a grant gives it instead
        {"name": "p10", "prices": {}},
        {"name": "p11", "price": "5"},  # the older single-price body: says what to send
    ):
        r = await world.call(ADMIN, "POST", "/api/v1/plans", plan)
        check(r.status_code == 422, f"plan {plan} answers {r.status_code} {r.text[:120]}")
    fine = await world.call(
        ADMIN, "POST", "/api/v1/plans", {"name": "p8", "prices": usd, "channel_ids": [world.pub]}
    )
    check(fine.status_code == 201, f"a plan of one channel: {fine.text[:160]}")
    clash = await world.call(
        ADMIN, "PUT", f"/api/v1/plans/{world.shared['plan']}", {"name": "p8", "prices": usd}
    )
    check(clash.status_code == 409, f"renaming a plan onto another's name: {clash.text[:160]}")
    # members read the active plans' terms, not the provider's price ids nor inactive plans
    hidden_terms = {"name": "p12", "prices": usd, "is_active": False}
    inactive = (await world.ok(ADMIN, "POST", "/plans", hidden_terms))["id"]
    for caller in (A, OPS):
        listed = (await world.call(caller, "GET", "/api/v1/plans")).json()["items"]
        check(
            bool(listed) and inactive not in {p["id"] for p in listed},
            f"{caller} lists an inactive plan",
        )
        check(all("gateway_prices" not in p for p in listed), f"{caller} sees gateway price ids")
    every = (await world.call(ADMIN, "GET", "/api/v1/plans")).json()["items"]
    check(inactive in {p["id"] for p in every}, "the admin does not list an inactive plan")
    # a plan that sold something is kept (deactivated), not deleted
    sold = await world.call(ADMIN, "DELETE", f"/api/v1/plans/{world.shared['plan']}")
    check(sold.status_code == 409, f"deleting a plan with payments: {sold.text[:160]}")
    # the double gateway sells the shared plan to a member, in the plan's currency
    offers = await world.call(A, "GET", f"/api/v1/checkout/gateways?plan_id={world.shared['plan']}")
    check(
        [(o["gateway_id"], o["currencies"]) for o in offers.json()["items"]]
        == [(world.shared["double_gateway"], ["USD"])],
        f"member A is offered {offers.text[:160]}",
    )
    # a member's or operator's list of payments ignores another user's id: only its own
    for caller in (A, OPS):
        for path in ("/api/v1/payments", "/api/v1/subscriptions"):
            r = await world.call(caller, "GET", f"{path}?user_id={world.user_ids[B]}")
            shown = {item["user_id"] for item in r.json()["items"]}
            check(shown == {world.user_ids[caller]}, f"{caller} {path}?user_id=B shows {shown}")


async def test_authorization_matrix(tmp_path: Path, database_url: str) -> None:
    provider = DoubleProvider.open(f"matrix {tmp_path.name}")
    try:
        async with running_harness(make_settings(tmp_path, database_url)) as h:
            world = await build_world(h, provider)
            table = route_table(h)
            routes = list(table)
            unruled = [f"{m_} {p}" for m_, p in routes if (m_, p) not in RULES]
            stale = [f"{m_} {p}" for m_, p in RULES if (m_, p) not in routes]
            assert not unruled, f"routes without a rule in the matrix: {unruled}"
            assert not stale, f"rules for routes that no longer exist: {stale}"
            matrix = Matrix(world)
            await matrix.run(routes)
            await specifics(world, table, matrix.failures)
            assert matrix.checked > 10 * len(routes)
            assert not matrix.failures, "\n" + "\n".join(matrix.failures)
    finally:
        WORLDS.pop(provider.name, None)
