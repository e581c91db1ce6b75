"""Stripe's wire format for the fake: bracket-notation forms, error bodies, signatures.

- Bodies and query strings are ``application/x-www-form-urlencoded`` with bracket nesting
  (``line_items[0][price_data][recurring][interval]=month``, ``expand[]=x`` or
  ``expand[0]=x``, ``metadata[k]=v``), decoded here into nested dicts and lists of text.
- Errors are ``{"error": {"type", "code", "message", "param", "doc_url", "request_log_url"}}``
  with Stripe's status codes (400 invalid request, 401 bad key, 402 card, 404 missing,
  429 rate limit, 500 api_error) and a ``Request-Id`` header.
- Webhook deliveries are signed as Stripe signs them: ``t=<unix>,v1=<hex>`` with
  ``HMAC_SHA256(whsec_… as UTF-8, f"{t}.{body}")``, one ``v1`` per live secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "StripeFail",
    "decode_form",
    "error_body",
    "new_id",
    "sign_payload",
]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_ALPHABET = string.ascii_letters + string.digits
DOC_URL = "https://stripe.com/docs/error-codes"


class StripeFail(Exception):
    """An answer the fake gives as a Stripe error (raised anywhere inside a handler)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_body(fail: StripeFail, request_id: str) -> dict[str, Any]:
    """Stripe's error object (fields it leaves out when empty are left out)."""
    error: dict[str, Any] = {"message": fail.message, "type": fail.type}
    if fail.code:
        error["code"] = fail.code
        error["doc_url"] = f"{DOC_URL}/{fail.code.replace('_', '-')}"
    if fail.param:
        error["param"] = fail.param
    error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
    return {"error": error}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def decode_form(text: str) -> dict[str, Any]:
    """A Stripe form body or query as nested dicts and lists (values stay text).

    Raises :class:`StripeFail` (400) for a key that is not bracket notation.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(key)
        if match is None:
            raise StripeFail(400, f"Invalid parameter name: {key[:100]}", param=key[:100])
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        node = root
        for segment in path[:-1]:
            here = segment if segment != "" else str(len(node))
            child = node.get(here)
            if not isinstance(child, dict):
                child = {}
                node[here] = child
            node = child
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    return _listify(root)


def _listify(value: Any) -> Any:
    """Dicts keyed 0..n-1 become lists (``line_items[0]``, ``expand[]``)."""
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def sign_payload(payload: bytes, timestamp: int, secrets_: list[str]) -> str:
    """``Stripe-Signature`` for ``payload``: ``t=…`` and one ``v1=…`` per secret."""
    message = f"{timestamp}.".encode("ascii") + payload
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)


def dumps(obj: Any) -> bytes:
    """JSON as Stripe sends it (pretty-printed, two spaces)."""
    return json.dumps(obj, indent=2).encode("utf-8")
