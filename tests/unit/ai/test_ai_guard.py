"""The AI guard rails (ai/guard.py): an AI parse acts only when every venue vouches for it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.ai.guard import (
    GuardLimits,
    MarketFacts,
    VenueFacts,
    check,
    distance_percent,
    grounding_problems,
)
from signalbridge.domain.market import Market, MarketKind
from signalbridge.domain.signals import (
    EntryZone,
    Noise,
    OrderType,
    Side,
    Signal,
    SignalUpdate,
    UpdateAction,
)
from signalbridge.domain.sizing import SizingConfig, SizingMode

D = Decimal
BTC = Market(
    symbol="BTC/USDT",
    venue_symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.LINEAR,
    price_tick=D("0.01"),
    amount_step=D("0.00001"),
    min_amount=D("0.00001"),
    min_notional=D(5),
    max_leverage=125,
)
SIZING = SizingConfig(mode=SizingMode.FIXED_QUOTE, value=D(100), max_leverage=20)
LIMITS = GuardLimits()


def venue(follow_id: int = 1, **fields: object) -> VenueFacts:
    values: dict[str, object] = {
        "market": BTC,
        "price": D(60000),
        "sizing": SIZING,
        "balance": D(10000),
        **fields,
    }
    return VenueFacts(follow_id, **values)  # type: ignore[arg-type]


def facts(*venues: VenueFacts) -> MarketFacts:
    return MarketFacts(venues or (venue(),))


def signal(**fields: object) -> Signal:
    values: dict[str, object] = {
        "symbol": "BTC/USDT",
        "side": Side.LONG,
        "order_type": OrderType.LIMIT,
        "entry": EntryZone(D(59900), D(60100)),
        "stop_loss": D(58000),
        "take_profits": (D(62000), D(64000)),
        "leverage": 10,
        **fields,
    }
    return Signal(**values)  # type: ignore[arg-type]


def test_a_sound_signal_passes_on_every_venue() -> None:
    assert check(signal(), facts(venue(1), venue(2)), LIMITS) == []
    market = signal(order_type=OrderType.MARKET, entry=None)
    assert check(market, facts(), LIMITS) == []


def test_a_symbol_one_venue_does_not_list_keeps_it_in_review() -> None:
    problems = check(signal(), facts(venue(1), venue(2, market=None)), LIMITS)
    assert problems == ["follow 2: BTC/USDT is not listed by the venue"]


def test_a_venue_that_cannot_be_read_or_has_no_price_never_passes() -> None:
    assert check(signal(), facts(venue(error="breaker open")), LIMITS) == [
        "follow 1: the venue could not be read (breaker open)"
    ]
    assert "no current price" in check(signal(), facts(venue(price=None)), LIMITS)[0]
    assert check(signal(), MarketFacts(()), LIMITS) == [
        "no active follow to check the symbol and the price against"
    ]


def test_an_inactive_market_is_refused() -> None:
    halted = Market(
        symbol="BTC/USDT",
        venue_symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        kind=MarketKind.LINEAR,
        price_tick=D("0.01"),
        amount_step=D("0.00001"),
        active=False,
    )
    assert check(signal(), facts(venue(market=halted)), LIMITS) == [
        "follow 1: BTC/USDT is not trading on the venue"
    ]


def test_broken_geometry_is_refused() -> None:
    problems = check(signal(stop_loss=D(61000)), facts(), LIMITS)
    assert any("must be below the entry" in p for p in problems)
    short_targets_up = signal(side=Side.SHORT, stop_loss=D(62000), take_profits=(D(61000),))
    assert any("must be below the entry" in p for p in check(short_targets_up, facts(), LIMITS))


def test_the_entry_must_lie_within_the_channel_band_of_the_price() -> None:
    near = signal(entry=EntryZone.of(D(62900)), stop_loss=D(61000), take_profits=(D(64000),))
    assert check(near, facts(), LIMITS) == []  # 4.8 % away, band 5 %
    far = signal(entry=EntryZone.of(D(63100)), stop_loss=D(61000), take_profits=(D(64000),))
    assert check(far, facts(), LIMITS) == [
        "follow 1: entry 63100 is more than 5 % from the current price 60000"
    ]
    tight = GuardLimits(max_price_distance_percent=D(1))
    assert check(near, facts(), tight) != []
    zone_edge = signal(entry=EntryZone(D(50000), D(60100)), stop_loss=D(40000))
    assert "entry 50000" in check(zone_edge, facts(), LIMITS)[0]


def test_stop_and_targets_must_lie_within_the_wider_band() -> None:
    assert check(signal(stop_loss=D(31000)), facts(), LIMITS) == []  # 48.3 %
    problems = check(signal(stop_loss=D(1), take_profits=(D(62000), D(600000))), facts(), LIMITS)
    assert problems == [
        "follow 1: stop loss 1 is more than 50 % from the current price 60000",
        "follow 1: take profit 2 600000 is more than 50 % from the current price 60000",
    ]


def test_leverage_above_any_cap_is_refused_not_capped() -> None:
    assert check(signal(leverage=20), facts(), LIMITS) == []
    assert check(signal(leverage=21), facts(), LIMITS) == [
        "follow 1: leverage 21 is above the cap 20"
    ]
    uncapped = venue(sizing=SizingConfig(mode=SizingMode.FIXED_QUOTE, value=D(100)))
    assert check(signal(leverage=125), facts(uncapped), LIMITS) == []
    assert check(signal(leverage=126), facts(uncapped), LIMITS) == [
        "leverage 126 is above the limit 125",
        "follow 1: leverage 126 is above the cap 125",
    ]
    assert check(signal(leverage=30), facts(uncapped), GuardLimits(max_leverage=25)) == [
        "leverage 30 is above the limit 25"
    ]


def test_size_and_position_value_caps() -> None:
    # 100 USDT margin x 10 = 1000 USDT of BTC: over a 500 ceiling, under a 2000 one.
    assert check(signal(), facts(), GuardLimits(max_notional=D(2000))) == []
    problems = check(signal(), facts(), GuardLimits(max_notional=D(500)))
    assert len(problems) == 1 and problems[0] == (
        "follow 1: position value 999.6 is above the cap 500"  # the amount rounds down
    )
    # The follow's own caps hold too (sizing caps the amount; the guard checks the result).
    capped = SizingConfig(mode=SizingMode.FIXED_BASE, value=D(1), max_notional=D(300))
    assert check(signal(), facts(venue(sizing=capped)), LIMITS) == []
    # Without a balance the size is not computed, the other rails still hold.
    assert check(signal(leverage=50), facts(venue(balance=None)), LIMITS) == [
        "follow 1: leverage 50 is above the cap 20"
    ]


def test_updates_and_noise() -> None:
    move = SignalUpdate(UpdateAction.MOVE_SL, "BTC/USDT", D(59000))
    assert check(move, facts(), LIMITS) == []
    far = SignalUpdate(UpdateAction.MOVE_SL, "BTC/USDT", D(1))
    assert check(far, facts(), LIMITS) == [
        "follow 1: price 1 is more than 50 % from the current price 60000"
    ]
    other = SignalUpdate(UpdateAction.CLOSE_ALL, "PEPE/USDT")
    assert check(other, facts(venue(market=None)), LIMITS) == [
        "follow 1: PEPE/USDT is not listed by the venue"
    ]
    blind = SignalUpdate(UpdateAction.MODIFY_TP, None, D(70000))
    assert check(blind, facts(), LIMITS) == [
        "update modify_tp names no symbol to check the price of"
    ]
    assert check(SignalUpdate(UpdateAction.CLOSE_ALL), facts(), LIMITS) == []
    assert check(Noise(), facts(), LIMITS) == ["noise does not act"]


# --- properties: random signals never pass with an unlisted symbol, broken geometry or a
# price outside the band.

prices = st.decimals(min_value=D("0.0001"), max_value=D(10**9), places=4, allow_nan=False)
#: Levels as a factor of the market price: near enough that many signals pass, and some not.
factors = st.decimals(min_value=D("0.3"), max_value=D("1.7"), places=3)


@st.composite
def random_signals(draw: st.DrawFn, price: Decimal = D(60000)) -> Signal:
    side = draw(st.sampled_from(Side))

    def level() -> Decimal:
        return (price * draw(factors)).quantize(D("0.01"))

    entry = draw(st.booleans())
    zone = EntryZone.of(level(), level() if draw(st.booleans()) else None) if entry else None
    return Signal(
        symbol=draw(st.sampled_from(["BTC/USDT", "BTC/USDT", "PEPE/USDT", "BTC/USD"])),
        side=side,
        order_type=OrderType.LIMIT if entry else OrderType.MARKET,
        entry=zone,
        stop_loss=level() if draw(st.booleans()) else None,
        take_profits=tuple(level() for _ in range(draw(st.integers(0, 3)))),
        leverage=draw(st.none() | st.integers(1, 40)),
    )


@given(
    random_signals(),
    st.lists(factors, min_size=1, max_size=3),
    st.decimals(min_value=D("0.5"), max_value=D(20), places=1),
)
def test_random_signals_never_pass_outside_the_rails(
    candidate: Signal, moves: list[Decimal], band: Decimal
) -> None:
    """Whatever the signal and the venues' prices (each venue's price is 60000 moved by a
    factor), a signal that passes names a listed symbol, keeps its geometry, its leverage
    under the cap and every price inside its band, on every venue."""
    venue_prices = [D(60000) * move for move in moves]
    listed = {"BTC/USDT": BTC}
    limits = GuardLimits(max_price_distance_percent=band)
    venues = tuple(
        venue(i, market=listed.get(candidate.symbol), price=p, balance=None)
        for i, p in enumerate(venue_prices, start=1)
    )
    problems = check(candidate, MarketFacts(venues), limits)
    if problems:
        return
    assert candidate.symbol == "BTC/USDT"
    assert candidate.geometry_problems() == []
    assert candidate.leverage is None or candidate.leverage <= 20
    for price in venue_prices:
        if candidate.entry is not None:
            assert distance_percent(candidate.entry.low, price) <= band
            assert distance_percent(candidate.entry.high, price) <= band
        for exit_level in (candidate.stop_loss, *candidate.take_profits):
            if exit_level is not None:
                assert distance_percent(exit_level, price) <= limits.max_exit_distance_percent


@given(random_signals(), prices)
def test_a_sound_signal_near_the_price_always_passes(candidate: Signal, price: Decimal) -> None:
    """The other direction: the rails refuse only for a reason (no false alarms at the
    price itself): a market order at the price, stop and target 1 % either side."""
    long = candidate.side is Side.LONG
    sound = Signal(
        symbol="BTC/USDT",
        side=candidate.side,
        order_type=OrderType.MARKET,
        stop_loss=price * (D("0.99") if long else D("1.01")),
        take_profits=(price * (D("1.01") if long else D("0.99")),),
        leverage=None if candidate.leverage is None else min(candidate.leverage, 20),
    )
    assert check(sound, facts(venue(price=price, balance=None)), LIMITS) == []


def test_the_symbol_must_be_named_in_the_message() -> None:
    btc = signal()
    for text in ("BTC long 60000", "btc/usdt", "#BTCUSDT buy", "ＢＴＣ ｌｏｎｇ", "btc usdt now"):
        assert grounding_problems(btc, text) == [], text
    for text in ("ETH long 3000", "ВТС long", "BITCOIN long", "BTCX long", ""):
        assert grounding_problems(btc, text) == ["symbol BTC/USDT is not named in the message"]
    assert grounding_problems(SignalUpdate(UpdateAction.CLOSE_ALL), "close everything") == []
    assert grounding_problems(Noise(), "hello") == []
    gold = signal(symbol="XAUUSD")
    assert grounding_problems(gold, "xau/usd sell") == []
    assert grounding_problems(gold, "gold sell") != []
