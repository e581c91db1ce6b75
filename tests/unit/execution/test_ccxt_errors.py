"""ccxt → SignalBridge error translation, redaction and the adapter's pure helpers."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from signalbridge.bootstrap import build_registry
from signalbridge.integrations import errors as sb
from signalbridge.venues.base import AdapterDeps, MarketKind
from signalbridge.venues.ccxt.adapter import CcxtAdapter, CcxtConfig
from signalbridge.venues.ccxt.errors import clean_message, http_status, translate
from signalbridge.venues.ccxt.markets import ccxt_decimal, market_from_ccxt, precision_step

SECRET = "s3cr3t-value-ABCDEFGH12345678"
SIGNED_URL = (
    "binance GET https://api.binance.com/api/v3/account?timestamp=1&recvWindow=10000"
    "&signature=0123456789abcdef0123456789abcdef 400 Bad Request"
)


class FakeExchange:
    """What translate() reads from a ccxt instance."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.last_response_headers = headers or {}
        self.exceptions: dict[str, Any] = {
            "linear": {"exact": {"-2019": ccxt.InsufficientFunds, "-4164": ccxt.InvalidOrder}},
        }


TABLE: list[tuple[BaseException, bool, type[sb.IntegrationError]]] = [
    (ccxt.RequestTimeout("binance POST http://x/order"), True, sb.AmbiguousOutcome),
    (ccxt.RequestTimeout("binance GET http://x/order"), False, sb.TransientError),
    (ccxt.NetworkError("reset"), True, sb.AmbiguousOutcome),
    (ccxt.ExchangeNotAvailable("503"), True, sb.AmbiguousOutcome),
    (ccxt.ExchangeNotAvailable("503"), False, sb.TransientError),
    (ccxt.OperationFailed('binance {"code":-1001}'), True, sb.AmbiguousOutcome),
    (ccxt.InvalidNonce('{"code":-1021}'), True, sb.TransientError),
    (ccxt.AuthenticationError('{"code":-1022}'), True, sb.AuthenticationError),
    (ccxt.PermissionDenied("no"), False, sb.AuthenticationError),
    (ccxt.AccountSuspended("no"), False, sb.AuthenticationError),
    (ccxt.InsufficientFunds("no money"), True, sb.InsufficientFunds),
    (
        ccxt.InvalidOrder(
            '{"code":-2010,"msg":"Account has insufficient balance for requested action."}'
        ),
        True,
        sb.InsufficientFunds,
    ),
    (ccxt.InvalidOrder("Filter failure: LOT_SIZE"), True, sb.InvalidRequest),
    (ccxt.BadRequest("bad"), True, sb.InvalidRequest),
    (ccxt.NotSupported("nope"), False, sb.InvalidRequest),
    (ccxt.OrderNotFound('{"code":-2013}'), False, sb.OrderNotFound),
    (ccxt.BadSymbol('{"code":-1121}'), False, sb.SymbolNotListed),
    (
        ccxt.ExchangeError('binance {"code":-2019,"msg":"Margin is insufficient."}'),
        True,
        sb.InsufficientFunds,
    ),
    (ccxt.ExchangeError('binance {"code":-4164,"msg":"notional"}'), True, sb.InvalidRequest),
    (ccxt.ExchangeError('binance {"code":-9999,"msg":"odd"}'), True, sb.InvalidRequest),
    (ccxt.ExchangeError("binance GET http://x 502 Bad Gateway"), True, sb.AmbiguousOutcome),
    (ccxt.ExchangeError("binance GET http://x 502 Bad Gateway"), False, sb.TransientError),
    (TimeoutError(), True, sb.AmbiguousOutcome),
    (ConnectionResetError(), False, sb.TransientError),
    (RuntimeError("boom"), False, sb.TransientError),
]


@pytest.mark.parametrize(("exc", "write", "expected"), TABLE)
def test_translation_table(
    exc: BaseException, write: bool, expected: type[sb.IntegrationError]
) -> None:
    out = translate(
        exc, write=write, exchange=FakeExchange(), market_type="linear", connection_id="c1"
    )
    assert type(out) is expected
    assert out.connection_id == "c1"
    refined = type(exc) is ccxt.ExchangeError and '"code"' in str(exc)  # re-mapped by code
    assert type(exc).__name__ in out.message or refined
    assert str(exc).split(" ", 1)[-1][:20] in out.message


def test_business_errors_never_count_for_the_breaker() -> None:
    for exc, write, _ in TABLE:
        out = translate(exc, write=write, exchange=FakeExchange(), market_type="linear")
        breaker = isinstance(out, (sb.TransientError, sb.AmbiguousOutcome))
        assert out.counts_for_breaker is breaker


