"""AdapterRegistry.split_config: public config as JSON, secrets as the exact text sent."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, Secret, SecretBytes, SecretStr

from signalbridge.integrations.registry import AdapterConfigError, AdapterRegistry


class VaultedConfig(BaseModel):
    account: str
    token: SecretStr
    blob: SecretBytes | None = None
    pin: Secret[int] | None = None
    passphrase: str | None = None
    timeout: float = Field(default=5.0, gt=0)


SECRETS = ("token", "blob", "pin", "passphrase")


@pytest.fixture
def registry() -> AdapterRegistry:
    reg = AdapterRegistry()
    reg.register("exchange", "vaulted", object, VaultedConfig, SECRETS)
    return reg


def test_secret_types_are_unwrapped_not_masked(registry: AdapterRegistry) -> None:
    sent = {
        "account": "a-1",
        "token": 'eyJ.tok "q" \\ ü€',
        "blob": "bytes-ü",
        "pin": 4021,
        "passphrase": "pass phrase",
    }
    public, secrets = registry.split_config("exchange", "vaulted", sent)
    assert public == {"account": "a-1", "timeout": 5.0}
    assert secrets == {
        "token": 'eyJ.tok "q" \\ ü€',
        "blob": "bytes-ü",
        "pin": "4021",
        "passphrase": "pass phrase",
    }
    assert "*" not in "".join(secrets.values())


def test_unset_and_blank_optional_secrets_are_left_out(registry: AdapterRegistry) -> None:
    _, secrets = registry.split_config(
        "exchange", "vaulted", {"account": "a", "token": "t-1", "passphrase": ""}
    )
    assert secrets == {"token": "t-1"}


@pytest.mark.parametrize("token", ["", "****", "****9f2a", "**********"])
def test_an_empty_or_masked_secret_is_refused(registry: AdapterRegistry, token: str) -> None:
    with pytest.raises(AdapterConfigError) as info:
        registry.split_config("exchange", "vaulted", {"account": "a", "token": token})
    assert [e["field"] for e in info.value.errors] == ["token"]


def test_a_masked_optional_secret_is_refused_too(registry: AdapterRegistry) -> None:
    with pytest.raises(AdapterConfigError, match="passphrase: is a masked placeholder"):
        registry.split_config(
            "exchange", "vaulted", {"account": "a", "token": "t-1", "passphrase": "****abcd"}
        )


def test_a_secret_type_outside_secret_fields_cannot_register() -> None:
    class Inner(BaseModel):
        key: SecretStr

    class Leaky(BaseModel):
        token: SecretStr
        nested: Inner | None = None
        keys: list[SecretStr] = []

    reg = AdapterRegistry()
    with pytest.raises(ValueError, match=r"outside secret_fields: \['nested.key', 'keys'\]"):
        reg.register("exchange", "leaky", object, Leaky, ("token",))
    with pytest.raises(ValueError, match="outside secret_fields"):
        reg.register("exchange", "leaky", object, Leaky, ("nested", "keys"))

    class Sealed(BaseModel):
        token: SecretStr
        key: SecretStr | None = None

    reg.register("exchange", "sealed", object, Sealed, ("token", "key"))
