"""Canonical ↔ venue symbol mapping per connection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.errors import SymbolNotListed
from signalbridge.venues.symbols import SymbolMap, SymbolStyle, canonicalize


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("btcusdt", "BTC/USDT"),
        (" BTC/USDT ", "BTC/USDT"),
        ("BTC-USDT", "BTC/USDT"),
        ("BTC/USDT:USDT", "BTC/USDT"),
        ("EURUSD", "EURUSD"),
        ("XAUUSD", "XAUUSD"),
        ("USDT", "USDT"),
    ],
)
def test_canonicalize(raw: str, canonical: str) -> None:
    assert canonicalize(raw) == canonical


def test_styles() -> None:
    assert SymbolMap("binance", SymbolStyle.SLASH).to_venue("BTCUSDT") == "BTC/USDT"
    assert SymbolMap("binanceusdm", SymbolStyle.LINEAR).to_venue("BTC/USDT") == "BTC/USDT:USDT"
    assert SymbolMap("raw", SymbolStyle.CONCAT).to_venue("BTC/USDT") == "BTCUSDT"
    # forex symbols have no slash: the style leaves them alone, the suffix still applies
    assert SymbolMap("exness", SymbolStyle.LINEAR, suffix="m").to_venue("EURUSD") == "EURUSDm"


def test_suffix_prefix_and_explicit_map_from_config() -> None:
    mapping = SymbolMap.from_config(
        "icmarkets",
        {
            "symbol_style": "concat",
            "symbol_suffix": ".r",
            "symbol_map": {"xauusd": "GOLD", "BTC/USDT": "BTCUSD"},
        },
    )
    assert mapping.to_venue("EURUSD") == "EURUSD.r"
    assert mapping.to_venue("XAUUSD") == "GOLD"
    assert mapping.to_venue("BTCUSDT") == "BTCUSD"
    assert mapping.to_canonical("GOLD") == "XAUUSD"
    assert mapping.to_canonical("EURUSD.r") == "EURUSD"
    assert mapping.to_canonical("BTCUSD") == "BTC/USDT"
    assert SymbolMap("x", prefix="#").to_venue("US30") == "#US30"
    assert SymbolMap("x", prefix="#").to_canonical("#US30") == "US30"


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        SymbolMap.from_config("x", {"symbol_style": "weird"})
    with pytest.raises(ValueError):
        SymbolMap.from_config("x", {"symbol_map": ["BTC"]})


def test_resolve_names_the_symbol_and_the_venue() -> None:
    mapping = SymbolMap("exness", SymbolStyle.CONCAT, suffix="m")
    assert mapping.resolve("EURUSD", {"EURUSDm", "GBPUSDm"}) == "EURUSDm"
    with pytest.raises(SymbolNotListed) as info:
        mapping.resolve("XAUUSD", {"EURUSDm"})
    assert "XAUUSD" in str(info.value) and "exness" in str(info.value)
    assert "XAUUSDm" in str(info.value)


_asset = st.text(alphabet="ABCDEFGHJKLMNPQRSTVWXYZ", min_size=2, max_size=5)


@given(
    base=_asset,
    quote=st.sampled_from(["USDT", "USDC", "FDUSD"]),
    style=st.sampled_from(list(SymbolStyle)),
    suffix=st.sampled_from(["", "m", ".r", "_i"]),
)
def test_round_trip(base: str, quote: str, style: SymbolStyle, suffix: str) -> None:
    mapping = SymbolMap("v", style, suffix=suffix)
    canonical = f"{base}/{quote}"
    assert mapping.to_canonical(mapping.to_venue(canonical)) == canonical
