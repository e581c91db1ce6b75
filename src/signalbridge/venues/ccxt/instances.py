"""ccxt instances for many accounts on one venue, cloned from one template per venue.

Building a ccxt exchange is costly: its constructor deep-copies the exchange's whole
description (Binance's endpoint table alone is a quarter of a megabyte) and walks every
one of its thousands of attributes to add camelCase aliases: about 5 ms and 270 kB per
instance. A venue's accounts differ only in their credentials and in what ccxt changes
while it runs, so one instance per venue is built the usual way, without credentials, and
every account gets a shallow clone of it: the tables ccxt only reads after construction
(``STATIC``) are shared, every other container is the clone's own deep copy (options,
where ccxt keeps the clock offset and caches, URLs, headers, ccxt's per-instance caches),
and the clone gets its own rate limiter object, origin id and the account's credentials.

Only exchanges whose construction has been read for it (ccxt 4.5.90: no constructor of
their own, nothing derived from the credentials while constructing) are cloned; any other
exchange is built in full, as before.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from signalbridge.venues.ccxt.config import CcxtConfig, build_exchange
from signalbridge.venues.ccxt.market_cache import MarketCache, VenueKey
from signalbridge.venues.ccxt.quirks import ExchangeQuirks

#: Exchanges whose instances may be cloned (see the module docstring).
CLONEABLE = frozenset({"binance", "binanceusdm", "binancecoinm", "bybit", "okx"})

#: Tables ccxt builds while constructing and only reads afterwards: one for every clone.
STATIC = frozenset(
    {
        "api",
        "exceptions",
        "httpExceptions",
        "has",
        "features",
        "fees",
        "timeframes",
        "commonCurrencies",
        "requiredCredentials",
        "ecdsaCurves",
        "ecdsaPrehashedAlgorithms",
    }
)

#: Our secret fields and the ccxt attributes they set.
CREDENTIALS = (("api_key", "apiKey"), ("secret", "secret"), ("password", "password"))


def new_exchange(
    cache: MarketCache,
    config: CcxtConfig,
    secrets: Mapping[str, str],
    quirks: ExchangeQuirks,
) -> Any:
    """A ccxt instance for one account: cloned from the venue's template when the cache
    shares and the exchange may be cloned, else built in full."""
    if not cache.share or config.exchange not in CLONEABLE:
        return build_exchange(config, secrets, quirks)
    key = (
        VenueKey.of(
            config.exchange,
            config.market_type,
            sandbox=config.sandbox,
            urls=config.urls,
            options=config.options,
        ),
        config.timeout_ms,
    )
    template = cache.templates.get(key)
    if template is None:
        template = cache.templates[key] = build_exchange(config, {}, quirks)
    return clone(template, secrets)


def clone(template: Any, secrets: Mapping[str, str]) -> Any:
    """A new instance of ``template``'s exchange with the account's ``secrets``: the static
    tables shared, every other container copied (see the module docstring)."""
    exchange = object.__new__(type(template))
    state = dict(vars(template))
    for name, value in state.items():
        if name not in STATIC and isinstance(value, dict | list | set):
            state[name] = copy.deepcopy(value)
    vars(exchange).update(state)
    exchange.origin = exchange.uuid()
    exchange.throttler = None
    exchange.init_throttler()  # ccxt binds it to the loop the instance first runs in
    for ours, theirs in CREDENTIALS:
        if secrets.get(ours):
            setattr(exchange, theirs, secrets[ours])
    return exchange
