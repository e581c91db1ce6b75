"""Authenticating a PayPal webhook delivery, offline (certificate) or online (postback).

Every delivery carries ``PAYPAL-TRANSMISSION-ID``, ``-TIME`` (RFC 3339), ``-SIG`` (base64),
``PAYPAL-CERT-URL`` and ``PAYPAL-AUTH-ALGO`` (``SHA256withRSA``). PayPal signs
``"{transmission_id}|{transmission_time}|{webhook_id}|{crc32(raw body)}"`` (the CRC as an
unsigned decimal) with the key of the certificate at the cert URL (integrations.md
section 2). Checks, in this order, each failure a ``CallbackRejected``:

1. the headers are present and well formed, the body is at most :data:`MAX_BODY` bytes;
2. the transmission time is within the tolerance of now (both ways): a captured delivery
   replayed later is refused; replayed within the window it yields the same event ids,
   which the flow stores once;
3. the cert URL names one of the allowed hosts over https with PayPal's cert path, judged
   on the text *before anything is fetched* (reliability row 6: a metadata or loopback
   URL is refused and nothing is dialled; the kernel's SSRF guard stands behind it too);
4. offline: the certificate (fetched once per URL and cached) is current and its subject
   CN ends with an allowed suffix, and the RSA PKCS#1 v1.5 SHA-256 signature verifies;
   online: ``POST /v1/notifications/verify-webhook-signature`` answers ``SUCCESS``. The
   event goes back to PayPal as the very bytes it sent (spliced in, not re-serialised), so
   the postback cannot fail on a number or key order changed by a JSON round trip.

Trust in the certificate rests on where it came from: only PayPal's hosts, over TLS the
kernel's client verifies. The chain is not walked to a root here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.errors import CallbackRejected, IntegrationError, TransientError
from signalbridge.payments.base import header
from signalbridge.payments.paypal.convert import parse_time
from signalbridge.payments.signing import check_fresh

MAX_BODY = 1024 * 1024
MAX_CERT_BYTES = 64 * 1024
CERT_PATH = "/v1/notifications/certs/"
AUTH_ALGO = "SHA256withRSA"
VERIFY_PATH = "/v1/notifications/verify-webhook-signature"
_TRANSMISSION_ID = re.compile(r"[A-Za-z0-9_-]{1,100}", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,2048}={0,2}", re.ASCII)
_CERT_PATH = re.compile(r"/v1/notifications/certs/[A-Za-z0-9_.-]{1,200}", re.ASCII)

#: ``await fetch(url)`` → the certificate's bytes (PEM), through the guarded HTTP client.
CertFetcher = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Transmission:
    """The PAYPAL-* headers of one delivery, read and checked for shape."""

    id: str
    time_text: str
    time: datetime
    signature: bytes
    signature_text: str
    cert_url: str
    auth_algo: str


def read_transmission(headers: Mapping[str, str]) -> Transmission:
    """The transmission headers, or ``CallbackRejected`` naming the one that is wrong."""
    values: dict[str, str] = {}
    for name in (
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ):
        value = header(headers, name)
        if not value:
            raise CallbackRejected(f"the {name} header is missing", reason="signature")
        if len(value) > 4096:
            raise CallbackRejected(f"the {name} header is too long", reason="malformed")
        values[name] = value.strip()
    transmission_id = values["PAYPAL-TRANSMISSION-ID"]
    if not _TRANSMISSION_ID.fullmatch(transmission_id):
        raise CallbackRejected("PAYPAL-TRANSMISSION-ID is not an id", reason="malformed")
    time_text = values["PAYPAL-TRANSMISSION-TIME"]
    try:
        when = parse_time(time_text, "PAYPAL-TRANSMISSION-TIME")
    except ValueError as exc:
        raise CallbackRejected(str(exc), reason="malformed") from None
    signature_text = values["PAYPAL-TRANSMISSION-SIG"]
    if not _BASE64.fullmatch(signature_text):
        raise CallbackRejected("PAYPAL-TRANSMISSION-SIG is not base64", reason="malformed")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise CallbackRejected(
            "PAYPAL-TRANSMISSION-SIG is not base64", reason="malformed"
        ) from None
    algo = values["PAYPAL-AUTH-ALGO"]
    if algo != AUTH_ALGO:
        raise CallbackRejected(f"PAYPAL-AUTH-ALGO must be {AUTH_ALGO}", reason="signature")
    return Transmission(
        transmission_id,
        time_text,
        when,
        signature,
        signature_text,
        values["PAYPAL-CERT-URL"],
        algo,
    )


def signed_message(
    transmission_id: str, transmission_time: str, webhook_id: str, body: bytes
) -> bytes:
    """What PayPal signs: ``id|time|webhook_id|crc32`` with the CRC as unsigned decimal."""
    crc = zlib.crc32(body) & 0xFFFFFFFF
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()


def cert_url_problem(url: str, hosts: tuple[str, ...], *, https_only: bool = True) -> str | None:
    """Why ``url`` may not be fetched as PayPal's certificate, or None. Text only, no I/O.

    ``hosts`` entries are ``host`` (default port only) or ``host:port`` (exactly that).
    """
    if len(url) > 2048 or any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        return "the cert URL is too long or holds spaces, control characters or backslashes"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the cert URL cannot be read"
    schemes = ("https",) if https_only else ("https", "http")
    if parts.scheme not in schemes:
        return f"the cert URL must be {' or '.join(schemes)}"
    if "@" in parts.netloc or not parts.hostname:
        return "the cert URL must name a plain host"
    if parts.query or parts.fragment or not _CERT_PATH.fullmatch(parts.path):
        return f"the cert URL must be a {CERT_PATH}… path"
    host = parts.hostname.lower()
    default = {"https": 443, "http": 80}[parts.scheme]
    allowed = (host in hosts and port in (None, default)) or (
        port is not None and f"{host}:{port}" in hosts
    )
    if not allowed:
        return f"the cert URL's host {host!r} is not one of PayPal's"
    return None


class CertificateCache:
    """PayPal's signing certificates by URL: each fetched once, kept while valid.

    A bounded LRU, so a stream of deliveries naming new (allowed) URLs cannot grow memory.
    A failed fetch is a :class:`TransientError` (the sender should deliver again, we are not
    sure it is forged); a fetched thing that is not a current certificate with an allowed
    CN is a ``CallbackRejected``.
    """

    def __init__(self, fetch: CertFetcher, cn_suffixes: tuple[str, ...], *, size: int = 16) -> None:
        self._fetch = fetch
        self._suffixes = cn_suffixes
        self._size = size
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = asyncio.Lock()
        #: how many certificates were fetched (tests check "fetched once")
        self.fetches = 0

    def __len__(self) -> int:
        """How many certificates are cached (at most ``size``)."""
        return len(self._certs)

    def put(self, url: str, pem: bytes) -> None:
        """Pin a certificate for ``url`` without fetching it (tests, operators)."""
        self._remember(url, _load(pem))

    async def public_key(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        cert = self._certs.get(url)
        if cert is None:
            async with self._lock:
                cert = self._certs.get(url)
                if cert is None:
                    try:
                        raw = await self._fetch(url)
                    except CallbackRejected:
                        raise
                    except IntegrationError as exc:
                        raise TransientError(
                            f"PayPal's certificate could not be fetched: {exc.message}"
                        ) from None
                    self.fetches += 1
                    cert = _load(raw)
                    self._remember(url, cert)
        else:
            self._certs.move_to_end(url)
        return self._check(cert, now)

    def _remember(self, url: str, cert: x509.Certificate) -> None:
        self._certs[url] = cert
        self._certs.move_to_end(url)
        while len(self._certs) > self._size:
            self._certs.popitem(last=False)

    def _check(self, cert: x509.Certificate, now: datetime) -> rsa.RSAPublicKey:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise CallbackRejected(
                "PayPal's signing certificate is not valid now", reason="signature"
            )
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value).lower() if names else ""
        if not any(cn.endswith(suffix) for suffix in self._suffixes):
            raise CallbackRejected(
                "the signing certificate is not issued to PayPal", reason="signature"
            )
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise CallbackRejected("the signing certificate's key is not RSA", reason="signature")
        return key


def verify_offline(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> None:
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise CallbackRejected("the PayPal signature does not match", reason="signature") from None


def postback_body(transmission: Transmission, webhook_id: str, raw_body: bytes) -> bytes:
    """The verify-webhook-signature request with the event spliced in as the bytes received."""
    head = json.dumps(
        {
            "auth_algo": transmission.auth_algo,
            "cert_url": transmission.cert_url,
            "transmission_id": transmission.id,
            "transmission_sig": transmission.signature_text,
            "transmission_time": transmission.time_text,
            "webhook_id": webhook_id,
        }
    )
    return head[:-1].encode() + b', "webhook_event": ' + raw_body.strip() + b"}"


def read_body(raw_body: bytes) -> Mapping[str, Any]:
    """The delivery's JSON object (bounded: depth, sizes, no NaN), or ``CallbackRejected``."""
    if len(raw_body) > MAX_BODY:
        raise CallbackRejected(f"the body is larger than {MAX_BODY} bytes", reason="malformed")
    try:
        body = load_json(raw_body, storable_strings=True)
    except JsonOutOfBounds as exc:
        raise CallbackRejected(f"the body cannot be read: {exc}", reason="malformed") from None
    if not isinstance(body, dict):
        raise CallbackRejected("the body is not a JSON object", reason="malformed")
    return body


def check_time(transmission: Transmission, now: datetime, tolerance: timedelta) -> None:
    check_fresh(transmission.time, now, tolerance)


def _load(raw: bytes) -> x509.Certificate:
    if len(raw) > MAX_CERT_BYTES:
        raise CallbackRejected("the signing certificate is too large", reason="signature")
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise CallbackRejected(
            "the cert URL did not serve a PEM certificate", reason="signature"
        ) from None
    return certs[0]
