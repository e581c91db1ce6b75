"""The fake OKX's account: instruments, prices, one unified trading account, orders, fills
and positions, as OKX's API v5 documents them (https://www.okx.com/docs-v5/en/).

Pure state, no HTTP: :mod:`tests.fakes.okx` serves it. Every refusal is an
:class:`OkxError` with OKX's own code and message. What it follows:

- one *unified* trading account (``acctLv`` 2): spot and SWAP share the USDT balance;
- SWAP sizes are in contracts (``ctVal`` coins each), spot sizes in the base coin
  (``tgtCcy`` ``base_ccy``); spot orders trade with ``tdMode`` ``cash``, SWAP orders with
  ``cross`` or ``isolated``, and each margin mode holds its own position;
- ``posMode`` ``net_mode`` (one position per instrument and margin mode, ``posSide``
  ``net``) or ``long_short_mode`` (``posSide`` ``long``/``short`` required on every SWAP
  order, ``reduceOnly`` not used); it can only change with no position and no live order
  (59000);
- ``clOrdId``: 1-32 case-sensitive letters and digits; a ``clOrdId`` already held by a
  live order is refused (51016); a lookup by ``clOrdId`` returns the latest order with it;
- market orders fill at once at the last price; limit orders fill at once when marketable
  (at the last price) and otherwise rest until :meth:`OkxBook.set_price` crosses them;
- fees (negative ``fee`` is a charge): spot taker 0.1 % / maker 0.08 %, a spot buy pays in
  the coin bought; SWAP taker 0.05 % / maker 0.02 % in USDT.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

D = Decimal
ZERO = D(0)
CLORDID = re.compile(r"[A-Za-z0-9]{1,32}")
LIVE = ("live", "partially_filled")
#: (taker, maker) fee rates
SPOT_FEES = (D("0.001"), D("0.0008"))
SWAP_FEES = (D("0.0005"), D("0.0002"))


class OkxError(Exception):
    """A refusal: ``code``/``msg`` as OKX sends them; ``order`` marks a per-order refusal
    (answered inside ``data`` as ``sCode``/``sMsg`` under ``code`` "1")."""

    def __init__(self, code: str, msg: str, *, status: int = 200, order: bool = False) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg, self.status, self.order = code, msg, status, order


def param_error(name: str) -> OkxError:
    return OkxError("51000", f"Parameter {name} error", order=True)


@dataclass
class Instrument:
    inst_id: str
    inst_type: str  # SPOT | SWAP
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_sz: Decimal
    ct_val: Decimal = Decimal(1)
    max_lever: int = 10

    def wire(self) -> dict[str, Any]:
        swap = self.inst_type == "SWAP"
        family = f"{self.base}-{self.quote}" if swap else ""
        return {
            "alias": "",
            "baseCcy": "" if swap else self.base,
            "category": "1",
            "ctMult": "1" if swap else "",
            "ctType": "linear" if swap else "",
            "ctVal": str(self.ct_val) if swap else "",
            "ctValCcy": self.base if swap else "",
            "expTime": "",
            "instFamily": family,
            "instId": self.inst_id,
            "instType": self.inst_type,
            "lever": str(self.max_lever),
            "listTime": "1606468572000",
            "lotSz": str(self.lot),
            "maxLmtSz": "10000000",
            "maxMktSz": "1000000",
            "minSz": str(self.min_sz),
            "optType": "",
            "quoteCcy": "" if swap else self.quote,
            "settleCcy": self.quote if swap else "",
            "state": "live",
            "stk": "",
            "tickSz": str(self.tick),
            "uly": family,
        }


def default_instruments() -> dict[str, Instrument]:
    items = [
        Instrument("BTC-USDT", "SPOT", "BTC", "USDT", D("0.1"), D("0.00000001"), D("0.00001")),
        Instrument("ETH-USDT", "SPOT", "ETH", "USDT", D("0.01"), D("0.000001"), D("0.0001")),
        Instrument(
            "BTC-USDT-SWAP", "SWAP", "BTC", "USDT", D("0.1"), D("0.01"), D("0.01"), D("0.01"), 100
        ),
        Instrument(
            "ETH-USDT-SWAP", "SWAP", "ETH", "USDT", D("0.01"), D("0.01"), D("0.01"), D("0.1"), 100
        ),
    ]
    return {i.inst_id: i for i in items}


@dataclass
class FakeOrder:
    ord_id: str
    cl_ord_id: str
    inst: Instrument
    side: str
    ord_type: str
    td_mode: str
    pos_side: str
    sz: Decimal
    px: Decimal | None
    reduce_only: bool
    c_time: int
    state: str = "live"
    filled: Decimal = ZERO
    avg_px: Decimal | None = None
    fee: Decimal = ZERO
    fee_ccy: str = ""
    u_time: int = 0
    lever: str = ""
    tag: str = ""

    def wire(self) -> dict[str, Any]:
        return {
            "instType": self.inst.inst_type,
            "instId": self.inst.inst_id,
            "ccy": "",
            "ordId": self.ord_id,
            "clOrdId": self.cl_ord_id,
            "tag": self.tag,
            "px": "" if self.px is None else str(self.px),
            "sz": str(self.sz),
            "pnl": "0",
            "ordType": self.ord_type,
            "side": self.side,
            "posSide": self.pos_side,
            "tdMode": self.td_mode,
            "accFillSz": str(self.filled),
            "fillPx": "" if self.avg_px is None else str(self.avg_px),
            "fillSz": str(self.filled),
            "fillTime": str(self.u_time) if self.filled else "",
            "avgPx": "" if self.avg_px is None else str(self.avg_px),
            "state": self.state,
            "lever": self.lever,
            "feeCcy": self.fee_ccy,
            "fee": str(-self.fee) if self.fee else "0",
            "rebateCcy": self.fee_ccy,
            "rebate": "0",
            "tgtCcy": "base_ccy" if self.inst.inst_type == "SPOT" else "",
            "category": "normal",
            "reduceOnly": "true" if self.reduce_only else "false",
            "cancelSource": "",
            "uTime": str(self.u_time or self.c_time),
            "cTime": str(self.c_time),
        }


@dataclass
class FakePosition:
    inst: Instrument
    mgn_mode: str
    pos_side: str  # net | long | short
    pos: Decimal = ZERO  # signed in net mode, positive in long/short mode
    avg_px: Decimal = ZERO
    lever: int = 10
    c_time: int = 0
    u_time: int = 0

    @property
    def direction(self) -> int:
        if self.pos_side == "short":
            return -1
        if self.pos_side == "long":
            return 1
        return 1 if self.pos > 0 else -1

    def margin(self) -> Decimal:
        return abs(self.pos) * self.inst.ct_val * self.avg_px / self.lever

    def wire(self, last: Decimal) -> dict[str, Any]:
        size = abs(self.pos)
        upl = (last - self.avg_px) * size * self.inst.ct_val * self.direction
        margin = self.margin()
        return {
            "instType": "SWAP",
            "instId": self.inst.inst_id,
            "mgnMode": self.mgn_mode,
            "posId": f"{abs(hash((self.inst.inst_id, self.mgn_mode, self.pos_side))) % 10**15}",
            "posSide": self.pos_side,
            "pos": str(self.pos),
            "availPos": str(size),
            "posCcy": "",
            "avgPx": str(self.avg_px),
            "upl": str(upl),
            "uplRatio": str(upl / margin) if margin else "0",
            "lever": str(self.lever),
            "liqPx": "",
            "markPx": str(last),
            "last": str(last),
            "margin": str(margin) if self.mgn_mode == "isolated" else "",
            "imr": str(margin) if self.mgn_mode == "cross" else "",
            "mmr": str(margin / 10),
            "notionalUsd": str(size * self.inst.ct_val * last),
            "ccy": self.inst.quote,
            "adl": "1",
            "cTime": str(self.c_time),
            "uTime": str(self.u_time),
            "realizedPnl": "0",
        }


@dataclass
class Fill:
    order: FakeOrder
    trade_id: str
    px: Decimal
    sz: Decimal
    fee: Decimal
    ts: int


@dataclass
class AccountConfig:
    """``GET /api/v5/account/config``: the position mode and the key's permissions."""

    pos_mode: str = "net_mode"
    perm: str = "read_only,trade"
    ip: str = ""

    def wire(self, uid: str) -> dict[str, Any]:
        return {
            "uid": uid,
            "mainUid": uid,
            "acctLv": "2",
            "posMode": self.pos_mode,
            "autoLoan": False,
            "greeksType": "PA",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "spotOffsetType": "",
            "roleType": "0",
            "traderInsts": [],
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "opAuth": "0",
            "kycLv": "2",
            "label": "signalbridge",
            "ip": self.ip,
            "perm": self.perm,
            "liquidationGear": "-1",
            "enableSpotBorrow": False,
            "spotBorrowAutoRepay": False,
            "type": "0",
        }


