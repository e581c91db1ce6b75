"""OAuth2 client credentials for PayPal REST: one access token per connection, cached.

``POST /v1/oauth2/token`` with ``Authorization: Basic base64(client_id:secret)`` and the form
``grant_type=client_credentials`` answers ``{access_token, token_type: "Bearer", expires_in,
…}`` (integrations.md section 2). The token is reused until ``expires_in`` minus a margin has
passed, fetched by one task at a time (a burst of webhooks asks once), and dropped when the
API answers 401 with it, so the caller can fetch a fresh one and try once more.

Both the secret and every token are registered with the redaction registry, so neither can
reach a log line or an error text.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.integrations.errors import AuthenticationError, IntegrationError
from signalbridge.integrations.redaction import register_secret
from signalbridge.payments.paypal import errors

TOKEN_PATH = "/v1/oauth2/token"  # noqa: S105 (a path, not a password)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    renew_at: datetime

    def __repr__(self) -> str:
        return f"AccessToken(renew_at={self.renew_at.isoformat()})"


class AccessTokens:
    """The connection's bearer token: fetched on first use, renewed before it expires."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        margin: timedelta,
        clock: Callable[[], datetime],
        connection_id: str | None = None,
    ) -> None:
        register_secret(client_secret)
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode("ascii")
        self._http = http
        self._margin = margin
        self._clock = clock
        self._connection_id = connection_id
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()
        #: how many tokens were fetched (for tests and the health page)
        self.fetched = 0

    def __repr__(self) -> str:
        return f"AccessTokens(connection_id={self._connection_id!r}, fetched={self.fetched})"

    async def get(self) -> str:
        """A token valid for at least the margin; fetched only when there is none such."""
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            return current.value
        async with self._lock:
            current = self._current
            if current is None or self._clock() >= current.renew_at:
                current = await self._fetch()
                self._current = current
            return current.value

    async def renew(self) -> str:
        """A token fetched now whatever is cached: a connection test proves the credentials
        as they are, not a token PayPal issued before they changed."""
        async with self._lock:
            current = await self._fetch()
            self._current = current
            return current.value

    def invalidate(self, value: str) -> None:
        """PayPal refused ``value`` (401): forget it unless a newer one replaced it already."""
        if self._current is not None and self._current.value == value:
            self._current = None

    async def _fetch(self) -> AccessToken:
        what = "token request"
        try:
            response = await self._http.post(
                TOKEN_PATH,
                content=b"grant_type=client_credentials",
                headers={
                    "Authorization": self._basic,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "PayPal-Request-Id": f"sb-token-{uuid.uuid4()}",
                },
            )
        except httpx.HTTPError as exc:
            raise errors.transport_error(
                exc, what=what, connection_id=self._connection_id
            ) from None
        body = _json_object(response.content)
        if response.status_code != 200:
            if response.status_code in (400, 401):
                raise AuthenticationError(
                    f"PayPal refused the client credentials: "
                    f"{errors.describe(response.status_code, body)}",
                    connection_id=self._connection_id,
                )
            raise errors.http_error(
                response.status_code,
                body,
                response.headers,
                what=what,
                connection_id=self._connection_id,
            )
        return self._token_from(body)

    def _token_from(self, body: dict[str, object] | None) -> AccessToken:
        if body is None:
            raise errors.unreadable("token request", self._connection_id)
        value = body.get("access_token")
        kind = body.get("token_type")
        expires_in = body.get("expires_in")
        if (
            not isinstance(value, str)
            or not value
            or not isinstance(kind, str)
            or kind.lower() != "bearer"
            or not isinstance(expires_in, int)
            or isinstance(expires_in, bool)
            or expires_in <= 0
        ):
            raise _bad_token(self._connection_id)
        register_secret(value)
        lifetime = timedelta(seconds=expires_in)
        margin = min(self._margin, lifetime / 2)
        self.fetched += 1
        return AccessToken(value, self._clock() + lifetime - margin)


def _json_object(raw: bytes) -> dict[str, object] | None:
    try:
        value = load_json(raw) if raw else None
    except JsonOutOfBounds:
        return None
    return value if isinstance(value, dict) else None


def _bad_token(connection_id: str | None) -> IntegrationError:
    return errors.unreadable("token request", connection_id)
