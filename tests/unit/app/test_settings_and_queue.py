"""Settings sources and broker selection: pure, no services needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from taskiq import InMemoryBroker

from signalbridge.integrations.queue import make_broker
from signalbridge.settings import Settings


def test_defaults_are_the_embedded_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "SIGNALBRIDGE_DATABASE_URL",
        "SIGNALBRIDGE_BROKER_URL",
        "SIGNALBRIDGE_DATA_DIR",
        "SIGNALBRIDGE_CONFIG_FILE",
        "SIGNALBRIDGE_HOST",
        "SIGNALBRIDGE_PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url == "sqlite+aiosqlite:///data/signalbridge.db"
    assert s.broker_url == "memory://"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.resolved_key_file == Path("data/secret.keys")


def test_environment_beats_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "signalbridge.toml"
    config.write_text('[signalbridge]\nport = 9100\nhost = "0.0.0.0"\nunknown_key = 1\n')
    monkeypatch.setenv("SIGNALBRIDGE_CONFIG_FILE", str(config))
    monkeypatch.setenv("SIGNALBRIDGE_PORT", "9200")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.port == 9200  # the environment wins
    assert s.host == "0.0.0.0"  # the file fills what the environment does not say


def test_secret_keys_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALBRIDGE_SECRET_KEYS", "c2VjcmV0LWtleS1tYXRlcmlhbC1jYW5hcnk=")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "c2VjcmV0" not in repr(s) and "c2VjcmV0" not in str(s.model_dump())


def test_broker_is_chosen_by_url() -> None:
    assert isinstance(make_broker("memory://"), InMemoryBroker)
    redis_broker = make_broker("redis://127.0.0.1:6379/0", "q")
    assert type(redis_broker).__name__ == "ListQueueBroker"
    with pytest.raises(ValueError, match="unsupported broker"):
        make_broker("amqp://guest@localhost")
