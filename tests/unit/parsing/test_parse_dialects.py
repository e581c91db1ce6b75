"""Machine dialects are detected automatically and read exactly."""

import json
from decimal import Decimal

from signalbridge.domain.signals import OrderType, Side, Signal, SignalUpdate, UpdateAction
from signalbridge.parsing import parse


def test_tradingview_alert_json() -> None:
    text = (
        '{"ticker": "BTCUSDT", "action": "buy", "price": "65000.5", "sl": "64000", "tp": "67000"}'
    )
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.symbol == "BTC/USDT"
    assert result.parsed.side is Side.LONG
    assert result.parsed.stop_loss == Decimal(64000)
    assert result.parsed.take_profits == (Decimal(67000),)
    assert result.confidence >= 0.9
    assert "TradingView JSON" in result.reasons


def test_tradingview_numbers_are_read_exactly() -> None:
    text = (
        '{"ticker": "XAUUSD", "action": "sell", "price": 2350, "stop_loss": 2360.15,'
        ' "take_profit": [2340.1, 2330]}'
    )
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.stop_loss == Decimal("2360.15")
    assert result.parsed.take_profits == (Decimal("2340.1"), Decimal(2330))


def test_tradingview_close_is_an_update() -> None:
    result = parse('{"ticker": "EURUSD", "action": "close"}')
    assert result.parsed == SignalUpdate(UpdateAction.CLOSE_ALL, "EURUSD")


def test_three_commas_signal_bot_json() -> None:
    body = {
        "secret": "s3cr3t",
        "max_lag": "300",
        "timestamp": "2024-01-01T00:00:00Z",
        "trigger_price": "65000",
        "tv_exchange": "BINANCE",
        "tv_instrument": "BTCUSDT",
        "action": "enter_long",
        "bot_uuid": "123e4567-e89b",
    }
    result = parse(json.dumps(body))
    assert isinstance(result.parsed, Signal)
    assert (result.parsed.symbol, result.parsed.side) == ("BTC/USDT", Side.LONG)
    assert result.parsed.order_type is OrderType.MARKET
    assert "s3cr3t" not in repr(result)
    body["action"] = "exit_long"
    assert parse(json.dumps(body)).parsed == SignalUpdate(UpdateAction.CLOSE_ALL, "BTC/USDT")


def test_three_commas_dca_pair_is_quote_first() -> None:
    body = {
        "message_type": "bot",
        "bot_id": 1,
        "email_token": "t",
        "pair": "USDT_ETH",
        "action": "close_at_market_price",
    }
    assert parse(json.dumps(body)).parsed == SignalUpdate(UpdateAction.CLOSE_ALL, "ETH/USDT")


def test_pineconnector_commands() -> None:
    result = parse("1234567890123,buy,EURUSD,sl=1.0800,tp=1.0950,risk=1")
    assert isinstance(result.parsed, Signal)
    assert result.parsed.side is Side.LONG
    assert result.parsed.order_type is OrderType.MARKET
    assert result.parsed.stop_loss == Decimal("1.08")
    pending = parse("1234567890123,selllimit,XAUUSD,price=2350,sl=2360,tp=2330").parsed
    assert isinstance(pending, Signal)
    assert pending.order_type is OrderType.LIMIT
    assert pending.entry is not None and pending.entry.low == Decimal(2350)
    assert parse("1234567890123,closelong,EURUSD").parsed == SignalUpdate(
        UpdateAction.CLOSE_ALL, "EURUSD"
    )


def test_octobot_key_value_lines() -> None:
    text = (
        "EXCHANGE=binance\nSYMBOL=BTCUSDT\nSIGNAL=BUY\nORDER_TYPE=LIMIT\nPRICE=65000\n"
        "STOP_PRICE=64000\nTAKE_PROFIT_PRICE=67000"
    )
    result = parse(text)
    assert isinstance(result.parsed, Signal)
    assert result.parsed.order_type is OrderType.LIMIT
    assert result.parsed.take_profits == (Decimal(67000),)
    short = parse("EXCHANGE=binance;SYMBOL=ETHUSDT;SIGNAL=SELL").parsed
    assert isinstance(short, Signal) and short.side is Side.SHORT
    cancel = parse("EXCHANGE=binance\nSYMBOL=ETHUSDT\nSIGNAL=CANCEL").parsed
    assert cancel == SignalUpdate(UpdateAction.CANCEL, "ETH/USDT")


def test_canonical_json_round_trip() -> None:
    canonical = {
        "kind": "signal",
        "symbol": "EURUSD",
        "side": "short",
        "order_type": "limit",
        "entry": {"low": "1.085", "high": "1.087"},
        "stop_loss": "1.09",
        "take_profits": ["1.08", "1.075"],
        "leverage": None,
    }
    result = parse(json.dumps(canonical))
    assert result.confidence >= 0.95
    out = result.to_dict()
    out.pop("confidence")
    assert out == canonical


def test_canonical_update_and_refusal() -> None:
    update = parse('{"kind":"update","symbol":"BTC/USDT","action":"move_sl","value":"64000"}')
    assert update.parsed == SignalUpdate(UpdateAction.MOVE_SL, "BTC/USDT", Decimal(64000))
    bad = parse('{"kind":"signal","symbol":"EURUSD","side":"up"}')
    assert bad.kind == "noise"
    assert bad.confidence < 0.5


def test_json_that_is_not_a_dialect_falls_back_to_text_rules() -> None:
    assert parse('{"hello": "world"}').kind == "noise"
    assert parse("[1, 2, 3]").kind == "noise"
