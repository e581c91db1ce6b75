"""Machine dialects: TradingView alert JSON, 3Commas bot JSON, PineConnector, OctoBot,
and SignalBridge's own canonical JSON. They are exact formats, so they are read exactly
(and with high confidence) before any free-text rule runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import (
    EntryZone,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
    parsed_from_dict,
)
from signalbridge.parsing.lexer import split_symbol_word
from signalbridge.parsing.numbers import parse_number, storable
from signalbridge.parsing.result import ParseResult, noise
from signalbridge.parsing.text import lower

_PINE: Final = re.compile(
    r"(?P<lic>[A-Za-z0-9]{6,40})\s*,\s*(?P<cmd>[A-Za-z]{3,20})\s*,\s*(?P<sym>[A-Za-z0-9._/!+-]{2,30})"
    r"(?P<params>(?:\s*,\s*[A-Za-z_]{1,20}\s*=\s*[^,\n]{0,40}){0,20})\s*"
)
_PINE_PARAM: Final = re.compile(r"([A-Za-z_]{1,20})\s*=\s*([^,\n]{0,40})")
_OCTO_PAIR: Final = re.compile(r"^\s*([A-Za-z_]{2,30})\s*=\s*([^;\n]{0,80}?)\s*$", re.MULTILINE)

_LONG: Final = frozenset({"buy", "long", "enter_long", "open_long", "bull", "bullish"})
_SHORT: Final = frozenset({"sell", "short", "enter_short", "open_short", "bear", "bearish"})
_CLOSE: Final = frozenset(
    {"close", "exit", "flat", "exit_long", "exit_short", "close_long", "close_short"}
    | {"close_at_market_price", "closeall", "close_all", "closelong", "closeshort"}
)
_CANCEL: Final = frozenset({"cancel", "cancel_all", "cancellong", "cancelshort", "cancelall"})


def parse_dialect(text: str) -> ParseResult | None:
    """A result when ``text`` is one of the machine dialects, else ``None``."""
    first = text[0]
    if first in "{[" and text[-1] in "}]":
        return _json(text)
    if "," in text and "\n" not in text and len(text) < 600:
        pine = _pinecommand(text)
        if pine is not None:
            return pine
    if "=" in text:
        upper = text.upper()
        if "SIGNAL" in upper and "SYMBOL" in upper:
            return _octobot(text)
    return None


def _json(text: str) -> ParseResult | None:
    try:
        data = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if "kind" in data or ("symbol" in data and "side" in data and "order_type" in data):
        result = _canonical(data)
        if result.kind != "noise" or "kind" in data:
            return result
        return _tradingview(data) or result
    action = _lower(data.get("action"))
    if action and ("tv_instrument" in data or "bot_uuid" in data or "message_type" in data):
        return _three_commas(data, action)
    return _tradingview(data)


def _canonical(data: dict[str, Any]) -> ParseResult:
    try:
        parsed = parsed_from_dict(data, check_geometry=False)
    except InvalidSignal as exc:
        return noise(0.2, "canonical JSON refused: " + "; ".join(exc.problems)[:300])
    if isinstance(parsed, Signal):
        problems = parsed.geometry_problems()
        if problems:
            return ParseResult(parsed, 0.2, ("canonical JSON", *problems))
    return ParseResult(parsed, 0.99, ("canonical JSON",))


def _three_commas(data: dict[str, Any], action: str) -> ParseResult:
    instrument = data.get("tv_instrument") or data.get("pair") or ""
    symbol = _symbol_3c(str(instrument))
    if action in ("exit_long", "exit_short", "close_at_market_price"):
        return ParseResult(SignalUpdate(UpdateAction.CLOSE_ALL, symbol), 0.97, ("3Commas JSON",))
    side = Side.LONG if action in ("enter_long", "start_new_deal") else None
    side = Side.SHORT if action == "enter_short" else side
    if side is None or symbol is None:
        return noise(0.6, f"3Commas JSON with action {action[:30]!r}")
    order = data.get("order") if isinstance(data.get("order"), dict) else {}
    assert isinstance(order, dict)
    entry = None
    order_type = OrderType.MARKET
    if _lower(order.get("order_type")) == "limit":
        price = _price(data.get("trigger_price")) or _price(order.get("price"))
        if price is not None:
            entry = EntryZone.of(price)
            order_type = OrderType.LIMIT
    return _signal(Signal(symbol, side, order_type, entry), 0.96, "3Commas JSON")


def _symbol_3c(raw: str) -> str | None:
    if "_" in raw:
        quote, _, base = raw.partition("_")  # 3Commas DCA pairs are QUOTE_BASE
        resolved = split_symbol_word(f"{base}/{quote}")
    else:
        resolved = split_symbol_word(raw)
    return None if resolved is None else resolved[0]


_TV_SYMBOL: Final = ("ticker", "symbol", "pair", "instrument", "market")
_TV_SIDE: Final = ("action", "side", "order_action", "signal", "direction", "type")
_TV_ENTRY: Final = ("price", "entry", "entry_price", "limit_price", "open_price")
_TV_SL: Final = ("sl", "stop_loss", "stoploss", "stop", "sl_price", "stop_price")
_TV_TP: Final = ("tp", "take_profit", "take_profits", "takeprofit", "tp_price", "target", "targets")


def _tradingview(data: dict[str, Any]) -> ParseResult | None:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                flat.setdefault(lower(str(k2)), v2)
        flat[lower(str(key))] = value
    raw_symbol = next((flat[k] for k in _TV_SYMBOL if isinstance(flat.get(k), str)), None)
    raw_side = next((_lower(flat[k]) for k in _TV_SIDE if isinstance(flat.get(k), str)), "")
    if raw_symbol is None or not raw_side:
        return None
    resolved = split_symbol_word(raw_symbol)
    symbol = None if resolved is None else resolved[0]
    if raw_side in _CLOSE:
        return ParseResult(
            SignalUpdate(UpdateAction.CLOSE_ALL, symbol), 0.95, ("TradingView JSON",)
        )
    if raw_side in _CANCEL:
        return ParseResult(SignalUpdate(UpdateAction.CANCEL, symbol), 0.95, ("TradingView JSON",))
    side = Side.LONG if raw_side in _LONG else Side.SHORT if raw_side in _SHORT else None
    if side is None or symbol is None:
        return noise(0.5, "TradingView JSON without a side or symbol")
    entry_price = next((p for k in _TV_ENTRY if (p := _price(flat.get(k))) is not None), None)
    zone = data.get("entry")
    entry_high = None
    if isinstance(zone, dict):
        entry_price, entry_high = _price(zone.get("low")), _price(zone.get("high"))
    sl = next((p for k in _TV_SL if (p := _price(flat.get(k))) is not None), None)
    tps: list[Decimal] = []
    for key in _TV_TP:
        value = flat.get(key)
        if isinstance(value, list):
            tps.extend(p for v in value if (p := _price(v)) is not None)
        elif (p := _price(value)) is not None:
            tps.append(p)
    for i in range(1, 11):
        p = _price(flat.get(f"tp{i}"))
        if p is not None:
            tps.append(p)
    order_raw = _lower(flat.get("order_type") or flat.get("ordertype"))
    order_type = OrderType.LIMIT if order_raw in ("limit", "stop") else OrderType.MARKET
    entry = EntryZone.of(entry_price, entry_high) if entry_price is not None else None
    if order_type is OrderType.LIMIT and entry is None:
        order_type = OrderType.MARKET
    leverage = _int(flat.get("leverage"))
    signal = Signal(symbol, side, order_type, entry, sl, tuple(tps[:10]), leverage)
    return _signal(signal, 0.95, "TradingView JSON")


def _pinecommand(text: str) -> ParseResult | None:
    m = _PINE.fullmatch(text)
    if m is None:
        return None
    cmd = lower(m.group("cmd"))
    resolved = split_symbol_word(m.group("sym"))
    symbol = None if resolved is None else resolved[0]
    params = {lower(k): v.strip() for k, v in _PINE_PARAM.findall(m.group("params"))}
    reason = "PineConnector command"
    if cmd.startswith("close") or cmd == "exit":
        pct = parse_number(params.get("pct", ""))
        if pct is not None and 0 < pct < 100:
            return ParseResult(
                SignalUpdate(UpdateAction.CLOSE_PARTIAL, symbol, pct), 0.95, (reason,)
            )
        return ParseResult(SignalUpdate(UpdateAction.CLOSE_ALL, symbol), 0.96, (reason,))
    if cmd.startswith("cancel"):
        return ParseResult(SignalUpdate(UpdateAction.CANCEL, symbol), 0.96, (reason,))
    if symbol is None or not (cmd.startswith("buy") or cmd.startswith("sell")):
        return None
    side = Side.LONG if cmd.startswith("buy") else Side.SHORT
    price = parse_number(params.get("price", ""))
    pending = cmd.endswith("limit") or cmd.endswith("stop")
    order_type = OrderType.LIMIT if pending and price is not None else OrderType.MARKET
    entry = EntryZone.of(price) if price is not None else None
    sl = parse_number(params.get("sl", ""))
    tp = parse_number(params.get("tp", ""))
    signal = Signal(
        symbol,
        side,
        order_type,
        entry,
        sl if sl else None,
        (tp,) if tp else (),
        None,
    )
    return _signal(signal, 0.95, reason)


def _octobot(text: str) -> ParseResult | None:
    pairs: dict[str, list[str]] = {}
    for chunk in text.replace(";", "\n").split("\n"):
        m = _OCTO_PAIR.match(chunk)
        if m is not None:
            pairs.setdefault(m.group(1).upper(), []).append(m.group(2))
    signal_word = _lower((pairs.get("SIGNAL") or [""])[0])
    raw_symbol = (pairs.get("SYMBOL") or [""])[0]
    if not signal_word or not raw_symbol:
        return None
    resolved = split_symbol_word(raw_symbol)
    symbol = None if resolved is None else resolved[0]
    reason = "OctoBot signal"
    if signal_word == "cancel":
        return ParseResult(SignalUpdate(UpdateAction.CANCEL, symbol), 0.95, (reason,))
    if signal_word in _CLOSE:
        return ParseResult(SignalUpdate(UpdateAction.CLOSE_ALL, symbol), 0.95, (reason,))
    side = Side.LONG if signal_word in _LONG else Side.SHORT if signal_word in _SHORT else None
    if side is None or symbol is None:
        return noise(0.5, f"{reason} without a side or symbol")
    price = _price(_first(pairs, "PRICE"))
    order_raw = _lower(_first(pairs, "ORDER_TYPE")) or "market"
    order_type = OrderType.MARKET if order_raw == "market" or price is None else OrderType.LIMIT
    entry = EntryZone.of(price) if price is not None else None
    sl = _price(_first(pairs, "STOP_PRICE"))
    tps = [
        p
        for key in sorted(pairs)
        if key.startswith("TAKE_PROFIT_PRICE")
        for v in pairs[key]
        if (p := _price(v)) is not None
    ]
    leverage = _int(_first(pairs, "LEVERAGE"))
    signal = Signal(symbol, side, order_type, entry, sl, tuple(tps[:10]), leverage)
    return _signal(signal, 0.95, reason)


def _first(pairs: dict[str, list[str]], key: str) -> str | None:
    values = pairs.get(key)
    return values[0] if values else None


def _signal(signal: Signal, confidence: float, reason: str) -> ParseResult:
    problems = signal.geometry_problems()
    if problems:
        return ParseResult(signal, 0.2, (reason, *problems))
    return ParseResult(signal, confidence, (reason,))


def _lower(value: object) -> str:
    return lower(value.strip()) if isinstance(value, str) else ""


def _price(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    number: Decimal | None = None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value if value.is_finite() else None
    elif isinstance(value, str):
        number = parse_number(value.strip().lstrip("$"))
    # a number the store cannot hold (1e30, 1e-30) is no price
    return storable(number) if number is not None and number > 0 else None


def _int(value: object) -> int | None:
    number = _price(value) if not isinstance(value, Mapping) else None
    if number is None:
        return None
    whole = int(number)
    return whole if 1 <= whole <= 500 else None
