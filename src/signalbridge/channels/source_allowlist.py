"""Which network addresses may deliver to a webhook channel, and who the client is.

TradingView cannot sign its alerts, so besides the secret in the body a channel may name
the addresses it takes deliveries from (``allowed_sources``): IPs, CIDR networks, or the
preset ``tradingview``, which stands for the setting ``tradingview_sources`` (TradingView's
published addresses, kept in that one place so an operator can follow their changes).

The client is the ASGI peer. ``X-Forwarded-For`` is read only when that peer is one of
the operator's ``trusted_proxies`` (none by default): anyone can write the header, so by
default it is never believed.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import structlog

log = structlog.get_logger("signalbridge.webhook_sources")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

TRADINGVIEW: Final = "tradingview"
PRESETS: Final = frozenset({TRADINGVIEW})
MAX_ENTRIES: Final = 64
#: A refused source is logged at most this often per channel (the count keeps counting).
LOG_EVERY_SECONDS: Final = 1.0


def network(entry: str) -> Network:
    """``entry`` (an IP or a CIDR network) as a network; ValueError when it is neither."""
    return ipaddress.ip_network(entry.strip(), strict=False)


def check_entries(entries: Iterable[str]) -> list[str]:
    """The entries normalised (presets lower-cased, networks in CIDR form), or ValueError."""
    out: list[str] = []
    for entry in entries:
        name = entry.strip().lower()
        if name in PRESETS:
            out.append(name)
            continue
        try:
            out.append(str(network(entry)))
        except ValueError:
            raise ValueError(
                f"{entry[:60]!r} is not an IP address, a CIDR network or a preset "
                f"({', '.join(sorted(PRESETS))})"
            ) from None
    if len(out) > MAX_ENTRIES:
        raise ValueError(f"at most {MAX_ENTRIES} allowed sources")
    return out


def parse_address(text: str | None) -> Address | None:
    """An IP address from a peer or header value; None when there is none to read."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


@dataclass(frozen=True)
class SourceAllowList:
    """A channel's allowed sources; empty admits every address."""

    networks: tuple[Network, ...] = ()
    presets: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> SourceAllowList:
        checked = check_entries(entries)
        return cls(
            tuple(network(e) for e in checked if e not in PRESETS),
            frozenset(e for e in checked if e in PRESETS),
        )

    @property
    def open(self) -> bool:
        return not self.networks and not self.presets

    def admits(self, address: Address | None, presets: Mapping[str, Sequence[Network]]) -> bool:
        """Is ``address`` allowed? An unknown address is not, unless the list is empty."""
        if self.open:
            return True
        if address is None:
            return False
        preset_networks = (net for name in self.presets for net in presets.get(name, ()))
        return _within(address, self.networks) or _within(address, preset_networks)


@lru_cache(maxsize=8)
def preset_networks(tradingview: tuple[str, ...]) -> Mapping[str, tuple[Network, ...]]:
    """The presets' networks from the settings (cached: the settings do not change)."""
    return {TRADINGVIEW: tuple(network(e) for e in tradingview)}


@lru_cache(maxsize=8)
def proxy_networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(network(e) for e in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> Address | None:
    """The delivering client: the ASGI peer, or, when the peer is a trusted proxy, the
    nearest ``X-Forwarded-For`` hop that is not one (rightmost first: only the proxies'
    own additions are believed). None when no address can be read."""
    address = parse_address(peer)
    if address is None or not trusted or not _within(address, trusted):
        return address
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        parsed = parse_address(hop)
        if parsed is None:
            return None  # a proxy wrote something unreadable: trust none of it
        if not _within(parsed, trusted):
            return parsed
        address = parsed
    return address


class SourceRefusals:
    """Counts deliveries refused for their source, per channel, and logs them (address and
    channel, never the body) at most once a second per channel."""

    def __init__(self) -> None:
        self.total = 0
        self.by_channel: dict[int, int] = {}
        self._logged: dict[int, float] = {}

    def note(self, channel_id: int, address: Address | None) -> None:
        self.total += 1
        self.by_channel[channel_id] = self.by_channel.get(channel_id, 0) + 1
        now = time.monotonic()
        if now - self._logged.get(channel_id, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        self._logged[channel_id] = now
        log.warning(
            "webhook delivery from a source outside the channel's allow-list",
            channel_id=channel_id,
            source=str(address) if address is not None else "unknown",
            refused=self.by_channel[channel_id],
        )
