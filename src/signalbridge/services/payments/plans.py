"""Plans: what is sold, validated before it is stored, and read back as gateway terms.

A plan has a price per currency (``prices``, exact decimal strings such as
``{"USD": "19.00"}``), an interval (``BillingInterval``) and an interval count, trial
days, the channels it includes, an active flag and, per gateway type, the provider's own
price ids (``gateway_prices``: ``{"stripe": "price_…"}`` or per currency
``{"stripe": {"USD": "price_…"}}``). ``price`` and ``currency`` keep the first price, so
plans written by the older admin route (one price, no ``prices``) sell that one price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.bounds import PositiveStoreDecimal, coerce_storable
from signalbridge.payments.base import BillingInterval, PlanTerms
from signalbridge.payments.checks import check_currency, check_ident
from signalbridge.services import audit
from signalbridge.services.payments.errors import Conflict, NotFound, PaymentFlowError
from signalbridge.store import models as m

MAX_CURRENCIES = 20
MAX_CHANNELS = 1000

GatewayPrices = dict[str, str | dict[str, str]]


class PlanSpec(BaseModel):
    """A plan as an admin writes it; every field checked, nothing stored that cannot be sold."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    prices: dict[str, PositiveStoreDecimal] = Field(min_length=1, max_length=MAX_CURRENCIES)
    interval: BillingInterval = BillingInterval.MONTH
    interval_count: int = Field(default=1, ge=1, le=365)
    trial_days: int = Field(default=0, ge=0, le=730)
    channel_ids: list[Annotated[int, Field(ge=1, lt=2**63)]] = Field(
        default_factory=list, max_length=MAX_CHANNELS
    )
    gateway_prices: GatewayPrices = Field(default_factory=dict, max_length=20)
    is_active: bool = True

    @field_validator("prices")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code in value:
            check_currency(code, f"currency {code[:12]!r}")
        return value

    @field_validator("gateway_prices")
    @classmethod
    def _price_ids(cls, value: GatewayPrices) -> GatewayPrices:
        for gateway, ids in value.items():
            check_ident(gateway, "gateway type")
            if isinstance(ids, str):
                check_ident(ids, f"{gateway} price id")
                continue
            if len(ids) > MAX_CURRENCIES:
                raise ValueError(f"{gateway}: at most {MAX_CURRENCIES} currencies")
            for code, price_id in ids.items():
                check_currency(code, f"{gateway} price currency")
                check_ident(price_id, f"{gateway} price id for {code}")
        return value

    @model_validator(mode="after")
    def _trial(self) -> PlanSpec:
        if self.interval is BillingInterval.ONE_TIME and self.trial_days:
            raise ValueError("a one-time plan has no trial")
        return self


def price_map(plan: m.Plan) -> dict[str, Decimal]:
    """The plan's price per currency (the older single ``price``/``currency`` if no map)."""
    if plan.prices:
        return {code: coerce_storable(text, code) for code, text in plan.prices.items()}
    return {plan.currency: plan.price}


def provider_price_id(plan: m.Plan, gateway_type: str, currency: str) -> str | None:
    ids = (plan.gateway_prices or {}).get(gateway_type)
    if isinstance(ids, str):
        return ids
    if isinstance(ids, Mapping):
        found = ids.get(currency)
        return str(found) if found is not None else None
    return None


def terms(plan: m.Plan, gateway_type: str, currency: str) -> PlanTerms:
    """What a gateway is asked to sell for ``plan`` in ``currency``."""
    return PlanTerms(
        plan_id=plan.id,
        name=plan.name,
        interval=BillingInterval(plan.interval),
        interval_count=plan.interval_count or 1,
        trial_days=plan.trial_days or 0,
        provider_price_id=provider_price_id(plan, gateway_type, currency),
    )


def _columns(spec: PlanSpec) -> dict[str, Any]:
    first_code, first_price = next(iter(spec.prices.items()))
    return {
        "name": spec.name,
        "prices": {code: format(amount, "f") for code, amount in spec.prices.items()},
        "price": first_price,
        "currency": first_code,
        "interval": spec.interval.value,
        "interval_count": spec.interval_count,
        "trial_days": spec.trial_days,
        "channel_ids": list(dict.fromkeys(spec.channel_ids)),
        "gateway_prices": spec.gateway_prices,
        "is_active": spec.is_active,
    }


async def _check_channels(session: AsyncSession, channel_ids: Sequence[int]) -> None:
    if not channel_ids:
        return
    found = set(
        (
            await session.scalars(
                select(m.ChannelSource.id).where(m.ChannelSource.id.in_(list(channel_ids)))
            )
        ).all()
    )
    missing = [i for i in channel_ids if i not in found]
    if missing:
        raise PaymentFlowError(f"no channel with id {', '.join(map(str, missing[:10]))}")


async def create(
    session: AsyncSession, spec: PlanSpec, *, actor: str, actor_id: int | None
) -> m.Plan:
    """Store a new plan (audited); a name in use is a :class:`Conflict`."""
    await _check_channels(session, spec.channel_ids)
    values = _columns(spec)
    plan = m.Plan(**values)
    try:
        async with session.begin_nested():
            session.add(plan)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a plan named {spec.name!r} exists already") from None
    await audit.record(
        session,
        actor=actor,
        actor_id=actor_id,
        action="create",
        entity="plan",
        entity_id=plan.id,
        changes=_plain(values),
    )
    return plan


async def update(
    session: AsyncSession, plan_id: int, spec: PlanSpec, *, actor: str, actor_id: int | None
) -> m.Plan:
    """Replace a plan's terms (audited with the difference)."""
    plan = await session.get(m.Plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id} not found")
    await _check_channels(session, spec.channel_ids)
    values = _columns(spec)
    before = {key: getattr(plan, key) for key in values}
    try:
        async with session.begin_nested():
            for key, value in values.items():
                setattr(plan, key, value)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a plan named {spec.name!r} exists already") from None
    await audit.record(
        session,
        actor=actor,
        actor_id=actor_id,
        action="update",
        entity="plan",
        entity_id=plan.id,
        changes=_plain(audit.diff(_plain(before), _plain(values))),
    )
    return plan


async def listing(session: AsyncSession, *, active_only: bool) -> list[m.Plan]:
    query = select(m.Plan).order_by(m.Plan.id)
    if active_only:
        query = query.where(m.Plan.is_active.is_(True))
    return list((await session.scalars(query)).all())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
