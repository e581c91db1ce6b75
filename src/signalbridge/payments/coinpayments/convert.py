"""CoinPayments transactions in our payment types: status rules, amounts, the order marker.

Status (legacy IPN and ``get_tx_info``): below 0 failed (-1 cancelled or timed out, -2 a
PayPal refund or reversal), 0 to 99 pending (0 waiting for funds, 1 coins received, 3 PayPal
pending, 5 escrow), and complete at **100 or more, or exactly 2** (queued for the nightly
payout). Nothing is released before that; a completion whose ``received_amount`` is below
the coin amount asked (``amount2``) stays pending with the reason ``underpaid: received X
of Y COIN``.

The order marker. An IPN carries no time of its own, and CoinPayments may deliver the steps
of one transaction in any order (and up to ten times each), so the marker that
:func:`signalbridge.payments.ordering.resolve` compares is derived from the status: the
marker of a status is :data:`MARKER_EPOCH` plus its rank in seconds, where

    pending 0..99 (rank 100 + status)  <  failed or timed out (< 0, rank 500)
    <  complete (2: rank 1000; >= 100: rank 1100 + status)  <  refunded (-2, rank 10000)

so a later step never moves the transaction back: a ``0`` arriving after ``100`` is stale,
and a timeout is overtaken by a completion (CoinPayments only completes what it received).
:meth:`~.gateway.CoinPaymentsGateway.fetch_state` stamps its answer with the same marker,
so a fetched state and the IPNs compare on one scale. The marker is not a wall-clock time;
``occurred_at`` is the time the delivery was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from signalbridge.domain.bounds import parse_decimal_text
from signalbridge.payments.base import (
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
    payment_id_from_reference,
)
from signalbridge.payments.checks import MAX_REASON_LENGTH, check_currency, check_ident

GATEWAY = "coinpayments"
MARKER_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Origin of the status-rank markers (see the module docstring)."""

STATUS_COMPLETE = 100
STATUS_QUEUED_PAYOUT = 2
STATUS_TIMED_OUT = -1
STATUS_REFUNDED = -2
_MIN_STATUS, _MAX_STATUS = -9999, 9999

#: IPN types about a payment to us (``deposit``/``withdrawal`` concern callback addresses
#: and payouts: authentic, but not a checkout; they yield no event).
PAYMENT_IPN_TYPES = frozenset({"api", "simple", "button", "cart", "donation"})


def is_complete(status: int) -> bool:
    """CoinPayments' own rule: safe to release at status >= 100, or 2 (nightly payout)."""
    return status >= STATUS_COMPLETE or status == STATUS_QUEUED_PAYOUT


def rank(status: int) -> int:
    """The status's place in a transaction's life (higher never moves back to lower)."""
    if status == STATUS_REFUNDED:
        return 10_000
    if status >= STATUS_COMPLETE:
        return 1100 + status
    if status == STATUS_QUEUED_PAYOUT:
        return 1000
    if status < 0:
        return 500
    return 100 + status


def marker(status: int) -> datetime:
    """The order marker of a status (``provider_updated_at``, ``SubjectState.as_of``)."""
    return MARKER_EPOCH + timedelta(seconds=rank(status))


def parse_status(text: object) -> int:
    """A status as CoinPayments sends it (``"100"``, ``"-1"``, or a JSON int)."""
    if isinstance(text, bool):
        raise ValueError("status must be an integer")
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and text.isascii() and text.lstrip("-").isdigit() and len(text) <= 6:
        value = int(text)
    else:
        raise ValueError("status must be an integer")
    if not _MIN_STATUS <= value <= _MAX_STATUS:
        raise ValueError("status is out of range")
    return value


def parse_amount(value: object, what: str) -> Decimal:
    """A non-negative plain decimal (``"0.01000000"``); anything else is refused."""
    if isinstance(value, Decimal):
        value = format(value, "f")
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a decimal")
    return parse_decimal_text(value, what, allow_negative=False)


