"""MetaApi JSON → our types (Market, Ticker, VenueOrder, VenuePosition), all pure.

MetaTrader has two things where a crypto venue has one: *orders* (pending, then history)
and *positions* (what a filled order opened). A market order therefore shows up as a
filled history order and an open position; these functions build one ``VenueOrder`` from
whichever of them the caller found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import Side
from signalbridge.integrations.errors import TransientError
from signalbridge.venues.base import (
    OrderSide,
    OrderStatus,
    Ticker,
    VenueOrder,
    VenueOrderType,
    VenuePosition,
)

ZERO = Decimal(0)

#: MT order type → (side, our order type, whether ``openPrice`` is the trigger price).
ORDER_TYPES: dict[str, tuple[OrderSide, VenueOrderType]] = {
    "ORDER_TYPE_BUY": (OrderSide.BUY, VenueOrderType.MARKET),
    "ORDER_TYPE_SELL": (OrderSide.SELL, VenueOrderType.MARKET),
    "ORDER_TYPE_BUY_LIMIT": (OrderSide.BUY, VenueOrderType.LIMIT),
    "ORDER_TYPE_SELL_LIMIT": (OrderSide.SELL, VenueOrderType.LIMIT),
    "ORDER_TYPE_BUY_STOP": (OrderSide.BUY, VenueOrderType.STOP_MARKET),
    "ORDER_TYPE_SELL_STOP": (OrderSide.SELL, VenueOrderType.STOP_MARKET),
    "ORDER_TYPE_BUY_STOP_LIMIT": (OrderSide.BUY, VenueOrderType.STOP_LIMIT),
    "ORDER_TYPE_SELL_STOP_LIMIT": (OrderSide.SELL, VenueOrderType.STOP_LIMIT),
}

ORDER_STATES: dict[str, OrderStatus] = {
    "ORDER_STATE_STARTED": OrderStatus.OPEN,
    "ORDER_STATE_PLACED": OrderStatus.OPEN,
    "ORDER_STATE_REQUEST_ADD": OrderStatus.OPEN,
    "ORDER_STATE_REQUEST_MODIFY": OrderStatus.OPEN,
    "ORDER_STATE_REQUEST_CANCEL": OrderStatus.OPEN,
    "ORDER_STATE_PARTIAL": OrderStatus.PARTIALLY_FILLED,
    "ORDER_STATE_FILLED": OrderStatus.FILLED,
    "ORDER_STATE_CANCELED": OrderStatus.CANCELED,
    "ORDER_STATE_REJECTED": OrderStatus.REJECTED,
    "ORDER_STATE_EXPIRED": OrderStatus.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class MetaApiPosition:
    """An open MT position with what the protocol's ``VenuePosition`` has no room for:
    its id (needed to modify or close it) and its stop loss / take profit."""

    position_id: str
    client_order_id: str | None
    client_id: str | None
    symbol: str
    venue_symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal
    current_price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    profit: Decimal
    opened_at: datetime


#: MetatraderAccountInformation.marginMode of an account that keeps each position apart.
HEDGING = "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    currency: str
    balance: Decimal
    equity: Decimal
    margin: Decimal
    free_margin: Decimal
    leverage: int | None
    trade_allowed: bool
    platform: str
    login: str
    server: str
    #: ACCOUNT_MARGIN_MODE_RETAIL_HEDGING, _RETAIL_NETTING or _EXCHANGE (MT5; MT4 has none).
    margin_mode: str | None = None
    #: Connected with the investor (read-only) password: every trade is refused (-8).
    investor_mode: bool = False

    @property
    def nets(self) -> bool:
        """One position per symbol that orders add to, reduce or reverse. MT4 always hedges;
        an MT5 account that does not name its mode is taken to net (the safe reading)."""
        if self.platform.lower() == "mt4":
            return False
        return self.margin_mode != HEDGING


def dec(value: object, what: str = "number") -> Decimal:
    """A Decimal from a JSON value; a venue that sends garbage is a transient fault."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise TransientError(f"MetaApi sent no usable {what}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise TransientError(f"MetaApi sent an invalid {what}") from None


