"""The MetaTrader state the MetaApi fake holds: symbols, accounts, positions, orders, deals.

Plain data, no rules (those are :mod:`tests.fakes.metaapi_broker`'s). Field names follow
MetaApi's models (MetatraderPosition, MetatraderOrder, MetatraderDeal,
MetatraderAccountInformation, the provisioning MetatraderAccount).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)

#: MetatraderAccountInformation.marginMode values (MT5; MT4 accounts always hedge).
HEDGING = "ACCOUNT_MARGIN_MODE_RETAIL_HEDGING"
NETTING = "ACCOUNT_MARGIN_MODE_RETAIL_NETTING"
EXCHANGE = "ACCOUNT_MARGIN_MODE_EXCHANGE"


@dataclass
class FakeSymbol:
    name: str
    digits: int
    contract_size: Decimal
    tick_value: Decimal
    bid: Decimal
    ask: Decimal
    min_volume: Decimal = Decimal("0.01")
    max_volume: Decimal = Decimal("100")
    volume_step: Decimal = Decimal("0.01")
    tick_size: Decimal | None = None
    base_currency: str = ""
    profit_currency: str = "USD"
    trade_mode: str = "SYMBOL_TRADE_MODE_FULL"

    @property
    def tick(self) -> Decimal:
        return self.tick_size or Decimal(1).scaleb(-self.digits)


def default_symbols() -> list[FakeSymbol]:
    """EURUSDm (suffixed, 5 digits), XAUUSD (2 digits, 100 oz lots), US30 (index CFD)."""
    return [
        FakeSymbol(
            "EURUSDm",
            5,
            Decimal(100000),
            Decimal(1),
            Decimal("1.08450"),
            Decimal("1.08462"),
            base_currency="EUR",
        ),
        FakeSymbol(
            "XAUUSD",
            2,
            Decimal(100),
            Decimal(1),
            Decimal("2350.10"),
            Decimal("2350.40"),
            base_currency="XAU",
        ),
        FakeSymbol(
            "US30",
            1,
            Decimal(1),
            Decimal("0.1"),
            Decimal("39000.0"),
            Decimal("39002.0"),
            min_volume=Decimal("0.1"),
            max_volume=Decimal(50),
            volume_step=Decimal("0.1"),
            base_currency="USD",
        ),
    ]


@dataclass
class FakePosition:
    id: str
    symbol: str
    type: str  # POSITION_TYPE_BUY | POSITION_TYPE_SELL
    volume: Decimal
    open_price: Decimal
    time: datetime
    order_id: str
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    client_id: str | None = None
    comment: str | None = None
    magic: int = 0

    @property
    def is_buy(self) -> bool:
        return self.type == "POSITION_TYPE_BUY"


@dataclass
class FakeOrder:
    id: str
    symbol: str
    type: str  # ORDER_TYPE_BUY, ORDER_TYPE_SELL_LIMIT, ...
    volume: Decimal
    open_price: Decimal | None
    time: datetime
    state: str = "ORDER_STATE_PLACED"
    current_volume: Decimal | None = None
    stop_limit_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    client_id: str | None = None
    comment: str | None = None
    position_id: str | None = None
    done_time: datetime | None = None
    magic: int = 0

    @property
    def is_buy(self) -> bool:
        return self.type.startswith("ORDER_TYPE_BUY")


@dataclass
class FakeDeal:
    id: str
    type: str  # DEAL_TYPE_BUY | DEAL_TYPE_SELL
    entry_type: str  # DEAL_ENTRY_IN | DEAL_ENTRY_OUT | DEAL_ENTRY_INOUT (netting reversal)
    symbol: str
    volume: Decimal
    price: Decimal
    profit: Decimal
    position_id: str
    order_id: str
    time: datetime
    client_id: str | None = None
    reason: str = "DEAL_REASON_EXPERT"  # DEAL_REASON_SL / _TP when the broker closed it


@dataclass
class FakeAccount:
    id: str
    balance: Decimal
    currency: str = "USD"
    leverage: int = 100
    platform: str = "mt5"
    symbols: dict[str, FakeSymbol] = field(default_factory=dict)
    positions: dict[str, FakePosition] = field(default_factory=dict)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    history_orders: list[FakeOrder] = field(default_factory=list)
    deals: list[FakeDeal] = field(default_factory=list)
    state: str = "DEPLOYED"
    connection_status: str = "CONNECTED"
    trade_allowed: bool = True
    #: The region the account is deployed in (provisioning ``region``); its client API
    #: host is ``mt-client-api-v1.<region>.<domain>``.
    region: str = "new-york"
    #: MetatraderAccountInformation.marginMode: hedging keeps each position apart;
    #: netting (and exchange) keeps one position per symbol that orders add to or reduce.
    margin_mode: str = HEDGING
    #: Connected with the investor (read-only) password: every trade answers -8.
    investor_mode: bool = False

    @property
    def nets(self) -> bool:
        return self.margin_mode in (NETTING, EXCHANGE)
