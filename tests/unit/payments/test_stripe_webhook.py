"""Stripe-Signature over the raw body: tampering, wrong secrets, staleness both ways,
rotation (several v1, several configured secrets), the constant-time compare, and any
header or body whatsoever ending as events or CallbackRejected, nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.errors import CallbackRejected
from signalbridge.payments import PaymentEventKind, SubjectKind
from signalbridge.payments.stripe import webhook
from signalbridge.payments.stripe.config import webhook_secrets
from signalbridge.payments.stripe.convert import FeeRule

SECRET = "whsec_test_current0123456789abcdef"
OLD = "whsec_test_previous0123456789abcdef"
NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
T = int(NOW.timestamp())
TOLERANCE = timedelta(seconds=300)
FEES = FeeRule()


def event_body(**overrides: Any) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": T - 5,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "customer.subscription.deleted",
        "data": {
            "object": {
                "id": "sub_1",
                "object": "subscription",
                "status": "canceled",
                "customer": "cus_1",
                "metadata": {"payment_reference": "sbpay_9"},
                "items": {"object": "list", "data": [{"current_period_end": T + 86400}]},
            }
        },
    } | overrides
    return json.dumps(event, indent=2).encode()


def signed(body: bytes, *secrets: str, at: int = T) -> dict[str, str]:
    return {"Stripe-Signature": webhook.sign(body, secrets[0], at, *secrets[1:])}


def check(body: bytes, headers: Mapping[str, str], secrets: tuple[str, ...] = (SECRET,)) -> Any:
    webhook.verify(body, headers, secrets, NOW, TOLERANCE)
    return webhook.parse_event(body, FEES)


def test_a_signed_delivery_gives_its_event() -> None:
    body = event_body()
    [event] = check(body, signed(body, SECRET))
    assert event.kind is PaymentEventKind.SUBSCRIPTION_CANCELED
    assert event.subject.kind is SubjectKind.SUBSCRIPTION
    assert event.reference == "sbpay_9"


def test_our_signature_is_the_one_the_stripe_library_makes_and_accepts() -> None:
    body = event_body()
    theirs = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, T)
    assert webhook.sign(body, SECRET, T) == theirs
    # and the library's own check accepts ours (its clock: tolerance off)
    assert stripe.Webhook.construct_event(body, theirs, SECRET, tolerance=0).id == "evt_1"


@pytest.mark.parametrize("position", [0, 40, -3])
def test_one_byte_changed_is_refused(position: int) -> None:
    body = event_body()
    headers = signed(body, SECRET)
    tampered = bytearray(body)
    tampered[position] = (tampered[position] + 1) % 256
    with pytest.raises(CallbackRejected) as refused:
        check(bytes(tampered), headers)
    assert refused.value.reason == "signature"


def test_a_changed_timestamp_breaks_the_signature() -> None:
    body = event_body()
    header = signed(body, SECRET)["Stripe-Signature"].replace(f"t={T}", f"t={T - 1}")
    with pytest.raises(CallbackRejected) as refused:
        check(body, {"Stripe-Signature": header})
    assert refused.value.reason == "signature"


@pytest.mark.parametrize(
    "secret", ["whsec_someone_else_entirely_000", SECRET[:-1] + "x", SECRET.upper()]
)
def test_the_wrong_secret_is_refused_and_no_secret_leaks(secret: str) -> None:
    body = event_body()
    with pytest.raises(CallbackRejected) as refused:
        check(body, signed(body, secret))
    assert refused.value.reason == "signature"
    assert SECRET not in str(refused.value) and secret not in str(refused.value)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Stripe-Signature": ""}, {"Other": "t=1,v1=ab"}],
)
def test_no_header_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(CallbackRejected) as refused:
        check(event_body(), headers)
    assert refused.value.reason == "signature"


def test_the_header_is_found_whatever_its_case() -> None:
    body = event_body()
    value = signed(body, SECRET)["Stripe-Signature"]
    assert check(body, {"stripe-signature": value})
    assert check(body, {"STRIPE-SIGNATURE": value})


@pytest.mark.parametrize("offset", [301, 3600, -301, -86400])
def test_a_timestamp_outside_the_tolerance_is_stale_either_way(offset: int) -> None:
    body = event_body()
    with pytest.raises(CallbackRejected) as refused:
        check(body, signed(body, SECRET, at=T - offset))
    assert refused.value.reason == "stale"


@pytest.mark.parametrize("offset", [0, 300, -300, 120])
def test_a_timestamp_inside_the_tolerance_passes(offset: int) -> None:
    body = event_body()
    assert check(body, signed(body, SECRET, at=T - offset))


def test_two_v1_during_a_rotation_any_one_matching_is_enough() -> None:
    body = event_body()
    both = signed(body, SECRET, OLD)
    assert check(body, both, (SECRET,))
    assert check(body, both, (OLD,))
    with pytest.raises(CallbackRejected):
        check(body, both, ("whsec_unrelated_0000000000",))


def test_several_configured_secrets_accept_either_signer() -> None:
    body = event_body()
    configured = webhook_secrets(f"{SECRET}, {OLD}")
    assert configured == (SECRET, OLD)
    assert check(body, signed(body, OLD), configured)
    assert check(body, signed(body, SECRET), configured)


def test_every_signature_is_compared_with_every_secret_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """signing.matches_any does the comparing (hmac.compare_digest over all v1s), once per
    secret, even after a match: nothing returns early to tell which one matched."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    real = webhook.matches_any

    def spy(expected: str, candidates: Any) -> bool:
        given_ = tuple(candidates)
        calls.append((expected, given_))
        return real(expected, given_)

    monkeypatch.setattr(webhook, "matches_any", spy)
    body = event_body()
    check(body, signed(body, SECRET, OLD), (SECRET, OLD, "whsec_third_0000000000"))
    assert len(calls) == 3
    assert all(len(candidates) == 2 for _, candidates in calls)


