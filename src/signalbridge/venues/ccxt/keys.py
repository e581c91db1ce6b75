"""What the connection test answers for an API key, from the permissions the venue reports.

A key that can move funds out of the account (withdraw, or transfer internally or
universally) is refused: SignalBridge only ever trades. Where ccxt has no way to read a
key's permissions, the answer says they were not verified.
"""

from __future__ import annotations

from signalbridge.venues.base import MarketKind, ProbeResult
from signalbridge.venues.ccxt.quirks import KeyRights

WITHDRAW_REFUSAL = "this API key can withdraw funds; create a trade-only key"
TRANSFER_REFUSAL = (
    "this API key can transfer funds (internal or universal transfer); create a trade-only key"
)


def key_verdict(
    rights: KeyRights | None, latency_ms: float, exchange_id: str, kind: MarketKind
) -> ProbeResult:
    """The probe's answer for a key that authenticated, given what it may do."""
    if rights is None:
        return ProbeResult(
            True,
            latency_ms,
            True,
            False,
            f"key works; withdrawal permission could not be verified on {exchange_id}",
        )
    if rights.can_withdraw:
        return ProbeResult(False, latency_ms, rights.can_trade, True, WITHDRAW_REFUSAL)
    if rights.can_transfer:
        return ProbeResult(False, latency_ms, rights.can_trade, False, TRANSFER_REFUSAL)
    if not rights.can_trade:
        what = "spot trading" if kind is MarketKind.SPOT else "futures trading"
        return ProbeResult(
            False, latency_ms, False, False, f"this API key cannot trade: enable {what} for it"
        )
    return ProbeResult(
        True, latency_ms, True, False, "; ".join(("ok: trade-only key", *rights.notes))
    )
