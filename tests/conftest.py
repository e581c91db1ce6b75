"""Project-wide test safety: no socket may leave the machine; hypothesis settings."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# the running platform (databases, harness) for every test folder, and the one place
# fixtures are shared from
pytest_plugins = ("tests.platform_fixtures",)

settings.register_profile(
    "signalbridge",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("signalbridge")


class NetworkAccessDenied(OSError):
    """Raised when a test tries to connect anywhere but loopback."""


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _check(sock: socket.socket | None, address: Any) -> None:
    family = getattr(sock, "family", None)
    if family is not None and family not in (socket.AF_INET, socket.AF_INET6):
        return  # UNIX sockets and the like stay on the machine
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise NetworkAccessDenied(f"test tried to connect to non-loopback address {address!r}")


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_create_connection = socket.create_connection

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return original_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        _check(None, address)
        return original_create_connection(address, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", connect)
    mp.setattr(socket.socket, "connect_ex", connect_ex)
    mp.setattr(socket, "create_connection", create_connection)
    try:
        yield
    finally:
        mp.undo()
