"""The ExchangeAdapter protocol: the one surface the engine uses to trade on any venue.

Everything is ``Decimal`` and timezone-aware UTC. Symbols are canonical (``BTC/USDT``,
``EURUSD``); adapters translate to and from venue symbols. Adapters raise only classes from
:mod:`signalbridge.integrations.errors`. There is deliberately no withdraw or transfer
method: SignalBridge only ever trades.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, runtime_checkable

from signalbridge.domain.clock import utcnow
from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import Side

if TYPE_CHECKING:
    import httpx

    from signalbridge.integrations.http import HttpClientFactory
    from signalbridge.venues.paper.store import PaperStateStore

__all__ = [
    "AdapterDeps",
    "Balance",
    "Capabilities",
    "ExchangeAdapter",
    "Fee",
    "Market",
    "MarketKind",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "PositionSide",
    "ProbeResult",
    "SymbolSettings",
    "Ticker",
    "TimeInForce",
    "VenueOrder",
    "VenueOrderType",
    "VenuePosition",
    "VenueTrade",
    "client_order_id",
    "is_ours",
    "parse_client_order_id",
    "part_client_order_id",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue can do natively; the engine emulates or skips what is missing."""

    market_orders: bool = True
    limit_orders: bool = True
    stop_orders: bool = False
    native_stop_loss: bool = False
    native_take_profit: bool = False
    reduce_only: bool = False
    futures: bool = False
    leverage: bool = False
    client_order_ids: bool = True
    lookup_by_client_id: bool = True
    batch_tickers: bool = False
    max_client_order_id_len: int = 36
    #: A reduce-only ``stop_market`` for the whole position rests on the venue's futures
    #: markets and closes it without us (MetaTrader: the positions' stop loss).
    resting_stops: bool = False
    #: A reduce-only ``take_profit_market`` for part of a position rests there too
    #: (MetaTrader's take profit always closes the whole position: no).
    resting_targets: bool = False
    #: Futures markets hold one position per symbol: an order the other way reduces it
    #: (paper futures, Binance's default one-way mode). MetaTrader hedging accounts keep
    #: each position apart.
    nets_positions: bool = False
    #: Placing a resting stop overwrites the one before it in the same venue call
    #: (MetaTrader: the positions' one stop-loss slot), so a moved stop is placed first and
    #: its predecessor retired in the books, never removed on the venue in between.
    stop_replaces_in_place: bool = False


@dataclass(frozen=True, slots=True)
class Ticker:
    """Current prices; ``last`` is always set (adapters use the mid when a venue has none)."""

    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal
    total: Decimal


class OrderRole(StrEnum):
    """What an order is for, set by the side that builds the request: an entry, the stop
    or a target resting on the venue, or another exit (at market). Adapters route by it
    (MetaTrader keeps a resting stop on the position, Binance on its Algo Service)."""

    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"
    EXIT = "exit"


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


#: Side of an open position; the same values as a signal's side.
PositionSide = Side


class VenueOrderType(StrEnum):
    """Order types the engine may send; stops trigger at ``stop_price``."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"

    @property
    def has_price(self) -> bool:
        return self in (
            VenueOrderType.LIMIT,
            VenueOrderType.STOP_LIMIT,
            VenueOrderType.TAKE_PROFIT_LIMIT,
        )

    @property
    def is_triggered(self) -> bool:
        return self not in (VenueOrderType.MARKET, VenueOrderType.LIMIT)


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order to place. ``client_order_id`` comes from :func:`client_order_id`."""

    client_order_id: str
    symbol: str
    side: OrderSide
    type: VenueOrderType
    amount: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    leverage: int | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    role: OrderRole | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("order amount must be positive")
        if self.type.has_price and (self.price is None or self.price <= 0):
            raise ValueError(f"a {self.type} order needs a positive price")
        if self.type.is_triggered and (self.stop_price is None or self.stop_price <= 0):
            raise ValueError(f"a {self.type} order needs a positive stop price")
        if self.leverage is not None and self.leverage < 1:
            raise ValueError("leverage must be at least 1")


class OrderStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self not in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Fee:
    amount: Decimal
    asset: str


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it. ``raw`` goes to the execution log: no secrets."""

    client_order_id: str | None
    venue_order_id: str
    symbol: str
    side: OrderSide
    type: VenueOrderType
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    fee: Fee | None
    created_at: datetime
    updated_at: datetime
    price: Decimal | None = None
    stop_price: Decimal | None = None
    reduce_only: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)
    #: Every fee the venue reported for the order's fills, one per asset (a Binance spot
    #: BUY pays in the coin bought, or in BNB); ``fee`` is the one when there is only one.
    fees: tuple[Fee, ...] = ()

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One fill of the account from the venue's trade history: it names its order by the
    venue's id only (no client id), and is found without knowing any id."""

    trade_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    amount: Decimal
    price: Decimal
    at: datetime
    fee: Fee | None = None


