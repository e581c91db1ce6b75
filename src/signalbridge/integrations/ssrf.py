"""SSRF guard for URLs a user configures (RSS, scraping, outbound webhooks, cert URLs).

Every request — and, because httpx hands each redirect hop to the transport, every hop —
is checked here: http/https only, the host resolved once, every resolved address checked
against loopback, private, link-local, CGNAT, multicast, reserved, metadata and the IPv4
embedded in IPv6 forms; then the connection is made to the checked address itself (the
URL is rewritten to the IP, the ``Host`` header and TLS SNI/verification keep the name), so
a DNS answer that changes between check and connect (rebinding) cannot redirect it.

Only the operator opens internal addresses: ``allowed_hosts`` comes from the settings
(``SIGNALBRIDGE_ALLOWED_HOSTS``), never from a connection's configuration. A configured URL
is first checked by :func:`url_syntax_problem` when it is saved, so forms no allow-list can
make safe (other schemes, ``user:password@``, odd IPv4 spellings, ``%`` in the host) are
refused before anything is stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

from signalbridge.integrations.errors import InvalidRequest, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``await resolver(host, port)`` → every address the name resolves to, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"}
)
METADATA_IPS = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("100.100.100.200"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
#: scheme://authority then path, query or fragment; the authority is judged separately.
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?$"
)
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_MAX_URL_LENGTH = 2048


def parse_host_ip(host: str) -> IPAddress | None:
    """The address a host *literal* denotes in any spelling a resolver accepts, else None.

    Understands the inet_aton forms (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
    ``127.1``) and bracketed or bare IPv6. A host whose last label looks numeric but does
    not parse is refused rather than handed to a resolver that may read it differently.
    """
    text = host.strip().strip("[]").rstrip(".")
    if "%" in text:
        raise InvalidRequest("URL host must not contain '%' (encoded or scoped addresses)")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    parts = text.split(".")
    if not parts or not _NUMERIC_PART.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMERIC_PART.fullmatch(p) for p in parts):
        raise InvalidRequest(f"URL host {host!r} looks like a malformed IP address")
    try:
        numbers = [_parse_number(p) for p in parts]
    except ValueError:
        raise InvalidRequest(f"URL host {host!r} looks like a malformed IP address") from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        raise InvalidRequest(f"URL host {host!r} looks like a malformed IP address")
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (5 - len(parts)) + last
    return ipaddress.IPv4Address(value)


def url_syntax_problem(url: str) -> str | None:
    """Why a configured URL is refused whatever the operator allows, or None.

    Deliberately narrower than RFC 3986, so that httpx, yarl (aiohttp, ccxt) and this
    check all read the same host: http/https only, a plain host name, a dotted-quad IPv4 or
    a bracketed IPv6 address, an optional port, and no ``user:password@``, backslash,
    ``%``, space or control character in it. The addresses themselves are judged when the
    URL is dialled (:meth:`SSRFPolicy.check`), where the operator's allow-list applies.
    """
    if len(url) > _MAX_URL_LENGTH:
        return f"the URL is longer than {_MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url) or "\\" in url:
        return "the URL contains a space, a control character or a backslash"
    match = _URL.match(url)
    if match is None:
        return "not an absolute http(s) URL"
    scheme = match["scheme"].lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"URL scheme {scheme!r} is not allowed; use http/https"
    authority = match["authority"]
    if "@" in authority:
        return "the URL must not carry a user name or password (user:password@host)"
    if "%" in authority:
        return "the URL host must not contain '%' (encoded or scoped addresses)"
    if authority.startswith("["):
        host, sep, port = authority[1:].partition("]")
        if not sep:
            return "the URL has an unclosed '[' in its host"
        if port and not port.startswith(":"):
            return "the URL has text after its IPv6 address"
        port = port[1:] if port else ""
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"URL host [{host}] is not an IPv6 address"
    else:
        host, _, port = authority.partition(":")
        if not host:
            return "the URL has no host"
        if not _HOST_NAME.fullmatch(host):
            return f"URL host {host!r} is not a plain host name or IP address"
        try:
            literal = parse_host_ip(host)
        except InvalidRequest as exc:
            return exc.message
        if literal is not None and host.rstrip(".") != str(literal):
            return f"URL host {host!r} is an unusual spelling of {literal}; write {literal}"
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f"URL port {port!r} is not a number from 1 to 65535"
    return None


def _parse_number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return found


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why an address must not be reached from a user-configured URL, or None if public."""
    if ip in METADATA_IPS:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            reason = forbidden_reason(inner)
            if reason is not None:
                return f"an IPv6 address embedding {reason}"
        if ip.is_site_local:
            return "a site-local address"
    if any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version):
        return "a shared or reserved address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host``, in its order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    seen: list[str] = []
    for *_, sockaddr in infos:
        addr = str(sockaddr[0])
        if addr not in seen:
            seen.append(addr)
    return seen


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``ip``, speak to ``host``."""

    scheme: str
    host: str
    port: int
    ip: IPAddress


@dataclass
class SSRFPolicy:
    """Decides whether a URL may be fetched and pins the address to connect to.

    ``allowed_hosts`` holds host names (exact, case-insensitive), IP addresses or CIDR
    networks that skip the address check (tests, intranet services); they are still
    resolved once and pinned.
    """

    allowed_hosts: Iterable[str] = ()
    resolver: Resolver = system_resolver
    _names: frozenset[str] = field(init=False, repr=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in self.allowed_hosts:
            item = entry.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                names.add(item)
        self._names = frozenset(names)
        self._networks = tuple(networks)

    def _ip_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._networks)

    def lists(self, host: str) -> bool:
        """Whether the operator named ``host`` itself: the exact name, or an IP literal
        inside a listed network. A name that merely resolves into one does not count."""
        text = host.strip().lower().rstrip(".")
        if text in self._names:
            return True
        try:
            literal = parse_host_ip(text)
        except InvalidRequest:
            return False
        return literal is not None and self._ip_allowed(literal)

    async def check(self, url: httpx.URL | str) -> Target:
        """The pinned target for ``url``, or :class:`InvalidRequest` saying why not."""
        url = httpx.URL(url) if isinstance(url, str) else url
        scheme = url.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise InvalidRequest(
                f"URL scheme {scheme or '(none)'!r} is not allowed; use http/https"
            )
        if url.userinfo:
            raise InvalidRequest("URL must not carry a user name or password; request refused")
        host = url.host.lower().rstrip(".")
        if not host:
            raise InvalidRequest("URL has no host")
        port = url.port or (443 if scheme == "https" else 80)
        name_allowed = host in self._names
        literal = parse_host_ip(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            if not name_allowed and (
                host in METADATA_HOSTS or host == "localhost" or host.endswith(".localhost")
            ):
                raise InvalidRequest(
                    f"URL host {host!r} is an internal name and is not allowed; request refused"
                )
            answers = await self.resolver(host, port)
            if not answers:
                raise TransientError(f"host {host!r} did not resolve to any address")
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not name_allowed:
            for ip in addresses:
                reason = None if self._ip_allowed(ip) else forbidden_reason(ip)
                if reason is not None:
                    shown = host if literal is None else str(ip)
                    raise InvalidRequest(
                        f"URL host {shown!r} resolves to {reason} ({ip}); request refused"
                    )
        return Target(scheme=scheme, host=host, port=port, ip=addresses[0])


class SSRFGuardTransport(httpx.AsyncBaseTransport):
    """Checks each request (each redirect hop) and sends it to the checked IP only.

    ``inner`` is either one transport (tests, a fake network) or a factory called once per
    host name: connection pools are keyed by (scheme, IP, port), so without a pool per name
    a TLS connection verified for one name could be reused for another name on the same IP.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | Callable[[], httpx.AsyncBaseTransport],
        policy: SSRFPolicy | None = None,
        *,
        max_pools: int = 64,
    ) -> None:
        self._shared: httpx.AsyncBaseTransport | None = None
        self._make: Callable[[], httpx.AsyncBaseTransport] | None = None
        if isinstance(inner, httpx.AsyncBaseTransport):
            self._shared = inner
        else:
            self._make = inner
        self._pools: OrderedDict[str, httpx.AsyncBaseTransport] = OrderedDict()
        self._max_pools = max_pools
        self._policy = policy or SSRFPolicy()

    @property
    def policy(self) -> SSRFPolicy:
        return self._policy

    async def _transport_for(self, host: str) -> httpx.AsyncBaseTransport:
        if self._shared is not None:
            return self._shared
        assert self._make is not None
        pool = self._pools.get(host)
        if pool is None:
            pool = self._make()
            self._pools[host] = pool
            if len(self._pools) > self._max_pools:
                _, oldest = self._pools.popitem(last=False)
                await oldest.aclose()
        else:
            self._pools.move_to_end(host)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = await self._policy.check(request.url)
        pinned = request.url.copy_with(host=str(target.ip))
        extensions = dict(request.extensions)
        if target.scheme == "https" and parse_host_ip(target.host) is None:
            # TLS: SNI and certificate verification against the name, not the IP.
            extensions["sni_hostname"] = target.host
        headers = request.headers.copy()
        if "host" not in headers:
            headers["Host"] = request.url.netloc.decode("ascii")
        forwarded = httpx.Request(
            request.method,
            pinned,
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )
        transport = await self._transport_for(target.host)
        return await transport.handle_async_request(forwarded)

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()