def test_v0_and_unknown_schemes_are_ignored() -> None:
    body = event_body()
    header = signed(body, SECRET)["Stripe-Signature"] + ",v0=deadbeef,v2=cafe"
    assert check(body, {"Stripe-Signature": header})
    only_v0 = f"t={T},v0=" + signed(body, SECRET)["Stripe-Signature"].split("v1=")[1]
    with pytest.raises(CallbackRejected) as refused:
        check(body, {"Stripe-Signature": only_v0})
    assert refused.value.reason == "signature"


@pytest.mark.parametrize(
    "header",
    ["v1=abc", f"t={T},t={T},v1=ab", "t=abc,v1=ab", "garbage", f"t={T},,v1=ab", "t=-5,v1=aa"],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(CallbackRejected) as refused:
        check(event_body(), {"Stripe-Signature": header})
    assert refused.value.reason in ("malformed", "signature")


def test_a_huge_body_is_refused_before_any_hmac() -> None:
    body = b"x" * (webhook.MAX_BODY_BYTES + 1)
    with pytest.raises(CallbackRejected) as refused:
        check(body, signed(body, SECRET))
    assert refused.value.reason == "malformed"


def test_no_configured_secret_accepts_nothing() -> None:
    body = event_body()
    with pytest.raises(CallbackRejected):
        webhook.verify(body, signed(body, SECRET), (), NOW, TOLERANCE)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"object": "v2.core.event", "id": "evt_1", "type": "x"}).encode(),
        event_body(created="yesterday"),
        event_body(data={"object": "sub_1"}),
        event_body(type="invoice.paid"),  # a subscription where an invoice should be
        event_body(id=""),
        event_body(id="evt_\u0000"),
    ],
)
def test_an_authentic_but_unreadable_body_is_malformed(body: bytes) -> None:
    with pytest.raises(CallbackRejected) as refused:
        check(body, signed(body, SECRET))
    assert refused.value.reason == "malformed"


def test_an_event_type_we_do_not_act_on_gives_no_events() -> None:
    body = event_body(type="customer.created", data={"object": {"id": "cus_1"}})
    assert check(body, signed(body, SECRET)) == []


# --- properties -------------------------------------------------------------------------

header_text = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.tuples(st.sampled_from(["t", "v1", "v0", "", "x", "t "]), st.text(max_size=70)),
        max_size=6,
    ).map(lambda items: ",".join(f"{k}={v}" for k, v in items)),
)


@given(header=header_text, body=st.binary(max_size=400))
def test_any_header_is_refused_or_verified_never_an_other_error(header: str, body: bytes) -> None:
    try:
        signed_at = webhook.verify(body, {"Stripe-Signature": header}, (SECRET,), NOW, TOLERANCE)
    except CallbackRejected as refused:
        assert refused.reason in ("signature", "stale", "malformed")
    else:  # pragma: no cover - forging an HMAC is not expected
        assert signed_at.tzinfo is not None


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
event_like = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just("evt_1"), json_value),
        "object": st.sampled_from(["event", "v2.core.event", "x"]),
        "type": st.sampled_from(
            [
                "checkout.session.completed",
                "checkout.session.expired",
                "invoice.paid",
                "invoice.payment_failed",
                "customer.subscription.updated",
                "customer.subscription.deleted",
                "charge.refunded",
                "charge.dispute.created",
                "charge.dispute.closed",
                "customer.created",
            ]
        ),
        "created": st.one_of(st.integers(min_value=-5, max_value=2**34), json_value),
        "data": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "object": st.dictionaries(
                        st.sampled_from(
                            [
                                "id",
                                "object",
                                "status",
                                "payment_status",
                                "mode",
                                "amount_total",
                                "amount_paid",
                                "amount_due",
                                "amount_refunded",
                                "amount",
                                "currency",
                                "metadata",
                                "customer",
                                "subscription",
                                "charge",
                                "refunded",
                                "client_reference_id",
                                "items",
                                "lines",
                                "parent",
                                "attempt_count",
                                "next_payment_attempt",
                                "expires_at",
                            ]
                        ),
                        json_value,
                        max_size=12,
                    )
                }
            ),
        ),
    }
)


@given(body=st.one_of(st.binary(max_size=300), event_like.map(lambda e: json.dumps(e).encode())))
def test_any_authentic_body_gives_events_or_callback_rejected(body: bytes) -> None:
    try:
        events = check(body, signed(body, SECRET))
    except CallbackRejected as refused:
        assert refused.reason == "malformed"
    else:
        assert isinstance(events, list) and len(events) <= 1
