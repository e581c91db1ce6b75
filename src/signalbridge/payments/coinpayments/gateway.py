"""The CoinPayments gateway: one-time plans paid in crypto, through the legacy API and IPN.

``create_checkout`` calls ``create_transaction`` (the plan's price in its currency as
``currency1``, the coin the buyer pays in as ``currency2``, our payment reference as both
``invoice`` and ``custom``, the configured ``ipn_url``) and sends the member to the
returned ``checkout_url``. The legacy API has no idempotency key: within one gateway the
same payment row gets the same checkout back without a second call, and a create whose
outcome is unknown raises ``AmbiguousOutcome`` rather than being sent again.

``verify_and_parse`` checks an IPN (:mod:`.ipn`) and turns it into one event
(:mod:`.convert`); ``fetch_state`` asks ``get_tx_info``. There is no event listing on this
API: reconciliation calls ``fetch_state`` for every pending transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Self

import httpx

from signalbridge.domain.bounds import NumberOutOfBounds
from signalbridge.integrations.errors import (
    AmbiguousOutcome,
    CallbackRejected,
    InvalidRequest,
)
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
from signalbridge.payments.coinpayments import convert, ipn
from signalbridge.payments.coinpayments import probe as probing
from signalbridge.payments.coinpayments.client import CoinPaymentsClient
from signalbridge.payments.coinpayments.config import CoinPaymentsConfig

#: Checkouts remembered per gateway for a repeated request of the same payment row.
REMEMBERED_CHECKOUTS = 1024


class CoinPaymentsGateway:
    """A :class:`~signalbridge.payments.base.PaymentGateway` for one merchant account."""

    type: ClassVar[str] = convert.GATEWAY

    def __init__(
        self,
        connection_id: str,
        config: CoinPaymentsConfig,
        client: CoinPaymentsClient,
        *,
        deps: GatewayDeps,
    ) -> None:
        self.connection_id = connection_id
        self.config = config
        self.client = client
        self.capabilities = GatewayCapabilities(
            subscriptions=False,
            one_time=True,
            event_listing=False,
            currencies=frozenset(config.price_currencies),
        )
        self._ipn_secret = config.ipn_secret.get_secret_value()
        self._clock = deps.clock
        self._checkouts: OrderedDict[str, Checkout] = OrderedDict()

    def __repr__(self) -> str:
        return f"CoinPaymentsGateway(connection_id={self.connection_id!r})"

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> Self:
        cfg = connection_config(
            CoinPaymentsConfig, config, secrets, vendor="CoinPayments", connection_id=connection_id
        )
        private_key = cfg.private_key.get_secret_value()
        register_secret(private_key)
        register_secret(cfg.ipn_secret.get_secret_value())
        client = CoinPaymentsClient(
            base_url=cfg.base_url,
            public_key=cfg.public_key,
            private_key=private_key,
            http=_guarded_client(deps, connection_id),
            timeout=cfg.timeout,
            connection_id=connection_id,
        )
        return cls(connection_id, cfg, client, deps=deps)

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        refusal = self.capabilities.refusal(req)
        if refusal:
            raise InvalidRequest(refusal, connection_id=self.connection_id)
        coin = req.pay_currency or self.config.default_coin
        if coin not in self.config.accepted_coins:
            raise InvalidRequest(
                f"CoinPayments here takes {', '.join(self.config.accepted_coins)}, not {coin}",
                connection_id=self.connection_id,
            )
        if req.email is None:
            raise InvalidRequest(
                "CoinPayments needs the buyer's email address", connection_id=self.connection_id
            )
        known = self._checkouts.get(req.idempotency_key)
        if known is not None:
            return known
        result = await self.client.create_transaction(self._fields(req, coin))
        checkout = self._checkout(result)
        self._checkouts[req.idempotency_key] = checkout
        while len(self._checkouts) > REMEMBERED_CHECKOUTS:
            self._checkouts.popitem(last=False)
        return checkout

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        fields = ipn.verify(
            raw_body, headers, ipn_secret=self._ipn_secret, merchant_id=self.config.merchant_id
        )
        try:
            event = convert.event_from_ipn(fields, now)
        except (NumberOutOfBounds, ValueError) as exc:
            raise CallbackRejected(
                f"the IPN cannot be read: {exc}",
                reason="malformed",
                connection_id=self.connection_id,
            ) from None
        return [] if event is None else [event]

    async def fetch_state(self, subject: Subject) -> SubjectState:
        if subject.kind is not SubjectKind.CHECKOUT:
            raise InvalidRequest(
                f"CoinPayments has no {subject.kind.value} objects",
                connection_id=self.connection_id,
            )
        result = await self.client.get_tx_info(subject.id, full=True)
        try:
            return convert.state_from_tx(subject.id, result)
        except (NumberOutOfBounds, ValueError) as exc:
            raise InvalidRequest(
                f"CoinPayments described transaction {subject.id} in a way we cannot read: {exc}",
                connection_id=self.connection_id,
            ) from None

    async def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        """Nothing: the legacy API lists no events (``capabilities.event_listing`` is off)."""
        listed: tuple[PaymentEvent, ...] = ()
        for event in listed:
            yield event

    async def close(self) -> None:
        await self.client.aclose()

    async def probe(self) -> GatewayProbe:
        """The connection test (``ProbesAccount``): ``get_basic_info`` (see :mod:`.probe`)."""
        return await probing.probe(self.client, self.config.merchant_id)

    def _fields(self, req: CheckoutRequest, coin: str) -> dict[str, str]:
        fields = {
            "amount": format(req.price, "f"),
            "currency1": req.currency,
            "currency2": coin,
            "buyer_email": req.email or "",
            "item_name": req.plan.name,
            "item_number": str(req.plan.plan_id),
            "invoice": req.reference,
            "custom": req.reference,
            "success_url": req.success_url,
            "cancel_url": req.cancel_url,
        }
        if self.config.ipn_url:
            fields["ipn_url"] = self.config.ipn_url
        return fields

    def _checkout(self, result: Mapping[str, Any]) -> Checkout:
        """The created transaction as a Checkout; an answer we cannot use leaves the outcome
        unknown (a transaction may exist), hence AmbiguousOutcome."""
        try:
            txn_id = result["txn_id"]
            url = result.get("checkout_url") or result["status_url"]
            timeout = result.get("timeout")
            expires = (
                self._clock() + timedelta(seconds=int(timeout))
                if isinstance(timeout, int | str | Decimal) and str(timeout).isdigit()
                else None
            )
            return Checkout(str(txn_id), SubjectKind.CHECKOUT, str(url), expires)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise AmbiguousOutcome(
                f"CoinPayments created a transaction we cannot read ({type(exc).__name__}); "
                "look the payment up before creating another",
                connection_id=self.connection_id,
            ) from None


def _guarded_client(deps: GatewayDeps, connection_id: str) -> httpx.AsyncClient:
    """The connection's client from the kernel's factory, always behind the SSRF guard:
    the base URL is configurable, so every connection is checked against the operator's
    allow-list (tests allow loopback for the fake as other adapter tests do)."""
    factory = deps.http_factory or HttpClientFactory()
    client: httpx.AsyncClient = factory.create(connection_id, user_url=True)
    return client
