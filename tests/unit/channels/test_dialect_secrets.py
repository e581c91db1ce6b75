"""Where dialect senders put a body_secret channel's secret (PineConnector text, 3Commas
JSON), and the channel reading it there when its dialect says so."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from signalbridge.channels.dialect_secrets import MASK, find_pine_secret
from signalbridge.channels.webhook import WebhookChannel, WebhookConfig

SECRET = "Lic0123456789abcdef"


def test_the_first_field_is_the_secret_and_is_masked() -> None:
    body = f"{SECRET},buy,EURUSD,risk=1,sl=20,tp=40".encode()
    assert find_pine_secret(body) == (SECRET, f"{MASK},buy,EURUSD,risk=1,sl=20,tp=40".encode())
    assert find_pine_secret(f" {SECRET} ,closeall,EURUSD\n".encode()) == (
        SECRET,
        f"{MASK},closeall,EURUSD".encode(),
    )


def test_a_secret_parameter_wins_and_is_cut_out() -> None:
    body = f"60123456789,buy,EURUSD,secret={SECRET},risk=1".encode()
    assert find_pine_secret(body) == (SECRET, b"60123456789,buy,EURUSD,risk=1")
    body = f"60123456789,sell,EURUSD,vol_lots=1, secret = {SECRET} ".encode()
    assert find_pine_secret(body) == (SECRET, b"60123456789,sell,EURUSD,vol_lots=1")


def test_no_command_no_secret() -> None:
    for body in (
        b"",
        b"buy,EURUSD",  # two fields
        b'{"secret": "x", "a": 1}',
        b"a,b,c\nd,e,f",
        f"1,buy,X,secret={SECRET},secret={SECRET}".encode(),  # doubled
        b"1,buy,X,secret=",  # empty
        b" ,buy,EURUSD",  # an empty first field
    ):
        assert find_pine_secret(body) is None, body
    assert find_pine_secret("Lizenzß,buy,EURUSD".encode()) is None


def hook(dialect: str | None, **config: object) -> WebhookChannel:
    return WebhookChannel(
        WebhookConfig.model_validate({"secret": SECRET, "auth": "body_secret", **config}),
        dialect=dialect,
    )


def test_a_pineconnector_channel_reads_its_secret_from_the_command() -> None:
    pine = hook("pineconnector")
    delivery = pine.verify(f"{SECRET},buy,EURUSD,sl=20".encode(), {})
    assert delivery is not None and delivery.body == f"{MASK},buy,EURUSD,sl=20".encode()
    assert pine.verify(b"wrongsecret1234567,buy,EURUSD", {}) is None
    # canonical JSON with the secret field still opens it
    assert pine.verify(json.dumps({"secret": SECRET, "kind": "noise"}).encode(), {}) is not None
    # a channel without that dialect does not look in the command
    assert hook(None).verify(f"{SECRET},buy,EURUSD".encode(), {}) is None
    assert hook("3commas").verify(f"{SECRET},buy,EURUSD".encode(), {}) is None
    # nor does an hmac channel, whatever its dialect
    hmac_pine = WebhookChannel(WebhookConfig(secret=SECRET), dialect="pineconnector")
    assert hmac_pine.verify(f"{SECRET},buy,EURUSD".encode(), {}) is None


def test_a_3commas_channel_reads_the_secret_field() -> None:
    body = {"secret": SECRET, "tv_instrument": "BTCUSDT", "action": "enter_long", "bot_uuid": "u"}
    delivery = hook("3commas").verify(json.dumps(body).encode(), {})
    assert delivery is not None and SECRET.encode() not in delivery.body


fields = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters=","),
    max_size=12,
)


@given(
    parts=st.lists(fields, max_size=8), secret=st.from_regex(r"[A-Za-z0-9]{16,40}", fullmatch=True)
)
def test_untrusted_commands_never_raise_and_never_keep_the_secret(
    parts: list[str], secret: str
) -> None:
    for body in (",".join(parts).encode(), ",".join([secret, "buy", "EURUSD", *parts]).encode()):
        found = find_pine_secret(body)
        if found is not None:
            got, rest = found
            assert got and got.encode() not in rest.split(b",")[:1]
    found = find_pine_secret(",".join([secret, "buy", "EURUSD", *parts]).encode())
    if found is not None and not any("secret" in p.lower() for p in parts):
        assert found[0] == secret and found[1].startswith(MASK.encode() + b",buy,EURUSD")
