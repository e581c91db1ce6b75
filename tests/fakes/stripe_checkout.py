"""``POST /v1/checkout/sessions`` in the fake: Stripe's checks, then a hosted session.

The checks are those Stripe applies to the parameters the library sends (see
``stripe/params/checkout/_session_create_params.py``): known parameters only, ``mode``
required, each line item a ``price`` or ``price_data`` with a ``quantity``, recurring
prices exactly in ``subscription`` mode, ``subscription_data`` / ``payment_intent_data`` /
``customer_creation`` only in their mode, ``customer`` xor ``customer_email``, metadata
limits (50 keys, keys ≤ 40, values ≤ 500 characters), ``client_reference_id`` ≤ 200.
Each refusal is Stripe's 400 ``invalid_request_error`` naming the ``param``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.stripe_state import DAY, SessionTerms, StripeAccount
from tests.fakes.stripe_wire import StripeFail, new_id

KNOWN = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "return_url",
        "ui_mode",
        "customer",
        "customer_email",
        "customer_creation",
        "client_reference_id",
        "metadata",
        "subscription_data",
        "payment_intent_data",
        "allow_promotion_codes",
        "expires_at",
        "locale",
        "payment_method_types",
        "expand",
    }
)
_CURRENCY = re.compile(r"^[a-z]{3}$")
_INTERVALS = ("day", "week", "month", "year")


def create_session(account: StripeAccount, params: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Validate ``params`` like Stripe and store an open session; returns it."""
    for name in params:
        if name not in KNOWN:
            raise StripeFail(400, f"Received unknown parameter: {name}", param=name)
    mode = params.get("mode")
    if mode is None:
        raise StripeFail(
            400, "Missing required param: mode.", param="mode", code="parameter_missing"
        )
    if mode not in ("payment", "subscription", "setup"):
        raise StripeFail(
            400, "Invalid mode: must be one of payment, setup, or subscription", param="mode"
        )
    if mode == "setup":
        raise StripeFail(400, "The fake does not sell setup sessions", param="mode")
    items = params.get("line_items")
    if not isinstance(items, list) or not items:
        raise StripeFail(
            400, "Missing required param: line_items.", param="line_items", code="parameter_missing"
        )
    if len(items) != 1:
        raise StripeFail(400, "The fake takes exactly one line item", param="line_items")
    price, quantity = _line_item(account, items[0])
    recurring = price["recurring"] is not None
    if mode == "subscription" and not recurring:
        raise StripeFail(
            400,
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    if mode == "payment" and recurring:
        raise StripeFail(
            400,
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param="line_items",
        )
    for name, only in (
        ("subscription_data", "subscription"),
        ("payment_intent_data", "payment"),
        ("customer_creation", "payment"),
    ):
        if name in params and mode != only:
            raise StripeFail(400, f"You can not pass `{name}` in `{mode}` mode.", param=name)
    for name in ("success_url", "cancel_url"):
        if name in params and not str(params[name]).startswith(("http://", "https://")):
            raise StripeFail(400, "Not a valid URL", param=name, code="url_invalid")
    if "customer" in params and "customer_email" in params:
        raise StripeFail(
            400,
            "You may only specify one of these parameters: customer, customer_email.",
            param="customer",
        )
    customer = params.get("customer")
    if customer is not None:
        account.get(customer, "customer", "customer")
    reference = params.get("client_reference_id")
    if reference is not None and not 1 <= len(reference) <= 200:
        raise StripeFail(
            400, "client_reference_id must be 1 to 200 characters", param="client_reference_id"
        )
    metadata = _metadata(params.get("metadata"), "metadata")
    terms = SessionTerms(price=price, customer_creation=params.get("customer_creation"))
    subscription_data = params.get("subscription_data") or {}
    if subscription_data:
        for name in subscription_data:
            if name not in ("metadata", "trial_period_days", "description"):
                raise StripeFail(
                    400,
                    f"Received unknown parameter: subscription_data[{name}]",
                    param=f"subscription_data[{name}]",
                )
        terms.subscription_metadata = _metadata(
            subscription_data.get("metadata"), "subscription_data[metadata]"
        )
        if "trial_period_days" in subscription_data:
            terms.trial_days = _int(
                subscription_data["trial_period_days"],
                "subscription_data[trial_period_days]",
                low=1,
                high=730,
            )
    payment_data = params.get("payment_intent_data") or {}
    if payment_data:
        terms.payment_metadata = _metadata(
            payment_data.get("metadata"), "payment_intent_data[metadata]"
        )
    if terms.customer_creation not in (None, "always", "if_required"):
        raise StripeFail(400, "Invalid customer_creation", param="customer_creation")
    session_id = new_id("cs_test_", 58)
    amount = 0 if terms.trial_days else price["unit_amount"] * quantity
    session = account.put(
        {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{base_url}/c/pay/{session_id}",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "metadata": metadata,
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "amount_subtotal": amount,
            "amount_total": amount,
            "currency": price["currency"],
            "subscription": None,
            "payment_intent": None,
            "created": account.now,
            "expires_at": account.now + DAY,
            "livemode": False,
            "ui_mode": params.get("ui_mode", "hosted_page"),
        }
    )
    account.terms[session_id] = terms
    return session


def _line_item(account: StripeAccount, item: Any) -> tuple[dict[str, Any], int]:
    if not isinstance(item, dict):
        raise StripeFail(400, "Invalid object", param="line_items[0]")
    has_price, has_data = "price" in item, "price_data" in item
    if has_price == has_data:
        raise StripeFail(
            400,
            "You must specify either `price` or `price_data` in `line_items[0]`.",
            param="line_items[0]",
        )
    if "quantity" not in item:
        raise StripeFail(
            400,
            "Quantity is required. Add `quantity` to `line_items[0]`",
            param="line_items[0][quantity]",
        )
    quantity = _int(item["quantity"], "line_items[0][quantity]", low=1, high=999_999)
    if has_price:
        return account.get(item["price"], "price", "line_items[0][price]"), quantity
    data = item["price_data"]
    if not isinstance(data, dict):
        raise StripeFail(400, "Invalid object", param="line_items[0][price_data]")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise StripeFail(
            400,
            f"Invalid currency: {str(currency)[:20]}",
            param="line_items[0][price_data][currency]",
        )
    amount = _int(
        data.get("unit_amount"), "line_items[0][price_data][unit_amount]", low=0, high=99_999_999
    )
    product = data.get("product_data")
    if not isinstance(product, dict) or not product.get("name"):
        raise StripeFail(
            400,
            "Missing required param: line_items[0][price_data][product_data][name].",
            param="line_items[0][price_data][product_data][name]",
            code="parameter_missing",
        )
    recurring = data.get("recurring")
    interval = None
    count = 1
    if recurring is not None:
        if not isinstance(recurring, dict) or recurring.get("interval") not in _INTERVALS:
            raise StripeFail(
                400,
                "Invalid recurring[interval]: must be one of day, week, month, or year",
                param="line_items[0][price_data][recurring][interval]",
            )
        interval = recurring["interval"]
        if "interval_count" in recurring:
            count = _int(
                recurring["interval_count"],
                "line_items[0][price_data][recurring][interval_count]",
                low=1,
                high=365,
            )
    price = account.add_price(
        amount, currency, interval=interval, interval_count=count, product_name=product["name"]
    )
    return price, quantity


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise StripeFail(400, "Invalid object", param=param)
    if len(value) > 50:
        raise StripeFail(400, "Metadata can have up to 50 keys", param=param)
    for key, text in value.items():
        if len(key) > 40:
            raise StripeFail(
                400, "Metadata keys can be up to 40 characters", param=f"{param}[{key[:40]}]"
            )
        if not isinstance(text, str) or len(text) > 500:
            raise StripeFail(
                400, "Metadata values can be up to 500 characters", param=f"{param}[{key}]"
            )
    return dict(value)


def _int(value: Any, param: str, *, low: int, high: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise StripeFail(400, f"Invalid integer: {str(value)[:20]}", param=param) from None
    if not low <= number <= high:
        raise StripeFail(400, f"This value must be between {low} and {high}.", param=param)
    return number
