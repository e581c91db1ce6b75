"""Binance's per-IP weight budgets, taken around every request ccxt sends for a connection.

Installed on a connection's ccxt instance by the Binance quirks. Before each request the
weight Binance will charge (:mod:`.binance_weights`) is taken from the budget of the API it
goes to: one key per API and process-wide (``"binance:spot"``, ``"binance:fapi"``,
``"binance:sapi"``), in the kernel's limiter, which lives in Redis when configured, so
every connection and worker behind the IP spends one budget. Taking it here, right before
ccxt signs, means a wait for room never ages a signed timestamp.

After the answer the budget is re-synced from the used-weight header Binance sends, and to
the limit ``exchangeInfo`` states. A 429 or 418 holds the whole budget, for everyone, for
``Retry-After`` or, when a 418 comes without one, for the ban its body states; the error
then names its budget (``scope``) so the guard does not hold unrelated hosts too. Outside a
connection guard there is no limiter and requests pass untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import ccxt.async_support as ccxt

from signalbridge.integrations import errors as sb
from signalbridge.integrations.ratelimit import ConnectionLimiter, RateLimiter, current_limiter
from signalbridge.venues.ccxt.binance_weights import (
    DOCUMENTED_LIMITS,
    UNRELIABLE_HEADER,
    budget_of,
    endpoint_path,
    request_weight,
    request_weight_limit,
    used_weight,
)
from signalbridge.venues.ccxt.errors import translate

Fetch2 = Callable[[str, Any, str, Any, Any], Awaitable[Any]]


class WeightBudgets:
    """The budgets around one ccxt instance's requests (counts and the limits Binance
    stated live in the process limiter, so every connection shares them)."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange
        self._send: Fetch2 = exchange.fetch2

    def install(self) -> None:
        """Route the instance's requests (ccxt's ``fetch2``) through the budgets."""
        self._exchange.fetch2 = self.fetch2

    async def fetch2(
        self,
        path: str,
        api: Any = ("public",),
        method: str = "GET",
        params: Any = None,
        config: Any = None,
    ) -> Any:
        params = {} if params is None else params
        config = {} if config is None else config
        limiter = current_limiter()
        urls = self._exchange.urls.get("api") if isinstance(self._exchange.urls, Mapping) else None
        where = endpoint_path(urls, api, path) if isinstance(urls, Mapping) else None
        budget = budget_of(where) if where is not None else None
        if limiter is None or where is None or budget is None:
            return await self._send(path, api, method, params, config)
        spending = self._budget(limiter, budget)
        # Room is waited for here; a closed gate (429 / ban) refuses at once, so the guard
        # retries the call with a fresh permit of its own once the gate opens.
        await spending.acquire(request_weight(method, where, params), wait_for_gate=False)
        try:
            answer = await self._send(path, api, method, params, config)
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            error = translate(exc, write=False, exchange=self._exchange)
            if not isinstance(error, sb.RateLimited):  # e.g. a key refused, not a limit
                raise
            await self._sync(spending, budget, where)
            await spending.back_off(
                error.retry_after, banned=error.banned, until=error.banned_until
            )
            error.scope = budget
            raise error from None
        if where.endswith("/exchangeInfo") and isinstance(answer, Mapping):
            stated = request_weight_limit(answer)
            if stated is not None:
                limiter.stated_limits[budget] = f"{stated}/minute"
                spending = self._budget(limiter, budget)
        await self._sync(spending, budget, where)
        return answer

    @staticmethod
    def _budget(limiter: RateLimiter, budget: str) -> ConnectionLimiter:
        limit = limiter.stated_limits.get(budget) or f"{DOCUMENTED_LIMITS[budget]}/minute"
        return limiter.for_connection(budget, provider_limits=(limit,))

    async def _sync(self, spending: ConnectionLimiter, budget: str, where: str) -> None:
        if where in UNRELIABLE_HEADER:
            return
        used = used_weight(budget, getattr(self._exchange, "last_response_headers", None))
        if used is not None:
            await spending.sync_used(used)
