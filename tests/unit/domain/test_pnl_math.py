"""Live PnL arithmetic against hand-computed examples (issue 18, part 2): linear and inverse
contracts, fees, partial fills and closes, shorts, funding, sums per asset, and how one
funding payment is shared. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from signalbridge.domain.pnl import (
    Contract,
    PositionPnl,
    average_entry,
    price_pnl,
    realised,
    sum_by_asset,
)
from signalbridge.execution.funding import Holding, shares
from signalbridge.execution.recorder import Fill, book, exact, position_fees, unrealised_pnl
from signalbridge.venues.base import Fee
from signalbridge.venues.ccxt.funding import funding_from_ccxt
from signalbridge.venues.funding import FundingPayment

D = Decimal
BTCUSD_PERP = Contract(D(100), inverse=True)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


# --- hand-computed examples ---------------------------------------------------------------


def test_inverse_long_ten_contracts_from_50000_to_55000() -> None:
    # 10 × 100 × (1/50000 − 1/55000) = 0.02 − 0.0181818… = 0.0018181818… BTC
    pnl = price_pnl(True, D(50000), D(55000), D(10), BTCUSD_PERP)
    assert exact(pnl) == D("0.001818181818")
    assert abs(pnl - D(1000) * (D(1) / D(50000) - D(1) / D(55000))) < D("1e-24")
    # a short of the same loses as much; back at the entry nothing is won or lost
    assert price_pnl(False, D(50000), D(55000), D(10), BTCUSD_PERP) == -pnl
    assert price_pnl(True, D(50000), D(50000), D(10), BTCUSD_PERP) == 0
    assert unrealised_pnl("long", D(50000), D(10), D(55000), D(100), inverse=True) == D(
        "0.001818181818"
    )


def test_inverse_book_partial_close_fees_in_the_coin() -> None:
    # Two entries: 6 @ 50,000 and 4 @ 40,000. The entry is the contracts' harmonic mean:
    # 10 / (6/50000 + 4/40000) = 10 / 0.00022 = 45,454.545454…
    fills = [
        Fill("e0", D(6), D(50000), D("0.000012")),
        Fill("e1", D(4), D(40000), D("0.00001")),
        Fill("t1", D(4), D(55000), D("0.000008")),
    ]
    result = book(fills, long=True, contract_size=D(100), inverse=True)
    assert result is not None
    assert result.entry_price == D("45454.545454545455")
    # what is left: 6 contracts (fees paid in BTC take nothing from a count of contracts)
    assert result.amount == D(6) and not result.closed
    # closed 4: 4 × 100 × (1/45454.5454… − 1/55000) = 400 × (0.000022 − 0.0000181818…)
    gross = D(400) * (D("0.000022") - D(1) / D(55000))
    assert abs(result.realized_pnl - (gross - D("0.00003"))) < D("1e-12")
    assert result.fees == D("0.00003")
    # closing the rest at the average entry adds nothing but its fee
    rest = book([*fills, Fill("sl", D(6), result.entry_price, D(0))], True, D(100), inverse=True)
    assert rest is not None and rest.closed
    assert abs(rest.realized_pnl - result.realized_pnl) < D("1e-12")


def test_inverse_short_loses_when_the_price_rises() -> None:
    fills = [Fill("e0", D(20), D(2000), D(0)), Fill("sl", D(20), D(2500), D(0))]
    result = book(fills, long=False, contract_size=D(10), inverse=True)
    assert result is not None and result.closed
    # −(20 × 10 × (1/2000 − 1/2500)) = −(200 × 0.0001) = −0.02 ETH
    assert result.realized_pnl == D("-0.02")


def test_linear_partial_fills_partial_closes_and_fees() -> None:
    # long: 0.3 @ 100 and 0.2 @ 110 (entry 104), fees 0.03 + 0.022 USDT;
    # closes 0.25 @ 120 (+4.0) and 0.1 @ 90 (−1.4), fees 0.03 + 0.009
    fills = [
        Fill("e0", D("0.3"), D(100), D("0.03")),
        Fill("e1", D("0.2"), D(110), D("0.022")),
        Fill("t1", D("0.25"), D(120), D("0.03")),
        Fill("c1", D("0.1"), D(90), D("0.009")),
    ]
    result = book(fills, long=True)
    assert result is not None
    assert result.entry_price == D(104) and result.amount == D("0.15")
    assert result.fees == D("0.091")
    assert result.realized_pnl == D("4.0") - D("1.4") - D("0.091")
    assert unrealised_pnl("long", result.entry_price, result.amount, D(110), D(1)) == D("0.9")


def test_linear_short_with_funding() -> None:
    # short 2 ETH @ 3,000, covered @ 2,900: +200; fees 1.2 + 1.16; funding +0.75 received,
    # −0.25 paid
    gained = realised(
        False,
        D(3000),
        [(D(2), D(2900))],
        fees=D("2.36"),
        funding=D("0.75") - D("0.25"),
    )
    assert gained == D("198.14")


def test_fees_of_a_fill_by_contract() -> None:
    btc = [Fee(D("0.001"), "BTC")]
    # spot: a fee in the coin bought is no longer held, and worth its amount at the price
    spot = position_fees(btc, "BTC/USD", D(50000))
    assert (spot.quote, spot.held) == (D(50), D("0.001"))
    # inverse: in the coin, held back from nothing; another asset is not valued
    inverse = position_fees(
        [*btc, Fee(D(1), "BNB")], "BTC/USD", D(50000), contract_size=D(100), inverse=True
    )
    assert (inverse.quote, inverse.held) == (D("0.001"), 0)
    # contracts or lots: the count of contracts is not reduced by a fee
    lots = position_fees(btc, "BTC/USD", D(50000), contract_size=D("0.01"))
    assert lots.held == 0


def test_sums_are_keyed_by_asset() -> None:
    at = T0
    items = [
        PositionPnl("USDT", D(10), D(1), D(0), D(5), True, at),
        PositionPnl("USDT", D(-2), D(1), D("-0.5"), D(0), False),
        PositionPnl("BTC", D("0.001"), D("0.0001"), D(0), None, True),
        PositionPnl("BTC", D("0.002"), D(0), D(0), D("0.0005"), True, at - timedelta(hours=1)),
    ]
    sums = sum_by_asset(items)
    assert set(sums) == {"USDT", "BTC"}
    usdt, btc = sums["USDT"], sums["BTC"]
    assert (usdt.realised, usdt.unrealised, usdt.total) == (D(8), D(5), D(13))
    assert (usdt.positions, usdt.open_positions, usdt.funding) == (2, 1, D("-0.5"))
    assert (btc.realised, btc.unrealised, btc.unmarked) == (D("0.003"), D("0.0005"), 1)
    assert btc.marked_at == at - timedelta(hours=1)  # the oldest mark a sum rests on


def test_a_funding_payment_is_shared_by_what_each_position_opened() -> None:
    def holding(pid: int, opened: str, since: datetime, until: datetime | None = None) -> Holding:
        return Holding(pid, pid, "BTC/USDT", "USDT", D(opened), since, until)

    a = holding(1, "1", T0)
    b = holding(2, "3", T0)
    late = holding(3, "5", T0 + timedelta(hours=9))  # opened after the payment
    gone = holding(4, "5", T0, T0 + timedelta(hours=7))  # closed before it
    payment = FundingPayment("9", "BTC/USDT", D("-4"), "USDT", T0 + timedelta(hours=8))
    assert [(h.position_id, s) for h, s in shares(payment, [a, b, late, gone])] == [
        (1, D(-1)),
        (2, D(-3)),
    ]
    # a third: rounding leaves the remainder to the last, so the shares add up exactly
    thirds = shares(FundingPayment("10", "BTC/USDT", D(1), "USDT", T0), [a, holding(5, "1", T0), a])
    assert sum(s for _, s in thirds) == 1
    # another symbol, or another asset, is none of these positions' business
    assert shares(FundingPayment("11", "ETH/USDT", D(1), "USDT", T0), [a]) == []
    assert shares(FundingPayment("12", "BTC/USDT", D(1), "BNFCR", T0), [a]) == []


# --- properties ---------------------------------------------------------------------------

prices = st.integers(1_000, 100_000).map(D)
amounts = st.integers(1, 1_000).map(D)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(amounts, prices), min_size=1, max_size=4),
    st.booleans(),
    st.booleans(),
    st.sampled_from([D(1), D(10), D(100)]),
)
def test_closing_everything_at_the_average_entry_without_fees_is_zero(
    entries: list[tuple[Decimal, Decimal]], long: bool, inverse: bool, size: Decimal
) -> None:
    entry = average_entry(entries, inverse)
    opened = sum((a for a, _ in entries), D(0))
    contract = Contract(size, inverse)
    assert abs(price_pnl(long, entry, entry, opened, contract)) < D("1e-15")
    # and the entries' own PnL to any price adds up to the position's at its average entry
    exit_price = entries[0][1] * 2
    each = sum((price_pnl(long, p, exit_price, a, contract) for a, p in entries), D(0))
    assert abs(each - price_pnl(long, entry, exit_price, opened, contract)) < D("1e-9")


@settings(max_examples=150, deadline=None)
@given(
    amounts,
    st.integers(0, 100),
    prices,
    prices,
    prices,
    st.booleans(),
    st.booleans(),
)
def test_realised_plus_unrealised_is_the_whole_move_less_fees(
    opened: Decimal,
    closed_percent: int,
    entry: Decimal,
    exit_price: Decimal,
    mark: Decimal,
    long: bool,
    inverse: bool,
) -> None:
    """Closing part at ``exit_price`` and marking the rest at the same price gives what the
    whole position would have made there; a mark elsewhere moves only the open part."""
    closed = opened * closed_percent // 100
    fee = D("0.5") if not inverse else D("0.00001")
    side = "long" if long else "short"
    fills = [Fill("e0", opened, entry, fee)]
    if closed:
        fills.append(Fill("t1", closed, exit_price, fee))
    result = book(fills, long, D(100), inverse=inverse)
    assert result is not None and result.amount == opened - closed
    fees = fee * (2 if closed else 1)
    contract = Contract(D(100), inverse)
    whole = price_pnl(long, entry, exit_price, opened, contract) - fees
    open_part = unrealised_pnl(side, result.entry_price, result.amount, exit_price, D(100),
                               inverse=inverse)  # fmt: skip
    assert abs(result.realized_pnl + open_part - whole) < D("1e-9")
    moved = unrealised_pnl(side, result.entry_price, result.amount, mark, D(100), inverse=inverse)
    assert abs(moved - price_pnl(long, entry, mark, opened - closed, contract)) < D("1e-9")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["id", "symbol", "amount", "code", "timestamp", "info"]), json_values
    ),
    st.dictionaries(st.sampled_from(["income", "tranId", "asset"]), json_values),
)
def test_any_funding_entry_is_read_or_left_out_never_raised(
    entry: dict[str, object], info: dict[str, object]
) -> None:
    """A venue's funding history is untrusted input: whatever it holds is read into a
    plausible payment or left out."""
    read = funding_from_ccxt({**entry, "info": info}, str, lambda: T0)
    if read is not None:
        assert read.amount.is_finite() and abs(read.amount) < D("1e15")
        assert read.payment_id and read.symbol


def test_a_binance_income_entry_is_read_exactly() -> None:
    entry = {
        "info": {"symbol": "BTCUSDT", "income": "-0.01250000", "asset": "USDT", "tranId": 9},
        "symbol": "BTC/USDT:USDT",
        "code": "USDT",
        "timestamp": 1_570_608_000_000,
        "id": "9",
        "amount": -0.0125,
    }
    read = funding_from_ccxt(entry, lambda s: s.split(":")[0], lambda: T0)
    assert read == FundingPayment(
        "9", "BTC/USDT", D("-0.0125"), "USDT", datetime(2019, 10, 9, 8, tzinfo=UTC)
    )
