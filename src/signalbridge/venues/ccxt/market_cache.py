"""One market table per venue, shared by every connection to it.

A venue's markets are the same for every account on it, yet each ccxt instance used to load
and parse them on its own: a thousand accounts on Binance made a thousand ``exchangeInfo``
requests and held a thousand copies of the table. Here a venue (exchange id, market type,
sandbox, URL overrides and ccxt options: whatever can change what ``fetch_markets`` answers)
is loaded once, single-flight, by whichever connection needs it first, through that
connection's own guarded call; the result is handed to every other connection's ccxt
instance with ccxt's ``set_markets_from_exchange`` (the same objects, no copy).

The table is reloaded after ``ttl`` seconds by the next connection that reads it; the new
table reaches every connection at its next read. A failed load is never kept: the caller
gets the error, a connection waiting on the same load tries once more itself, and when an
older table exists it stays in use (and the reload is tried again ``retry`` seconds later),
so one account's failure (its key, its guard, its network) cannot poison the venue.

``share=False`` keeps today's way for comparison (bench/bench_fanout.py): each connection
loads and parses its own table and builds its own TLS context.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import certifi

from signalbridge.venues.base import AdapterDeps, Market

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Where the process's cache lives in ``AdapterDeps.shared``.
SHARED_KEY = "ccxt_markets"


@dataclass(frozen=True, slots=True)
class VenueKey:
    """What decides a venue's market table: never the account."""

    exchange: str
    market_type: str
    sandbox: bool
    urls: tuple[tuple[str, str], ...]
    options: str  # the connection's ccxt options, canonical JSON

    @classmethod
    def of(
        cls,
        exchange: str,
        market_type: str,
        *,
        sandbox: bool = False,
        urls: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> VenueKey:
        return cls(
            exchange,
            market_type,
            sandbox,
            tuple(sorted((urls or {}).items())),
            json.dumps(options or {}, sort_keys=True, default=str),
        )


class MarketSnapshot:
    """A loaded ccxt market table: the attributes ccxt's ``set_markets_from_exchange`` reads
    from its source (so no account's ccxt instance, nor its credentials, is kept here)."""

    def __init__(self, exchange: Any) -> None:
        self.id: str = exchange.id
        self.markets: dict[str, Any] = exchange.markets
        self.markets_by_id: dict[str, Any] = exchange.markets_by_id
        self.symbols: list[str] = exchange.symbols
        self.ids: list[str] = exchange.ids
        self.currencies: dict[str, Any] = exchange.currencies
        self.currencies_by_id: dict[str, Any] = exchange.currencies_by_id
        self.baseCurrencies: dict[str, Any] = exchange.baseCurrencies
        self.quoteCurrencies: dict[str, Any] = exchange.quoteCurrencies
        self.codes: list[str] = exchange.codes
        helpers = exchange.options.get("marketHelperProps") or []
        self.options: dict[str, Any] = {"marketHelperProps": list(helpers)}
        for name in helpers:
            self.options[name] = exchange.options.get(name)
        #: when the cache took it in (its clock)
        self.loaded_at = 0.0

    def install(self, exchange: Any) -> None:
        """Hand this table to a ccxt instance of the same exchange (no request, no copy)."""
        exchange.set_markets_from_exchange(self)


@dataclass(slots=True)
class Tables:
    """Our own reading of one snapshot for one symbol mapping: ``Market`` by canonical
    symbol and the most one market order may hold (Binance MARKET_LOT_SIZE)."""

    markets: dict[str, Market]
    caps: dict[str, Decimal]


@dataclass(slots=True)
class _Venue:
    snapshot: MarketSnapshot | None = None
    loading: asyncio.Future[MarketSnapshot] | None = None
    retry_at: float = 0.0
    #: converted tables of the current snapshot, by symbol-mapping key
    tables: dict[Hashable, Tables] = field(default_factory=dict)
    loads: int = 0


Load = Callable[[], Awaitable[MarketSnapshot]]


class MarketCache:
    """The process's market tables, one per venue (see the module docstring)."""

    def __init__(
        self,
        *,
        share: bool = True,
        ttl: float = 900.0,
        retry: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = share
        self.ttl = ttl
        self.retry = retry
        self.clock = clock
        self._venues: dict[Hashable, _Venue] = {}
        self._ssl: ssl.SSLContext | None = None
        #: one credential-less ccxt instance per venue, cloned per account (instances.py)
        self.templates: dict[Hashable, Any] = {}
        self._facts: dict[Hashable, Any] = {}

    def key(self, venue: VenueKey, connection_id: str) -> Hashable:
        """The cache key of a connection's table: its venue's, or its own when not sharing."""
        return venue if self.share else (venue, connection_id)

    def ssl_context(self) -> ssl.SSLContext | None:
        """One TLS context (certifi's CA bundle, as ccxt builds it) for every connection;
        None when not sharing (ccxt then builds one per instance, as before). Loading the
        CA bundle costs milliseconds and about a megabyte per context."""
        if not self.share:
            return None
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=certifi.where())
        return self._ssl

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A fact about a venue computed once per process (e.g. whether its URL overrides
        pass the operator's allow-list, which the same deps always answer the same)."""
        if key not in self._facts:
            self._facts[key] = compute()
        found: T = self._facts[key]
        return found

    def loads(self, key: Hashable) -> int:
        """How many loads of ``key`` succeeded (for tests and the benchmark)."""
        venue = self._venues.get(key)
        return venue.loads if venue is not None else 0

    def expire(self, key: Hashable | None = None) -> None:
        """Make a table (or all) due for reload at its next read."""
        for k, venue in self._venues.items():
            if key is None or k == key:
                venue.retry_at = 0.0
                if venue.snapshot is not None:
                    venue.snapshot.loaded_at = float("-inf")

    def _venue(self, key: Hashable) -> _Venue:
        venue = self._venues.get(key)
        if venue is None:
            venue = self._venues[key] = _Venue()
        return venue

    async def snapshot(self, key: Hashable, load: Load) -> MarketSnapshot:
        """The current table of ``key``, loading it through ``load`` (the caller's own
        connection) when there is none or it is older than ``ttl``."""
        venue = self._venue(key)
        retried = False
        while True:
            current = venue.snapshot
            now = self.clock()
            if current is not None and (now - current.loaded_at < self.ttl or now < venue.retry_at):
                return current
            own = venue.loading is None
            if own:
                venue.loading = asyncio.ensure_future(self._load(venue, load))
                venue.loading.add_done_callback(_retrieved)
            flight = venue.loading
            assert flight is not None
            if not own and current is not None:
                return current  # someone is reloading: the old table serves meanwhile
            try:
                return await asyncio.shield(flight)
            except asyncio.CancelledError:
                raise
            except Exception:
                if venue.snapshot is not None:  # a reload failed: the old table stays
                    return venue.snapshot
                if own or retried:
                    raise
                retried = True  # the loader's failure may be its own: try once ourselves

    async def _load(self, venue: _Venue, load: Load) -> MarketSnapshot:
        try:
            fresh = await load()
        except BaseException as exc:
            if venue.snapshot is not None and isinstance(exc, Exception):
                venue.retry_at = self.clock() + self.retry
                log.warning(
                    "market reload failed; the previous table stays in use",
                    extra={"exchange": venue.snapshot.id, "error": type(exc).__name__},
                )
            raise
        else:
            fresh.loaded_at = self.clock()
            venue.snapshot = fresh
            venue.tables = {}
            venue.retry_at = 0.0
            venue.loads += 1
            return fresh
        finally:
            venue.loading = None

    def tables(
        self,
        key: Hashable,
        snapshot: MarketSnapshot,
        mapping: Hashable,
        convert: Callable[[MarketSnapshot], Tables],
    ) -> Tables:
        """Our reading of ``snapshot`` for one symbol mapping, converted once per table."""
        venue = self._venue(key)
        if venue.snapshot is not snapshot:  # an older snapshot than the venue's: not kept
            return convert(snapshot)
        found = venue.tables.get(mapping)
        if found is None:
            found = venue.tables[mapping] = convert(snapshot)
        return found


def _retrieved(flight: asyncio.Future[MarketSnapshot]) -> None:
    """A load's error is its callers' to see; none left (all cancelled) is no warning."""
    if not flight.cancelled():
        flight.exception()


def market_cache_of(deps: AdapterDeps) -> MarketCache:
    """The process's cache, made at first use (``deps.shared`` is per process)."""
    cache = deps.shared.get(SHARED_KEY)
    if not isinstance(cache, MarketCache):
        cache = deps.shared[SHARED_KEY] = MarketCache()
    return cache
