"""The webhook source allow-list and the client address: pure logic, and a property test
for the untrusted X-Forwarded-For header."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from signalbridge.channels.source_allowlist import (
    SourceAllowList,
    SourceRefusals,
    check_entries,
    client_address,
    parse_address,
    preset_networks,
    proxy_networks,
)
from signalbridge.settings import Settings

TV = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


def addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    parsed = parse_address(text)
    assert parsed is not None
    return parsed


def test_the_tradingview_preset_defaults_to_the_published_addresses() -> None:
    assert tuple(Settings().tradingview_sources) == TV
    assert Settings().trusted_proxies == []
    assert Settings(tradingview_sources=["198.51.100.0/24"]).tradingview_sources == [
        "198.51.100.0/24"
    ]
    for field in ("tradingview_sources", "trusted_proxies"):
        with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
            Settings.model_validate({field: ["tradingview.com"]})


def test_entries_are_normalised_and_bad_ones_refused() -> None:
    assert check_entries([" TradingView ", "10.0.0.7/8", "2001:db8::1"]) == [
        "tradingview",
        "10.0.0.0/8",
        "2001:db8::1/128",
    ]
    for bad in ("example.com", "300.1.1.1", "10.0.0.0/33", "", "binance"):
        with pytest.raises(ValueError, match="not an IP address"):
            check_entries([bad])
    with pytest.raises(ValueError, match="at most"):
        check_entries([f"10.0.{i // 256}.{i % 256}" for i in range(65)])


def test_the_preset_admits_tradingview_only_and_follows_the_setting() -> None:
    allow = SourceAllowList.parse(["tradingview"])
    presets = preset_networks(TV)
    assert all(allow.admits(addr(ip), presets) for ip in TV)
    assert not allow.admits(addr("52.89.214.239"), presets)
    assert not allow.admits(None, presets)
    # the operator updates the setting: the old address is out, the new one in
    moved = preset_networks(("198.51.100.0/24",))
    assert allow.admits(addr("198.51.100.9"), moved)
    assert not allow.admits(addr(TV[0]), moved)


def test_networks_mixed_versions_and_the_open_list() -> None:
    allow = SourceAllowList.parse(["10.1.0.0/16", "2001:db8::/32"])
    none: dict[str, tuple[ipaddress.IPv4Network, ...]] = {}
    assert allow.admits(addr("10.1.200.3"), none)
    assert allow.admits(addr("2001:db8::5"), none)
    assert allow.admits(addr("::ffff:10.1.0.1"), none)  # an IPv4-mapped peer
    assert not allow.admits(addr("10.2.0.1"), none)
    assert SourceAllowList.parse([]).admits(None, none)  # empty: anyone


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    tv = TV[0]
    assert client_address("203.0.113.5", [tv], ()) == addr("203.0.113.5")
    proxies = proxy_networks(("127.0.0.1", "10.0.0.0/8"))
    assert client_address("203.0.113.5", [tv], proxies) == addr("203.0.113.5")
    assert client_address("127.0.0.1", [tv], proxies) == addr(tv)
    # the client wrote a hop of its own before the proxies: the nearest untrusted one wins
    assert client_address("127.0.0.1", [f"{tv}, 203.0.113.9, 10.0.0.2"], proxies) == addr(
        "203.0.113.9"
    )
    assert client_address("127.0.0.1", ["10.1.1.1", "10.0.0.2"], proxies) == addr("10.1.1.1")
    assert client_address("127.0.0.1", ["not-an-ip, " + tv], proxies) == addr(tv)
    assert client_address("127.0.0.1", [tv + ", junk"], proxies) is None
    assert client_address("127.0.0.1", [], proxies) == addr("127.0.0.1")
    assert client_address(None, [tv], proxies) is None
    assert client_address("testclient", [tv], ()) is None


def test_refusals_are_counted_and_logged_at_most_once_a_second() -> None:
    refusals = SourceRefusals()
    with capture_logs() as logs:
        for _ in range(3):
            refusals.note(7, addr("203.0.113.5"))
        refusals.note(8, None)
    assert refusals.total == 4 and refusals.by_channel == {7: 3, 8: 1}
    assert [(e["channel_id"], e["source"]) for e in logs] == [(7, "203.0.113.5"), (8, "unknown")]
    assert all(set(e) == {"event", "log_level", "channel_id", "source", "refused"} for e in logs)


hops = st.lists(
    st.one_of(
        st.ip_addresses().map(str), st.text(max_size=20), st.sampled_from(["127.0.0.1", TV[0]])
    ),
    max_size=6,
)


@given(peer=st.one_of(st.none(), st.ip_addresses().map(str), st.text(max_size=20)), hops=hops)
def test_the_header_never_speaks_for_an_untrusted_peer(peer: str | None, hops: list[str]) -> None:
    header = [", ".join(hops)]
    assert client_address(peer, header, ()) == parse_address(peer)
    trusted = proxy_networks(("127.0.0.1",))
    got = client_address(peer, header, trusted)
    if parse_address(peer) != addr("127.0.0.1"):
        assert got == parse_address(peer)
    else:  # from the proxy: an address from the header or the proxy itself, or none
        assert (
            got is None
            or got == addr("127.0.0.1")
            or str(got) in " ".join(str(parse_address(h)) for h in hops)
        )
