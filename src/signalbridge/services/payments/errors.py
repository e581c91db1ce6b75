"""What the payment flow refuses, worded for the member or admin who asked."""

from __future__ import annotations


class PaymentFlowError(Exception):
    """A refusal whose ``message`` is safe to show; nothing was changed."""

    status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PaymentFlowError):
    """No such row, or not the caller's (the two read alike)."""

    status = 404


class Unavailable(PaymentFlowError):
    """The gateway cannot be used now (inactive, breaker open, failing): try another."""

    status = 503


class Conflict(PaymentFlowError):
    """The row is in a state that does not allow this (e.g. refunding an unpaid payment)."""

    status = 409
