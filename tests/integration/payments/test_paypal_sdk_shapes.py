"""The PayPal fake, read by the official ``paypal-server-sdk`` (2.4.0) and its models.

The SDK's own controllers (OAuth2 client credentials, Orders, Payments, Subscriptions)
run unmodified against the fake (only ``Configuration.environments`` points at it), and
the webhook resources the fake signs are parsed with the SDK's models: if the fake's
shapes drifted from PayPal's, these reads would come back empty or raise.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from paypalserversdk.configuration import Environment, Server
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.exceptions.o_auth_provider_exception import OAuthProviderException
from paypalserversdk.exceptions.subscription_error_exception import SubscriptionErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.captured_payment import CapturedPayment
from paypalserversdk.models.o_auth_token import OAuthToken
from paypalserversdk.models.order import Order
from paypalserversdk.models.subscription import Subscription
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient
from tests.fakes.paypal import CLIENT_ID, CLIENT_SECRET, FakePayPal


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePayPal]:
    with FakePayPal(seed=42) as server:
        yield server


def sdk(fake: FakePayPal, secret: str = CLIENT_SECRET) -> Any:
    client = PaypalServersdkClient(
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=CLIENT_ID, o_auth_client_secret=secret
        ),
        environment=Environment.SANDBOX,
    )
    client.config.environments = {Environment.SANDBOX: {Server.DEFAULT: fake.base_url}}
    return client


ORDER = {
    "intent": "CAPTURE",
    "purchase_units": [
        {
            "reference_id": "default",
            "custom_id": "sbpay_41",
            "invoice_id": "sdk-sbpay_41",
            "amount": {"currency_code": "EUR", "value": "19.90"},
        }
    ],
    "payment_source": {
        "paypal": {
            "experience_context": {
                "return_url": "https://signals.example/paid",
                "cancel_url": "https://signals.example/cancelled",
                "user_action": "PAY_NOW",
            }
        }
    },
}


def test_orders_through_the_sdk(fake: FakePayPal) -> None:
    client = sdk(fake)
    created = client.orders.create_order({"body": ORDER, "paypal_request_id": "sdk-order-1"})
    order: Order = created.body
    assert isinstance(order, Order) and order.status == "PAYER_ACTION_REQUIRED"
    assert {link.rel for link in order.links} == {"self", "payer-action"}
    replay = client.orders.create_order({"body": ORDER, "paypal_request_id": "sdk-order-1"})
    assert replay.body.id == order.id  # same PayPal-Request-Id, same answer

    with pytest.raises(ErrorException) as early:
        client.orders.capture_order({"id": order.id, "paypal_request_id": "sdk-cap-0"})
    assert early.value.response_code == 422
    assert early.value.name == "UNPROCESSABLE_ENTITY" and early.value.debug_id
    assert early.value.details[0].issue == "ORDER_NOT_APPROVED"

    delivery = fake.approve(order.id)
    approved = Order.from_dictionary(delivery.event["resource"])
    assert approved.status == "APPROVED" and approved.purchase_units[0].custom_id == "sbpay_41"
    fetched: Order = client.orders.get_order({"id": order.id}).body
    assert fetched.status == "APPROVED"
    assert fetched.purchase_units[0].amount.value == "19.90"

    captured: Order = client.orders.capture_order(
        {"id": order.id, "paypal_request_id": "sdk-cap-1", "prefer": "return=representation"}
    ).body
    assert captured.status == "COMPLETED"
    capture = captured.purchase_units[0].payments.captures[0]
    assert capture.status == "COMPLETED" and capture.custom_id == "sbpay_41"
    assert capture.seller_receivable_breakdown.paypal_fee.value == "1.18"
    with pytest.raises(ErrorException) as twice:
        client.orders.capture_order({"id": order.id, "paypal_request_id": "sdk-cap-2"})
    assert twice.value.details[0].issue == "ORDER_ALREADY_CAPTURED"

    got: CapturedPayment = client.payments.get_captured_payment({"capture_id": capture.id}).body
    assert got.id == capture.id and got.amount.currency_code == "EUR"
    webhook = CapturedPayment.from_dictionary(fake.capture_delivery(capture.id).event["resource"])
    assert webhook.id == capture.id and webhook.invoice_id == "sdk-sbpay_41"
    refund = fake.refund(capture.id).event["resource"]
    assert refund["links"][0]["rel"] == "up"


def test_subscriptions_through_the_sdk(fake: FakePayPal) -> None:
    client = sdk(fake)
    plan = fake.add_plan("12.00", "USD")
    body = {
        "plan_id": plan.id,
        "custom_id": "sbpay_77",
        "application_context": {
            "return_url": "https://signals.example/paid",
            "cancel_url": "https://signals.example/cancelled",
        },
    }
    created: Subscription = client.subscriptions.create_subscription(
        {"body": body, "paypal_request_id": "sdk-sub-1"}
    ).body
    assert isinstance(created, Subscription) and created.status == "APPROVAL_PENDING"
    assert any(link.rel == "approve" for link in created.links)

    activated, sale = fake.activate(created.id)
    parsed = Subscription.from_dictionary(activated.event["resource"])
    assert parsed.status == "ACTIVE" and parsed.custom_id == "sbpay_77"
    assert parsed.billing_info.next_billing_time and parsed.billing_info.last_payment.amount
    assert sale.event["resource"]["billing_agreement_id"] == created.id

    fetched: Subscription = client.subscriptions.get_subscription({"id": created.id}).body
    assert fetched.status == "ACTIVE" and fetched.plan_id == plan.id
    cancelled = client.subscriptions.cancel_subscription(
        {"id": created.id, "body": {"reason": "member asked"}}
    )
    assert cancelled.status_code == 204
    assert client.subscriptions.get_subscription({"id": created.id}).body.status == "CANCELLED"
    with pytest.raises(SubscriptionErrorException) as again:
        client.subscriptions.cancel_subscription(
            {"id": created.id, "body": {"reason": "member asked again"}}
        )
    assert again.value.response_code == 422


def test_the_sdk_oauth_flow_is_checked(fake: FakePayPal) -> None:
    before = fake.state.token_requests
    wrong = base64.b64encode(f"{CLIENT_ID}:EWrongSecret_not_this_one".encode()).decode()
    with pytest.raises(OAuthProviderException) as refused:
        sdk(fake).o_auth_authorization.request_token({"authorization": f"Basic {wrong}"})
    assert refused.value.response_code == 401
    assert refused.value.error == "invalid_client"
    right = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    token = sdk(fake).o_auth_authorization.request_token({"authorization": f"Basic {right}"})
    assert isinstance(token.body, OAuthToken)
    assert token.body.token_type == "Bearer" and token.body.expires_in == fake.token_lifetime
    assert fake.state.token_requests == before + 2
