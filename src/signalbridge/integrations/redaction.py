"""Scrub secrets from text, mappings, headers and URLs before they reach a log or an error.

Two layers: known secret *values* registered at runtime (API keys decrypted from the vault,
webhook secrets) are replaced wherever they appear, and secret-looking *shapes* (an
``Authorization`` header, ``api_key=...`` in a query string, ``"password": "..."`` in JSON)
are masked even when the value was never registered.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "****"

#: Names (lower-case, compared after removing ``-`` and ``_``) whose values are secrets.
SECRET_NAMES: frozenset[str] = frozenset(
    {
        "key",
        "apikey",
        "apisecret",
        "secret",
        "secretkey",
        "clientsecret",
        "token",
        "accesstoken",
        "refreshtoken",
        "authtoken",
        "idtoken",
        "bottoken",
        "password",
        "passwd",
        "passphrase",
        "signature",
        "sig",
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "xapikey",
        "xmbxapikey",
        "webhooksecret",
        "privatekey",
        "stripesignature",
        "paypaltransmissionsig",
        "hmac",
        "xtelegrambotapisecrettoken",
        "sessionid",
        "credentials",
    }
)

_MIN_REGISTERED_LEN = 6

_NAME_ALT = (
    r"authorization|proxy[-_]authorization|auth[-_]token|access[-_]token|refresh[-_]token|"
    r"id[-_]token|bot[-_]token|x[-_]mbx[-_]apikey|x[-_]api[-_]key|api[-_]?key|api[-_]?secret|"
    r"client[-_]secret|secret[-_]?key|private[-_]key|webhook[-_]secret|stripe[-_]signature|"
    r"passphrase|password|passwd|signature|secret|token|apikey|sig|hmac|cookie"
)
# name = value / name: value / "name": "value"; the value ends at a quote, comma, & or space
# (a header value such as "Bearer abc" keeps its scheme word and loses the credential).
_KV_RE = re.compile(
    rf"""(?P<name>["']?\b(?:{_NAME_ALT})\b["']?)(?P<sep>\s*[:=]\s*)(?P<q>["']?)"""
    rf"""(?P<scheme>(?:Bearer|Basic|Token|Bot)\s+)?(?P<value>[^\s"'&,;}}\]]+)""",
    re.IGNORECASE,
)
# Query parameters named like a secret, in any text (log lines often carry whole URLs).
_QUERY_RE = re.compile(
    r"(?P<lead>[?&](?:key|api[-_]?key|token|access[-_]token|secret|signature|sig|password|"
    r"passphrase|auth|auth[-_]token|client[-_]secret)=)(?P<value>[^&\s\"'#]+)",
    re.IGNORECASE,
)
# Credentials inside a URL's authority: scheme://user:password@host
_USERINFO_RE = re.compile(r"(?P<lead>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<value>[^@\s/]+)(?=@)")
# Bearer tokens and well-known key shapes, wherever they appear. A Telegram bot token
# also hides in a URL path (``/bot<id>:<secret>/getMe``), where no word boundary precedes it.
_SHAPES_RE = re.compile(
    r"\b(?:Bearer\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|sk_(?:live|test)_[A-Za-z0-9]{8,}|rk_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|whsec_[A-Za-z0-9+/=]{8,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\d{6,12}:[A-Za-z0-9_-]{30,})"
    r"|(?<=/bot)\d{6,12}:[A-Za-z0-9_-]{30,}",
)


def _normalise_name(name: str) -> str:
    return name.strip("\"' ").lower().replace("-", "").replace("_", "")


def is_secret_name(name: str) -> bool:
    """True if a field, header or parameter with this name holds a secret."""
    norm = _normalise_name(name)
    return norm in SECRET_NAMES or norm.endswith(("secret", "token", "password", "apikey"))


def mask(secret: str | None) -> str:
    """Show only the last 4 characters, so an operator can tell two keys apart."""
    if not secret:
        return REDACTED
    if len(secret) <= 8:
        return REDACTED
    return REDACTED + secret[-4:]


class SecretRegistry:
    """Known secret values that must be scrubbed from any text, whatever its shape."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._ordered: tuple[str, ...] = ()

    def register(self, value: str | None) -> None:
        # Very short values would scrub ordinary words; a real credential is never that short.
        if not value or len(value) < _MIN_REGISTERED_LEN:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def forget(self, value: str) -> None:
        with self._lock:
            self._values.discard(value)
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._ordered = ()

    def scrub(self, text: str) -> str:
        for value in self._ordered:  # longest first, so a value containing another goes whole
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretRegistry(<{len(self._values)} values>)"


#: The process-wide registry the log processors consult.
secrets = SecretRegistry()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from every log line and error text."""
    secrets.register(value)


def redact(text: str) -> str:
    """Remove registered secrets and secret-shaped substrings from free text."""
    if not text:
        return text
    text = secrets.scrub(text)
    text = _USERINFO_RE.sub(lambda m: m.group("lead") + REDACTED, text)
    text = _QUERY_RE.sub(lambda m: m.group("lead") + REDACTED, text)
    text = _KV_RE.sub(_kv_replacement, text)
    return _SHAPES_RE.sub(_shape_replacement, text)


def _kv_replacement(m: re.Match[str]) -> str:
    scheme = m.group("scheme") or ""
    return f"{m.group('name')}{m.group('sep')}{m.group('q')}{scheme}{REDACTED}"


def _shape_replacement(m: re.Match[str]) -> str:
    found = m.group(0)
    if found.lower().startswith("bearer"):
        return "Bearer " + REDACTED
    return REDACTED


def redact_value(value: Any) -> Any:
    """Redact strings and containers recursively; other values pass unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v) for v in value)
    return value


def redact_mapping(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy with secret-named keys masked and every string value scrubbed."""
    out: dict[Any, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and is_secret_name(key) and value not in (None, ""):
            out[key] = REDACTED
        else:
            out[key] = redact_value(value)
    return out


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers safe to log: secret-named ones masked, ``Authorization`` keeps its scheme."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if is_secret_name(name):
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {REDACTED}" if scheme else REDACTED
        else:
            out[name] = redact(value)
    return out


def redact_url(url: str) -> str:
    """The URL with secret query parameters and userinfo passwords masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="*")
    return secrets.scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def structlog_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secret-named keys and scrub every string value."""
    return redact_mapping(event_dict)


class RedactingFilter(logging.Filter):
    """stdlib logging filter: renders the message, scrubs it and any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # a structlog event dict on its way to the formatter
            record.msg = redact_mapping(record.msg)
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Rendered once, scrubbed; formatters use exc_text when it is set.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_factory_installed = False


def install_record_factory() -> None:
    """Redact every stdlib log record when it is created, before any handler sees it.

    Handler filters run per handler and in order, so a handler added later (a test's
    capture, a library's) could still see raw text; the record factory closes that gap.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()
    scrub = RedactingFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
