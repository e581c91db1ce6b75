"""Checkout: a ``pending`` payment row first, then the provider's checkout, then its id.

The row exists before the member leaves for the gateway, so every callback finds it (its
reference, ``sbpay_<id>``, travels with the checkout) and a checkout that was created but
never recorded here still resolves. ``create_checkout`` carries the row's idempotency key,
so a retried call creates nothing twice at the provider. A gateway that is inactive,
whose breaker is open or that cannot sell the plan is not offered; when creating the
checkout fails, the row is closed as ``failed`` with the reason and the member may choose
another gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.integrations.errors import IntegrationError
from signalbridge.integrations.redaction import redact
from signalbridge.payments.base import CheckoutRequest, SubjectStatus
from signalbridge.services.payments import plans
from signalbridge.services.payments.errors import NotFound, PaymentFlowError, Unavailable
from signalbridge.services.payments.gateways import GatewayDirectory, LiveGateway
from signalbridge.store import models as m
from signalbridge.store.db import transaction


@dataclass(frozen=True)
class Offer:
    """A gateway that can sell a plan now, in these currencies."""

    connection_id: int
    name: str
    type: str
    currencies: tuple[str, ...]


@dataclass(frozen=True)
class Started:
    """A checkout the member is sent to."""

    payment_id: int
    connection_id: int
    checkout_id: str
    redirect_url: str
    expires_at: datetime | None


def _request(
    plan: m.Plan,
    live: LiveGateway,
    currency: str,
    payment_id: int,
    user: m.User,
    urls: tuple[str, str],
) -> CheckoutRequest:
    prices = plans.price_map(plan)
    return CheckoutRequest(
        plan=plans.terms(plan, live.type, currency),
        price=prices[currency],
        currency=currency,
        payment_id=payment_id,
        user_id=user.id,
        success_url=urls[0],
        cancel_url=urls[1],
        email=user.email,
    )


async def offers(session: AsyncSession, directory: GatewayDirectory, plan_id: int) -> list[Offer]:
    """The usable gateways that can sell plan ``plan_id``, with the currencies each takes."""
    plan = await _sellable_plan(session, plan_id)
    out: list[Offer] = []
    for live in await directory.usable(session):
        currencies = tuple(
            code for code in plans.price_map(plan) if _refusal(plan, live, code) is None
        )
        if currencies:
            out.append(Offer(live.connection_id, live.name, live.type, currencies))
    return out


def _refusal(plan: m.Plan, live: LiveGateway, currency: str) -> str | None:
    terms = plans.terms(plan, live.type, currency)
    caps = live.gateway.capabilities
    if terms.recurring and not caps.subscriptions:
        return "this gateway does not sell recurring plans"
    if not terms.recurring and not caps.one_time:
        return "this gateway does not sell one-time plans"
    if terms.trial_days and not caps.trials:
        return "this gateway does not offer trials"
    if caps.currencies and currency not in caps.currencies:
        return f"this gateway does not take {currency}"
    return None


async def _sellable_plan(session: AsyncSession, plan_id: int) -> m.Plan:
    plan = await session.get(m.Plan, plan_id)
    if plan is None or not plan.is_active:
        raise NotFound(f"plan {plan_id} not found")
    return plan


async def start(
    sessions: async_sessionmaker[AsyncSession],
    directory: GatewayDirectory,
    *,
    user_id: int,
    plan_id: int,
    connection_id: int,
    currency: str,
    success_url: str,
    cancel_url: str,
) -> Started:
    """Write the pending row, create the provider's checkout, store its id; the redirect."""
    async with transaction(sessions) as session:
        plan = await _sellable_plan(session, plan_id)
        user = await session.get(m.User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        prices = plans.price_map(plan)
        if currency not in prices:
            raise PaymentFlowError(
                f"plan {plan_id} is not sold in {currency}; it is sold in {', '.join(prices)}"
            )
        if prices[currency] <= 0:
            raise PaymentFlowError(f"plan {plan_id} is free: there is nothing to pay")
        usable = {g.connection_id: g for g in await directory.usable(session)}
        live = usable.get(connection_id)
        if live is None:
            gateway_row = await session.get(m.PaymentGateway, connection_id)
            if gateway_row is None:
                raise NotFound(f"payment gateway {connection_id} not found")
            raise Unavailable(
                f"payment gateway {connection_id} is not available now; choose another"
            )
        refusal = _refusal(plan, live, currency)
        if refusal is not None:
            raise PaymentFlowError(refusal)
        payment = m.Payment(
            user_id=user.id,
            plan_id=plan.id,
            gateway=live.type,
            connection_id=live.connection_id,
            amount=prices[currency],
            currency=currency,
            status=SubjectStatus.PENDING.value,
        )
        session.add(payment)
        await session.flush()
        try:
            request = _request(plan, live, currency, payment.id, user, (success_url, cancel_url))
        except ValueError as exc:
            raise PaymentFlowError(str(exc)) from None
    try:
        checkout = await live.write(
            lambda: live.gateway.create_checkout(request), request.idempotency_key
        )
    except IntegrationError as exc:
        reason = redact(f"the gateway could not create the checkout: {exc.message}")[:1000]
        async with transaction(sessions) as session:
            payment_row = await session.get(m.Payment, payment.id)
            if payment_row is not None and payment_row.status == SubjectStatus.PENDING.value:
                payment_row.status = SubjectStatus.FAILED.value
                payment_row.reason = reason
        raise Unavailable(
            f"payment gateway {connection_id} could not start the checkout; choose another"
        ) from None
    async with transaction(sessions) as session:
        payment_row = await session.get(m.Payment, payment.id)
        if payment_row is not None:
            payment_row.checkout_id = checkout.provider_id
    return Started(
        payment.id, live.connection_id, checkout.provider_id, checkout.redirect_url,
        checkout.expires_at,
    )  # fmt: skip
