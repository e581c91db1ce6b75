"""The CoinPayments connection test: ``get_basic_info``, signed with the API keys.

The answer names the account the keys belong to; its ``merchant_id`` must be the one
configured, since every IPN is checked against it (keys of another account would create
transactions whose IPNs are all refused). An API key's commands are enabled one by one: a
key refused only the permission for ``get_basic_info`` has passed the key and HMAC checks,
so ``rates`` is asked instead and the merchant id stays unchecked (the answer says so).
CoinPayments has no test mode: ``test_mode`` is None (LTCT, its testnet coin, is paid on
the live account).
"""

from __future__ import annotations

from signalbridge.integrations.errors import AuthenticationError, IntegrationError
from signalbridge.payments.base import GatewayProbe
from signalbridge.payments.coinpayments.client import CoinPaymentsClient

__all__ = ["NO_TEST_MODE", "probe"]

NO_TEST_MODE = "CoinPayments has no test mode (LTCT is its testnet coin, on the live account)"


async def probe(client: CoinPaymentsClient, merchant_id: str) -> GatewayProbe:
    """One signed read; a refusal or a merchant mismatch is ``ok=False`` with the reason."""
    try:
        info = await client.get_basic_info()
    except AuthenticationError as exc:
        if "permission" not in exc.message.lower():
            return GatewayProbe.failed(exc)
        return await _rates_instead(client)
    except IntegrationError as exc:
        return GatewayProbe.failed(exc)
    found = info.get("merchant_id")
    if found != merchant_id:
        shown = found if isinstance(found, str) and found.isalnum() else "another"
        refusal = AuthenticationError(
            f"these API keys belong to merchant {shown}, not the configured merchant "
            f"{merchant_id}: every IPN would be refused. Use this merchant's keys or fix "
            "merchant_id",
            connection_id=client.connection_id,
        )
        return GatewayProbe.failed(refusal)
    return GatewayProbe(
        True, f"CoinPayments accepted the API keys of merchant {merchant_id}; {NO_TEST_MODE}"
    )


async def _rates_instead(client: CoinPaymentsClient) -> GatewayProbe:
    try:
        await client.rates()
    except IntegrationError as exc:
        return GatewayProbe.failed(exc)
    return GatewayProbe(
        True,
        "CoinPayments accepted the API keys (this key may not call get_basic_info, so the "
        f"merchant id was not checked); {NO_TEST_MODE}",
    )
