"""Fees as the venue reports them and what a position holds net of them (issue 13, items 2
and 3, the pure parts): fee valuation, the position book with fees paid in the coin
bought and fee dust, ccxt fee lists, and Binance answers ccxt's tables read loosely."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from signalbridge.domain.clock import utcnow
from signalbridge.execution.net_amount import fees_json, fill_fees, floor_to, stored_fees
from signalbridge.execution.recorder import Fill, book
from signalbridge.integrations import errors as sb
from signalbridge.venues.base import Fee
from signalbridge.venues.ccxt.errors import translate
from signalbridge.venues.ccxt.orders import order_from_ccxt

D = Decimal


def test_fees_in_the_coin_bought_are_held_back_and_valued_at_the_fill() -> None:
    paid = fill_fees([Fee(D("0.001"), "BTC")], "BTC/USDT", D(50000))
    assert (paid.quote, paid.held) == (D(50), D("0.001"))
    paid = fill_fees([Fee(D("50.9"), "USDT"), Fee(D("0.07"), "BNB")], "BTC/USDT", D(51000))
    assert (paid.quote, paid.held) == (D("50.9"), 0)  # BNB: kept, not valued here
    paid = fill_fees([Fee(D("7"), "USD")], "EURUSD", D("1.08"))  # forex: account currency
    assert (paid.quote, paid.held) == (D(7), 0)


def test_stored_fees_prefer_the_per_asset_list() -> None:
    listed = fees_json([Fee(D("0.000002"), "BTC"), Fee(D("1E-7"), "BNB")])
    assert listed == [
        {"asset": "BTC", "amount": "0.000002"},
        {"asset": "BNB", "amount": "0.0000001"},
    ]
    assert stored_fees(listed, D("0.000002"), "BTC") == [
        Fee(D("0.000002"), "BTC"),
        Fee(D("1E-7"), "BNB"),
    ]
    assert stored_fees(None, D("0.05"), "USDT") == [Fee(D("0.05"), "USDT")]
    assert stored_fees(None, D(0), None) == []


def test_the_book_holds_the_net_amount_and_closes_on_dust() -> None:
    entry = Fill("e0", D("0.002"), D(50000), D("0.1"), held_fee=D("0.000002"))
    opened = book([entry], long=True)
    assert opened is not None and opened.amount == D("0.001998")
    # A full exit sells the net amount rounded down to the step; 0.000008 is left over.
    stop = Fill("sl", D("0.00199"), D(47000), D("0.09353"))
    without_step = book([entry, stop], long=True)
    assert without_step is not None and without_step.amount == D("0.000008")
    closed = book([entry, stop], long=True, step=D("0.00001"))
    assert closed is not None and closed.closed and closed.dust == D("0.000008")
    assert closed.fees == D("0.19353")
    assert closed.realized_pnl == D("-5.97") - D("0.19353")


def test_exits_round_down_to_the_step() -> None:
    assert floor_to(D("0.001998"), D("0.00001")) == D("0.00199")
    assert floor_to(D("0.5"), D("0.01")) == D("0.5")
    assert floor_to(D("0.5"), None) == D("0.5")


def _ccxt_order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "1",
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "market",
        "status": "closed",
        "amount": 0.02,
        "filled": 0.02,
        "average": 50000,
        "info": {},
    }
    return {**base, **fields}


def test_every_fee_of_a_ccxt_order_is_kept_per_asset() -> None:
    """BNB ran out during the order: part paid in BNB, part in BTC (ccxt: no single fee)."""
    split = _ccxt_order(
        fee=None,
        fees=[{"cost": 0.0000075, "currency": "BNB"}, {"cost": 0.00001, "currency": "BTC"}],
    )
    order = order_from_ccxt(split, "sb-1-e0", lambda s: s, utcnow)
    assert order.fee is None
    assert order.fees == (Fee(D("0.0000075"), "BNB"), Fee(D("0.00001"), "BTC"))
    single = _ccxt_order(fee={"cost": 0.00002, "currency": "BTC"}, fees=[])
    order = order_from_ccxt(single, "sb-1-e0", lambda s: s, utcnow)
    assert order.fee == Fee(D("0.00002"), "BTC") and order.fees == (order.fee,)


class _Binance:
    id = "binance"
    last_response_headers: dict[str, str] = {}  # noqa: RUF012
    exceptions: dict[str, Any] = {}  # noqa: RUF012


ALGO_UNKNOWN = '{"code":-20124,"msg":"Invalid algo id or it has been completed."}'
ARCHIVED = (
    '{"code":-2026,"msg":"Order was canceled or expired with no executed qty over 90 days '
    'ago and has been archived."}'
)
NOT_WITH_REDUCE_ONLY = '{"code":-2026,"msg":"This OrderType is not supported when reduceOnly."}'


@pytest.mark.parametrize(
    ("exc", "market_type", "expected"),
    [
        # the Algo Service: an unknown, forgotten or finished algo order
        (ccxt.BadRequest(f"binance {ALGO_UNKNOWN}"), "linear", sb.OrderNotFound),
        # spot: an order archived after 90 days; on futures -2026 is something else
        (ccxt.InvalidOrder(f"binance {ARCHIVED}"), "spot", sb.OrderNotFound),
        (ccxt.InvalidOrder(f"binance {NOT_WITH_REDUCE_ONLY}"), "linear", sb.InvalidRequest),
    ],
)
def test_binance_answers_ccxt_reads_loosely(
    exc: BaseException, market_type: str, expected: type[sb.IntegrationError]
) -> None:
    got = translate(exc, write=False, exchange=_Binance(), market_type=market_type)
    assert type(got) is expected


def test_the_200_conditional_orders_cap_is_said_plainly() -> None:
    exc = ccxt.OperationRejected('binance {"code":-4045,"msg":"Reach max stop order limit."}')
    got = translate(exc, write=True, exchange=_Binance(), market_type="linear")
    assert type(got) is sb.InvalidRequest
    assert "200 open conditional orders" in got.message and "-4045" in got.message