@pytest.mark.parametrize(
    ("message", "headers", "retry_after", "banned"),
    [
        ('binance 429 Too Many Requests {"code":-1003}', {"retry-after": "7"}, 7.0, False),
        (
            'binance 418 I\'m a teapot {"code":-1003,"msg":"IP banned until 1"}',
            {"Retry-After": "120"},
            120.0,
            True,
        ),
        ("binance 429 Too Many Requests", {"Retry-After": "soon"}, None, False),
        ("binance 429 Too Many Requests", {}, None, False),
    ],
)
def test_rate_limits(
    message: str, headers: dict[str, str], retry_after: float | None, banned: bool
) -> None:
    for cls in (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
        out = translate(cls(message), write=True, exchange=FakeExchange(headers))
        assert isinstance(out, sb.RateLimited)
        assert (out.retry_after, out.banned) == (retry_after, banned)


def test_refused_connection_on_write_is_not_ambiguous() -> None:
    exc = ccxt.ExchangeNotAvailable("binance POST http://127.0.0.1:1/api/v3/order")
    exc.__cause__ = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None),
        ConnectionRefusedError(111, "refused"),
    )
    assert type(translate(exc, write=True)) is sb.TransientError


def test_integration_errors_pass_through() -> None:
    err = sb.OrderNotFound("x")
    assert translate(err, write=True) is err


def test_messages_lose_signed_query_strings_and_secrets() -> None:
    exc = ccxt.AuthenticationError(f"{SIGNED_URL} key={SECRET} {SECRET}")
    out = translate(exc, write=False, secrets=[SECRET])
    assert "signature" not in out.message and "0123456789abcdef" not in out.message
    assert SECRET not in out.message and "timestamp=1" not in out.message
    assert "https://api.binance.com/api/v3/account?…" in out.message


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_clean_message_never_leaks_a_known_secret(noise: str) -> None:
    text = f"{noise}{SECRET}{noise} https://h/p?signature={SECRET}&x=1"
    cleaned = clean_message(RuntimeError(text), [SECRET])
    assert SECRET not in cleaned
    assert len(cleaned) < 500


def test_http_status_parsing() -> None:
    assert http_status("binance 418 I'm a teapot {}") == 418
    assert http_status("binance GET http://x/y 503 Service Unavailable") == 503
    assert http_status('binance {"code":-2010,"msg":"x"}') is None


# -- adapter helpers and config ---------------------------------------------------------------


def test_precision_modes() -> None:
    assert precision_step(0.01, TICK_SIZE) == Decimal("0.01")
    assert precision_step(1e-05, TICK_SIZE) == Decimal("0.00001")
    assert precision_step(3, DECIMAL_PLACES) == Decimal("0.001")
    assert precision_step(0, DECIMAL_PLACES) is None
    assert precision_step(4, SIGNIFICANT_DIGITS) is None
    assert precision_step(None, TICK_SIZE) is None
    assert ccxt_decimal(0.1) == Decimal("0.1") and ccxt_decimal("1.50") == Decimal("1.50")
    assert (
        ccxt_decimal(True) is None
        and ccxt_decimal(float("nan")) is None
        and ccxt_decimal("x") is None
    )


def test_market_from_a_ccxt_market() -> None:
    raw = {
        "symbol": "BTC/USDT:USDT",
        "base": "BTC",
        "quote": "USDT",
        "active": True,
        "contractSize": 1.0,
        "precision": {"price": 0.1, "amount": 0.001},
        "limits": {
            "amount": {"min": 0.001, "max": 1000.0},
            "cost": {"min": 100.0},
            "leverage": {"max": 125.0},
        },
    }
    market = market_from_ccxt(raw, "BTC/USDT", MarketKind.LINEAR, TICK_SIZE)
    assert market is not None
    assert (market.price_tick, market.amount_step, market.min_notional) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal(100),
    )
    assert market.max_leverage == 125 and market.max_amount == Decimal(1000)
    assert (
        market_from_ccxt({**raw, "precision": {}}, "BTC/USDT", MarketKind.LINEAR, TICK_SIZE) is None
    )


@pytest.mark.parametrize(
    "urls",
    [
        {"public": "file:///etc/passwd"},
        {"public": "gopher://127.0.0.1:9/_GET"},
        {"private": "http://x:y@127.0.0.1:9/api"},
        {"public": "http://0x7f000001:9/api"},
        {"public": "http://2130706433:9/api"},
        {"public": "http://127.1:9/api"},
        {"public": "http://127.0.0.1\\@evil.test/api"},
        {"public": "http://{hostname}/api"},
    ],
)
def test_url_overrides_no_allow_list_could_open_are_refused_at_save(urls: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="url override"):
        CcxtConfig.model_validate({"urls": urls})


