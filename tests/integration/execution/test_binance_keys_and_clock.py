"""A Binance key's truths (issue 13, items 6, 8 and 9).

6. After one successful spot call ccxt reports -2015 (bad key, IP or permission) as
   DDoSProtection; it is still an authentication error here, and the probe answers "not ok".
8. The probe refuses keys that can withdraw or transfer (internal or universal), and warns
   that a key without an IP whitelist loses spot trading 30 days after it was enabled.
9. A request refused for its timestamp (-1021) turns on ccxt's time-difference adjustment:
   the server's clock is measured and the request sent again, so a skew, from the start
   or appearing later, never stalls the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt
import pytest
from tests.fakes.binance import FakeBinance, binance_server, fake_binance  # noqa: F401
from tests.integration.execution.binance_rig import adapter

from signalbridge.integrations import errors as sb
from signalbridge.venues.ccxt.adapter import WITHDRAW_REFUSAL, CcxtAdapter


@pytest.fixture
def fake(fake_binance: FakeBinance) -> FakeBinance:  # noqa: F811
    return fake_binance


@pytest.fixture
async def spot(fake: FakeBinance) -> AsyncIterator[CcxtAdapter]:
    built = adapter(fake, "spot")
    yield built
    await built.close()


def raw_spot(fake: FakeBinance, **options: Any) -> Any:
    ex = ccxt.binance(
        {
            "apiKey": fake.api_key,
            "secret": fake.secret,
            "urls": {"api": fake.ccxt_urls()},
            "options": {
                "defaultType": "spot",
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
                **options,
            },
        }
    )
    ex.timeout_on_exit = 0
    return ex


# -- 6. authentication versus rate limits ---------------------------------------------------


async def test_ccxt_calls_a_revoked_key_a_ddos_after_one_good_call(fake: FakeBinance) -> None:
    ex = raw_spot(fake)
    try:
        await ex.fetch_balance()
        fake.revoke_key(fake.api_key)
        with pytest.raises(ccxt.DDoSProtection, match="-2015"):  # ccxt's workaround
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_a_revoked_key_is_an_authentication_error(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    await spot.fetch_balance()  # one successful spot call
    fake.revoke_key(fake.api_key)
    with pytest.raises(sb.AuthenticationError) as caught:
        await spot.fetch_balance()
    assert not isinstance(caught.value, sb.RateLimited)
    result = await spot.probe()
    assert not result.ok and "key refused" in result.message and "-2015" in result.message


# -- 8. key permissions ---------------------------------------------------------------------


async def test_the_fake_answers_every_documented_permission(fake: FakeBinance) -> None:
    ex = raw_spot(fake)
    try:
        answer = await ex.sapi_get_account_apirestrictions()
    finally:
        await ex.close()
    assert {
        "ipRestrict", "createTime", "enableReading", "enableWithdrawals",
        "enableInternalTransfer", "permitsUniversalTransfer", "enableMargin", "enableFutures",
        "enableVanillaOptions", "enableSpotAndMarginTrading", "enablePortfolioMarginTrading",
        "tradingAuthorityExpirationTime",
    } <= set(answer)  # fmt: skip
    days = (answer["tradingAuthorityExpirationTime"] - fake.account.activated_ms) / 86_400_000
    assert days == 30


@pytest.mark.parametrize("flag", ["enableInternalTransfer", "permitsUniversalTransfer"])
async def test_a_key_that_can_transfer_is_refused(
    spot: CcxtAdapter, fake: FakeBinance, flag: str
) -> None:
    fake.account.permissions[flag] = True
    result = await spot.probe()
    assert not result.ok and result.can_trade and not result.can_withdraw
    assert "transfer" in result.message


async def test_a_key_that_can_withdraw_is_still_refused(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    fake.account.permissions["enableWithdrawals"] = True
    result = await spot.probe()
    assert not result.ok and result.can_withdraw and result.message == WITHDRAW_REFUSAL


async def test_a_key_without_an_ip_whitelist_is_warned_about_30_days(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    result = await spot.probe()
    assert result.ok and result.can_trade
    assert "IP" in result.message and "30 days" in result.message
    assert "spot" in result.message.lower()
    fake.account.permissions["ipRestrict"] = True
    result = await spot.probe()
    assert result.ok and "30 days" not in result.message


# -- 9. the clock ---------------------------------------------------------------------------


async def test_a_skewed_server_clock_is_minus_1021_without_adjustment(fake: FakeBinance) -> None:
    fake.account.skew(30_000)  # the server runs 30 s ahead of this machine
    ex = raw_spot(fake)
    try:
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_the_adapter_adjusts_for_the_servers_clock(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    fake.account.skew(30_000)
    assert "USDT" in await spot.fetch_balance()
    assert spot.exchange.options["adjustForTimeDifference"] is True
    assert fake.count("/api/v3/time") == 1
    assert "USDT" in await spot.fetch_balance()  # adjusted: no second refusal
    assert fake.count("/api/v3/account") == 3  # refused once, then twice accepted


async def test_futures_adjust_for_the_servers_clock_too(fake: FakeBinance) -> None:
    fake.account.skew(-15_000)
    linear = adapter(fake, "linear")
    try:
        assert "USDT" in await linear.fetch_balance()
        assert fake.count("/fapi/v1/time") == 1
    finally:
        await linear.close()


async def test_a_skew_that_appears_later_is_measured_again(
    spot: CcxtAdapter, fake: FakeBinance
) -> None:
    await spot.fetch_balance()
    assert fake.count("/api/v3/time") == 0  # our clocks agree: nothing spent on it
    fake.account.skew(-20_000)  # now our requests look 20 s ahead of the server
    assert "USDT" in await spot.fetch_balance()
    assert fake.count("/api/v3/time") == 1