@dataclass
class OkxBook:
    """The account's state; the server holds its lock around every call."""

    instruments: dict[str, Instrument] = field(default_factory=default_instruments)
    prices: dict[str, Decimal] = field(default_factory=dict)
    cash: dict[str, Decimal] = field(default_factory=lambda: {"USDT": D(10_000)})
    orders: list[FakeOrder] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: dict[tuple[str, str, str], FakePosition] = field(default_factory=dict)
    leverage: dict[tuple[str, str, str], int] = field(default_factory=dict)
    config: AccountConfig = field(default_factory=AccountConfig)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(600_000_001))

    def __post_init__(self) -> None:
        for inst in self.instruments.values():
            self.prices.setdefault(inst.inst_id, D(50_000) if inst.base == "BTC" else D(3_000))

    # -- reads -------------------------------------------------------------------------

    def instrument(self, inst_id: str | None, *, code: str = "51001") -> Instrument:
        inst = self.instruments.get(inst_id or "")
        if inst is None:
            raise OkxError(code, f"Instrument ID {inst_id} does not exist.", order=True)
        return inst

    def ticker(self, inst: Instrument, now: int) -> dict[str, Any]:
        last = str(self.prices[inst.inst_id])
        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "last": last,
            "lastSz": "0.1",
            "askPx": last,
            "askSz": "10",
            "bidPx": last,
            "bidSz": "10",
            "open24h": last,
            "high24h": last,
            "low24h": last,
            "volCcy24h": "1000",
            "vol24h": "10",
            "ts": str(now),
            "sodUtc0": last,
            "sodUtc8": last,
        }

    def frozen(self, ccy: str) -> Decimal:
        """What live orders and open positions hold of ``ccy``."""
        held = ZERO
        for o in self.orders:
            if o.state not in LIVE or o.px is None:
                continue
            rest = o.sz - o.filled
            if o.inst.inst_type == "SPOT":
                if o.side == "buy" and ccy == o.inst.quote:
                    held += rest * o.px
                if o.side == "sell" and ccy == o.inst.base:
                    held += rest
            elif ccy == o.inst.quote and not o.reduce_only:
                held += rest * o.inst.ct_val * o.px / self.lever_of(o.inst, o.td_mode, o.pos_side)
        for p in self.positions.values():
            if p.inst.quote == ccy:
                held += p.margin()
        return held

    def available(self, ccy: str) -> Decimal:
        return self.cash.get(ccy, ZERO) - self.frozen(ccy)

    def balance(self, now: int) -> dict[str, Any]:
        details = []
        for ccy, cash in sorted(self.cash.items()):
            upl = sum(
                (
                    (self.prices[p.inst.inst_id] - p.avg_px)
                    * abs(p.pos)
                    * p.inst.ct_val
                    * p.direction
                    for p in self.positions.values()
                    if p.inst.quote == ccy
                ),
                ZERO,
            )
            frozen = self.frozen(ccy)
            details.append(
                {
                    "ccy": ccy,
                    "eq": str(cash + upl),
                    "cashBal": str(cash),
                    "availBal": str(cash - frozen),
                    "availEq": str(cash - frozen),
                    "frozenBal": str(frozen),
                    "ordFrozen": str(frozen),
                    "upl": str(upl),
                    "uTime": str(now),
                    "eqUsd": str(cash + upl),
                }
            )
        return {"uTime": str(now), "totalEq": "0", "adjEq": "", "details": details}

    def lever_of(self, inst: Instrument, mgn_mode: str, pos_side: str) -> int:
        side = pos_side if mgn_mode == "isolated" else "net"
        return self.leverage.get((inst.inst_id, mgn_mode, side), 10)

    def find(self, inst: Instrument, ord_id: str | None, cl_ord_id: str | None) -> FakeOrder:
        for o in reversed(self.orders):
            if o.inst is not inst:
                continue
            if (ord_id and o.ord_id == ord_id) or (cl_ord_id and o.cl_ord_id == cl_ord_id):
                return o
        raise OkxError("51603", "Order does not exist")

    # -- writes ------------------------------------------------------------------------

    def place(self, p: dict[str, Any], now: int) -> FakeOrder:
        """``POST /api/v5/trade/order`` (one entry of ``batch-orders``)."""
        inst = self.instrument(_text(p, "instId"))
        side = _text(p, "side")
        if side not in ("buy", "sell"):
            raise param_error("side")
        ord_type = _text(p, "ordType")
        if ord_type not in ("market", "limit", "post_only", "fok", "ioc"):
            raise param_error("ordType")
        td_mode = _text(p, "tdMode")
        if td_mode not in (("cash",) if inst.inst_type == "SPOT" else ("cross", "isolated")):
            raise param_error("tdMode")
        cl = _text(p, "clOrdId")
        if cl and not CLORDID.fullmatch(cl):
            raise param_error("clOrdId")
        if cl and any(o.cl_ord_id == cl and o.state in LIVE for o in self.orders):
            raise OkxError("51016", "Duplicated clOrdId", order=True)
        sz = _decimal(p, "sz")
        if sz <= 0 or sz % inst.lot != 0:
            raise OkxError(
                "51121",
                f"Order quantity must be a multiple of the lot size {inst.lot}.",
                order=True,
            )
        if sz < inst.min_sz:
            raise OkxError(
                "51020", "Your order should meet or exceed the minimum order amount.", order=True
            )
        px: Decimal | None = None
        if ord_type != "market":
            px = _decimal(p, "px")
            if px <= 0 or px % inst.tick != 0:
                raise param_error("px")
        reduce_only = str(p.get("reduceOnly", "false")).lower() == "true"
        pos_side = self._pos_side(inst, p, reduce_only)
        order = FakeOrder(
            str(next(self._ids)), cl, inst, side, ord_type, td_mode, pos_side, sz, px,
            reduce_only, now, tag=str(p.get("tag") or ""),
        )  # fmt: skip
        if inst.inst_type == "SWAP":
            order.lever = str(self.lever_of(inst, td_mode, pos_side))
        last = self.prices[inst.inst_id]
        marketable = px is None or (px >= last if side == "buy" else px <= last)
        if ord_type == "post_only" and marketable:
            order.state = "canceled"  # OKX cancels a post-only order that would take
            self.orders.append(order)
            return order
        if ord_type in ("fok", "ioc") and not marketable:
            order.state = "canceled"
            self.orders.append(order)
            return order
        self._check_funds(order, last if marketable else px or last)
        self.orders.append(order)
        if marketable:
            self._fill(order, last, now, taker=True)
        return order

    def _pos_side(self, inst: Instrument, p: dict[str, Any], reduce_only: bool) -> str:
        pos_side = _text(p, "posSide")
        if inst.inst_type == "SPOT":
            return ""
        if self.config.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise param_error("posSide")
            return pos_side
        if pos_side not in ("", "net"):
            raise param_error("posSide")
        return "net"

    def _check_funds(self, order: FakeOrder, price: Decimal) -> None:
        inst = order.inst
        if inst.inst_type == "SPOT":
            ccy, need = (
                (inst.quote, order.sz * price) if order.side == "buy" else (inst.base, order.sz)
            )
            if self.available(ccy) < need:
                raise OkxError(
                    "51008", f"Order failed. Insufficient {ccy} balance in account.", order=True
                )
            return
        closing = self._closing_size(order)
        if order.reduce_only and closing == 0:
            raise OkxError(
                "51169",
                "Order failed because you don't have any positions in this direction for "
                "this contract to reduce or close.",
                order=True,
            )
        opening = order.sz - closing
        lever = self.lever_of(inst, order.td_mode, order.pos_side)
        if opening > 0 and self.available(inst.quote) < opening * inst.ct_val * price / lever:
            raise OkxError(
                "51008", f"Order failed. Insufficient {inst.quote} margin in account.", order=True
            )

    def _position(self, order: FakeOrder) -> FakePosition:
        key = (order.inst.inst_id, order.td_mode, order.pos_side)
        pos = self.positions.get(key)
        if pos is None:
            pos = FakePosition(order.inst, order.td_mode, order.pos_side)
        return pos

    def _closing_size(self, order: FakeOrder) -> Decimal:
        """How much of ``order`` closes the position it trades against."""
        pos = self.positions.get((order.inst.inst_id, order.td_mode, order.pos_side))
        if pos is None or pos.pos == 0:
            return ZERO
        if order.pos_side == "net":
            against = (pos.pos > 0 and order.side == "sell") or (
                pos.pos < 0 and order.side == "buy"
            )
            return min(order.sz, abs(pos.pos)) if against else ZERO
        closes = (order.pos_side == "long") == (order.side == "sell")
        return min(order.sz, pos.pos) if closes else ZERO

    def _fill(self, order: FakeOrder, price: Decimal, now: int, *, taker: bool) -> None:
        inst = order.inst
        size = order.sz - order.filled
        if inst.inst_type == "SWAP" and order.reduce_only:
            size = min(size, self._closing_size(order))  # never flips the position
        rates = SPOT_FEES if inst.inst_type == "SPOT" else SWAP_FEES
        rate = rates[0] if taker else rates[1]
        if inst.inst_type == "SPOT":
            if order.side == "buy":
                fee, order.fee_ccy = _q(size * rate), inst.base
                self._add(inst.quote, -size * price)
                self._add(inst.base, size - fee)
            else:
                fee, order.fee_ccy = _q(size * price * rate), inst.quote
                self._add(inst.base, -size)
                self._add(inst.quote, size * price - fee)
        else:
            fee, order.fee_ccy = _q(size * inst.ct_val * price * rate), inst.quote
            self._add(inst.quote, -fee + self._trade_position(order, size, price, now))
        order.avg_px = price
        order.filled += size
        order.fee += fee
        order.state = "filled"
        order.u_time = now
        self.fills.append(Fill(order, str(next(self._ids)), price, size, fee, now))

    def _trade_position(self, order: FakeOrder, size: Decimal, price: Decimal, now: int) -> Decimal:
        """Apply a SWAP fill to its position; the realised PnL."""
        pos = self._position(order)
        key = (order.inst.inst_id, order.td_mode, order.pos_side)
        signed = size if order.side == "buy" else -size
        if order.pos_side == "short":
            signed = -signed  # a short position's pos is positive on OKX
        closing = self._closing_size(order) if pos.pos else ZERO
        realised = ZERO
        if closing:
            realised = (price - pos.avg_px) * closing * order.inst.ct_val * pos.direction
        new = pos.pos + signed
        if closing == 0 or abs(signed) > closing:  # opening (or flipping): new average
            opened = abs(signed) - closing
            old = abs(pos.pos) if closing == 0 else ZERO
            pos.avg_px = (pos.avg_px * old + price * opened) / (old + opened)
            pos.c_time = pos.c_time or now
        pos.pos = new
        pos.lever = self.lever_of(order.inst, order.td_mode, order.pos_side)
        pos.u_time = now
        if pos.pos == 0:
            self.positions.pop(key, None)
        else:
            self.positions[key] = pos
        return realised

    def _add(self, ccy: str, amount: Decimal) -> None:
        self.cash[ccy] = self.cash.get(ccy, ZERO) + amount

    def cancel(self, p: dict[str, Any], now: int) -> FakeOrder:
        inst = self.instrument(_text(p, "instId"))
        ord_id, cl = _text(p, "ordId"), _text(p, "clOrdId")
        if not ord_id and not cl:
            raise OkxError("50014", "Parameter ordId can not be empty")
        try:
            order = self.find(inst, ord_id, cl)
        except OkxError:
            order = None
        if order is None or order.state not in LIVE:
            raise OkxError(
                "51400",
                "Order cancellation failed as the order has been filled, canceled or does "
                "not exist.",
                order=True,
            )
        order.state = "canceled"
        order.u_time = now
        return order

    def set_price(self, inst_id: str, price: Decimal, now: int) -> None:
        """A new last price; resting limit orders it crosses fill at their own price."""
        inst = self.instrument(inst_id)
        self.prices[inst_id] = price
        for o in self.orders:
            if o.inst is inst and o.state in LIVE and o.px is not None:
                if (o.side == "buy" and price <= o.px) or (o.side == "sell" and price >= o.px):
                    self._fill(o, o.px, now, taker=False)

    def set_leverage(self, p: dict[str, Any]) -> dict[str, Any]:
        inst = self.instrument(_text(p, "instId"))
        mode = _text(p, "mgnMode")
        if mode not in ("cross", "isolated"):
            raise param_error("mgnMode")
        try:
            lever = int(str(p.get("lever")))
        except ValueError:
            raise param_error("lever") from None
        if not 1 <= lever <= inst.max_lever:
            raise OkxError(
                "59102", "Leverage exceeds the maximum leverage, please adjust the leverage."
            )
        pos_side = _text(p, "posSide") or "net"
        if mode == "isolated" and self.config.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise param_error("posSide")
        elif pos_side != "net" and mode == "cross":
            pos_side = "net"
        self.leverage[(inst.inst_id, mode, pos_side)] = lever
        for (iid, mgn, side), pos in self.positions.items():
            if iid == inst.inst_id and mgn == mode and (mode == "cross" or side == pos_side):
                pos.lever = lever
        return {"lever": str(lever), "mgnMode": mode, "instId": inst.inst_id, "posSide": pos_side}

    def set_position_mode(self, p: dict[str, Any]) -> dict[str, Any]:
        mode = _text(p, "posMode")
        if mode not in ("net_mode", "long_short_mode"):
            raise param_error("posMode")
        if self.positions or any(
            o.state in LIVE and o.inst.inst_type == "SWAP" for o in self.orders
        ):
            raise OkxError(
                "59000",
                "Settings failed. Please close any open positions or orders before modifying "
                "settings.",
            )
        self.config.pos_mode = mode
        return {"posMode": mode}


def _text(p: dict[str, Any], name: str) -> str:
    value = p.get(name)
    return "" if value is None else str(value)


def _decimal(p: dict[str, Any], name: str) -> Decimal:
    raw = _text(p, name)
    if not raw:
        raise OkxError("50014", f"Parameter {name} can not be empty", order=True)
    try:
        value = D(raw)
    except InvalidOperation:
        raise param_error(name) from None
    if not value.is_finite():
        raise param_error(name)
    return value


def _q(value: Decimal) -> Decimal:
    return value.quantize(D("0.0000000001"), rounding=ROUND_DOWN).normalize()
