"""Wire pieces of the PayPal fake: ids, error bodies, the signing certificate, deliveries.

Facts from shared/reference/integrations.md section 2 (paypal-server-sdk 2.4.0 models,
PayPal's REST and webhook docs), not from our client:

- error body ``{name, message, debug_id, details[{field, value, location, issue,
  description}], links[{href, rel, method}]}``; OAuth errors ``{error, error_description}``;
- a webhook event ``{id: "WH-…", event_version, create_time, resource_type,
  resource_version, event_type, summary, resource, links}``;
- delivery headers ``PAYPAL-TRANSMISSION-ID|-TIME|-SIG``, ``PAYPAL-CERT-URL``,
  ``PAYPAL-AUTH-ALGO: SHA256withRSA``, ``PAYPAL-AUTH-VERSION: v2``; the signature is RSA
  PKCS#1 v1.5 SHA-256 over ``"{id}|{time}|{webhook_id}|{crc32(body) unsigned}"``.

The signing certificate is self-signed (``cryptography``), issued to
``messageverificationcerts.paypal.com`` as PayPal's is.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

PAYPAL_CN = "messageverificationcerts.paypal.com"
RESOURCE_TYPES = {
    "CHECKOUT": "checkout-order",
    "PAYMENT.CAPTURE": "capture",
    "BILLING.SUBSCRIPTION": "subscription",
    "PAYMENT.SALE": "sale",
    "CUSTOMER.DISPUTE": "dispute",
}
_ALNUM = string.ascii_uppercase + string.digits


def rfc3339(when: datetime) -> str:
    """PayPal's time format: UTC, whole seconds, ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paypal_id(rng: random.Random, length: int = 17) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(length))


def error_body(
    status: int, name: str, message: str, issue: str | None = None, description: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "message": message,
        "debug_id": uuid.uuid4().hex[:13],
        "links": [
            {
                "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue or name}",
                "rel": "information_link",
                "method": "GET",
            }
        ],
    }
    if issue:
        body["details"] = [{"issue": issue, "description": description or message}]
    return body


@dataclass(frozen=True)
class SigningCert:
    key: rsa.RSAPrivateKey
    pem: bytes


@lru_cache(maxsize=4)
def signing_cert(cn: str = PAYPAL_CN, days: int = 365) -> SigningCert:
    """A self-signed RSA certificate for ``cn`` (cached: key generation is slow)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return SigningCert(key, cert.public_bytes(serialization.Encoding.PEM))


def sign(
    key: rsa.RSAPrivateKey, transmission_id: str, time_text: str, webhook_id: str, body: bytes
) -> str:
    crc = zlib.crc32(body) & 0xFFFFFFFF
    message = f"{transmission_id}|{time_text}|{webhook_id}|{crc}".encode()
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass(frozen=True)
class Delivery:
    """One webhook POST as PayPal makes it: the raw body and its headers."""

    body: bytes
    headers: dict[str, str]
    event: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def transmission_id(self) -> str:
        return self.headers["PAYPAL-TRANSMISSION-ID"]

    def with_headers(self, **changes: str) -> Delivery:
        """A copy with headers replaced (``PAYPAL_CERT_URL="…"``: underscores for dashes)."""
        headers = dict(self.headers)
        for name, value in changes.items():
            headers[name.replace("_", "-")] = value
        return Delivery(self.body, headers, self.event)

    def with_body(self, body: bytes) -> Delivery:
        return Delivery(body, dict(self.headers), self.event)


def envelope(
    event_type: str, resource: dict[str, Any], at: datetime, base_url: str
) -> dict[str, Any]:
    """A webhook event around ``resource`` (``resource_version`` 2.0 for v2 objects)."""
    event_id = "WH-" + paypal_id(random.Random(), 17) + "-" + paypal_id(random.Random(), 17)
    kind = next(
        (value for prefix, value in RESOURCE_TYPES.items() if event_type.startswith(prefix)),
        "unknown",
    )
    version = "1.0" if kind in ("sale",) else "2.0"
    return {
        "id": event_id,
        "event_version": "1.0",
        "create_time": rfc3339(at),
        "resource_type": kind,
        "resource_version": version,
        "event_type": event_type,
        "summary": f"{event_type.replace('.', ' ').lower()}",
        "resource": resource,
        "links": [
            {
                "href": f"{base_url}/v1/notifications/webhooks-events/{event_id}",
                "rel": "self",
                "method": "GET",
            },
            {
                "href": f"{base_url}/v1/notifications/webhooks-events/{event_id}/resend",
                "rel": "resend",
                "method": "POST",
            },
        ],
    }


def signed_delivery(
    event: dict[str, Any],
    *,
    key: rsa.RSAPrivateKey,
    webhook_id: str,
    cert_url: str,
    at: datetime,
) -> Delivery:
    body = json.dumps(event, separators=(",", ":")).encode()
    transmission_id = str(uuid.uuid1())
    time_text = rfc3339(at)
    headers = {
        "Content-Type": "application/json",
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": time_text,
        "PAYPAL-TRANSMISSION-SIG": sign(key, transmission_id, time_text, webhook_id, body),
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-AUTH-VERSION": "v2",
    }
    return Delivery(body, headers, event)