@pytest.mark.parametrize(
    "url",
    [
        "https://api.binance.com/api/v3",
        "http://10.0.0.1/api",
        "http://127.0.0.1.evil.com/api",
        "http://127.0.0.1:9/api/v3",
        "http://localhost:9/api/v3",
    ],
)
async def test_url_overrides_off_the_operator_allow_list_are_refused_before_any_request(
    url: str,
) -> None:
    # No allow-list at all (no factory in the deps): an override may point nowhere. The
    # refusal names the allow-list, so nothing was dialled (127.0.0.1:9 would be refused
    # as a connection, 10.0.0.1 by the test run's network guard).
    adapter = CcxtAdapter.from_config("c", {"urls": {"public": url}}, {}, deps=AdapterDeps())
    adapter.exchange.timeout_on_exit = 0
    try:
        with pytest.raises(sb.InvalidRequest, match="allow-list") as info:
            await adapter.load_markets()
        assert info.value.connection_id == "c"
    finally:
        await adapter.close()


def test_ccxt_options_cannot_carry_a_url() -> None:
    with pytest.raises(ValidationError, match="must not contain a URL"):
        CcxtConfig.model_validate({"options": {"x": {"y": ["http://169.254.169.254/"]}}})
    assert CcxtConfig.model_validate({"options": {"defaultType": "spot", "recvWindow": 5000}})


def test_config_validation() -> None:
    assert CcxtConfig.model_validate({"urls": {"public": "http://127.0.0.1:9/api/v3"}})
    with pytest.raises(ValidationError):
        CcxtConfig.model_validate({"exchange": "notanexchange"})
    with pytest.raises(ValidationError):
        CcxtConfig.model_validate({"market_type": "delivery"})
    with pytest.raises(ValidationError):  # COIN-M inverse futures: Binance only
        CcxtConfig.model_validate({"exchange": "bybit", "market_type": "inverse"})
    with pytest.raises(ValidationError):
        CcxtConfig.model_validate({"surprise": 1})


def test_registered_with_secret_fields() -> None:
    spec = build_registry().get("exchange", "ccxt")
    assert spec.config_schema is CcxtConfig
    assert set(spec.secret_fields) == {"api_key", "secret", "password"}


def test_no_withdraw_or_transfer_call_exists_in_src() -> None:
    """Reliability row 29: SignalBridge only trades; no code path can move funds out."""
    src = Path(__file__).resolve().parents[3] / "src"
    call = re.compile(
        r"\.\s*(?:withdraw|transfer|sapi_post_capital_withdraw\w*|private_post_withdraw\w*"
        r"|sapi_post_asset_transfer\w*|sapi_post_futures_transfer\w*)\s*\(",
        re.IGNORECASE,
    )
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if call.search(line)
    ]
    assert list(src.rglob("*.py")), "the scan found no source files"
    assert offenders == []


# -- Binance's authentication codes win over ccxt's class (issue 13, item 6) -------------------

BINANCE_AUTH = [
    '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
    '{"code":-2014,"msg":"API-key format invalid."}',
    '{"code":-1022,"msg":"Signature for this request is not valid."}',
]


@pytest.mark.parametrize("body", BINANCE_AUTH)
@pytest.mark.parametrize("klass", [ccxt.DDoSProtection, ccxt.BadRequest, ccxt.ExchangeError])
def test_binance_auth_codes_are_authentication_errors(body: str, klass: type[Exception]) -> None:
    exchange = ccxt.binance()
    for write in (False, True):
        translated = translate(klass(f"binance {body}"), write=write, exchange=exchange)
        assert type(translated) is sb.AuthenticationError, (klass, body)


def test_a_real_binance_rate_limit_stays_a_rate_limit() -> None:
    exchange = ccxt.binance()
    ban = ccxt.DDoSProtection('binance 418 I\'m a teapot {"code":-1003,"msg":"banned"}')
    assert isinstance(translate(ban, write=False, exchange=exchange), sb.RateLimited)


def test_other_exchanges_keep_their_own_codes() -> None:
    other = ccxt.DDoSProtection('okx {"code":-2015,"msg":"slow down"}')
    assert isinstance(translate(other, write=False, exchange=ccxt.okx()), sb.RateLimited)


def test_precision_modes_match_ccxts_own() -> None:
    """markets.py copies ccxt's precision-mode numbers so that it does not import ccxt."""
    from signalbridge.venues.ccxt import markets

    assert (markets.DECIMAL_PLACES, markets.TICK_SIZE) == (DECIMAL_PLACES, TICK_SIZE)


def test_the_registry_loads_the_ccxt_adapter_only_when_built() -> None:
    factory = build_registry().get("exchange", "ccxt").factory
    assert factory.load() is CcxtAdapter and factory.type == "ccxt"
