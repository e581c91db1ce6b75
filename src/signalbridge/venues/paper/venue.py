"""Matching and accounting of the paper venue, on one account's state, without I/O.

Funds are reserved when an order is placed (quote for buys and margin, base for spot
sells) and settled fill by fill, so balances never go negative and an order that cannot be
paid for is refused up front with InsufficientFunds, like on a real venue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from signalbridge.domain.market import Market, MarketKind
from signalbridge.integrations.errors import InsufficientFunds, InvalidRequest
from signalbridge.venues.base import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    PositionSide,
    TimeInForce,
    VenueOrderType,
)
from signalbridge.venues.paper.rules import ZERO, Quote, VenueRules, exact
from signalbridge.venues.paper.state import AccountState, PaperFill, PaperOrder, PaperPosition

_STOPS = (VenueOrderType.STOP_MARKET, VenueOrderType.STOP_LIMIT)
_MARKET_LIKE = (
    VenueOrderType.MARKET,
    VenueOrderType.STOP_MARKET,
    VenueOrderType.TAKE_PROFIT_MARKET,
)


def place(
    state: AccountState,
    req: OrderRequest,
    market: Market,
    quote: Quote,
    rules: VenueRules,
    now: datetime,
    order_id: str,
) -> PaperOrder:
    """Validate, reserve funds, record the order and fill what is marketable now."""
    _validate(state, req, market, quote)
    linear = market.kind is MarketKind.LINEAR
    leverage = (req.leverage or state.leverage_for(market.symbol)) if linear else 1
    if market.max_leverage is not None and leverage > market.max_leverage:
        raise InvalidRequest(f"leverage {leverage} is above {market.max_leverage} for {req.symbol}")
    order = PaperOrder(
        id=order_id,
        account_id=state.account_id,
        client_order_id=req.client_order_id,
        symbol=market.symbol,
        side=req.side,
        type=req.type,
        status=OrderStatus.OPEN,
        amount=req.amount,
        filled=ZERO,
        price=req.price,
        stop_price=req.stop_price,
        reduce_only=req.reduce_only,
        leverage=leverage,
        time_in_force=req.time_in_force,
        average_price=None,
        fee=ZERO,
        fee_asset=market.quote,
        reserved=ZERO,
        reserved_asset=market.quote,
        triggered=False,
        created_at=now,
        updated_at=now,
    )
    need, asset = _reservation(state, order, market, quote, rules)
    balance = state.balance(asset)
    if balance.free < need:
        raise InsufficientFunds(
            f"insufficient {asset}: needs {exact(need)}, free {exact(balance.free)}"
        )
    _reserve(state, order, need, asset)
    state.touch_order(order)
    state.new_orders.add(order.id)
    if req.time_in_force is TimeInForce.FOK and not _fills_fully_now(order, quote, rules):
        _close(state, order, OrderStatus.EXPIRED, now, "fill-or-kill could not fill fully")
        return order
    _match(state, order, market, quote, rules, now, resting=False)
    if order.is_open and req.time_in_force is not TimeInForce.GTC:
        _close(state, order, OrderStatus.CANCELED, now, "immediate-or-cancel remainder")
    return order


def cancel(state: AccountState, order: PaperOrder, now: datetime) -> PaperOrder:
    if not order.is_open:
        raise InvalidRequest(f"order {order.client_order_id} is already {order.status}")
    _close(state, order, OrderStatus.CANCELED, now, "canceled by user")
    return order


def on_tick(
    state: AccountState, market: Market, quote: Quote, rules: VenueRules, now: datetime
) -> list[PaperOrder]:
    """Match every open order of this account on ``market`` at the new price."""
    touched: list[PaperOrder] = []
    orders = sorted(
        (o for o in state.orders.values() if o.is_open and o.symbol == market.symbol),
        key=lambda o: (o.created_at, o.id),
    )
    for order in orders:
        before = (order.status, order.filled, order.triggered)
        _match(state, order, market, quote, rules, now, resting=True)
        if (order.status, order.filled, order.triggered) != before:
            touched.append(order)
    return touched


def unrealised_pnl(position: PaperPosition, market: Market, last: Decimal) -> Decimal:
    sign = 1 if position.side is PositionSide.LONG else -1
    return exact((last - position.entry_price) * position.amount * market.contract_size * sign)


def liquidation_price(position: PaperPosition, market: Market) -> Decimal:
    """Isolated-margin estimate (0.5 % maintenance): where the margin is used up."""
    per_unit = position.margin / (position.amount * market.contract_size)
    maintenance = position.entry_price * Decimal("0.005")
    if position.side is PositionSide.LONG:
        return market.round_price(max(position.entry_price - per_unit + maintenance, ZERO))
    return market.round_price(position.entry_price + per_unit - maintenance)


# --- validation and reservation ------------------------------------------------------------


def _validate(state: AccountState, req: OrderRequest, market: Market, quote: Quote) -> None:
    if not market.active:
        raise InvalidRequest(f"{req.symbol} is not trading")
    if req.type.has_price:
        problem = market.precision_problem(req.amount, req.price)
    else:
        # A market-like order names no price: it trades at the book (the stop it waits
        # for, or the last price), so only its size and its notional there are checked.
        # The book is never "off the tick" for an order that did not choose it.
        problem = market.precision_problem(req.amount, None)
        notional = market.notional(req.amount, req.stop_price or quote.last)
        if problem is None and notional < market.min_notional:
            problem = f"notional {notional} is below the minimum {market.min_notional}"
    if problem is None and req.stop_price is not None:
        if req.stop_price % market.price_tick != 0:
            problem = f"stop price {req.stop_price} is not a multiple of the tick"
    if problem is not None:
        raise InvalidRequest(f"{req.symbol}: {problem}")
    if req.reduce_only:
        if market.kind is not MarketKind.LINEAR:
            raise InvalidRequest("reduce-only is only available on futures markets")
        position = state.positions.get(market.symbol)
        if position is None or _side_of(req.side) is position.side:
            raise InvalidRequest("reduce-only order would not reduce a position")
    if req.type.is_triggered and req.stop_price is not None:
        if _triggered(req.type, req.side, req.stop_price, quote.last):
            raise InvalidRequest(
                f"{req.type} order would trigger immediately (stop {req.stop_price}, "
                f"last {quote.last})"
            )


def _reference_price(order: PaperOrder, quote: Quote, rules: VenueRules) -> Decimal:
    if order.type.has_price and order.price is not None:
        return order.price
    base = order.stop_price if order.type.is_triggered and not order.triggered else None
    if order.side is OrderSide.BUY:
        return (base or quote.ask) * (1 + rules.slippage)
    return (base or quote.bid) * (1 - rules.slippage)


def _reservation(
    state: AccountState, order: PaperOrder, market: Market, quote: Quote, rules: VenueRules
) -> tuple[Decimal, str]:
    price = _reference_price(order, quote, rules)
    fee_rate = max(rules.maker_fee, rules.taker_fee)
    amount = order.remaining
    if market.kind is MarketKind.SPOT:
        if order.side is OrderSide.SELL:
            return amount, market.base
        return exact(amount * price * (1 + fee_rate)), market.quote
    if order.reduce_only:
        return ZERO, market.quote
    position = state.positions.get(market.symbol)
    closing = ZERO
    if position is not None and position.side is not _side_of(order.side):
        closing = min(position.amount, amount)
    notional = price * market.contract_size
    need = (amount - closing) * notional / order.leverage + amount * notional * fee_rate
    return exact(need), market.quote


def _reserve(state: AccountState, order: PaperOrder, amount: Decimal, asset: str) -> None:
    balance = state.balance(asset)
    amount = min(amount, balance.free)
    balance.free -= amount
    balance.used += amount
    order.reserved = amount
    order.reserved_asset = asset


def _release(state: AccountState, order: PaperOrder) -> None:
    if order.reserved:
        balance = state.balance(order.reserved_asset)
        balance.used -= order.reserved
        balance.free += order.reserved
        order.reserved = ZERO


def _close(
    state: AccountState, order: PaperOrder, status: OrderStatus, now: datetime, reason: str
) -> None:
    _release(state, order)
    order.status = status
    order.reason = reason
    order.updated_at = now
    state.touch_order(order)


# --- matching ------------------------------------------------------------------------------


def _side_of(side: OrderSide) -> PositionSide:
    return PositionSide.LONG if side is OrderSide.BUY else PositionSide.SHORT


def _triggered(kind: VenueOrderType, side: OrderSide, stop: Decimal, last: Decimal) -> bool:
    rising = kind in _STOPS if side is OrderSide.BUY else kind not in _STOPS
    return last >= stop if rising else last <= stop


def _fills_fully_now(order: PaperOrder, quote: Quote, rules: VenueRules) -> bool:
    limit_ok = _execution_price(order, quote, rules, resting=False) is not None
    caps_ok = rules.max_fill_fraction in (None, 1) and (
        rules.max_fill_amount is None or rules.max_fill_amount >= order.amount
    )
    return limit_ok and caps_ok


def _execution_price(
    order: PaperOrder, quote: Quote, rules: VenueRules, *, resting: bool
) -> Decimal | None:
    """Price this order trades at now, or None when it cannot trade yet."""
    taker = quote.ask * (1 + rules.slippage) if order.side is OrderSide.BUY else None
    if order.side is OrderSide.SELL:
        taker = quote.bid * (1 - rules.slippage)
    assert taker is not None
    if order.type in _MARKET_LIKE:
        return taker
    limit = order.price
    assert limit is not None
    if order.side is OrderSide.BUY:
        if quote.ask > limit:
            return None
        return limit if resting else min(taker, limit)
    if quote.bid < limit:
        return None
    return limit if resting else max(taker, limit)


def _match(
    state: AccountState,
    order: PaperOrder,
    market: Market,
    quote: Quote,
    rules: VenueRules,
    now: datetime,
    *,
    resting: bool,
) -> None:
    if order.type.is_triggered and not order.triggered:
        assert order.stop_price is not None
        if not _triggered(order.type, order.side, order.stop_price, quote.last):
            return
        order.triggered = True
        order.updated_at = now
        state.touch_order(order)
        resting = order.type.has_price  # a triggered limit rests; a triggered market takes
    price = _execution_price(order, quote, rules, resting=resting)
    if price is None:
        return
    maker = resting and order.type.has_price
    price = market.round_price(price)
    amount = _fill_amount(state, order, market, rules)
    if amount is None:
        _close(state, order, OrderStatus.CANCELED, now, "reduce-only: no position left")
        return
    _fill(state, order, amount, price, maker, market, rules, quote, now)


def _fill_amount(
    state: AccountState, order: PaperOrder, market: Market, rules: VenueRules
) -> Decimal | None:
    amount = order.remaining
    if rules.max_fill_fraction is not None:
        amount = min(amount, order.amount * rules.max_fill_fraction)
    if rules.max_fill_amount is not None:
        amount = min(amount, rules.max_fill_amount)
    amount = max(market.round_amount(amount), min(order.remaining, market.amount_step))
    if order.reduce_only:
        position = state.positions.get(market.symbol)
        if position is None or position.side is _side_of(order.side):
            return None
        amount = min(amount, position.amount)
    return amount


def _fill(
    state: AccountState,
    order: PaperOrder,
    amount: Decimal,
    price: Decimal,
    maker: bool,
    market: Market,
    rules: VenueRules,
    quote: Quote,
    now: datetime,
) -> None:
    _release(state, order)
    rate = rules.maker_fee if maker else rules.taker_fee
    apply: Callable[[Decimal], Decimal | None]
    if market.kind is MarketKind.SPOT:
        apply = lambda q: _settle_spot(state, order, q, price, rate, market)  # noqa: E731
    else:
        apply = lambda q: _settle_linear(state, order, q, price, rate, market)  # noqa: E731
    realised = apply(amount)
    if realised is None:
        _close(state, order, OrderStatus.CANCELED, now, "insufficient funds at fill")
        return
    fee = exact(amount * price * market.contract_size * rate)
    previous = order.filled
    order.filled += amount
    order.average_price = exact(
        ((order.average_price or ZERO) * previous + price * amount) / order.filled
    )
    order.fee = exact(order.fee + fee)
    order.updated_at = now
    order.status = OrderStatus.FILLED if order.remaining <= 0 else OrderStatus.PARTIALLY_FILLED
    state.fills.append(
        PaperFill(
            order_id=order.id,
            account_id=state.account_id,
            symbol=order.symbol,
            side=order.side,
            amount=amount,
            price=price,
            fee=fee,
            fee_asset=market.quote,
            maker=maker,
            realised_pnl=realised,
            at=now,
        )
    )
    if order.is_open:
        need, asset = _reservation(state, order, market, quote, rules)
        _reserve(state, order, need, asset)
    state.touch_order(order)


def _settle_spot(
    state: AccountState,
    order: PaperOrder,
    amount: Decimal,
    price: Decimal,
    rate: Decimal,
    market: Market,
) -> Decimal | None:
    cost = exact(amount * price)
    fee = exact(cost * rate)
    base, quote_balance = state.balance(market.base), state.balance(market.quote)
    if order.side is OrderSide.BUY:
        if quote_balance.free < cost + fee:
            return None
        quote_balance.free -= cost + fee
        base.free += amount
    else:
        if base.free < amount:
            return None
        base.free -= amount
        quote_balance.free += cost - fee
    return ZERO


def _settle_linear(
    state: AccountState,
    order: PaperOrder,
    amount: Decimal,
    price: Decimal,
    rate: Decimal,
    market: Market,
) -> Decimal | None:
    """Close against an opposite position first (realising PnL), then open the rest."""
    wallet = state.balance(market.quote)
    size = market.contract_size
    fee = exact(amount * price * size * rate)
    side = _side_of(order.side)
    position = state.positions.get(market.symbol)
    closing = ZERO
    if position is not None and position.side is not side:
        closing = min(position.amount, amount)
    opening = ZERO if order.reduce_only else amount - closing
    margin = exact(opening * price * size / order.leverage)
    if opening > 0 and wallet.free < margin + fee - _closing_credit(position, closing, price, size):
        return None  # closing is always allowed; only new exposure needs funds
    realised = ZERO
    if position is not None and closing > 0:
        sign = 1 if position.side is PositionSide.LONG else -1
        realised = exact((price - position.entry_price) * closing * size * sign)
        released = exact(position.margin * closing / position.amount)
        position.amount -= closing
        position.margin -= released
        position.realised_pnl += realised
        wallet.used -= released
        wallet.free += released + realised
        state.changed_positions.add(market.symbol)
        if position.amount == 0:
            wallet.used -= position.margin
            wallet.free += position.margin
            del state.positions[market.symbol]
            position = None
    if opening > 0:
        if position is None:
            position = PaperPosition(market.symbol, side, ZERO, price, order.leverage, ZERO)
            state.positions[market.symbol] = position
        total = position.amount + opening
        position.entry_price = exact(
            (position.entry_price * position.amount + price * opening) / total
        )
        position.amount = total
        position.margin += margin
        position.leverage = order.leverage
        wallet.free -= margin
        wallet.used += margin
        state.changed_positions.add(market.symbol)
    wallet.free -= fee
    return realised


def _closing_credit(
    position: PaperPosition | None, closing: Decimal, price: Decimal, size: Decimal
) -> Decimal:
    """Margin released plus PnL realised by the closing part (may be negative)."""
    if position is None or closing <= 0:
        return ZERO
    sign = 1 if position.side is PositionSide.LONG else -1
    pnl = (price - position.entry_price) * closing * size * sign
    return position.margin * closing / position.amount + pnl
