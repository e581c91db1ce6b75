"""Field checks shared by the payment types: ids, currencies, URLs, money and UTC times.

Each raises ``ValueError`` (``NumberOutOfBounds`` for money, itself a ``ValueError``) with a
message that names the field, so a gateway turns a provider value we cannot hold into a
refused callback rather than a row a later read would fail on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from signalbridge.domain.bounds import check_storable

MAX_ID_LENGTH = 200
"""Longest provider id or reference kept (the columns are ``String(200)``)."""
MAX_URL_LENGTH = 2048
MAX_REASON_LENGTH = 1000

_CURRENCY = re.compile(r"[A-Z][A-Z0-9.]{2,9}", re.ASCII)
_BLANK = re.compile(r"[\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def aware_utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused, never guessed to be UTC."""
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got a naive datetime")
    return value.astimezone(UTC)


def optional_utc(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else aware_utc(value, what)


def storable_amount(value: Decimal, what: str, *, positive: bool = False) -> Decimal:
    """A non-negative (or positive) amount NUMERIC(38, 18) holds exactly (see check_storable)."""
    amount = check_storable(value, what)
    if amount < 0 or (positive and amount == 0):
        raise ValueError(f"{what} must be {'greater than' if positive else 'at least'} 0")
    return amount


def check_currency(value: str, what: str) -> None:
    """ISO codes and coin tickers (``USD``, ``LTCT``, ``USDT.TRC20``) as providers send them."""
    if not isinstance(value, str) or _CURRENCY.fullmatch(value) is None:
        raise ValueError(f"{what} must be an upper-case code of 3 to 10 characters")


def check_ident(value: str, what: str) -> None:
    """A provider id fits its column and holds nothing that would corrupt a log line."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{what} must be 1 to {MAX_ID_LENGTH} characters")
    if _CONTROL.search(value):
        raise ValueError(f"{what} must not hold control characters")


def optional_ident(value: str | None, what: str) -> None:
    if value is not None:
        check_ident(value, what)


def check_url(value: str, what: str) -> None:
    """A URL a browser is sent to: http(s) with a host, never ``javascript:`` or relative."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or _CONTROL.search(value):
        raise ValueError(f"{what} must be a URL of at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL with a host")


def is_email(value: str) -> bool:
    """Loosely an address: one ``@`` with text both sides, no spaces or control characters."""
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain) and len(value) <= 320 and not _BLANK.search(value)
