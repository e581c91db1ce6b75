"""The PayPal gateway: Orders v2 for one-time plans, Subscriptions for recurring ones.

One instance per ``payment_gateways`` row. All HTTP goes through the kernel's
``HttpClientFactory`` with the SSRF guard on (the base URL is configured, the cert URL comes
from the request). PayPal keeps no event history we rely on (see README, "PayPal"), so
``event_listing`` is off and reconciliation asks :meth:`PayPalGateway.fetch_state`.

One step is PayPal's own: an approved order must be *captured* by the merchant. By default
(``capture_on_approval``) :meth:`PayPalGateway.verify_and_parse` does it: an authentic
``CHECKOUT.ORDER.APPROVED`` for one of our orders gives the approval's event and the
capture's, so the flow needs no PayPal-specific step; a capture that fails transiently
raises, the flow answers 503 and PayPal delivers the approval again (the capture's request
id is derived from the approval, so the retry cannot charge twice). The same step is open
to a flow through the optional :class:`CompletesApproval` protocol: a flow that finds the
gateway implements it may call :meth:`~CompletesApproval.complete_approval` for each event
and store what it returns (event ids derived from the capture: calling twice is harmless).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import httpx

from signalbridge.integrations.errors import (
    CallbackRejected,
    InvalidRequest,
    TransientError,
)
from signalbridge.integrations.http import HttpClientFactory
from signalbridge.integrations.registry import connection_config
from signalbridge.payments.base import (
    Checkout,
    CheckoutRequest,
    GatewayCapabilities,
    GatewayDeps,
    GatewayProbe,
    PaymentEvent,
    PaymentEventKind,
    Subject,
    SubjectKind,
    SubjectState,
    SubjectStatus,
)
from signalbridge.payments.paypal import convert, errors, webhook
from signalbridge.payments.paypal import probe as probing
from signalbridge.payments.paypal.auth import AccessTokens
from signalbridge.payments.paypal.client import PayPalClient, segment
from signalbridge.payments.paypal.config import PayPalConfig


@runtime_checkable
class CompletesApproval(Protocol):
    """A gateway whose buyer approval needs a merchant call to become a payment (PayPal's
    capture). Optional: the flow checks ``isinstance(gateway, CompletesApproval)``."""

    async def complete_approval(self, event: PaymentEvent) -> list[PaymentEvent]:
        """Act on ``event`` if it is an approval awaiting completion; the resulting events
        (``[]`` when there is nothing to do). Safe to call again for the same event."""
        ...


class PayPalGateway:
    """One PayPal REST app. Methods raise only :mod:`signalbridge.integrations.errors`."""

    type: ClassVar[str] = "paypal"
    capabilities = GatewayCapabilities(
        subscriptions=True,
        one_time=True,
        trials=True,  # a trial is a TRIAL billing cycle of the PayPal plan itself
        refunds=False,
        customer_portal=False,
        event_listing=False,
        currencies=convert.CURRENCIES,
    )

    def __init__(
        self,
        connection_id: str,
        config: PayPalConfig,
        *,
        api: httpx.AsyncClient,
        certs: httpx.AsyncClient,
        deps: GatewayDeps,
    ) -> None:
        self.connection_id = connection_id
        self.config = config
        self._clock = deps.clock
        self._api_http = api
        self._cert_http = certs
        tokens = AccessTokens(
            api,
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            margin=timedelta(seconds=config.token_margin_seconds),
            clock=deps.clock,
            connection_id=connection_id,
        )
        self.client = PayPalClient(api, tokens, connection_id=connection_id)
        self.certificates = webhook.CertificateCache(self._fetch_cert, config.cert_cn_suffixes)
        self._tolerance = timedelta(seconds=config.tolerance_seconds)

    def __repr__(self) -> str:
        base = self.config.base_url
        return f"PayPalGateway(connection_id={self.connection_id!r}, base_url={base!r})"

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: GatewayDeps,
    ) -> Self:
        """The registry's factory: public config plus the opened secrets."""
        cfg = connection_config(
            PayPalConfig, config, secrets, vendor="PayPal", connection_id=connection_id
        )
        factory = deps.http_factory or HttpClientFactory()
        api = factory.create(connection_id, base_url=cfg.base_url, user_url=True)
        cert_config = factory.config.with_(
            max_response_bytes=webhook.MAX_CERT_BYTES, follow_redirects=False
        )
        certs = factory.create(f"{connection_id}:certs", config=cert_config, user_url=True)
        return cls(connection_id, cfg, api=api, certs=certs, deps=deps)

    # --- checkout ----------------------------------------------------------------------

    async def create_checkout(self, req: CheckoutRequest) -> Checkout:
        """An order (one-time) or a subscription (recurring), keyed by ``req.idempotency_key``."""
        refusal = self.capabilities.refusal(req)
        if refusal:
            raise InvalidRequest(refusal, connection_id=self.connection_id)
        prefix, brand = self.config.reference_prefix, self.config.brand_name
        if req.plan.recurring:
            plan_id = req.plan.provider_price_id or self.config.plan_ids.get(str(req.plan.plan_id))
            if not plan_id or not plan_id.startswith("P-"):
                raise InvalidRequest(
                    f"plan {req.plan.plan_id} has no PayPal billing plan (P-…): set its "
                    "provider price id or the connection's plan_ids",
                    connection_id=self.connection_id,
                )
            body = convert.subscription_body(req, plan_id, prefix=prefix, brand_name=brand)
            path, kind, what = "/v1/billing/subscriptions", SubjectKind.SUBSCRIPTION, "subscription"
        else:
            try:
                body = convert.order_body(req, prefix=prefix, brand_name=brand)
            except ValueError as exc:
                raise InvalidRequest(str(exc), connection_id=self.connection_id) from None
            path, kind, what = "/v2/checkout/orders", SubjectKind.CHECKOUT, "order"
        answer = await self.client.post(
            path, body, request_id=req.idempotency_key, what=f"creating the {what}"
        )
        try:
            return Checkout(str(answer.get("id") or ""), kind, convert.redirect_link(answer))
        except ValueError as exc:
            raise TransientError(
                f"PayPal's {what} answer cannot be used: {exc}", connection_id=self.connection_id
            ) from None

    async def capture(self, order_id: str, *, request_id: str | None = None) -> dict[str, Any]:
        """Capture an approved order (``POST …/capture``); the order as PayPal returns it.

        The request id is derived (from the order, or from the approval being completed),
        so a repeated capture is a replay PayPal answers with the first result; PayPal also
        refuses a second capture of a captured order (``ORDER_ALREADY_CAPTURED``).
        """
        key = request_id or f"sb-capture-{order_id}"
        return await self.client.post(
            f"/v2/checkout/orders/{segment(order_id)}/capture",
            {},
            request_id=key if len(key) <= 100 else hashlib.sha256(key.encode()).hexdigest(),
            what="capturing the order",
            prefer="return=representation",
        )

    async def complete_approval(self, event: PaymentEvent) -> list[PaymentEvent]:
        """Capture the order an approval event is about; the capture's events.

        ``[]`` for any other event, and for an order PayPal says is not approved yet. An
        order captured before (``ORDER_ALREADY_CAPTURED``) is read instead, so the events are
        the same either way. A declined funding source, or any other refusal retrying
        cannot fix, gives a ``PAYMENT_FAILED`` event; transient failures raise.
        """
        if not (
            event.gateway == self.type
            and event.kind is PaymentEventKind.PAYMENT_PENDING
            and event.subject.kind is SubjectKind.CHECKOUT
            and event.provider_status == "APPROVED"
            and event.reference is not None  # never capture another app's order
            and event.payload.get("resource", {}).get("intent", "CAPTURE") == "CAPTURE"
        ):
            return []
        order_id = event.subject.id
        try:
            # Keyed by the approval: its redelivery replays the same capture, while a new
            # approval (the buyer chose another funding source) is a new attempt.
            order = await self.capture(
                order_id, request_id=f"sb-capture-{order_id}-{event.event_id}"
            )
        except errors.PayPalRefusal as exc:
            if exc.issue == "ORDER_ALREADY_CAPTURED":
                order = await self._get_order(order_id)
            elif exc.issue == "ORDER_NOT_APPROVED":
                return []
            else:
                # INSTRUMENT_DECLINED (the buyer may approve again with another source) or
                # any refusal retrying cannot fix: say so rather than fail the delivery
                # PayPal would then send 25 times.
                return [self._refused(event, exc)]
        return self._capture_events(order, event.reference)

    # --- callbacks ---------------------------------------------------------------------

    async def verify_and_parse(
        self, raw_body: bytes, headers: Mapping[str, str], now: datetime
    ) -> list[PaymentEvent]:
        transmission = webhook.read_transmission(headers)
        body = webhook.read_body(raw_body)
        webhook.check_time(transmission, now, self._tolerance)
        problem = webhook.cert_url_problem(
            transmission.cert_url, self.config.cert_hosts, https_only=self.config.cert_https_only
        )
        if problem is not None:
            raise CallbackRejected(problem, reason="signature", connection_id=self.connection_id)
        if self.config.verification == "online":
            await self._verify_online(transmission, raw_body)
        else:
            key = await self.certificates.public_key(transmission.cert_url, now)
            message = webhook.signed_message(
                transmission.id, transmission.time_text, self.config.webhook_id, raw_body
            )
            webhook.verify_offline(key, transmission.signature, message)
        try:
            events = convert.events_from_webhook(body, prefix=self.config.reference_prefix)
        except (ValueError, TypeError) as exc:
            raise CallbackRejected(
                f"the event cannot be read: {exc}",
                reason="malformed",
                connection_id=self.connection_id,
            ) from None
        if self.config.capture_on_approval:
            for event in list(events):
                events += await self.complete_approval(event)
        return events

    async def _verify_online(self, transmission: webhook.Transmission, raw_body: bytes) -> None:
        body = webhook.postback_body(transmission, self.config.webhook_id, raw_body)
        # Keyed by everything sent: a forged delivery reusing a real transmission id must
        # not make PayPal replay its FAILURE to the real one.
        answer = await self.client.post(
            webhook.VERIFY_PATH,
            body,
            request_id=f"sb-verify-{hashlib.sha256(body).hexdigest()}",
            what="verifying a webhook",
        )
        if answer.get("verification_status") != "SUCCESS":
            raise CallbackRejected(
                "PayPal did not confirm the webhook signature",
                reason="signature",
                connection_id=self.connection_id,
            )

    async def _fetch_cert(self, url: str) -> bytes:
        try:
            response = await self._cert_http.get(url)
        except httpx.HTTPError as exc:
            raise errors.transport_error(
                exc, what="fetching the certificate", connection_id=self.connection_id
            ) from None
        if response.status_code != 200:
            raise TransientError(
                f"PayPal's cert URL answered {response.status_code}",
                connection_id=self.connection_id,
            )
        return response.content

    # --- state -------------------------------------------------------------------------

    async def fetch_state(self, subject: Subject) -> SubjectState:
        now = self._clock()
        prefix = self.config.reference_prefix
        try:
            if subject.kind is SubjectKind.CHECKOUT:
                return convert.order_state(await self._get_order(subject.id), now, prefix)
            if subject.kind is SubjectKind.SUBSCRIPTION:
                sub = await self.client.get(
                    f"/v1/billing/subscriptions/{segment(subject.id)}",
                    what="reading a subscription",
                )
                return convert.subscription_state(sub, now, prefix)
            capture = await self.client.get_or_none(
                f"/v2/payments/captures/{segment(subject.id)}", what="reading a capture"
            )
            if capture is not None:
                return convert.capture_state(capture, now, prefix)
            sale = await self.client.get(
                f"/v1/payments/sale/{segment(subject.id)}", what="reading a sale"
            )
            return convert.sale_state(sale, now, prefix)
        except ValueError as exc:
            raise TransientError(
                f"PayPal's {subject.kind} answer cannot be read: {exc}",
                connection_id=self.connection_id,
            ) from None

    async def cancel_subscription(self, subscription_id: str, reason: str) -> None:
        """``POST /v1/billing/subscriptions/{id}/cancel`` (PayPal answers 204)."""
        await self.client.post(
            f"/v1/billing/subscriptions/{segment(subscription_id)}/cancel",
            {"reason": reason[:127] or "cancelled"},
            request_id=f"sb-cancel-{subscription_id}",
            what="cancelling the subscription",
        )

    def list_events(self, since: datetime) -> AsyncIterator[PaymentEvent]:
        """Empty: PayPal's event listing is not relied on (capabilities say so)."""
        return _no_events()

    async def close(self) -> None:
        await self._api_http.aclose()
        await self._cert_http.aclose()

    async def probe(self) -> GatewayProbe:
        """The connection test (``ProbesAccount``): a fresh OAuth2 token (see :mod:`.probe`)."""
        return await probing.probe(self.client.tokens, self.config.base_url)

    # --- helpers -----------------------------------------------------------------------

    async def _get_order(self, order_id: str) -> dict[str, Any]:
        return await self.client.get(
            f"/v2/checkout/orders/{segment(order_id)}", what="reading an order"
        )

    def _capture_events(
        self, order: Mapping[str, Any], reference: str | None
    ) -> list[PaymentEvent]:
        now = self._clock()
        fallback = convert.order_reference(order, self.config.reference_prefix) or reference
        events = []
        try:
            for capture in convert.captures_of(order):
                capture_id = str(capture.get("id") or "")
                status = str(capture.get("status") or "")
                events.append(
                    convert.capture_event(
                        capture,
                        f"sb-capture-{capture_id}-{status}",
                        now,
                        self.config.reference_prefix,
                        payload=order,
                        fallback_reference=fallback,
                    )
                )
        except ValueError as exc:
            raise TransientError(
                f"PayPal's capture answer cannot be read: {exc}", connection_id=self.connection_id
            ) from None
        return events

    def _refused(self, event: PaymentEvent, exc: errors.PayPalRefusal) -> PaymentEvent:
        issue = exc.issue or f"HTTP_{exc.status}"
        declined = issue == "INSTRUMENT_DECLINED"
        reason = (
            "the buyer's funding source was declined; they may approve with another"
            if declined
            else "PayPal refused to capture the order"
        )
        return PaymentEvent(
            gateway=self.type,
            event_id=f"sb-capture-refused-{event.subject.id}-{event.event_id}"[:200],
            kind=PaymentEventKind.PAYMENT_FAILED,
            subject=event.subject,
            occurred_at=self._clock(),
            provider_updated_at=event.provider_updated_at,
            status=SubjectStatus.PENDING if declined else SubjectStatus.FAILED,
            provider_status=issue[:100],
            reference=event.reference,
            amount=event.amount,
            currency=event.currency,
            reason=f"{reason} ({exc.message[:300]})",
        )


async def _no_events() -> AsyncIterator[PaymentEvent]:
    return
    yield  # an async generator that yields nothing
