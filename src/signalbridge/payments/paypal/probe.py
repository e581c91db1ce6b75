"""The PayPal connection test: an OAuth2 token fetched with the app's credentials.

``POST /v1/oauth2/token`` is the one call that proves a client id and secret (every other
call uses the token it gives). Sandbox or live is where the credentials work: PayPal keeps
the two apart (a sandbox app is refused by the live host and the other way round), so the
base URL says it: ``api-m.sandbox.paypal.com`` is the sandbox, ``api-m.paypal.com`` live
(and their legacy ``api.`` names). Any other base URL (a fake, a proxy) leaves it unknown.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from signalbridge.integrations.errors import IntegrationError
from signalbridge.payments.base import GatewayProbe
from signalbridge.payments.paypal.auth import AccessTokens

__all__ = ["probe", "sandbox_of"]

SANDBOX_HOSTS = frozenset({"api-m.sandbox.paypal.com", "api.sandbox.paypal.com"})
LIVE_HOSTS = frozenset({"api-m.paypal.com", "api.paypal.com"})


def sandbox_of(base_url: str) -> bool | None:
    """True for PayPal's sandbox host, False for its live host, None for any other."""
    host = (urlsplit(base_url).hostname or "").rstrip(".").lower()
    if host in SANDBOX_HOSTS:
        return True
    if host in LIVE_HOSTS:
        return False
    return None


async def probe(tokens: AccessTokens, base_url: str) -> GatewayProbe:
    """A fresh token; a refusal is ``ok=False`` with PayPal's reason (never the secret)."""
    sandbox = sandbox_of(base_url)
    try:
        await tokens.renew()
    except IntegrationError as exc:
        return GatewayProbe.failed(exc, sandbox)
    if sandbox is None:
        where = "test or live unknown: the base URL is neither PayPal's sandbox nor live host"
    else:
        where = "the sandbox" if sandbox else "live"
    return GatewayProbe(True, f"PayPal accepted the client credentials: {where}", sandbox)
