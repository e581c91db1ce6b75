from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations import redaction
from signalbridge.integrations.logging import configure_logging
from signalbridge.integrations.redaction import (
    REDACTED,
    RedactingFilter,
    mask,
    redact,
    redact_headers,
    redact_mapping,
    redact_url,
    register_secret,
)

CANARY = "CANARY-k3y-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    redaction.secrets.clear()
    yield
    redaction.secrets.clear()


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"api_key": "AKIAXYZ123", "x": 1}', "AKIAXYZ123"),
        ("{'secret': 'hush-hush'}", "hush-hush"),
        ("password=hunter22 and more", "hunter22"),
        ("X-MBX-APIKEY: vmPUZE6mv9SD5VNHk4", "vmPUZE6mv9SD5VNHk4"),
        ("auth-token: eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl", "eyJzdWIiOiIx"),
        ("GET /api/v3/order?symbol=BTC&signature=0a1b2c3d", "0a1b2c3d"),
        ("https://h/x?apikey=ZZZ111&token=TTT222", "TTT222"),
        ("https://bob:pa55word@host/feed", "pa55word"),
        ("stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
        ("webhook whsec_abcdefghijklmnop", "abcdefghijklmnop"),
        ("bot 123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0 said", "AAHfiqksKZ8WmR2zSjiQ7"),
        (
            "POST https://api.telegram.org/bot123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0/getMe",
            "AAHfiqksKZ8WmR2zSjiQ7",
        ),
        ("passphrase = 'open sesame'", "open"),
    ],
)
def test_secret_shapes_are_redacted(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out
    assert REDACTED in out


def test_ordinary_text_is_untouched() -> None:
    text = "BUY BTCUSDT entry 65000 SL 64000 TP 67000 (key levels, token of thanks)"
    assert redact(text) == text


@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_registered_secret_never_survives(prefix: str, suffix: str) -> None:
    register_secret(CANARY)
    assert CANARY not in redact(prefix + CANARY + suffix)


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_mask_keeps_last_four() -> None:
    assert mask("sk_live_1234567890abcd") == "****abcd"
    assert mask("short") == "****"
    assert mask(None) == "****"


def test_redact_url_params_and_userinfo() -> None:
    url = "https://u:pw@api.x.com/v1?symbol=BTC&api_key=K1&Signature=S1&sig=S2&passphrase=P&a=b"
    out = redact_url(url)
    for leak in ("pw", "K1", "S1", "S2", "=P&"):
        assert leak not in out
    assert "symbol=BTC" in out and "a=b" in out and "api.x.com" in out


def test_redact_headers_and_mapping() -> None:
    headers = redact_headers(
        {"Authorization": "Bearer tok123456", "X-API-KEY": "k", "Accept": "application/json"}
    )
    assert headers == {
        "Authorization": "Bearer ****",
        "X-API-KEY": "****",
        "Accept": "application/json",
    }
    data = redact_mapping(
        {"api_secret": "s", "nested": {"password": "p", "list": ["Bearer abcdefghij"]}, "n": 3}
    )
    assert data == {
        "api_secret": "****",
        "nested": {"password": "****", "list": ["Bearer ****"]},
        "n": 3,
    }


def test_stdlib_filter_scrubs_message_args_and_traceback() -> None:
    register_secret(CANARY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction.filter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("calling %s with key %s", "https://x/?api_key=zz9", CANARY)
        try:
            raise RuntimeError(f"failed with {CANARY}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert CANARY not in out
    assert "zz9" not in out
    assert "RuntimeError" in out


def test_configure_logging_json_scrubs_structlog_and_stdlib() -> None:
    register_secret(CANARY)
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    try:
        log = structlog.get_logger("test.kernel")
        log.info("placing order", api_key=CANARY, note=f"header Bearer {CANARY}", qty="0.01")
        try:
            raise ValueError(f"exchange said {CANARY}")
        except ValueError:
            log.exception("failed")
        logging.getLogger("httpx").info("HTTP Request: GET https://x/?signature=%s", CANARY)
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
    out = stream.getvalue()
    assert CANARY not in out
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines[0]["event"] == "placing order" and lines[0]["qty"] == "0.01"
    assert lines[0]["api_key"] == REDACTED
    assert any("ValueError" in line.get("exception", "") for line in lines)
    assert any(line.get("logger") == "httpx" for line in lines)


def test_configure_logging_rejects_unknown_level() -> None:
    with pytest.raises(ValueError):
        configure_logging("LOUD", json=False)
