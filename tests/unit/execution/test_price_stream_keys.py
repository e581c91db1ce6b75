"""Which connections share a price stream, and which have none (REST only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fakes.loopback import LOOPBACK_HOSTS, loopback_deps
from tests.platform_fixtures import make_settings

from signalbridge.bootstrap import build_container
from signalbridge.integrations.ssrf import SSRFPolicy
from signalbridge.venues.ccxt.config import CcxtConfig
from signalbridge.venues.ccxt.stream import CcxtPriceStreams, VenueKey, venue_key
from signalbridge.venues.paper.adapter import PaperAdapter

LOOPBACK = SSRFPolicy(allowed_hosts=LOOPBACK_HOSTS)
REST = {
    "fapiPublic": "http://127.0.0.1:9000/fapi/v1",
    "fapiPrivate": "http://127.0.0.1:9000/fapi/v1",
}


def key(policy: SSRFPolicy = LOOPBACK, **fields: Any) -> VenueKey | None:
    return venue_key(CcxtConfig.model_validate(fields), policy)


def test_accounts_on_one_venue_share_one_key_whatever_their_keys() -> None:
    real = key(exchange="binance", market_type="linear")
    assert real == VenueKey("binance", "linear", "")
    assert key(exchange="binance", market_type="linear", margin_type="cross") == real
    assert key(exchange="binance", market_type="spot") == VenueKey("binance", "spot", "")
    assert key(exchange="bybit", market_type="linear") == VenueKey("bybit", "linear", "")
    assert key(exchange="okx", market_type="linear") == VenueKey("okx", "linear", "")
    assert key(exchange="binance", market_type="linear", sandbox=True) == VenueKey(
        "binance", "linear", "sandbox"
    )
    ws = "http://127.0.0.1:9001/ws"
    assert key(exchange="binance", market_type="linear", urls={**REST, "ws": ws}) == VenueKey(
        "binance", "linear", ws
    )


def test_no_stream_where_rest_is_pointed_elsewhere_or_the_venue_has_none() -> None:
    # REST overridden without a socket URL: the real venue's stream would not match it
    assert key(exchange="binance", market_type="linear", urls=REST) is None
    assert key(exchange="kraken", market_type="spot") is None  # not streamed (yet)
    assert key(exchange="bybit", market_type="spot") is None  # only linear is tested
    # a socket URL the operator's allow-list does not open
    ws = {**REST, "ws": "http://127.0.0.1:9001/ws"}
    assert key(SSRFPolicy(), exchange="binance", market_type="linear", urls=ws) is None


HOSTS = st.one_of(
    st.sampled_from(
        ["127.0.0.1", "[::1]", "localhost", "10.0.0.1", "169.254.169.254", "fstream.binance.com"]
    ),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=20),
)
URLS = st.builds(
    "{}://{}{}/{}".format,
    st.sampled_from(["http", "https", "ws", "wss"]),
    HOSTS,
    st.sampled_from(["", ":9001", ":0", ":99999"]),
    st.text(max_size=12),
)


@given(URLS)
def test_any_socket_url_is_held_to_the_allow_list(url: str) -> None:
    try:
        config = CcxtConfig.model_validate(
            {"exchange": "binance", "market_type": "linear", "urls": {"ws": url}}
        )
    except ValidationError:
        return  # refused when the connection is saved
    assert venue_key(config, SSRFPolicy()) is None  # nothing allowed: never a stream
    found = venue_key(config, LOOPBACK)
    if found is not None:  # only what the operator allowed
        assert found.url == url and yarl.URL(url).host in ("127.0.0.1", "::1")


async def test_adapters_without_a_stream_are_left_to_rest() -> None:
    prices = CcxtPriceStreams(LOOPBACK)
    paper = PaperAdapter.from_config("1", {}, {}, deps=loopback_deps())
    assert prices.latest(paper, ["BTC/USDT"]) == {}
    assert prices.venues == {}
    await prices.close()


@pytest.mark.parametrize("on", [True, False])
async def test_the_setting_turns_streams_off(tmp_path: Path, on: bool) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db", price_streams=on)
    container = build_container(settings)
    assert (container.price_streams is not None) is on
    await container.close()  # closes streams that never opened a socket