def opt_dec(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        result = dec(value)
    except TransientError:
        return None
    return result if result != 0 else None


def parse_time(value: object, default: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return default
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def market_from_spec(
    canonical: str,
    spec: Mapping[str, Any],
    price: Mapping[str, Any] | None,
    account_currency: str,
) -> Market:
    """``price_tick`` from tickSize (else 10^-digits), lots from the volume fields, and the
    *loss* tick value (what one tick against us costs per lot) for risk sizing."""
    digits = spec.get("digits")
    tick = opt_dec(spec.get("tickSize"))
    if tick is None:
        if not isinstance(digits, int):
            raise TransientError(f"MetaApi specification of {canonical} has no tick size")
        tick = Decimal(1).scaleb(-digits)
    tick_value = None
    if price is not None:
        tick_value = opt_dec(price.get("lossTickValue")) or opt_dec(price.get("profitTickValue"))
    base = str(spec.get("baseCurrency") or "")
    quote = str(spec.get("profitCurrency") or "")
    if not base or not quote:
        if len(canonical) == 6 and canonical.isalpha():
            base, quote = canonical[:3], canonical[3:]
        else:
            base, quote = canonical, account_currency
    max_volume = opt_dec(spec.get("maxVolume"))
    return Market(
        symbol=canonical,
        venue_symbol=str(spec.get("symbol") or canonical),
        base=base,
        quote=quote,
        kind=MarketKind.LINEAR,
        price_tick=tick,
        amount_step=dec(spec.get("volumeStep"), "volume step"),
        min_amount=opt_dec(spec.get("minVolume")) or ZERO,
        max_amount=max_volume,
        contract_size=opt_dec(spec.get("contractSize")) or Decimal(1),
        tick_value=tick_value,
        active=spec.get("tradeMode") != "SYMBOL_TRADE_MODE_DISABLED",
    )


def ticker_from_price(canonical: str, price: Mapping[str, Any], now: datetime) -> Ticker:
    bid = opt_dec(price.get("bid"))
    ask = opt_dec(price.get("ask"))
    if bid is None and ask is None:
        raise TransientError(f"MetaApi has no quote for {canonical}")
    last = (bid + ask) / 2 if bid is not None and ask is not None else (bid or ask)
    assert last is not None
    return Ticker(canonical, bid, ask, last, parse_time(price.get("time"), now))


def account_info(data: Mapping[str, Any]) -> AccountInfo:
    leverage = data.get("leverage")
    return AccountInfo(
        currency=str(data.get("currency") or ""),
        balance=dec(data.get("balance"), "balance"),
        equity=dec(data.get("equity", data.get("balance")), "equity"),
        margin=opt_dec(data.get("margin")) or ZERO,
        free_margin=dec(data.get("freeMargin", data.get("equity")), "free margin"),
        leverage=int(leverage) if isinstance(leverage, int | Decimal) else None,
        trade_allowed=bool(data.get("tradeAllowed", True)),
        platform=str(data.get("platform") or ""),
        login=str(data.get("login") or ""),
        server=str(data.get("server") or ""),
        margin_mode=_opt_str(data.get("marginMode")),
        investor_mode=data.get("investorMode") is True,
    )


def venue_order_from_order(
    order: Mapping[str, Any],
    *,
    canonical: str,
    client_order_id: str | None,
    deals: Iterable[Mapping[str, Any]] = (),
    position: Mapping[str, Any] | None = None,
    now: datetime,
) -> VenueOrder:
    """An open or history MT order; fill price from its deals, else the position it opened."""
    side, kind = ORDER_TYPES.get(str(order.get("type")), (OrderSide.BUY, VenueOrderType.MARKET))
    amount = dec(order.get("volume"), "volume")
    current = opt_dec(order.get("currentVolume"))
    state = str(order.get("state") or "ORDER_STATE_PLACED")
    status = ORDER_STATES.get(state, OrderStatus.OPEN)
    if status is OrderStatus.FILLED:
        filled = amount
    else:
        filled = amount - current if current is not None else ZERO
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
    average = _average_from_deals(str(order.get("id")), deals)
    if average is None and filled > 0:
        average = opt_dec((position or {}).get("openPrice")) or opt_dec(order.get("openPrice"))
    open_price = opt_dec(order.get("openPrice"))
    price = stop_price = None
    if kind is VenueOrderType.LIMIT:
        price = open_price
    elif kind is VenueOrderType.STOP_MARKET:
        stop_price = open_price
    elif kind is VenueOrderType.STOP_LIMIT:
        stop_price, price = open_price, opt_dec(order.get("stopLimitPrice"))
    created = parse_time(order.get("time"), now)
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id=str(order.get("id")),
        symbol=canonical,
        side=side,
        type=kind,
        status=status,
        amount=amount,
        filled=filled,
        average_price=average,
        fee=None,
        created_at=created,
        updated_at=parse_time(order.get("doneTime") or order.get("updateTime"), created),
        price=price,
        stop_price=stop_price,
        raw=dict(order),
    )


def venue_order_from_position(
    position: Mapping[str, Any], *, canonical: str, client_order_id: str | None, now: datetime
) -> VenueOrder:
    """A filled order seen only through the position it opened (history not synced yet)."""
    volume = dec(position.get("volume"), "volume")
    opened = parse_time(position.get("time"), now)
    return VenueOrder(
        client_order_id=client_order_id,
        venue_order_id=str(position.get("id")),
        symbol=canonical,
        side=OrderSide.BUY if position.get("type") == "POSITION_TYPE_BUY" else OrderSide.SELL,
        type=VenueOrderType.MARKET,
        status=OrderStatus.FILLED,
        amount=volume,
        filled=volume,
        average_price=opt_dec(position.get("openPrice")),
        fee=None,
        created_at=opened,
        updated_at=parse_time(position.get("updateTime"), opened),
        raw=dict(position),
    )


def metaapi_position(
    position: Mapping[str, Any], *, canonical: str, client_order_id: str | None, now: datetime
) -> MetaApiPosition:
    profit = position.get("unrealizedProfit", position.get("profit"))
    return MetaApiPosition(
        position_id=str(position.get("id")),
        client_order_id=client_order_id,
        client_id=_opt_str(position.get("clientId")),
        symbol=canonical,
        venue_symbol=str(position.get("symbol")),
        side=Side.LONG if position.get("type") == "POSITION_TYPE_BUY" else Side.SHORT,
        volume=dec(position.get("volume"), "volume"),
        open_price=dec(position.get("openPrice"), "open price"),
        current_price=opt_dec(position.get("currentPrice")),
        stop_loss=opt_dec(position.get("stopLoss")),
        take_profit=opt_dec(position.get("takeProfit")),
        profit=opt_dec(profit) or ZERO,
        opened_at=parse_time(position.get("time"), now),
    )


def venue_position(p: MetaApiPosition) -> VenuePosition:
    return VenuePosition(
        symbol=p.symbol,
        side=p.side,
        amount=p.volume,
        entry_price=p.open_price,
        leverage=None,
        unrealised_pnl=p.profit,
    )


def _average_from_deals(order_id: str, deals: Iterable[Mapping[str, Any]]) -> Decimal | None:
    volume = notional = ZERO
    for deal in deals:
        if str(deal.get("orderId")) != order_id:
            continue
        qty = opt_dec(deal.get("volume"))
        px = opt_dec(deal.get("price"))
        if qty is None or px is None:
            continue
        volume += qty
        notional += qty * px
    if volume == 0:
        return None
    return notional / volume


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
