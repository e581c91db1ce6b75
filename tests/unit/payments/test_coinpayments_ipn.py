"""CoinPayments IPNs: HMAC over the raw form body, mode and merchant, status rules, order.

The bodies here are built and signed by the test itself (urlencode + HMAC-SHA512 with the
IPN secret, as integrations.md §3 says CoinPayments does), not by the code under test.
Reliability row 7: bad HMAC, wrong merchant, amount or currency mismatch, statuses
0→1→100 duplicated and 100 before 0 give exactly one credit, only at status >= 100 (or 2).
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fakes.coinpayments import sign_body

from signalbridge.integrations.errors import CallbackRejected
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import AdapterRegistry
from signalbridge.payments import (
    GatewayDeps,
    PaymentEvent,
    PaymentEventKind,
    PaymentGateway,
    Subject,
    SubjectKind,
    SubjectStatus,
    build_gateway,
    coinpayments,
    resolve,
)
from signalbridge.payments.coinpayments.client import encode, sign
from signalbridge.payments.coinpayments.convert import (
    check_expected,
    is_complete,
    marker,
    state_from_tx,
)

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
MERCHANT = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
IPN_SECRET = "ipn-secret-Xq9!canary"
PRIVATE_KEY = "priv4te-key-canary-0123456789"
TXN = "CPHX7W2Q9ZKR4M8N6P3T5V2Y7A"


def fields(step: int = 100, **changes: str) -> dict[str, str]:
    base = {
        "ipn_version": "1.0",
        "ipn_type": "api",
        "ipn_mode": "hmac",
        "ipn_id": "4f1a6c0de2b34a5f9c8e7d6b5a493827",
        "merchant": MERCHANT,
        "txn_id": TXN,
        "status": str(step),
        "status_text": "Complete" if step >= 100 else "Waiting for buyer funds...",
        "currency1": "USD",
        "currency2": "BTC",
        "amount1": "19.99",
        "amount2": "0.00200000",
        "fee": "0.00001000",
        "buyer_name": "Ann Example",
        "email": "ann@example.com",
        "item_name": "Gold",
        "item_number": "3",
        "invoice": "sbpay_42",
        "custom": "sbpay_42",
        "received_amount": "0.00200000" if step >= 1 else "0.00000000",
        "received_confirms": "3",
    }
    base.update(changes)
    return base


def signed(
    form: dict[str, str] | list[tuple[str, str]], secret: str = IPN_SECRET
) -> tuple[bytes, dict[str, str]]:
    items = list(form.items()) if isinstance(form, dict) else form
    body = urlencode(items).encode("ascii")
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "HMAC": sign_body(secret, body),
    }


def gateway() -> PaymentGateway:
    registry = AdapterRegistry()
    coinpayments.register(registry)
    config = {
        "merchant_id": MERCHANT,
        "public_key": "pub0123",
        "private_key": PRIVATE_KEY,
        "ipn_secret": IPN_SECRET,
    }
    public, secrets = registry.split_config("payment", "coinpayments", config)
    deps = GatewayDeps(http_factory=HttpClientFactory(), clock=lambda: NOW)
    return build_gateway(registry, "coinpayments", "cp-1", public, secrets, deps)


GATEWAY = gateway()


def parse(body: bytes, headers: dict[str, str]) -> list[PaymentEvent]:
    return asyncio.run(GATEWAY.verify_and_parse(body, headers, NOW))


def test_calls_are_signed_like_the_reference_vector() -> None:
    body = encode("get_callback_address", "your_api_public_key", {"currency": "BTC"})
    assert body == (
        b"currency=BTC&version=1&cmd=get_callback_address&key=your_api_public_key&format=json"
    )
    assert sign("test", body) == (
        "5590eac015e7692902e1a9cd5464f1d305a4b593d2f1343d826ac5affc5ac6f9"
        "60a5167284f9bf31295cba0e04df9d8f7087935b5344c468ccf2dd036e159102"
    )


def test_a_completed_ipn_is_one_paid_event_carrying_amount_currency_and_reference() -> None:
    [event] = parse(*signed(fields(100)))
    assert event.kind is PaymentEventKind.CHECKOUT_COMPLETED
    assert event.status is SubjectStatus.PAID
    assert event.key == ("coinpayments", f"{TXN}:100")
    assert event.subject == Subject(SubjectKind.CHECKOUT, TXN)
    assert (event.amount, event.currency) == (Decimal("19.99"), "USD")
    assert event.reference == "sbpay_42"
    assert event.provider_status == "100"
    assert event.provider_updated_at == marker(100)
    assert event.occurred_at == NOW
    assert event.fee is None  # the IPN's fee is in the coin; the flow reckons ours
    assert event.payload["email"] == "ann@example.com"


@pytest.mark.parametrize(
    ("status", "kind", "state"),
    [
        (0, PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING),
        (1, PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING),
        (3, PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING),
        (5, PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING),
        (99, PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING),
        (2, PaymentEventKind.CHECKOUT_COMPLETED, SubjectStatus.PAID),
        (100, PaymentEventKind.CHECKOUT_COMPLETED, SubjectStatus.PAID),
        (101, PaymentEventKind.CHECKOUT_COMPLETED, SubjectStatus.PAID),
        (-1, PaymentEventKind.CHECKOUT_EXPIRED, SubjectStatus.EXPIRED),
        (-2, PaymentEventKind.REFUNDED, SubjectStatus.REFUNDED),
        (-3, PaymentEventKind.PAYMENT_FAILED, SubjectStatus.FAILED),
    ],
)
def test_status_rules(status: int, kind: PaymentEventKind, state: SubjectStatus) -> None:
    [event] = parse(*signed(fields(status)))
    assert (event.kind, event.status) == (kind, state)
    assert is_complete(status) is (state is SubjectStatus.PAID)
    assert event.event_id == f"{TXN}:{status}"
    if state is not SubjectStatus.PAID:
        assert event.reason  # a pending, failed or expired payment says why


def test_an_underpayment_stays_pending_with_the_reason_even_at_status_100() -> None:
    [event] = parse(*signed(fields(100, received_amount="0.00150000")))
    assert event.kind is PaymentEventKind.PAYMENT_PENDING
    assert event.status is SubjectStatus.PENDING
    assert event.reason == "underpaid: received 0.00150000 of 0.00200000 BTC"
    [partial] = parse(*signed(fields(1, received_amount="0.00050000")))
    assert partial.reason == "underpaid: received 0.00050000 of 0.00200000 BTC"
    [waiting] = parse(*signed(fields(0)))
    assert waiting.reason == "Waiting for buyer funds..."


def test_amount_or_currency_other_than_asked_is_no_credit() -> None:
    [paid] = parse(*signed(fields(100)))
    assert check_expected(paid, Decimal("19.990"), "USD") is paid
    cheaper = check_expected(paid, Decimal("29.99"), "USD")
    assert cheaper.kind is PaymentEventKind.PAYMENT_PENDING
    assert cheaper.status is SubjectStatus.PENDING
    assert cheaper.reason == "amount mismatch: paid 19.99 USD, asked 29.99 USD"
    assert cheaper.key == paid.key  # still the same fact, stored once
    other = check_expected(paid, Decimal("19.99"), "EUR")
    assert other.kind is PaymentEventKind.PAYMENT_PENDING and "asked 19.99 EUR" in str(other.reason)
    [waiting] = parse(*signed(fields(0)))
    assert check_expected(waiting, Decimal("1"), "EUR") is waiting


def test_the_reference_comes_from_invoice_or_custom_and_only_if_ours() -> None:
    [event] = parse(*signed(fields(100, invoice="", custom="sbpay_7")))
    assert event.reference == "sbpay_7"
    [foreign] = parse(*signed(fields(100, invoice="order-9", custom="x")))
    assert foreign.reference is None


def test_ipns_about_deposits_or_withdrawals_are_authentic_but_yield_nothing() -> None:
    assert parse(*signed(fields(100, ipn_type="deposit"))) == []
    assert parse(*signed(fields(2, ipn_type="withdrawal"))) == []


def tamper_byte(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"amount1=19.99", b"amount1=10.99"), headers


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: tamper_byte(*signed(fields())), "signature"),
        (lambda: signed(fields(), secret="another-secret"), "signature"),
        (lambda: (signed(fields())[0], {}), "signature"),
        (lambda: (signed(fields())[0], {"HMAC": ""}), "signature"),
        (lambda: (signed(fields())[0], {"HMAC": "zz" * 64}), "malformed"),
        (lambda: (signed(fields())[0], {"HMAC": "ab" * 32}), "malformed"),
        (lambda: signed(fields(merchant="someoneelse")), "signature"),
        (lambda: signed(fields(ipn_mode="httpauth")), "signature"),
        (lambda: signed(fields(ipn_mode="")), "signature"),
        (lambda: signed([*fields(0).items(), ("status", "100")]), "malformed"),
        (lambda: signed(fields(amount1="1e5")), "malformed"),
        (lambda: signed(fields(amount1="0,5")), "malformed"),
        (lambda: signed(fields(amount1="NaN")), "malformed"),
        (lambda: signed(fields(amount1="-19.99")), "malformed"),
        (lambda: signed(fields(amount1="1" * 40)), "malformed"),
        (lambda: signed(fields(status="complete")), "malformed"),
        (lambda: signed(fields(currency1="usd")), "malformed"),
        (lambda: signed(fields(txn_id="")), "malformed"),
        (lambda: signed(fields(received_amount="lots")), "malformed"),
    ],
)
def test_a_bad_ipn_is_refused_whole(make: Any, reason: str) -> None:
    body, headers = make()
    with pytest.raises(CallbackRejected) as caught:
        parse(body, headers)
    assert caught.value.reason == reason
    for secret in (IPN_SECRET, PRIVATE_KEY, headers.get("HMAC") or "-"):
        assert secret not in str(caught.value)


def test_the_header_name_and_hex_case_do_not_matter_and_the_body_must_be_utf8() -> None:
    body, headers = signed(fields())
    assert len(parse(body, {"hmac": headers["HMAC"].upper()})) == 1
    raw = b"status=100&txn_id=\xff"
    with pytest.raises(CallbackRejected) as caught:
        parse(raw, {"HMAC": sign_body(IPN_SECRET, raw)})
    assert caught.value.reason == "malformed"
    big = b"a=" + b"b" * 70_000
    with pytest.raises(CallbackRejected, match="too large"):
        parse(big, {"HMAC": sign_body(IPN_SECRET, big)})


def test_every_order_of_the_steps_with_duplicates_ends_paid_once() -> None:
    steps = [parse(*signed(fields(s)))[0] for s in (0, 1, 100)]
    for order in itertools.permutations([*steps, steps[0], steps[2]]):
        outcome = resolve(None, order)
        assert not outcome.needs_fetch
        assert outcome.latest is not None and outcome.latest.status is SubjectStatus.PAID
        credits = {e.key for e in outcome.apply if e.kind is PaymentEventKind.CHECKOUT_COMPLETED}
        assert credits == {("coinpayments", f"{TXN}:100")}
        assert outcome.marker == marker(100)


def test_100_before_0_leaves_the_late_steps_stale_and_a_timeout_never_undoes_a_payment() -> None:
    zero, one, paid, timed_out, refunded = (
        parse(*signed(fields(s)))[0] for s in (0, 1, 100, -1, -2)
    )
    after_paid = resolve(paid.provider_updated_at, [zero, one, timed_out])
    assert after_paid.apply == () and len(after_paid.stale) == 3
    late_payment = resolve(timed_out.provider_updated_at, [paid])
    assert late_payment.latest == paid
    assert resolve(paid.provider_updated_at, [refunded]).latest == refunded
    queued = parse(*signed(fields(2)))[0]
    assert resolve(queued.provider_updated_at, [paid]).latest == paid  # 2 → 100 moves on


def test_a_fetched_transaction_uses_the_same_marker_scale() -> None:
    result = {
        "time_created": 1796640000,
        "time_expires": 1796649000,
        "status": 100,
        "status_text": "Complete",
        "type": "coins",
        "coin": "BTC",
        "amount": 200000,
        "amountf": "0.00200000",
        "received": 200000,
        "receivedf": "0.00200000",
        "recv_confirms": 3,
        "payment_address": "3abc",
        "checkout": {"currency": "USD", "amountf": "19.99000000", "invoice": "sbpay_42"},
    }
    state = state_from_tx(TXN, result)
    assert state.status is SubjectStatus.PAID and state.as_of == marker(100)
    assert (state.amount, state.currency, state.reference) == (Decimal("19.99"), "USD", "sbpay_42")
    short = state_from_tx(TXN, {**result, "receivedf": "0.001", "checkout": None})
    assert short.status is SubjectStatus.PENDING and short.amount is None
    assert short.reason == "underpaid: received 0.001 of 0.00200000 BTC"
    [late] = parse(*signed(fields(1)))
    assert resolve(state.as_of, [late]).stale == (late,)


NAMES = st.sampled_from(
    [
        "ipn_type",
        "txn_id",
        "status",
        "status_text",
        "currency1",
        "currency2",
        "amount1",
        "amount2",
        "received_amount",
        "invoice",
        "custom",
        "email",
    ]
)
VALUES = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,20})?", fullmatch=True),
    st.sampled_from(["api", "deposit", "USD", "BTC", "sbpay_1", "1e9", "NaN", "", "100", "-2"]),
)


@given(st.dictionaries(NAMES, VALUES, max_size=12))
def test_any_authentic_body_gives_events_or_a_rejection(changes: dict[str, str]) -> None:
    body, headers = signed(fields(100, **changes))
    try:
        events = parse(body, headers)
    except CallbackRejected as exc:
        assert exc.reason == "malformed"
        return
    assert all(isinstance(e, PaymentEvent) for e in events) and len(events) <= 1
    for event in events:
        if event.status is SubjectStatus.PAID:
            assert is_complete(int(event.provider_status or "0"))


@given(
    st.binary(max_size=300), st.dictionaries(st.text(max_size=8), st.text(max_size=140), max_size=3)
)
def test_any_bytes_and_headers_give_only_a_rejection_or_events(
    body: bytes, headers: dict[str, str]
) -> None:
    for attempt in (headers, {"HMAC": sign_body(IPN_SECRET, body)}):
        try:
            events = parse(body, attempt)
        except CallbackRejected:
            continue
        assert all(isinstance(e, PaymentEvent) for e in events)
