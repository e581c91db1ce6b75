"""One ``ccxt.pro`` ticker stream per venue, shared by every connection to it.

Market data is public: a thousand accounts on Binance USDⓈ-M read the same prices, so
they share one socket (:class:`VenueStream`), keyed by exchange id, market type and
websocket URL (:class:`VenueKey`), not by account. The monitor asks
:meth:`CcxtPriceStreams.latest` each tick; asking keeps the symbols subscribed, and a
symbol nobody asked for within ``idle_seconds`` is unsubscribed. A price older than
``stale_seconds`` (by our clock, when it arrived) is not answered, so the monitor falls
back to REST while the socket is down, reconnecting or quiet.

ccxt does the wire work (subscribe/unsubscribe messages, parsing, pings, reconnecting on
the next watch); we keep every symbol on one socket per venue (Binance: one stream
index) and batch changes of the symbol set into one message at most every
``CHANGE_GAP`` seconds, under the venues' limits on incoming messages. Streamed: Binance
spot and USDⓈ-M, Bybit v5 linear, OKX swaps (each tested against a fake of its wire). A
stream is only opened where the connection's URLs say where (``urls['ws']``, held to the
operator's allow-list like every other override), or where it has no URL overrides at
all (the real venue, or ccxt's sandbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import structlog

from signalbridge.integrations.ssrf import SSRFPolicy
from signalbridge.venues.base import ExchangeAdapter, Ticker
from signalbridge.venues.ccxt.account import ticker_from_ccxt
from signalbridge.venues.ccxt.config import CcxtConfig
from signalbridge.venues.ccxt.urls import guarded_session, target_problem

if TYPE_CHECKING:
    from signalbridge.venues.ccxt.adapter import CcxtAdapter

log = structlog.get_logger("signalbridge.prices")

#: The connection's ``urls`` key that names the websocket (http(s) form, upgraded).
WS_URL_KEY = "ws"


@dataclass(frozen=True, slots=True)
class _Route:
    """Where one exchange's ccxt.pro looks for its public socket, and how it is watched."""

    #: the market types streamed (each tested against a fake of the venue's wire)
    market_types: frozenset[str]
    #: ``urls['api']['ws']`` with the socket of a market type pointed at a URL
    place: Callable[[str, str], Any]
    #: ccxt options that keep every subscription of a market type on one socket
    options: Callable[[str], dict[str, Any]]
    #: ``watch_tickers`` params: the stream whose last price the REST ticker calls ``last``
    params: Mapping[str, str]


def _binance_options(market_type: str) -> dict[str, Any]:
    # One stream index: every symbol on one socket (ccxt would otherwise open a socket per
    # distinct symbol set, up to 50); our own cap bounds the count.
    return {
        "streamLimits": {market_type: 1},
        "subscriptionLimitByStream": {market_type: 1_000_000},
    }


#: Binance keys its sockets by market type and derives ``/public/ws`` and ``/market/ws``
#: from the base; it is watched on the 24-hour ticker (``<symbol>@ticker``). Bybit v5 has
#: one public socket per category (``/v5/public/linear``) and ``tickers.<symbol>``; OKX
#: one base (``/ws/v5``, ccxt appends ``/public``) and the ``tickers`` channel.
_ROUTES: dict[str, _Route] = {
    "binance": _Route(
        frozenset({"spot", "linear"}),
        lambda market_type, url: {market_type: url},
        _binance_options,
        {"name": "ticker"},
    ),
    "bybit": _Route(
        frozenset({"linear"}),
        lambda market_type, url: {"public": {market_type: url}},
        lambda _: {},
        {},
    ),
    "okx": _Route(frozenset({"linear"}), lambda _, url: url, lambda _: {}, {}),
}

#: The least time between two changes of the subscribed set (Binance spot takes at most
#: five incoming messages a second, USDⓈ-M ten; a change is one or two messages).
CHANGE_GAP = 0.5
#: Streams on one socket (Binance USDⓈ-M allows 200 per connection); symbols beyond stay
#: on REST.
MAX_SYMBOLS = 200


@dataclass(frozen=True, slots=True)
class VenueKey:
    """Which stream a connection reads: the same exchange, market type and socket URL
    (an override, ``"sandbox"`` or ``""`` for ccxt's own) share one."""

    exchange: str
    market_type: str
    url: str


def venue_key(config: CcxtConfig, policy: SSRFPolicy) -> VenueKey | None:
    """The stream a connection shares, or None when it has none (REST only): an exchange
    we do not stream, REST pointed elsewhere without a socket URL, or a URL the operator's
    allow-list refuses."""
    market_type = str(config.market_type)
    route = _ROUTES.get(config.exchange)
    if route is None or market_type not in route.market_types:
        return None
    if not config.urls:
        return VenueKey(config.exchange, market_type, "sandbox" if config.sandbox else "")
    url = config.urls.get(WS_URL_KEY)
    if url is None or any(target_problem(u, policy) for u in config.urls.values()):
        return None
    return VenueKey(config.exchange, market_type, url)


