"""The Stripe PaymentGateway (and CustomerPortal, ProbesAccount): Checkout Sessions, signed
webhooks, the events list, the billing portal, the connection test.

One instance per ``payment_gateways`` row, built by :meth:`StripeGateway.from_config`
from the row's config and its opened secrets. Every call to Stripe goes through the
official library (:mod:`.client`) on a kernel-built HTTP client; every POST carries an
idempotency key (:attr:`CheckoutRequest.idempotency_key` for a checkout), so a retried
checkout creates nothing twice. Retries, breakers and rate limits are the kernel's job.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from signalbridge.integrations.errors import InvalidRequest, TransientError
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.redaction import register_secret
from signalbridge.integrations.registry import connection_config
from signalbridge.payments.base import (
    Checkout,
    CheckoutRequest,
    GatewayCapabilities,
    GatewayDeps,
    GatewayProbe,
    PaymentEvent,
    Subject,
    SubjectKind,
    SubjectState,
)
from signalbridge.payments.checks import check_url
from signalbridge.payments.stripe import convert, webhook
from signalbridge.payments.stripe import probe as probing
from signalbridge.payments.stripe.client import StripeApi
from signalbridge.payments.stripe.config import StripeConfig, webhook_secrets

__all__ = ["StripeGateway"]

#: Where ``fetch_state`` looks a subject up, by the id's prefix.
_PAYMENT_PREFIXES = {"in_": "invoice", "ch_": "charge", "py_": "charge"}


class StripeGateway:
    """One Stripe account: the ``PaymentGateway`` and ``CustomerPortal`` protocols."""

    type: ClassVar[str] = "stripe"
    capabilities = GatewayCapabilities(
        subscriptions=True,
        one_time=True,
        trials=True,
        refunds=True,
        customer_portal=True,
        event_listing=True,
    )

    def __init__(
        self,
        connection_id: str,
        api: StripeApi,
        *,
        webhook_secrets: tuple[str, ...],
        tolerance: timedelta,
        fees: convert.FeeRule,
        deps: GatewayDeps,
        price_ids: Mapping[str, str] | None = None,
        product_prefix: str = "",
    ) -> None:
        if not webhook_secrets:
            raise ValueError("a Stripe gateway needs a webhook secret")
        self.connection_id = connection_id
        self.api = api
        self.fees = fees
        self.tolerance = tolerance
        self._secrets = webhook_secrets
        self._deps = deps
        self._price_ids = dict(price_ids or {})
        self._product_prefix = product_prefix

    def __repr__(self) -> str:
        return f"StripeGateway(connection_id={self.connection_id!r})"

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> Self:
        """Build from a connection row: public ``config`` and opened ``secrets``."""
        cfg = connection_config(
            StripeConfig, config, secrets, vendor="Stripe", connection_id=connection_id
        )
        api_key = cfg.api_key.get_secret_value()
        found = webhook_secrets(cfg.webhook_secret.get_secret_value())
        for secret in (api_key, *found):
            register_secret(secret)
        factory = deps.http_factory or HttpClientFactory()
        http = factory.create(
            connection_id,
            user_url=True,  # the base URL is configurable: guard every hop
            config=factory.config.with_(total_timeout=cfg.timeout),
        )
        api = StripeApi(
            api_key=api_key,
            base_url=cfg.base_url,
            http=http,
            connection_id=connection_id,
            stripe_version=cfg.stripe_version,
        )
        return cls(
            connection_id,
            api,
            webhook_secrets=found,
            tolerance=timedelta(seconds=cfg.webhook_tolerance_seconds),
            fees=convert.FeeRule(cfg.fee_rate, cfg.fixed_fee),
            deps=deps,
            price_ids=cfg.price_ids,
            product_prefix=cfg.product_name_prefix,
        )

    # --- PaymentGateway ------------------------------------------------------------------

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        """A hosted Checkout Session for ``req``, created once per ``req.idempotency_key``."""
        refusal = self.capabilities.refusal(req)
        if refusal:
            raise InvalidRequest(refusal, connection_id=self.connection_id)
        price_id = req.plan.provider_price_id or self._price_ids.get(str(req.plan.plan_id))
        try:
            params = convert.checkout_params(
                req, price_id=price_id, product_prefix=self._product_prefix
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc), connection_id=self.connection_id) from None
        session = await self.api.create_checkout_session(
            params, idempotency_key=req.idempotency_key
        )
        try:
            return convert.checkout_of(session)
        except ValueError as exc:
            raise TransientError(
                f"Stripe answered the checkout with an unusable session: {exc}",
                connection_id=self.connection_id,
            ) from None

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        webhook.verify(raw_body, headers, self._secrets, now, self.tolerance)
        return webhook.parse_event(raw_body, self.fees)

    async def fetch_state(self, subject: Subject) -> SubjectState:
        """The object behind ``subject`` as Stripe has it now; ``as_of`` is the answer time."""
        obj = await self._retrieve(subject)
        balance_transaction = None
        intent = convert.invoice_payment_intent(obj) if obj.get("object") == "invoice" else None
        if intent is not None and obj.get("status") == "paid":
            paid_by = await self.api.retrieve_payment_intent(intent)
            balance_transaction = convert.intent_balance_transaction(paid_by)
        as_of = self._deps.clock()
        try:
            return convert.state_of(subject, obj, as_of, self.fees, balance_transaction)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            raise TransientError(
                f"Stripe answered {subject.kind.value} {subject.id} with an unusable object: {exc}",
                connection_id=self.connection_id,
            ) from None

    async def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        """Events of the types we act on since ``since``, oldest first.

        An event the gateway cannot read is skipped here (a webhook delivery of it would be
        refused); the listing is for finding what was missed, not for judging it.
        """
        for raw in await self.api.events(since, convert.EVENT_TYPES):
            try:
                event = convert.event_of(raw, self.fees)
            except (ValueError, TypeError, KeyError, ArithmeticError):
                continue
            if event is not None:
                yield event

    async def close(self) -> None:
        await self.api.aclose()

    # --- ProbesAccount ----------------------------------------------------------------------

    async def probe(self) -> GatewayProbe:
        """The connection test: ``GET /v1/balance`` with the key (see :mod:`.probe`)."""
        return await probing.probe(self.api)

    # --- CustomerPortal -------------------------------------------------------------------

    async def portal_url(self, customer_id: str, return_url: str) -> str:
        """A billing-portal session for ``customer_id`` (``cus_…``): its one-time URL."""
        check_url(return_url, "return_url")
        if not customer_id.startswith("cus_"):
            raise InvalidRequest(
                "a Stripe customer id starts with cus_", connection_id=self.connection_id
            )
        session = await self.api.create_portal_session(
            customer_id, return_url, idempotency_key=f"sbportal_{uuid.uuid4().hex}"
        )
        url = session.get("url")
        if not isinstance(url, str):
            raise TransientError(
                "Stripe answered the portal session without a url", connection_id=self.connection_id
            )
        check_url(url, "portal url")
        return url

    async def _retrieve(self, subject: Subject) -> dict[str, Any]:
        if subject.kind is SubjectKind.CHECKOUT:
            return await self.api.retrieve_checkout_session(subject.id)
        if subject.kind is SubjectKind.SUBSCRIPTION:
            return await self.api.retrieve_subscription(subject.id)
        which = next(
            (kind for prefix, kind in _PAYMENT_PREFIXES.items() if subject.id.startswith(prefix)),
            None,
        )
        if which == "invoice":
            return await self.api.retrieve_invoice(subject.id)
        if which == "charge":
            return await self.api.retrieve_charge(subject.id)
        raise InvalidRequest(
            f"a Stripe payment subject is an invoice (in_…) or a charge (ch_…), not {subject.id!r}",
            connection_id=self.connection_id,
        )
