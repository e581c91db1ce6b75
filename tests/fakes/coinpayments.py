"""A loopback CoinPayments legacy API (``POST /api.php``) and an IPN sender that signs as it does.

Wire facts (integrations.md §3): one endpoint, ``application/x-www-form-urlencoded`` bodies
holding ``version=1``, ``cmd``, ``key`` (the public key) and ``format=json``; the ``HMAC``
header is ``hex(HMAC-SHA512(private key, raw body))``; every answer is HTTP 200 with the
``{"error": "ok", "result": {...}}`` envelope, and a failure is any other ``error`` text with
``"result": []``. The fake checks the public key it knows, then the HMAC over the bytes it
received, then the command's fields, and answers as the real service does:
``{"error": "HMAC signature does not match", "result": []}`` for a wrong signature (the
real text, as users report it). The other error texts are the fake's wording of the
documented rule (the real texts are not published).

Commands (each refusable per key with ``denied_commands``, as CoinPayments enables them
per API key): ``get_basic_info`` (the account: username, merchant_id, email, public_name,
time_joined), ``create_transaction`` (amount in ``currency1`` converted to ``currency2`` at the
fake's rates; ``checkout_url``, ``status_url``, ``qrcode_url``, ``timeout``), ``get_tx_info``
(``full=1`` adds the ``checkout`` block holding what the transaction was created with) and
``rates``. A test moves a transaction through its life with :meth:`FakeCoinPayments.advance`
and builds the IPN of any status step, signed with the IPN secret exactly as CoinPayments
signs (``HMAC`` header over the raw form body), with :meth:`FakeCoinPayments.ipn`; overrides
make the bad ones (another merchant, a wrong secret, another amount or currency, an
underpayment). :func:`deliver` posts an IPN and, like CoinPayments, retries up to ten times
while the answer is not 2xx.

Usage::

    with FakeCoinPayments(public_key="pub", private_key="priv", merchant_id="m1",
                          ipn_secret="ipn") as fake:
        ... fake.api_url ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from aiohttp import web

from tests.fakes.aiohttp_thread import ThreadedAiohttpServer

__all__ = [
    "STATUS_TEXTS",
    "FakeCoinPayments",
    "FakeTransaction",
    "IpnDelivery",
    "deliver",
    "sign_body",
]

#: status → status_text as the legacy API and IPN word them
STATUS_TEXTS: dict[int, str] = {
    -2: "PayPal Refund or Reversal",
    -1: "Cancelled / Timed Out",
    0: "Waiting for buyer funds...",
    1: "We have confirmed coin reception from the buyer",
    2: "Queued for nightly payout",
    3: "PayPal Pending",
    5: "In Escrow",
    100: "Complete",
}

#: BTC per unit, as ``cmd=rates`` gives ``rate_btc``; fiat marked with is_fiat
DEFAULT_RATES: dict[str, tuple[Decimal, bool]] = {
    "BTC": (Decimal("1"), False),
    "LTCT": (Decimal("0.0015"), False),
    "ETH": (Decimal("0.05"), False),
    "USDT.TRC20": (Decimal("0.00001"), False),
    "USD": (Decimal("0.00001"), True),
    "EUR": (Decimal("0.000011"), True),
}
COIN_PLACES = Decimal("0.00000001")
SATOSHI = Decimal(100_000_000)


def sign_body(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA512 of ``body`` under ``secret``: API calls and IPNs alike."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha512).hexdigest()


@dataclass
class FakeTransaction:
    """One ``create_transaction``; ``status`` and ``received`` move with :meth:`advance`."""

    txn_id: str
    amount1: Decimal
    currency1: str
    currency2: str
    amount2: Decimal
    buyer_email: str
    fields: dict[str, str]
    status: int = 0
    received: Decimal = Decimal(0)
    confirms: int = 0
    time_created: int = field(default_factory=lambda: int(time.time()))
    timeout: int = 9000
    address: str = field(default_factory=lambda: "3" + secrets.token_hex(16))
    key: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True)
class IpnDelivery:
    """One signed IPN: the raw form body and its headers, sent as they are."""

    body: bytes
    headers: dict[str, str]

    @property
    def fields(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass(frozen=True)
class ApiCall:
    """A call the fake received (after authentication): the command and its fields."""

    cmd: str
    fields: dict[str, str]
    hmac: str


class FakeCoinPayments(ThreadedAiohttpServer):
    """The legacy API of one merchant account, on 127.0.0.1."""

    name = "fake CoinPayments"

    def __init__(
        self,
        *,
        public_key: str = "fakepublickey",
        private_key: str = "fakeprivatekey",
        merchant_id: str = "fakemerchant",
        ipn_secret: str = "fakeipnsecret",
        rates: dict[str, tuple[Decimal, bool]] | None = None,
    ) -> None:
        super().__init__()
        self.public_key = public_key
        self.private_key = private_key
        self.merchant_id = merchant_id
        self.ipn_secret = ipn_secret
        self.rates = dict(rates or DEFAULT_RATES)
        self.transactions: dict[str, FakeTransaction] = {}
        self.calls: list[ApiCall] = []
        self.refused: list[str] = []
        #: commands this API key may not call (CoinPayments enables them per key)
        self.denied_commands: set[str] = set()
        #: what ``get_basic_info`` tells of the account
        self.username = "fakemerchantuser"
        self.email = "merchant@example.com"
        self.public_name = "Fake Merchant"
        self.time_joined = 1_577_836_800
        self._faults: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api.php"

    # --- controls -----------------------------------------------------------------------

    def fail_next(
        self, *, status: int = 200, body: str | None = None, error: str | None = None
    ) -> None:
        """The next call is answered with ``status`` and ``body`` (or the envelope of
        ``error``) instead, after it was processed (a create then exists: an ambiguous one)."""
        text = body if body is not None else json.dumps({"error": error or "ok", "result": []})
        with self._lock:
            self._faults.append((status, text))

    def calls_to(self, cmd: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.cmd == cmd]

    def transaction(self, txn_id: str) -> FakeTransaction:
        with self._lock:
            return self.transactions[txn_id]

    def advance(
        self, txn_id: str, status: int, *, received: Decimal | None = None, confirms: int = 0
    ) -> IpnDelivery:
        """Move a transaction to ``status`` (coins ``received``: all of them from status 1)
        and return the IPN CoinPayments sends for that step."""
        with self._lock:
            txn = self.transactions[txn_id]
            txn.status = status
            if received is not None:
                txn.received = received
            elif status >= 1:
                txn.received = txn.amount2
            txn.confirms = confirms
        return self.ipn(txn_id)

    def ipn(
        self,
        txn_id: str,
        *,
        status: int | None = None,
        received: Decimal | None = None,
        secret: str | None = None,
        drop: tuple[str, ...] = (),
        **overrides: str,
    ) -> IpnDelivery:
        """The signed IPN of a transaction's step (its current status unless ``status``).

        ``overrides`` replace or add fields (``merchant``, ``amount1``, ``currency1``,
        ``ipn_mode``…); ``drop`` removes some; ``secret`` signs with another IPN secret.
        """
        with self._lock:
            txn = self.transactions[txn_id]
            step = txn.status if status is None else status
            got = txn.received if received is None else received
            if received is None and status is not None:
                got = txn.amount2 if step >= 1 else Decimal(0)
            fields: dict[str, str] = {
                "ipn_version": "1.0",
                "ipn_type": "api",
                "ipn_mode": "hmac",
                "ipn_id": secrets.token_hex(16),
                "merchant": self.merchant_id,
                "txn_id": txn.txn_id,
                "status": str(step),
                "status_text": STATUS_TEXTS.get(step, "Pending"),
                "currency1": txn.currency1,
                "currency2": txn.currency2,
                "amount1": _coin(txn.amount1),
                "amount2": _coin(txn.amount2),
                "fee": _coin((txn.amount2 * Decimal("0.005")).quantize(COIN_PLACES, ROUND_UP)),
                "buyer_name": txn.fields.get("buyer_name", ""),
                "email": txn.buyer_email,
                "item_name": txn.fields.get("item_name", ""),
                "item_number": txn.fields.get("item_number", ""),
                "invoice": txn.fields.get("invoice", ""),
                "custom": txn.fields.get("custom", ""),
                "received_amount": _coin(got),
                "received_confirms": str(txn.confirms),
            }
        fields.update(overrides)
        for name in drop:
            fields.pop(name, None)
        return self.sign_ipn(fields, secret=secret)

    def sign_ipn(self, fields: dict[str, str], *, secret: str | None = None) -> IpnDelivery:
        """Any form fields as an IPN signed with the IPN secret (or ``secret``)."""
        body = urlencode(list(fields.items())).encode("ascii")
        return IpnDelivery(
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "HMAC": sign_body(secret if secret is not None else self.ipn_secret, body),
            },
        )

    # --- the API ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path != "/api.php":
            return web.Response(status=404, text="Not Found")
        if request.method != "POST":
            return _envelope("This API only accepts POST requests!")
        raw = await request.read()
        if request.content_type != "application/x-www-form-urlencoded":
            answer = self._refuse("Invalid API version!")  # PHP sees no form fields at all
        else:
            answer = self._answer(raw, request.headers.get("HMAC"))
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            return web.Response(status=fault[0], text=fault[1], content_type="application/json")
        return answer

    def _answer(self, raw: bytes, given: str | None) -> web.Response:
        try:
            fields = dict(
                parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            )
        except (UnicodeDecodeError, ValueError):
            return self._refuse("Invalid POST data!")
        if fields.get("version") != "1":
            return self._refuse("Invalid API version!")
        if not fields.get("key"):
            return self._refuse("No API public key passed!")
        if not given:
            return self._refuse("No HMAC signature sent.")
        if fields["key"] != self.public_key:
            return self._refuse("Invalid API public key passed!")
        if not hmac.compare_digest(
            given.lower().encode(), sign_body(self.private_key, raw).encode()
        ):
            return self._refuse("HMAC signature does not match")
        if fields.get("format", "json") != "json":
            return self._refuse("Only the json format is served by this fake")
        cmd = fields.get("cmd", "")
        with self._lock:
            self.calls.append(ApiCall(cmd, fields, given))
        handler = {
            "create_transaction": self._create_transaction,
            "get_tx_info": self._get_tx_info,
            "rates": self._rates,
            "get_basic_info": self._get_basic_info,
        }.get(cmd)
        if handler is None:
            return self._refuse("Invalid command!")
        if cmd in self.denied_commands:
            return self._refuse("This API Key does not have permission to use that command!")
        return handler(fields)

    def _create_transaction(self, fields: dict[str, str]) -> web.Response:
        try:
            amount = Decimal(fields.get("amount", ""))
        except ArithmeticError:
            return self._refuse("Invalid amount!")
        if not amount.is_finite() or amount <= 0:
            return self._refuse("Amount must be greater than 0!")
        currency1, currency2 = fields.get("currency1", ""), fields.get("currency2", "")
        if currency1 not in self.rates:
            return self._refuse("Invalid currency1!")
        if currency2 not in self.rates or self.rates[currency2][1]:
            return self._refuse("Invalid currency2 coin!")
        if not fields.get("buyer_email"):
            return self._refuse("You must specify a buyer email address!")
        amount2 = (amount * self.rates[currency1][0] / self.rates[currency2][0]).quantize(
            COIN_PLACES, ROUND_UP
        )
        txn = FakeTransaction(
            txn_id="CPH"
            + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(23)),
            amount1=amount,
            currency1=currency1,
            currency2=currency2,
            amount2=amount2,
            buyer_email=fields["buyer_email"],
            fields=dict(fields),
        )
        with self._lock:
            self.transactions[txn.txn_id] = txn
        page = f"{self.base_url}/index.php"
        return _envelope(
            "ok",
            {
                "amount": _coin(amount2),
                "txn_id": txn.txn_id,
                "address": txn.address,
                "confirms_needed": "2",
                "timeout": txn.timeout,
                "checkout_url": f"{page}?cmd=checkout&id={txn.txn_id}&key={txn.key}",
                "status_url": f"{page}?cmd=status&id={txn.txn_id}&key={txn.key}",
                "qrcode_url": f"{self.base_url}/qrgen.php?id={txn.txn_id}&key={txn.key}",
            },
        )

    def _get_tx_info(self, fields: dict[str, str]) -> web.Response:
        with self._lock:
            txn = self.transactions.get(fields.get("txid", ""))
        if txn is None:
            return self._refuse("Invalid or unknown transaction ID!")
        result: dict[str, Any] = {
            "time_created": txn.time_created,
            "time_expires": txn.time_created + txn.timeout,
            "status": txn.status,
            "status_text": STATUS_TEXTS.get(txn.status, "Pending"),
            "type": "coins",
            "coin": txn.currency2,
            "amount": int(txn.amount2 * SATOSHI),
            "amountf": _coin(txn.amount2),
            "received": int(txn.received * SATOSHI),
            "receivedf": _coin(txn.received),
            "recv_confirms": txn.confirms,
            "payment_address": txn.address,
        }
        if fields.get("full") == "1":
            result["checkout"] = {
                "currency": txn.currency1,
                "amount": int(txn.amount1 * SATOSHI),
                "amountf": _coin(txn.amount1),
                "item_name": txn.fields.get("item_name", ""),
                "item_number": txn.fields.get("item_number", ""),
                "invoice": txn.fields.get("invoice", ""),
                "custom": txn.fields.get("custom", ""),
                "ipn_url": txn.fields.get("ipn_url", ""),
            }
        return _envelope("ok", result)

    def _get_basic_info(self, fields: dict[str, str]) -> web.Response:
        """The account the keys belong to (the legacy API's ``get_basic_info``)."""
        return _envelope(
            "ok",
            {
                "username": self.username,
                "merchant_id": self.merchant_id,
                "email": self.email,
                "public_name": self.public_name,
                "time_joined": self.time_joined,
            },
        )

    def _rates(self, fields: dict[str, str]) -> web.Response:
        result = {
            coin: {
                "is_fiat": int(is_fiat),
                "rate_btc": format(rate, "f"),
                "last_update": str(int(time.time())),
                "tx_fee": "0.00000000" if is_fiat else "0.00010000",
                "status": "online",
                "name": coin,
                "confirms": "0" if is_fiat else "2",
                "can_convert": 0,
                "capabilities": [] if is_fiat else ["payments", "wallet"],
                "explorer": "",
            }
            for coin, (rate, is_fiat) in self.rates.items()
        }
        return _envelope("ok", result)

    def _refuse(self, message: str) -> web.Response:
        with self._lock:
            self.refused.append(message)
        return _envelope(message)


async def deliver(
    url: str,
    delivery: IpnDelivery,
    *,
    attempts: int = 10,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[int]:
    """POST an IPN to ``url`` as CoinPayments does, again while the answer is not 2xx
    (at most ``attempts`` times: CoinPayments gives up after ten). Returns the statuses."""
    statuses: list[int] = []
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=10) as client:
        for _ in range(attempts):
            response = await client.post(url, content=delivery.body, headers=delivery.headers)
            statuses.append(response.status_code)
            if 200 <= response.status_code < 300:
                break
    return statuses


def _envelope(error: str, result: Any = None) -> web.Response:
    body = {"error": error, "result": [] if result is None else result}
    return web.Response(text=json.dumps(body), content_type="application/json")


def _coin(value: Decimal) -> str:
    return format(value.quantize(COIN_PLACES), "f")