def currency(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a currency code")
    check_currency(value, what)
    return value


def reference_of(*candidates: object) -> str | None:
    """Our payment reference among the echoed fields (``invoice`` first, then ``custom``)."""
    for candidate in candidates:
        if isinstance(candidate, str) and payment_id_from_reference(candidate) is not None:
            return candidate
    return None


def underpaid(
    status: int, received: Decimal | None, asked: Decimal | None, coin: str
) -> str | None:
    """The underpayment reason, or None when the coin amount asked was received.

    While the transaction waits, nothing received yet is no underpayment (just waiting);
    a completion with less than asked is one, whatever was received.
    """
    if received is None or asked is None or received >= asked:
        return None
    if received == 0 and not is_complete(status):
        return None
    return f"underpaid: received {_plain(received)} of {_plain(asked)} {coin}"


def outcome(
    status: int, status_text: str | None, shortfall: str | None
) -> tuple[PaymentEventKind, SubjectStatus, str | None]:
    """What a status (and an underpayment) means for the flow: kind, state, reason."""
    text = _reason(status_text)
    if is_complete(status):
        if shortfall is not None:
            return PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING, shortfall
        return PaymentEventKind.CHECKOUT_COMPLETED, SubjectStatus.PAID, None
    if status == STATUS_REFUNDED:
        return PaymentEventKind.REFUNDED, SubjectStatus.REFUNDED, text or "refunded or reversed"
    if status == STATUS_TIMED_OUT:
        return (
            PaymentEventKind.CHECKOUT_EXPIRED,
            SubjectStatus.EXPIRED,
            text or "cancelled or timed out",
        )
    if status < 0:
        return PaymentEventKind.PAYMENT_FAILED, SubjectStatus.FAILED, text or f"failed ({status})"
    return PaymentEventKind.PAYMENT_PENDING, SubjectStatus.PENDING, shortfall or text


def event_from_ipn(fields: Mapping[str, str], now: datetime) -> PaymentEvent | None:
    """One verified IPN's form fields as a PaymentEvent (None for a non-payment IPN type).

    Raises ``ValueError`` (or a subclass) when a field cannot be read; the IPN verifier
    turns that into a refused callback.
    """
    if fields.get("ipn_type") not in PAYMENT_IPN_TYPES:
        return None
    txn_id = _required(fields, "txn_id")
    check_ident(txn_id, "txn_id")
    status = parse_status(_required(fields, "status"))
    price_currency = currency(_required(fields, "currency1"), "currency1")
    coin = currency(_required(fields, "currency2"), "currency2")
    amount1 = parse_amount(_required(fields, "amount1"), "amount1")
    amount2 = parse_amount(_required(fields, "amount2"), "amount2")
    received = _optional_amount(fields.get("received_amount"), "received_amount")
    kind, state, reason = outcome(
        status, fields.get("status_text"), underpaid(status, received, amount2, coin)
    )
    return PaymentEvent(
        gateway=GATEWAY,
        event_id=f"{txn_id}:{status}",
        kind=kind,
        subject=Subject(SubjectKind.CHECKOUT, txn_id),
        occurred_at=now,
        provider_updated_at=marker(status),
        status=state,
        provider_status=str(status),
        reference=reference_of(fields.get("invoice"), fields.get("custom")),
        amount=amount1,
        currency=price_currency,
        reason=reason,
        payload=dict(fields),
    )


def state_from_tx(txid: str, result: Mapping[str, Any]) -> SubjectState:
    """A ``get_tx_info`` (``full=1``) answer as the transaction's SubjectState.

    ``amountf``/``receivedf`` are the coin amounts; the price amount and currency and our
    reference come from the ``checkout`` block (what ``create_transaction`` was given)
    when CoinPayments includes it.
    """
    status = parse_status(result.get("status"))
    coin = currency(result.get("coin"), "coin")
    asked = _optional_amount(result.get("amountf"), "amountf")
    received = _optional_amount(result.get("receivedf"), "receivedf")
    text = result.get("status_text")
    _, state, reason = outcome(
        status, text if isinstance(text, str) else None, underpaid(status, received, asked, coin)
    )
    checkout = result.get("checkout")
    checkout = checkout if isinstance(checkout, Mapping) else {}
    price_currency = checkout.get("currency")
    price = checkout.get("amountf")
    has_price = isinstance(price_currency, str) and price is not None
    return SubjectState(
        subject=Subject(SubjectKind.CHECKOUT, txid),
        status=state,
        provider_status=str(status),
        as_of=marker(status),
        reference=reference_of(checkout.get("invoice"), checkout.get("custom")),
        amount=parse_amount(price, "checkout amount") if has_price else None,
        currency=currency(price_currency, "checkout currency") if has_price else None,
        reason=reason,
        payload=dict(result),
    )


def check_expected(event: PaymentEvent, amount: Decimal, currency_code: str) -> PaymentEvent:
    """``event`` if it pays ``amount`` in ``currency_code`` as asked, else a pending copy.

    CoinPayments buttons are plain HTML forms: anyone can pay our merchant id with our
    ``custom`` for less, and the IPN is then authentic. So a completion counts only when
    ``amount1``/``currency1`` equal what the payment row asked; otherwise the payment stays
    pending with the reason (the flow, which knows the row, calls this).
    """
    if event.kind is not PaymentEventKind.CHECKOUT_COMPLETED:
        return event
    if event.currency == currency_code and event.amount == amount:
        return event
    got = f"{_plain(event.amount)} {event.currency}" if event.amount is not None else "nothing"
    why = f"amount mismatch: paid {got}, asked {_plain(amount)} {currency_code}"
    return replace(
        event, kind=PaymentEventKind.PAYMENT_PENDING, status=SubjectStatus.PENDING, reason=why
    )


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        raise ValueError(f"{name} is missing")
    return value


def _optional_amount(value: object, what: str) -> Decimal | None:
    return None if value is None or value == "" else parse_amount(value, what)


def _reason(text: str | None) -> str | None:
    if not text:
        return None
    clean = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return clean[:MAX_REASON_LENGTH] or None


def _plain(value: Decimal | None) -> str:
    return "?" if value is None else format(value, "f")
