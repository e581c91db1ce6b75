"""Thin async client of CoinPayments' legacy API (``POST api.php``, HMAC-SHA512 signed).

Every call is one form-encoded POST holding ``version=1``, ``cmd``, ``key`` (the public
key) and ``format=json`` beside the command's fields; the ``HMAC`` header is the hex
HMAC-SHA512 of exactly those body bytes under the private key. No ``nonce`` is sent: it is
optional, and a strictly increasing one would have to be shared by every process using
the key. The answer is the ``{"error": "ok", "result": ...}`` envelope, numbers read as
``Decimal``. No retries here: the integration kernel wraps gateway calls, and
``create_transaction`` must never be retried blindly (see :mod:`.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.bounded import ResponseDeadlineExceeded, ResponseTooLarge
from signalbridge.integrations.errors import AmbiguousOutcome, IntegrationError
from signalbridge.payments.coinpayments.errors import (
    api_error,
    http_error,
    transport_error,
    unreadable,
)
from signalbridge.payments.signing import hmac_hex

JsonObject = dict[str, Any]

#: Commands that create something: their failures after sending are ambiguous.
WRITES = frozenset({"create_transaction"})


def sign(private_key: str, body: bytes) -> str:
    """The ``HMAC`` header of a call: hex HMAC-SHA512 of the raw body under the private key."""
    return hmac_hex(private_key, body, "sha512")


def encode(cmd: str, public_key: str, fields: Mapping[str, str]) -> bytes:
    """The form body of one call: the command's fields, then version, cmd, key and format."""
    items = [(k, v) for k, v in fields.items() if k not in ("version", "cmd", "key", "format")]
    items += [("version", "1"), ("cmd", cmd), ("key", public_key), ("format", "json")]
    return urlencode(items).encode("ascii")


class CoinPaymentsClient:
    """The legacy API for one merchant account; shareable across tasks."""

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        private_key: str,
        http: httpx.AsyncClient,
        timeout: float = 30.0,
        connection_id: str | None = None,
    ) -> None:
        if not public_key or not private_key:
            raise ValueError("CoinPayments needs a public and a private key")
        self._url = base_url
        self._public_key = public_key
        self._private_key = private_key
        self._http = http
        self._timeout = httpx.Timeout(timeout)
        self.connection_id = connection_id

    def __repr__(self) -> str:
        return f"CoinPaymentsClient(base_url={self._url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http_closed(self) -> bool:
        return self._http.is_closed

    async def create_transaction(self, fields: Mapping[str, str]) -> JsonObject:
        """``cmd=create_transaction``: txn_id, amount, address, checkout_url, status_url…"""
        return self._object(await self.call("create_transaction", fields), "create_transaction")

    async def get_tx_info(self, txid: str, *, full: bool = True) -> JsonObject:
        """``cmd=get_tx_info``: status, amounts, and with ``full`` the checkout's own fields."""
        fields = {"txid": txid, **({"full": "1"} if full else {})}
        return self._object(await self.call("get_tx_info", fields), "get_tx_info")

    async def get_basic_info(self) -> JsonObject:
        """``cmd=get_basic_info``: the account the keys belong to (username, merchant_id…)."""
        return self._object(await self.call("get_basic_info", {}), "get_basic_info")

    async def rates(self, *, accepted: bool = True) -> JsonObject:
        """``cmd=rates``: the coins (only those the account accepts, with ``accepted``)."""
        fields = {"short": "1", **({"accepted": "1"} if accepted else {})}
        return self._object(await self.call("rates", fields), "rates")

    async def call(self, cmd: str, fields: Mapping[str, str]) -> Any:
        """One signed call; the envelope's ``result`` on ``"ok"``, else our error."""
        write = cmd in WRITES
        body = encode(cmd, self._public_key, fields)
        headers = {
            "HMAC": sign(self._private_key, body),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        try:
            response = await self._http.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            )
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise transport_error(exc, cmd, write=write, connection_id=self.connection_id) from None
        except IntegrationError as exc:
            # The kernel refused the address (SSRF guard), or cut the answer (size, deadline):
            # once an answer was on its way, a create may exist.
            if exc.connection_id is None:
                exc.connection_id = self.connection_id
            answered = isinstance(exc, ResponseDeadlineExceeded | ResponseTooLarge)
            if write and answered:
                raise AmbiguousOutcome(
                    f"CoinPayments {cmd} outcome unknown ({exc.message}); look the payment "
                    "up before creating another",
                    connection_id=self.connection_id,
                ) from None
            raise
        if response.status_code != 200:
            raise http_error(
                response.status_code, cmd, write=write, connection_id=self.connection_id
            )
        try:
            envelope = load_json(raw)
        except JsonOutOfBounds as exc:
            raise self._unreadable(cmd, str(exc)) from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("error"), str):
            raise self._unreadable(cmd, "no error field")
        if envelope["error"] != "ok":
            raise api_error(envelope["error"], cmd, connection_id=self.connection_id)
        if "result" not in envelope:
            raise self._unreadable(cmd, "no result field")
        return envelope["result"]

    def _unreadable(self, cmd: str, why: str) -> IntegrationError:
        if cmd in WRITES:
            return AmbiguousOutcome(
                f"CoinPayments answered {cmd} with an unreadable body ({why}); look the "
                "payment up before creating another",
                connection_id=self.connection_id,
            )
        return unreadable(cmd, why, connection_id=self.connection_id)

    def _object(self, result: Any, cmd: str) -> JsonObject:
        if not isinstance(result, dict):
            raise self._unreadable(cmd, "the result is not an object")
        return result
