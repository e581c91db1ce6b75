"""The provider's billing page for a member's subscription (``CustomerPortal``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.integrations.errors import IntegrationError
from signalbridge.payments.base import CustomerPortal
from signalbridge.payments.checks import check_url
from signalbridge.services.payments.errors import PaymentFlowError, Unavailable
from signalbridge.services.payments.gateways import GatewayDirectory
from signalbridge.store import models as m


async def portal_url(
    session: AsyncSession,
    directory: GatewayDirectory,
    subscription: m.Subscription,
    return_url: str,
) -> str:
    """A one-time link to the provider's page where the member manages this subscription.

    The gateway row is read in the caller's ``session`` (one SQLite connection: a second
    session here would wait for the first forever)."""
    try:
        check_url(return_url, "return_url")
    except ValueError as exc:
        raise PaymentFlowError(str(exc)) from None
    if subscription.connection_id is None or not subscription.customer_id:
        raise PaymentFlowError("this subscription has no billing page at its gateway")
    row = await session.get(m.PaymentGateway, subscription.connection_id)
    if row is None:
        raise PaymentFlowError("this subscription's gateway connection no longer exists")
    live = await directory.live(row)
    gateway = live.gateway
    if not live.gateway.capabilities.customer_portal or not isinstance(gateway, CustomerPortal):
        raise PaymentFlowError(f"{live.type} has no customer billing page")
    customer = subscription.customer_id
    try:
        return await live.read(lambda: gateway.portal_url(customer, return_url))
    except IntegrationError:
        raise Unavailable("the gateway could not open the billing page now; try again") from None
