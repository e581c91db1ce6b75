"""The MetaTrader accounts behind the MetaApi fake and their trading rules, without HTTP.

Market orders open positions (hedging) or add to, reduce or reverse the one position of a
symbol (netting); pending orders fill when ``set_price`` crosses them; stop loss and take
profit close positions the same way. Refusals carry MetaTrader's and MetaApi's own return
codes: 4753 ``ERR_TRADE_POSITION_NOT_FOUND`` and 4754 ``ERR_TRADE_ORDER_NOT_FOUND`` for
ids the terminal does not know, -8 ``ERR_INVESTOR`` on an investor-password connection.

Two things the documentation leaves open are switches, so a client can be tested against
either reading: whether a POSITION_MODIFY without ``stopLoss``/``takeProfit`` keeps the
level or removes it (``omitted_levels``; a level of 0 removes it in both), and whether a
market order's result carries ``positionId`` (``report_position_id``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from tests.fakes.metaapi_rules import (
    PENDING_ACTIONS,
    TradeRefused,
    check_stops,
    check_volume,
    done,
    nonzero,
    on_tick,
    profit_of,
    with_order_part,
)
from tests.fakes.metaapi_state import (
    HEDGING,
    ZERO,
    FakeAccount,
    FakeDeal,
    FakeOrder,
    FakePosition,
    FakeSymbol,
    default_symbols,
)
from tests.fakes.metaapi_wire import order_json, position_json


class FakeBroker:
    """The MT accounts and the trading rules, without HTTP: thread-safe through ``lock``."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.accounts: dict[str, FakeAccount] = {}
        self.lock = threading.RLock()
        self.initial: dict[str, FakeAccount] = {}
        self.ids = itertools.count(46648037)
        #: What a POSITION_MODIFY without a level does to that level: ``keep`` or ``remove``.
        self.omitted_levels: Literal["keep", "remove"] = "keep"
        #: Whether a market order's result names the position it opened or changed.
        self.report_position_id = True

    def add_account(
        self,
        account_id: str,
        *,
        balance: Decimal = Decimal(10000),
        currency: str = "USD",
        leverage: int = 100,
        symbols: list[FakeSymbol] | None = None,
        platform: str = "mt5",
        region: str = "new-york",
        margin_mode: str = HEDGING,
        investor_mode: bool = False,
    ) -> FakeAccount:
        with self.lock:
            account = FakeAccount(
                account_id,
                balance,
                currency,
                leverage,
                platform,
                symbols={s.name: replace(s) for s in (symbols or default_symbols())},
                region=region,
                margin_mode=margin_mode,
                investor_mode=investor_mode,
                trade_allowed=not investor_mode,
            )
            self.accounts[account_id] = account
            self.initial[account_id] = replace(
                account, symbols={k: replace(s) for k, s in account.symbols.items()}
            )
            return account

    def reset(self) -> None:
        """Every account back to how it was added, and both switches to their defaults."""
        with self.lock:
            for account_id, first in self.initial.items():
                account = self.accounts[account_id]  # in place: tests may hold it
                account.balance = first.balance
                account.symbols = {k: replace(s) for k, s in first.symbols.items()}
                account.state, account.connection_status = first.state, first.connection_status
                account.trade_allowed, account.region = first.trade_allowed, first.region
                account.margin_mode, account.investor_mode = first.margin_mode, first.investor_mode
                account.positions.clear()
                account.orders.clear()
                account.history_orders.clear()
                account.deals.clear()
            self.omitted_levels = "keep"
            self.report_position_id = True

    def set_price(
        self, account_id: str, symbol: str, bid: Decimal, ask: Decimal | None = None
    ) -> None:
        """Move the market; fills pending orders and triggers SL/TP that the move crosses."""
        with self.lock:
            account = self.accounts[account_id]
            spec = account.symbols[symbol]
            spec.bid = bid
            spec.ask = ask if ask is not None else bid
            self.fill_pending(account, spec)
            self.trigger_stops(account, spec)

    def add_history(self, account_id: str, count: int, *, at: datetime, symbol: str) -> None:
        """``count`` closed trades of someone else (no clientId) at ``at``: history filler."""
        with self.lock:
            account = self.accounts[account_id]
            price = account.symbols[symbol].bid
            for i in range(count):
                when = at + timedelta(microseconds=i)
                order = FakeOrder(
                    self.next_id(),
                    symbol,
                    "ORDER_TYPE_BUY",
                    Decimal("0.01"),
                    price,
                    when,
                    state="ORDER_STATE_FILLED",
                    current_volume=ZERO,
                    done_time=when,
                )
                order.position_id = order.id
                account.history_orders.append(order)
                account.deals.append(
                    FakeDeal(
                        self.next_id(),
                        "DEAL_TYPE_BUY",
                        "DEAL_ENTRY_IN",
                        symbol,
                        order.volume,
                        price,
                        ZERO,
                        order.id,
                        order.id,
                        when,
                    )
                )

    # -- trading rules

    def execute(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        if account.investor_mode:
            raise TradeRefused(-8, "ERR_INVESTOR", "Trading is not allowed with investor password")
        action = body["actionType"]
        if action in ("ORDER_TYPE_BUY", "ORDER_TYPE_SELL"):
            return self.market(account, body)
        if action in PENDING_ACTIONS:
            return self.pending(account, body)
        if action == "ORDER_CANCEL":
            order = account.orders.pop(str(body.get("orderId")), None)
            if order is None:
                raise TradeRefused(4754, "ERR_TRADE_ORDER_NOT_FOUND", "Order not found")
            order.state, order.done_time = "ORDER_STATE_CANCELED", self.clock()
            account.history_orders.append(order)
            return done(order_id=order.id)
        if action not in ("POSITION_MODIFY", "POSITION_CLOSE_ID", "POSITION_PARTIAL"):
            raise TradeRefused(10013, "TRADE_RETCODE_INVALID", f"Unsupported action {action}")
        position = account.positions.get(str(body.get("positionId")))
        if position is None:
            raise TradeRefused(4753, "ERR_TRADE_POSITION_NOT_FOUND", "Position not found")
        spec = account.symbols[position.symbol]
        if action == "POSITION_MODIFY":
            return self.modify(spec, position, body)
        client_id = body.get("clientId")
        if action == "POSITION_CLOSE_ID":
            order = self.close(account, position, position.volume, client_id)
            return done(order_id=order.id, position_id=position.id)
        volume = body.get("volume")
        if not isinstance(volume, Decimal | int) or volume <= 0 or volume > position.volume:
            raise TradeRefused(10038, "TRADE_RETCODE_INVALID_CLOSE_VOLUME", "Invalid close volume")
        check_volume(spec, Decimal(volume))
        order = self.close(account, position, Decimal(volume), client_id)
        return done(order_id=order.id, position_id=position.id)

    def modify(
        self, spec: FakeSymbol, position: FakePosition, body: dict[str, Any]
    ) -> dict[str, Any]:
        sl = self.level(body, "stopLoss", position.stop_loss)
        tp = self.level(body, "takeProfit", position.take_profit)
        if sl == position.stop_loss and tp == position.take_profit:
            return {
                "numericCode": 10025,
                "stringCode": "TRADE_RETCODE_NO_CHANGES",
                "message": "No changes",
                "positionId": position.id,
            }
        reference = spec.bid if position.is_buy else spec.ask
        check_stops(spec, position.is_buy, reference, sl, tp)
        position.stop_loss, position.take_profit = sl, tp
        return done(position_id=position.id)

    def level(self, body: dict[str, Any], name: str, current: Decimal | None) -> Decimal | None:
        """A level after a modify: 0 removes it; left out, ``omitted_levels`` decides."""
        if name not in body or body[name] is None:
            return current if self.omitted_levels == "keep" else None
        value = Decimal(body[name])
        return None if value == 0 else value

    def spec_for(self, account: FakeAccount, body: dict[str, Any]) -> FakeSymbol:
        spec = account.symbols.get(str(body.get("symbol")))
        if spec is None:
            raise TradeRefused(10013, "TRADE_RETCODE_INVALID", "Unknown symbol")
        if spec.trade_mode == "SYMBOL_TRADE_MODE_DISABLED":
            raise TradeRefused(10018, "TRADE_RETCODE_MARKET_CLOSED", "Market closed")
        if spec.bid <= 0 or spec.ask <= 0:
            raise TradeRefused(10021, "TRADE_RETCODE_PRICE_OFF", "No quotes")
        return spec

    def market(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec_for(account, body)
        buy = body["actionType"] == "ORDER_TYPE_BUY"
        volume = Decimal(body["volume"])
        check_volume(spec, volume)
        price = spec.ask if buy else spec.bid
        sl, tp = nonzero(body.get("stopLoss")), nonzero(body.get("takeProfit"))
        check_stops(spec, buy, spec.bid if buy else spec.ask, sl, tp)
        held = self.netted(account, spec.name)
        if held is None or held.is_buy == buy:
            self.check_margin(account, spec, volume, price)
        now = self.clock()
        order = FakeOrder(
            self.next_id(),
            spec.name,
            body["actionType"],
            volume,
            price,
            now,
            state="ORDER_STATE_FILLED",
            current_volume=ZERO,
            stop_loss=sl,
            take_profit=tp,
            client_id=body.get("clientId"),
            comment=body.get("comment"),
            done_time=now,
        )
        position_id = self.fill(account, order, price)
        return done(order_id=order.id, position_id=position_id if self.report_position_id else None)

    def pending(self, account: FakeAccount, body: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec_for(account, body)
        action: str = body["actionType"]
        buy = action.startswith("ORDER_TYPE_BUY")
        volume = Decimal(body["volume"])
        check_volume(spec, volume)
        price = body.get("openPrice")
        if not isinstance(price, Decimal | int) or price <= 0 or not on_tick(spec, Decimal(price)):
            raise TradeRefused(10015, "TRADE_RETCODE_INVALID_PRICE", "Invalid price")
        price = Decimal(price)
        limit = action.endswith("_LIMIT") and "STOP" not in action
        wrong_side = (
            (price >= spec.ask if buy else price <= spec.bid)
            if limit
            else (price <= spec.ask if buy else price >= spec.bid)
        )
        if wrong_side:
            raise TradeRefused(10015, "TRADE_RETCODE_INVALID_PRICE", "Invalid price")
        sl, tp = nonzero(body.get("stopLoss")), nonzero(body.get("takeProfit"))
        check_stops(spec, buy, price, sl, tp)
        self.check_margin(account, spec, volume, price)
        order = FakeOrder(
            self.next_id(),
            spec.name,
            action,
            volume,
            price,
            self.clock(),
            current_volume=volume,
            stop_limit_price=body.get("stopLimitPrice"),
            stop_loss=sl,
            take_profit=tp,
            client_id=body.get("clientId"),
            comment=body.get("comment"),
        )
        account.orders[order.id] = order
        return {
            "numericCode": 10008,
            "stringCode": "TRADE_RETCODE_PLACED",
            "message": "Order placed",
            "orderId": order.id,
        }

    def netted(self, account: FakeAccount, symbol: str) -> FakePosition | None:
        """The one position of ``symbol`` on a netting account (None when hedging)."""
        if not account.nets:
            return None
        return next((p for p in account.positions.values() if p.symbol == symbol), None)

    def fill(self, account: FakeAccount, order: FakeOrder, price: Decimal) -> str:
        """Book a filled order: a new position (hedging, or nothing held), else netting's
        add / reduce / close / reverse of the symbol's one position. Its position id."""
        account.history_orders.append(order)
        held = self.netted(account, order.symbol)
        if held is None:
            return self.open(account, order, price).id
        order.position_id = held.id
        side = "DEAL_TYPE_BUY" if order.is_buy else "DEAL_TYPE_SELL"
        if held.is_buy == order.is_buy:
            total = held.volume + order.volume
            held.open_price = (held.open_price * held.volume + price * order.volume) / total
            held.volume = total
            if order.stop_loss is not None or order.take_profit is not None:
                held.stop_loss, held.take_profit = order.stop_loss, order.take_profit
            self.deal(account, order, held, "DEAL_ENTRY_IN", side, order.volume, price, ZERO)
            return held.id
        spec = account.symbols[held.symbol]
        closed = min(held.volume, order.volume)
        profit = profit_of(spec, held, price, closed)
        account.balance += profit
        if order.volume <= held.volume:
            self.deal(account, order, held, "DEAL_ENTRY_OUT", side, closed, price, profit)
            held.volume -= closed
            if held.volume <= 0:
                del account.positions[held.id]
            return held.id
        self.deal(account, order, held, "DEAL_ENTRY_INOUT", side, order.volume, price, profit)
        held.type = "POSITION_TYPE_BUY" if order.is_buy else "POSITION_TYPE_SELL"
        held.volume, held.open_price = order.volume - closed, price
        held.stop_loss, held.take_profit = order.stop_loss, order.take_profit
        return held.id

    def open(self, account: FakeAccount, order: FakeOrder, price: Decimal) -> FakePosition:
        position = FakePosition(
            order.id,
            order.symbol,
            "POSITION_TYPE_BUY" if order.is_buy else "POSITION_TYPE_SELL",
            order.volume,
            price,
            order.done_time or self.clock(),
            order.id,
            order.stop_loss,
            order.take_profit,
            order.client_id,
            order.comment,
        )
        order.position_id = position.id
        account.positions[position.id] = position
        side = "DEAL_TYPE_BUY" if order.is_buy else "DEAL_TYPE_SELL"
        self.deal(account, order, position, "DEAL_ENTRY_IN", side, order.volume, price, ZERO)
        return position

    def deal(
        self,
        account: FakeAccount,
        order: FakeOrder,
        position: FakePosition,
        entry: str,
        side: str,
        volume: Decimal,
        price: Decimal,
        profit: Decimal,
        reason: str = "DEAL_REASON_EXPERT",
    ) -> None:
        account.deals.append(
            FakeDeal(
                self.next_id(),
                side,
                entry,
                position.symbol,
                volume,
                price,
                profit,
                position.id,
                order.id,
                order.done_time or self.clock(),
                order.client_id,
                reason,
            )
        )

    def close(
        self,
        account: FakeAccount,
        position: FakePosition,
        volume: Decimal,
        client_id: str | None,
        price: Decimal | None = None,
        reason: str = "DEAL_REASON_EXPERT",
    ) -> FakeOrder:
        """Close ``volume`` of a position. A close by the broker (stop loss, take profit)
        keeps the position's clientId with its order part replaced by the MT order id."""
        spec = account.symbols[position.symbol]
        exit_price = price if price is not None else (spec.bid if position.is_buy else spec.ask)
        profit = profit_of(spec, position, exit_price, volume)
        account.balance += profit
        now = self.clock()
        order = FakeOrder(
            self.next_id(),
            position.symbol,
            "ORDER_TYPE_SELL" if position.is_buy else "ORDER_TYPE_BUY",
            volume,
            exit_price,
            now,
            state="ORDER_STATE_FILLED",
            current_volume=ZERO,
            position_id=position.id,
            done_time=now,
        )
        if reason == "DEAL_REASON_EXPERT":
            order.client_id = client_id or position.client_id
        elif reason == "DEAL_REASON_CLIENT":
            order.client_id = None  # closed by hand in the terminal: no comment of ours
        else:
            order.client_id = with_order_part(position.client_id, order.id)
        account.history_orders.append(order)
        side = "DEAL_TYPE_SELL" if position.is_buy else "DEAL_TYPE_BUY"
        self.deal(
            account, order, position, "DEAL_ENTRY_OUT", side, volume, exit_price, profit, reason
        )
        position.volume -= volume
        if position.volume <= 0:
            del account.positions[position.id]
        return order

    def fill_pending(self, account: FakeAccount, spec: FakeSymbol) -> None:
        for order in [o for o in account.orders.values() if o.symbol == spec.name]:
            assert order.open_price is not None
            kind = order.type.removeprefix("ORDER_TYPE_BUY_").removeprefix("ORDER_TYPE_SELL_")
            buy = order.is_buy
            if kind == "LIMIT":
                hit = spec.ask <= order.open_price if buy else spec.bid >= order.open_price
                price = order.open_price
            else:
                hit = spec.ask >= order.open_price if buy else spec.bid <= order.open_price
                price = spec.ask if buy else spec.bid
            if not hit:
                continue
            del account.orders[order.id]
            order.state, order.done_time, order.current_volume = (
                "ORDER_STATE_FILLED",
                self.clock(),
                ZERO,
            )
            self.fill(account, order, price)

    def trigger_stops(self, account: FakeAccount, spec: FakeSymbol) -> None:
        for position in [p for p in account.positions.values() if p.symbol == spec.name]:
            mark = spec.bid if position.is_buy else spec.ask
            sl, tp = position.stop_loss, position.take_profit
            if position.is_buy:
                stop = sl is not None and mark <= sl
                target = tp is not None and mark >= tp
            else:
                stop = sl is not None and mark >= sl
                target = tp is not None and mark <= tp
            if stop or target:
                reason = "DEAL_REASON_SL" if stop else "DEAL_REASON_TP"
                self.close(account, position, position.volume, None, mark, reason)

    def check_margin(
        self, account: FakeAccount, spec: FakeSymbol, volume: Decimal, price: Decimal
    ) -> None:
        equity, margin = self.equity_and_margin(account)
        needed = volume * spec.contract_size * price / account.leverage
        if needed > equity - margin:
            raise TradeRefused(10019, "TRADE_RETCODE_NO_MONEY", "No money")

    def equity_and_margin(self, account: FakeAccount) -> tuple[Decimal, Decimal]:
        equity, margin = account.balance, ZERO
        for p in account.positions.values():
            spec = account.symbols[p.symbol]
            equity += profit_of(spec, p, spec.bid if p.is_buy else spec.ask, p.volume)
            margin += p.volume * spec.contract_size * p.open_price / account.leverage
        return equity, margin

    def position_json(self, account: FakeAccount, p: FakePosition) -> dict[str, Any]:
        spec = account.symbols[p.symbol]
        current = spec.bid if p.is_buy else spec.ask
        profit = profit_of(spec, p, current, p.volume)
        return position_json(account, p, current, spec.tick_value, profit)

    def order_json(self, account: FakeAccount, o: FakeOrder) -> dict[str, Any]:
        spec = account.symbols[o.symbol]
        return order_json(account, o, spec.ask if o.is_buy else spec.bid)

    def next_id(self) -> str:
        return str(next(self.ids))
