"""A channel's ``parse_text`` and ``dialect`` settings applied to interpretations (pure)."""

from __future__ import annotations

import pytest

from signalbridge.services.channel_reading import DIALECTS, reading_of, screen
from signalbridge.services.interpret import interpret
from signalbridge.store import models as m

BODIES = {
    "canonical": '{"kind": "signal", "symbol": "BTC/USDT", "side": "long", '
    '"order_type": "market", "stop_loss": "58000"}',
    "pineconnector": "LIC123456,buy,BTCUSDT,sl=58000,tp=62000",
    "octobot": "SIGNAL=BUY\nSYMBOL=BTCUSDT\nSTOP_PRICE=58000\nTAKE_PROFIT_PRICE=62000",
    "tradingview": '{"ticker": "BTCUSDT", "action": "buy", "stop_loss": "58000", '
    '"take_profit": "62000"}',
    "3commas": '{"action": "enter_long", "tv_instrument": "BTCUSDT", "bot_uuid": "b1", '
    '"message_type": "bot"}',
    "text": "BTCUSDT long now, stop 58000, target 62000",
}


def channel(*, parse_text: bool = True, dialect: str | None = None) -> m.ChannelSource:
    return m.ChannelSource(name="c", type="webhook", parse_text=parse_text, dialect=dialect)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_each_body_is_recognised_in_its_format(name: str) -> None:
    """The parser's naming of each dialect is what the settings rely on."""
    meaning = interpret(BODIES[name], parse_text=True)
    assert meaning.parsed is not None, meaning.problems
    assert reading_of(BODIES[name], meaning) == name


def test_the_default_channel_reads_everything_unchanged() -> None:
    for body in BODIES.values():
        meaning = interpret(body, parse_text=True)
        assert screen(channel(), body, meaning) is meaning


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_dialect_channel_reads_its_dialect_canonical_json_and_text_only(dialect: str) -> None:
    for name, body in BODIES.items():
        meaning = interpret(body, parse_text=True)
        out = screen(channel(dialect=dialect), body, meaning)
        if name in (dialect, "canonical", "text"):
            assert out is meaning, name
        else:
            assert out.parsed is None, name
            assert out.confidence == meaning.confidence
            assert DIALECTS[dialect] in out.problems[0]


def test_text_parsing_off_reads_canonical_json_and_the_dialect_only() -> None:
    for dialect in (None, "octobot"):
        for name, body in BODIES.items():
            meaning = interpret(body, parse_text=True)
            out = screen(channel(parse_text=False, dialect=dialect), body, meaning)
            if name == "canonical" or name == dialect:
                assert out is meaning, (dialect, name)
            else:
                assert out.parsed is None, (dialect, name)
                assert "text parsing is off" in out.problems[0] or "dialect" in out.problems[0]


def test_a_refused_reading_stays_refused() -> None:
    meaning = interpret('{"kind": "signal"}', parse_text=True)
    assert meaning.parsed is None
    assert screen(channel(parse_text=False, dialect="octobot"), "{}", meaning) is meaning