@dataclass(frozen=True, slots=True)
class VenuePosition:
    symbol: str
    side: PositionSide
    amount: Decimal
    entry_price: Decimal
    leverage: int | None
    unrealised_pnl: Decimal
    liquidation_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    """What a futures venue was told for one symbol before trading it: the account's
    position mode (``one_way`` / ``hedge``), the leverage and the margin type (``isolated``
    / ``cross``; None where the venue has none). The engine records it."""

    symbol: str
    position_mode: str
    leverage: int
    margin_type: str | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Outcome of a connection test; ``can_withdraw`` keys are refused by the engine."""

    ok: bool
    latency_ms: float
    can_trade: bool
    can_withdraw: bool
    message: str


@dataclass(slots=True)
class AdapterDeps:
    """Shared things an adapter may need; one instance per process, passed to every adapter.

    ``shared`` holds process-wide objects adapters of one type share between connections
    (the paper venue keeps its hub under ``"paper"``), keyed by the adapter ``type``.
    ``paper_store`` makes the paper venue's durable state store (bootstrap passes the SQL
    one from ``store.paper_book``; ``None``: state in memory).
    """

    paper_store: Callable[[], PaperStateStore] | None = None
    http_transport: httpx.AsyncBaseTransport | None = None
    #: The kernel's ``HttpClientFactory``: adapters that speak HTTP build clients from it.
    http_factory: HttpClientFactory | None = None
    clock: Callable[[], datetime] = utcnow
    shared: MutableMapping[str, Any] = field(default_factory=dict)
    #: The only directory a connection's config may name local files in (the paper
    #: venue's replay feed); ``None``: no local file may be read.
    data_dir: Path | None = None


@runtime_checkable
class ExchangeAdapter(Protocol):
    """One connection to one venue account. Every method may raise IntegrationError only."""

    type: ClassVar[str]
    connection_id: str
    capabilities: Capabilities

    @classmethod
    def from_config(
        cls,
        connection_id: str,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        deps: AdapterDeps,
    ) -> Self: ...

    async def load_markets(self) -> Mapping[str, Market]:
        """Markets keyed by canonical symbol (cached by the adapter after the first call)."""
        ...

    async def fetch_tickers(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        """Tickers for canonical symbols, in one request where the venue allows it."""
        ...

    async def fetch_balance(self) -> dict[str, Balance]: ...

    async def create_order(self, req: OrderRequest) -> VenueOrder: ...

    async def fetch_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder:
        """Raises OrderNotFound when the venue does not (yet) know the client order id.
        ``role`` is the request's (a venue may keep a resting stop apart from orders)."""
        ...

    async def cancel_order(
        self, symbol: str, client_order_id: str, role: OrderRole | None = None
    ) -> VenueOrder: ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def fetch_positions(self) -> list[VenuePosition]: ...

    async def set_leverage(self, symbol: str, leverage: int) -> None: ...

    async def probe(self) -> ProbeResult: ...

    async def close(self) -> None: ...


# --- client order ids ---------------------------------------------------------------------

DEFAULT_PREFIX = "sb"
_PREFIX = re.compile(r"^[A-Za-z0-9]{1,8}$")
_LEG = re.compile(r"^[A-Za-z0-9_]{1,10}$")
_ID_PART = re.compile(r"^[A-Za-z0-9_]+$")


def client_order_id(
    execution_id: int | str, leg: str, prefix: str = DEFAULT_PREFIX, *, max_len: int = 36
) -> str:
    """Deterministic client order id ``<prefix>-<execution id>-<leg>``, e.g. ``sb-42-e0``.

    The same execution and leg always give the same id, so a retried placement is
    recognised by the venue (or found by lookup) instead of doubling the order. Ids use only
    ``[A-Za-z0-9_-]`` (a subset of what Binance, Bybit and MetaApi accept). An execution id
    that would make the result longer than ``max_len`` (or that has other characters) is
    replaced by a stable hash of itself.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("prefix must be 1-8 letters or digits")
    if not _LEG.fullmatch(leg):
        raise ValueError("leg must be 1-10 characters of [A-Za-z0-9_]")
    ident = str(execution_id)
    text = f"{prefix}-{ident}-{leg}"
    if len(text) > max_len or not _ID_PART.fullmatch(ident):
        room = max_len - len(prefix) - len(leg) - 3  # two dashes and the "h" marker
        if room < 6:
            raise ValueError(f"max_len {max_len} leaves no room for the execution id")
        digest = hashlib.blake2b(ident.encode(), digest_size=16).hexdigest()
        text = f"{prefix}-h{digest[:room]}-{leg}"
    return text


def parse_client_order_id(
    value: str | None, prefix: str = DEFAULT_PREFIX
) -> tuple[str, str] | None:
    """``(execution id part, leg)`` of one of our ids, or ``None`` for a foreign order."""
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 3 or parts[0] != prefix:
        return None
    ident, leg = parts[1], parts[2]
    if not ident or not _ID_PART.fullmatch(ident) or not _LEG.fullmatch(leg):
        return None
    return ident, leg


def part_client_order_id(client_order_id_: str, part: int, *, max_len: int = 36) -> str:
    """The client order id of part ``part`` of an order a venue made us split (Binance's
    MARKET_LOT_SIZE): part 0 keeps the order's own id, part k adds ``_k`` to its leg
    (``sb-42-e0`` → ``sb-42-e0_2``). Deterministic, so a retried split finds its parts; an
    id of another shape, or a leg with no room left, is replaced by a stable hash."""
    if part == 0:
        return client_order_id_
    pieces = client_order_id_.split("-")
    if len(pieces) == 3 and _PREFIX.fullmatch(pieces[0]) and _ID_PART.fullmatch(pieces[1]):
        leg = f"{pieces[2]}_{part}"
        if _LEG.fullmatch(leg):
            return client_order_id(pieces[1], leg, pieces[0], max_len=max_len)
    digest = hashlib.blake2b(client_order_id_.encode(), digest_size=16).hexdigest()
    return client_order_id(f"h{digest}", f"x{part}", max_len=max_len)


def is_ours(value: str | None, prefix: str = DEFAULT_PREFIX) -> bool:
    """Whether an order on the venue was placed by SignalBridge (foreign orders are left alone)."""
    return parse_client_order_id(value, prefix) is not None
