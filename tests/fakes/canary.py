"""A loopback canary: any connection to it (IPv4 or IPv6 loopback) is counted.

SSRF tests aim crafted URLs at it; a correct guard leaves ``connections == 0``.
"""

from __future__ import annotations

import socket

from tests.fakes.flaky_server import FlakyServer


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class CanaryServer(FlakyServer):
    """Listens on 127.0.0.1 and (when available) ::1 on the same port."""

    def __init__(self) -> None:
        hosts = ("127.0.0.1", "::1") if _has_ipv6_loopback() else ("127.0.0.1",)
        super().__init__(hosts=hosts)

    @property
    def touched(self) -> int:
        """Connections plus requests seen: must stay 0."""
        return self.connections + len(self.hits)