def build_stream_exchange(config: CcxtConfig) -> Any:
    """A public (keyless) ``ccxt.pro`` instance for the connection's venue, its socket
    pointed where the connection says and every subscription kept on one stream."""
    market_type = str(config.market_type)
    route = _ROUTES[config.exchange]
    options: dict[str, Any] = {
        "defaultType": "spot" if market_type == "spot" else "swap",
        "defaultSubType": None if market_type == "spot" else market_type,
    }
    from signalbridge.venues.ccxt.exchanges import quirks_for  # ccxt: when a stream starts

    options.update(quirks_for(config.exchange, config.market_type).options())
    options.update(config.options)
    options.update(route.options(market_type))
    params: dict[str, Any] = {"enableRateLimit": False, "timeout": config.timeout_ms}
    params["options"] = options
    if config.urls:
        api: dict[str, Any] = {k: v for k, v in config.urls.items() if k != WS_URL_KEY}
        api["ws"] = route.place(market_type, config.urls[WS_URL_KEY])
        params["urls"] = {"api": api}
    import ccxt.pro as ccxt_pro  # imported when the first stream starts

    exchange = getattr(ccxt_pro, config.exchange)(params)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    return exchange


class VenueStream:
    """The latest ticker per symbol of one venue, as its socket delivers them.

    One task owns the ccxt instance: it loads the markets, watches the wanted symbols in
    one batched subscription, re-subscribes when the set changes, unsubscribes symbols
    nobody asked for within ``idle`` seconds and reconnects (with a growing pause) after
    a failure. :meth:`want` and :meth:`fresh` are synchronous and never wait.
    """

    def __init__(
        self,
        key: VenueKey,
        exchange: Any,
        *,
        stale: float,
        idle: float,
        retry: float,
        clock: Callable[[], float] = time.monotonic,
        session: Callable[[], Any] | None = None,
    ) -> None:
        self.key = key
        self.exchange = exchange
        self._params = _ROUTES[key.exchange].params
        self._stale = stale
        self._idle = idle
        self._retry = retry
        self._clock = clock
        self._session = session
        self._asked: dict[str, float] = {}  # venue symbol -> when it was last asked for
        self._seen: dict[str, Any] = {}  # venue symbol -> the ccxt ticker last stamped
        self._arrived: dict[str, float] = {}  # venue symbol -> when that ticker arrived
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscribed: frozenset[str] = frozenset()
        self._changed_at = float("-inf")
        #: failures in a row (markets or socket); 0 while the stream is healthy
        self.failures = 0

    # -- what the monitor calls ---------------------------------------------------------

    def want(self, symbols: Iterable[str]) -> None:
        """Keep ``symbols`` subscribed (subscribing the new ones); starts the stream."""
        now = self._clock()
        new = False
        for symbol in symbols:
            if symbol not in self._asked and len(self._asked) >= MAX_SYMBOLS:
                continue
            new = new or symbol not in self._asked
            self._asked[symbol] = now
        if new:
            self._changed.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"price stream {self.key.exchange} {self.key.market_type}"
            )

    def fresh(self, symbol: str) -> Mapping[str, Any] | None:
        """The ccxt ticker of ``symbol`` if it arrived within the staleness bound."""
        arrived = self._arrived.get(symbol)
        if arrived is None or self._clock() - arrived > self._stale:
            return None
        ticker: Mapping[str, Any] | None = self._seen.get(symbol)
        return ticker

    @property
    def symbols(self) -> frozenset[str]:
        """The symbols subscribed on the socket now."""
        return self._subscribed

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.exchange.close()

    # -- the stream's task --------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._open()
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a ccxt or socket failure: pause, then again
                self.failures += 1
                self._subscribed = frozenset()
                pause = min(self._retry * 2 ** min(self.failures - 1, 6), 30.0)
                log.warning(
                    "price_stream_failed",
                    exchange=self.key.exchange,
                    market_type=self.key.market_type,
                    error=type(exc).__name__,
                    retry_in=pause,
                )
                await asyncio.sleep(pause)

    async def _open(self) -> None:
        if self._session is not None and self.exchange.session is None:
            self.exchange.session = self._session()
        if not self.exchange.markets:
            await self.exchange.load_markets()

    async def _follow(self) -> None:
        """Watch the wanted symbols until a failure; re-watch when the set changes."""
        watching: frozenset[str] = frozenset()
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                wanted = self._expire()
                if wanted != watching:
                    # Changes go out at most every CHANGE_GAP seconds, each as one batched
                    # message or two: under the venue's limit on incoming messages.
                    wait = self._changed_at + CHANGE_GAP - self._clock()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        wanted = self._expire()
                    self._changed_at = self._clock()
                if wanted != watching and pending is not None:
                    pending.cancel()
                    pending = None
                await self._unsubscribe(self._subscribed - wanted)
                if not wanted:
                    watching = wanted
                    await self._wait_for_change(self._idle)
                    continue
                if pending is None:
                    watching = wanted
                    pending = asyncio.ensure_future(
                        self.exchange.watch_tickers(sorted(wanted), dict(self._params))
                    )
                    self._subscribed = wanted  # ccxt subscribes whatever is not yet
                await self._wait_for_change(min(self._idle, self._stale), pending)
                if pending.done():
                    done, pending = pending, None
                    done.result()  # a failure ends this round (the socket is gone)
                    self.failures = 0
                self._stamp(watching)
        finally:
            if pending is not None:
                pending.cancel()

    async def _wait_for_change(self, within: float, pending: Any = None) -> None:
        changed = asyncio.ensure_future(self._changed.wait())
        waits = {changed} if pending is None else {changed, pending}
        try:
            await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
        self._changed.clear()

    def _expire(self) -> frozenset[str]:
        """The symbols still wanted and listed (one unknown symbol would fail the whole
        batch); those nobody asked for within ``idle`` are forgotten."""
        cutoff = self._clock() - self._idle
        for symbol in [s for s, at in self._asked.items() if at < cutoff]:
            del self._asked[symbol]
            self._seen.pop(symbol, None)
            self._arrived.pop(symbol, None)
        markets = self.exchange.markets or {}
        return frozenset(s for s in self._asked if s in markets)

    async def _unsubscribe(self, symbols: frozenset[str]) -> None:
        if not symbols:
            return
        self._subscribed = self._subscribed - symbols
        try:
            await asyncio.wait_for(
                self.exchange.un_watch_tickers(sorted(symbols), dict(self._params)),
                timeout=max(self._stale, 1.0),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket is gone: nothing is subscribed there anyway
            log.info("price_stream_unsubscribe_failed", error=type(exc).__name__)

    def _stamp(self, symbols: Iterable[str]) -> None:
        """Note the arrival of every ticker ccxt replaced since the last look (ccxt parses
        each message into a new dict, so identity tells a new message)."""
        tickers: Mapping[str, Any] = self.exchange.tickers or {}
        now = self._clock()
        for symbol in symbols:
            ticker = tickers.get(symbol)
            if ticker is not None and ticker is not self._seen.get(symbol):
                self._seen[symbol] = ticker
                self._arrived[symbol] = now


class CcxtPriceStreams:
    """The process's price streams, one per venue, opened on first use (the monitor's
    process), closed with the container."""

    def __init__(
        self,
        policy: SSRFPolicy,
        *,
        stale_seconds: float = 5.0,
        idle_seconds: float = 60.0,
        retry_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._stale = stale_seconds
        self._idle = idle_seconds
        self._retry = retry_seconds
        self._clock = clock
        self.venues: dict[VenueKey, VenueStream] = {}
        # The stream of each live adapter, found once: the pool builds a new adapter when a
        # connection's row changes, so a cached answer never outlives the config it read.
        self._of: weakref.WeakKeyDictionary[CcxtAdapter, VenueStream | None] = (
            weakref.WeakKeyDictionary()
        )

    def latest(self, adapter: ExchangeAdapter, symbols: Sequence[str]) -> dict[str, Ticker]:
        if getattr(adapter, "type", None) != "ccxt" or not symbols:
            return {}
        try:
            return self._latest(cast("CcxtAdapter", adapter), symbols)
        except Exception as exc:  # a price stream never fails the monitor's tick: REST
            log.warning("price_stream_read_failed", error=type(exc).__name__)
            return {}

    def _latest(self, adapter: CcxtAdapter, symbols: Sequence[str]) -> dict[str, Ticker]:
        if adapter in self._of:
            stream = self._of[adapter]
        else:
            stream = self._of[adapter] = self._stream_for(adapter.config)
        if stream is None:
            return {}
        wanted = {adapter.symbols.to_venue(s): s for s in symbols}
        stream.want(wanted)
        out: dict[str, Ticker] = {}
        for venue_symbol, asked in wanted.items():
            raw = stream.fresh(venue_symbol)
            if raw is None:
                continue
            canonical = adapter.symbols.to_canonical(venue_symbol)
            ticker = ticker_from_ccxt(raw, canonical, _utcnow)
            if ticker is not None:
                out[asked] = ticker
        return out

    def _stream_for(self, config: CcxtConfig) -> VenueStream | None:
        key = venue_key(config, self._policy)
        if key is None:
            return None
        stream = self.venues.get(key)
        if stream is None:
            policy = self._policy
            stream = VenueStream(
                key,
                build_stream_exchange(config),
                stale=self._stale,
                idle=self._idle,
                retry=self._retry,
                clock=self._clock,
                session=(lambda: guarded_session(policy)) if config.urls else None,
            )
            self.venues[key] = stream
        return stream

    async def close(self) -> None:
        streams, self.venues = list(self.venues.values()), {}
        self._of.clear()
        for stream in streams:
            await stream.close()


def _utcnow() -> datetime:
    return datetime.now(UTC)
