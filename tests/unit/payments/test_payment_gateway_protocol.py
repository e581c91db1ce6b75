"""A gateway is one class behind the PaymentGateway protocol, registered by ``register()``.

The fake below is what a gateway module looks like: a config schema with sealed secrets, a
``from_config`` factory, ``register(registry)``, Stripe-style ``t=,v1=`` signatures checked
with :mod:`signalbridge.payments.signing`, and a delivery refused whole when any part of it
is wrong. The tests drive it only through the protocol.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Self

import pytest
from pydantic import BaseModel, SecretStr

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.errors import CallbackRejected, IntegrationError, InvalidRequest
from signalbridge.integrations.registry import AdapterRegistry, UnknownAdapterType
from signalbridge.payments import (
    BillingInterval,
    Checkout,
    CheckoutRequest,
    CustomerPortal,
    GatewayCapabilities,
    GatewayDeps,
    GatewayFactory,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    PlanTerms,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    build_gateway,
    header,
    resolve,
)
from signalbridge.payments.signing import (
    check_fresh,
    hmac_hex,
    matches_any,
    parse_items,
    timestamp_of,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
KINDS = {
    "checkout.completed": (PaymentEventKind.CHECKOUT_COMPLETED, SubjectKind.CHECKOUT),
    "invoice.paid": (PaymentEventKind.PAYMENT_SUCCEEDED, SubjectKind.PAYMENT),
    "subscription.updated": (PaymentEventKind.SUBSCRIPTION_UPDATED, SubjectKind.SUBSCRIPTION),
    "subscription.deleted": (PaymentEventKind.SUBSCRIPTION_CANCELED, SubjectKind.SUBSCRIPTION),
}


class FakeConfig(BaseModel):
    webhook_secret: SecretStr
    tolerance_seconds: int = 300


class FakeGateway:
    """An in-memory gateway; tests read and set its state through public members."""

    type: ClassVar[str] = "fake"
    capabilities = GatewayCapabilities(subscriptions=True, one_time=True, event_listing=True)

    def __init__(self, connection_id: str, secret: str, tolerance: timedelta) -> None:
        self.connection_id = connection_id
        self.secret = secret
        self.tolerance = tolerance
        self.checkouts: dict[str, Checkout] = {}
        self.states: dict[Subject, SubjectState] = {}
        self.history: list[PaymentEvent] = []
        self.closed = False

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> Self:
        tolerance = timedelta(seconds=int(config.get("tolerance_seconds", 300)))
        return cls(connection_id, secrets["webhook_secret"], tolerance)

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        refusal = self.capabilities.refusal(req)
        if refusal:
            raise InvalidRequest(refusal, connection_id=self.connection_id)
        found = self.checkouts.get(req.idempotency_key)
        if found is None:
            cs = f"cs_{len(self.checkouts) + 1}"
            found = Checkout(cs, SubjectKind.CHECKOUT, f"https://pay.example/{cs}", NOW)
            self.checkouts[req.idempotency_key] = found
        return found

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        items = parse_items(header(headers, "Fake-Signature"), "Fake-Signature")
        if len(items.get("t", ())) != 1 or not items.get("v1"):
            raise CallbackRejected("the signature needs one t and a v1", reason="malformed")
        signed_at = timestamp_of(items["t"][0], "Fake-Signature")
        expected = hmac_hex(self.secret, items["t"][0].encode() + b"." + raw_body)
        if not matches_any(expected, items["v1"]):
            raise CallbackRejected("the signature does not match", reason="signature")
        check_fresh(signed_at, now, self.tolerance)
        try:
            body = load_json(raw_body)
            return [self.parse_event(raw) for raw in body["events"]]
        except (JsonOutOfBounds, KeyError, TypeError, ValueError) as exc:
            raise CallbackRejected(f"the body cannot be read: {exc}", reason="malformed") from None

    def parse_event(self, raw: dict[str, Any]) -> PaymentEvent:
        kind, subject_kind = KINDS[raw["type"]]
        at = datetime.fromtimestamp(raw["created"], UTC)
        amount = raw.get("amount")
        return PaymentEvent(
            gateway=self.type,
            event_id=raw["id"],
            kind=kind,
            subject=Subject(subject_kind, raw["object"]),
            occurred_at=at,
            provider_updated_at=at,
            status=raw.get("status"),
            reference=raw.get("reference"),
            amount=None if amount is None else Decimal(amount),
            currency=raw.get("currency"),
            payload=raw,
        )

    async def fetch_state(self, subject: Subject) -> SubjectState:
        try:
            return self.states[subject]
        except KeyError:
            raise InvalidRequest(
                f"no such {subject.kind}", connection_id=self.connection_id
            ) from None

    async def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        for event in self.history:
            if event.occurred_at >= since:
                yield event

    async def close(self) -> None:
        self.closed = True


def register(registry: AdapterRegistry) -> None:
    registry.register(
        "payment",
        FakeGateway.type,
        FakeGateway.from_config,
        FakeConfig,
        secret_fields=("webhook_secret",),
        description="in-test gateway",
    )


def signed(
    events: list[dict[str, Any]], *, at: datetime = NOW, secrets: tuple[str, ...] = (SECRET,)
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"events": events}).encode()
    stamp = str(int(at.timestamp()))
    v1 = ",".join(f"v1={hmac_hex(s, stamp.encode() + b'.' + body)}" for s in secrets)
    return body, {"fake-signature": f"t={stamp},{v1}"}


def raw_event(event_id: str, type_: str, obj: str, second: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "object": obj,
        "created": int(NOW.timestamp()) + second,
    } | extra


def gateway() -> PaymentGateway:
    registry = AdapterRegistry()
    register(registry)
    public, secrets = registry.split_config("payment", "fake", {"webhook_secret": SECRET})
    return build_gateway(registry, "fake", "1", public, secrets, GatewayDeps())


REQUEST = CheckoutRequest(
    plan=PlanTerms(plan_id=1, name="Gold", interval=BillingInterval.MONTH),
    price=Decimal("19.99"),
    currency="USD",
    payment_id=42,
    user_id=7,
    success_url="https://hub.example/ok",
    cancel_url="https://hub.example/cancel",
)


def test_the_fake_is_a_gateway_and_a_half_one_is_not() -> None:
    typed: PaymentGateway = FakeGateway("1", SECRET, timedelta(seconds=300))  # mypy checks it
    factory: GatewayFactory = FakeGateway.from_config  # and the factory's signature
    assert isinstance(typed, PaymentGateway)
    assert isinstance(factory("2", {}, {"webhook_secret": SECRET}, deps=GatewayDeps()), FakeGateway)
    assert isinstance(gateway(), PaymentGateway)
    assert not isinstance(gateway(), CustomerPortal)  # no portal capability, no method

    class NoCallbacks:
        type: ClassVar[str] = "broken"
        connection_id = "1"
        capabilities = GatewayCapabilities()

        async def create_checkout(self, req: CheckoutRequest) -> Checkout:
            raise NotImplementedError

    assert not isinstance(NoCallbacks(), PaymentGateway)


def test_build_gateway_refuses_unknown_types_and_non_gateways() -> None:
    registry = AdapterRegistry()
    with pytest.raises(UnknownAdapterType, match="known payment types: none"):
        build_gateway(registry, "fake", "1", {}, {}, GatewayDeps())
    registry.register("payment", "odd", lambda *a, **k: object(), FakeConfig, ("webhook_secret",))
    with pytest.raises(TypeError, match="not a gateway"):
        build_gateway(registry, "odd", "1", {}, {}, GatewayDeps())


def test_the_secret_is_sealed_apart_from_the_public_config() -> None:
    registry = AdapterRegistry()
    register(registry)
    public, secrets = registry.split_config("payment", "fake", {"webhook_secret": SECRET})
    assert public == {"tolerance_seconds": 300}
    assert secrets == {"webhook_secret": SECRET}


def test_importing_payments_pulls_in_no_store_service_web_or_venue() -> None:
    code = (
        "import sys, signalbridge.payments, signalbridge.payments.signing;"
        "print(sorted(m for m in sys.modules if m.startswith('signalbridge.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout
    assert "signalbridge.payments.base" in loaded
    for layer in ("store", "services", "web", "jobs", "execution", "venues", "bootstrap"):
        assert f"'signalbridge.{layer}" not in loaded


async def test_a_checkout_is_created_once_per_payment_row() -> None:
    gw = gateway()
    first = await gw.create_checkout(REQUEST)
    again = await gw.create_checkout(REQUEST)
    assert first == again
    assert first.subject == Subject(SubjectKind.CHECKOUT, first.provider_id)
    other = await gw.create_checkout(replace(REQUEST, payment_id=43))
    assert other.provider_id != first.provider_id
    trial = replace(REQUEST, plan=replace(REQUEST.plan, trial_days=7))
    with pytest.raises(InvalidRequest, match="does not offer trials"):
        await gw.create_checkout(trial)
    await gw.close()
    assert isinstance(gw, FakeGateway) and gw.closed


async def test_a_signed_delivery_becomes_events() -> None:
    body, headers = signed(
        [
            raw_event("evt_1", "checkout.completed", "cs_1", 0, reference="sbpay_42"),
            raw_event("evt_2", "invoice.paid", "in_1", 1, amount="19.99", currency="USD"),
        ]
    )
    events = await gateway().verify_and_parse(body, headers, NOW)
    assert [(e.kind, e.subject.id) for e in events] == [
        (PaymentEventKind.CHECKOUT_COMPLETED, "cs_1"),
        (PaymentEventKind.PAYMENT_SUCCEEDED, "in_1"),
    ]
    assert events[0].reference == "sbpay_42"
    assert events[1].amount == Decimal("19.99") and events[1].key == ("fake", "evt_2")


async def test_a_rotated_secret_is_accepted_beside_the_old_one() -> None:
    body, headers = signed(
        [raw_event("evt_1", "invoice.paid", "in_1", 0)], secrets=(OLD_SECRET, SECRET)
    )
    assert len(await gateway().verify_and_parse(body, headers, NOW)) == 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda b, h: (b + b" ", h), "signature"),
        (lambda b, h: (b, {}), "signature"),
        (
            lambda b, h: (b, {"Fake-Signature": h["fake-signature"].replace("v1=", "v1=0", 1)}),
            "signature",
        ),
        (lambda b, h: (b, {"Fake-Signature": "garbage"}), "malformed"),
        (lambda b, h: (b, {"Fake-Signature": "t=soon,v1=ab"}), "malformed"),
    ],
)
async def test_a_tampered_delivery_is_refused(tamper: Any, reason: str) -> None:
    body, headers = tamper(*signed([raw_event("evt_1", "invoice.paid", "in_1", 0)]))
    with pytest.raises(CallbackRejected) as caught:
        await gateway().verify_and_parse(body, headers, NOW)
    assert caught.value.reason == reason
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("skew", [timedelta(seconds=301), timedelta(seconds=-301)])
async def test_a_stale_or_future_delivery_is_refused(skew: timedelta) -> None:
    body, headers = signed([raw_event("evt_1", "invoice.paid", "in_1", 0)], at=NOW - skew)
    with pytest.raises(CallbackRejected, match="timestamp is 301 s") as caught:
        await gateway().verify_and_parse(body, headers, NOW)
    assert caught.value.reason == "stale"
    assert len(await gateway().verify_and_parse(body, headers, NOW - skew)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        raw_event("evt_2", "invoice.exploded", "in_2", 1),
        raw_event("evt_2", "invoice.paid", "in_2", 1, amount="1" * 40, currency="USD"),
        raw_event("evt_2", "invoice.paid", "in_2", 1, amount="5"),
        {"id": "evt_2"},
    ],
)
async def test_one_bad_event_refuses_the_whole_delivery(bad: dict[str, Any]) -> None:
    body, headers = signed([raw_event("evt_1", "invoice.paid", "in_1", 0), bad])
    with pytest.raises(CallbackRejected) as caught:
        await gateway().verify_and_parse(body, headers, NOW)
    assert caught.value.reason == "malformed"
    assert isinstance(caught.value, InvalidRequest) and not caught.value.counts_for_breaker


async def test_out_of_order_events_resolve_through_the_providers_state() -> None:
    gw = gateway()
    sub = Subject(SubjectKind.SUBSCRIPTION, "sub_1")
    late, early = (
        signed(
            [
                raw_event("evt_9", "subscription.deleted", "sub_1", 9, status="canceled"),
                raw_event("evt_8", "subscription.updated", "sub_1", 9, status="past_due"),
            ]
        ),
        signed([raw_event("evt_3", "subscription.updated", "sub_1", 3, status="active")]),
    )
    tied = resolve(None, await gw.verify_and_parse(*late, NOW))
    assert tied.needs_fetch and tied.apply == ()
    assert isinstance(gw, FakeGateway)
    gw.states[sub] = SubjectState(
        sub, SubjectStatus.CANCELED, "canceled", NOW + timedelta(seconds=10)
    )
    state = await gw.fetch_state(sub)
    stale = resolve(state.as_of, await gw.verify_and_parse(*early, NOW))
    assert stale.apply == () and [e.event_id for e in stale.stale] == ["evt_3"]
    assert state.status is SubjectStatus.CANCELED


async def test_reconcile_reads_the_event_list_since_a_time() -> None:
    gw = gateway()
    assert isinstance(gw, FakeGateway)
    body, headers = signed([raw_event(f"evt_{i}", "invoice.paid", f"in_{i}", i) for i in range(3)])
    gw.history.extend(await gw.verify_and_parse(body, headers, NOW))
    missed = [e.event_id async for e in gw.list_events(NOW + timedelta(seconds=1))]
    assert missed == ["evt_1", "evt_2"]
    with pytest.raises(IntegrationError, match="no such subscription"):
        await gw.fetch_state(Subject(SubjectKind.SUBSCRIPTION, "sub_404"))


def test_the_coinpayments_hmac_vector() -> None:
    body = b"currency=BTC&version=1&cmd=get_callback_address&key=your_api_public_key&format=json"
    assert hmac_hex("test", body, "sha512") == (
        "5590eac015e7692902e1a9cd5464f1d305a4b593d2f1343d826ac5affc5ac6f9"
        "60a5167284f9bf31295cba0e04df9d8f7087935b5344c468ccf2dd036e159102"
    )


def test_signature_items_and_freshness() -> None:
    assert parse_items("t=1, v1=a,v1=b,v0=c", "S") == {"t": ("1",), "v1": ("a", "b"), "v0": ("c",)}
    with pytest.raises(CallbackRejected, match="too long"):
        parse_items("v1=" + "a" * 5000, "S")
    assert matches_any("ab", ["cd", "AB "])
    assert not matches_any("ab", [])
    assert timestamp_of("0", "S") == datetime(1970, 1, 1, tzinfo=UTC)
    check_fresh(NOW - timedelta(seconds=300), NOW, timedelta(seconds=300))
    with pytest.raises(ValueError, match="timezone-aware"):
        check_fresh(datetime(2026, 3, 1), NOW, timedelta(seconds=300))
