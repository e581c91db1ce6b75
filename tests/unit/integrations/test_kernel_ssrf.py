from __future__ import annotations

import ipaddress

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.integrations.errors import InvalidRequest
from signalbridge.integrations.ssrf import (
    SSRFGuardTransport,
    SSRFPolicy,
    forbidden_reason,
    parse_host_ip,
    url_syntax_problem,
)

PUBLIC = "93.184.216.34"


class Resolver:
    """Answers from a table; a list of answers per name is served in turn (rebinding)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Recorder(httpx.AsyncBaseTransport):
    """Stands in for the network: records what would be dialled, never connects."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, text="fine")


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
    ],
)
def test_ip_spellings_are_understood(spelling: str, address: str) -> None:
    assert parse_host_ip(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "0x1.0x100.0.0", "08.0.0.1", "12%34"])
def test_malformed_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_host_ip(host)


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "0x1g", "feed.example.org."])
def test_names_are_not_ip_literals(host: str) -> None:
    assert parse_host_ip(host) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.251",
        "239.1.2.3",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.0.8",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "2002:7f00:1::",
        "2002:a00:1::",
        "64:ff9b::7f00:1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ],
)
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", PUBLIC, "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@given(st.integers(min_value=0x7F000000, max_value=0x7FFFFFFF), st.sampled_from(["d", "x", "o"]))
def test_any_loopback_spelling_is_caught(value: int, style: str) -> None:
    if style == "d":
        host = str(value)
    elif style == "x":
        host = hex(value)
    else:
        host = ".".join("0" + oct(b)[2:] for b in value.to_bytes(4, "big"))
    ip = parse_host_ip(host)
    assert ip is not None and forbidden_reason(ip) is not None


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://example.com/", "dict://x:11211/"],
)
async def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest, match="scheme"):
        await SSRFPolicy(resolver=Resolver({})).check(url)


@pytest.mark.parametrize(
    "host", ["localhost", "api.localhost", "metadata.google.internal", "METADATA.google.internal."]
)
async def test_internal_names_refused_without_resolving(host: str) -> None:
    resolver = Resolver({})
    with pytest.raises(InvalidRequest, match="internal name"):
        await SSRFPolicy(resolver=resolver).check(f"http://{host}/")
    assert resolver.calls == []


async def test_name_resolving_to_loopback_is_refused() -> None:
    resolver = Resolver({"evil.example": [["127.0.0.1"]]})
    with pytest.raises(InvalidRequest, match="loopback"):
        await SSRFPolicy(resolver=resolver).check("http://evil.example/feed")


async def test_any_bad_address_among_answers_is_refused() -> None:
    resolver = Resolver({"mixed.example": [[PUBLIC, "10.0.0.7"]]})
    with pytest.raises(InvalidRequest, match="private"):
        await SSRFPolicy(resolver=resolver).check("https://mixed.example/")


async def test_transport_dials_the_checked_ip_keeping_host_and_sni() -> None:
    resolver = Resolver({"feeds.example": [[PUBLIC], ["127.0.0.1"]]})  # rebinding attempt
    recorder = Recorder()
    transport = SSRFGuardTransport(recorder, SSRFPolicy(resolver=resolver))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("https://feeds.example/rss?x=1")
    assert response.status_code == 200
    assert resolver.calls == ["feeds.example"]  # resolved once, for the check
    sent = recorder.requests[0]
    assert sent.url.host == PUBLIC  # connection goes to the checked address
    assert sent.url.path == "/rss" and sent.url.query == b"x=1"
    assert sent.headers["host"] == "feeds.example"
    assert sent.extensions["sni_hostname"] == "feeds.example"
    assert response.request.url.host == "feeds.example"


async def test_second_request_rechecks_and_refuses_rebound_name() -> None:
    resolver = Resolver({"feeds.example": [[PUBLIC], ["127.0.0.1"]]})
    recorder = Recorder()
    transport = SSRFGuardTransport(recorder, SSRFPolicy(resolver=resolver))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://feeds.example/")
        with pytest.raises(InvalidRequest):
            await client.get("http://feeds.example/")
    assert [r.url.host for r in recorder.requests] == [PUBLIC]


async def test_every_redirect_hop_is_checked() -> None:
    resolver = Resolver({"feeds.example": [[PUBLIC]]})

    class Redirector(Recorder):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})

    recorder = Redirector()
    transport = SSRFGuardTransport(recorder, SSRFPolicy(resolver=resolver))
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(InvalidRequest, match="metadata"):
            await client.get("http://feeds.example/")
    assert [r.url.host for r in recorder.requests] == [PUBLIC]


async def test_allowed_hosts_by_name_and_network() -> None:
    resolver = Resolver({"intranet.local": [["10.1.2.3"]], "other.local": [["10.9.9.9"]]})
    policy = SSRFPolicy(allowed_hosts=["intranet.local", "192.168.50.0/24"], resolver=resolver)
    target = await policy.check("http://intranet.local:8080/")
    assert str(target.ip) == "10.1.2.3" and target.port == 8080
    assert str((await policy.check("http://192.168.50.7/")).ip) == "192.168.50.7"
    with pytest.raises(InvalidRequest):
        await policy.check("http://other.local/")
    with pytest.raises(InvalidRequest):
        await policy.check("http://192.168.51.7/")


async def test_one_pool_per_host_name_so_tls_is_never_shared_across_names() -> None:
    resolver = Resolver({"a.example": [[PUBLIC]], "b.example": [[PUBLIC]]})
    made: list[Recorder] = []

    def make() -> Recorder:
        made.append(Recorder())
        return made[-1]

    transport = SSRFGuardTransport(make, SSRFPolicy(resolver=resolver), max_pools=2)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://a.example/")
        await client.get("https://a.example/again")
        await client.get("https://b.example/")
    assert len(made) == 2
    assert [r.extensions["sni_hostname"] for r in made[0].requests] == ["a.example"] * 2
    assert [r.extensions["sni_hostname"] for r in made[1].requests] == ["b.example"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:70/_x", "scheme"),
        ("http://x:y@127.0.0.1/", "user name or password"),
        ("http://127.0.0.1:80@evil.example/", "user name or password"),
        ("http://0x7f000001/", "unusual spelling of 127.0.0.1"),
        ("http://2130706433/", "unusual spelling of 127.0.0.1"),
        ("http://127.1/", "unusual spelling of 127.0.0.1"),
        ("http://0177.0.0.1/", "unusual spelling of 127.0.0.1"),
        ("http://1.2.3.4.5/", "malformed IP"),
        ("http://%31%32%37.0.0.1/", "'%'"),
        ("http://[::1%25eth0]/", "'%'"),
        ("http://127.0.0.1\\@evil.example/", "backslash"),
        ("http://evil example/", "space"),
        ("http:///path", "no host"),
        ("http://{hostname}/api", "plain host name"),
        ("http://[::1/", "unclosed"),
        ("http://example.com:0/", "port"),
        ("//example.com/", "absolute"),
    ],
)
def test_url_forms_no_allow_list_can_open_are_refused_at_save(url: str, why: str) -> None:
    problem = url_syntax_problem(url)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "url",
    [
        "https://mt-client-api-v1.new-york.agiliumtrade.ai",
        "http://127.0.0.1:8080/api/v3",
        "http://[::1]:9/x?y=1#z",
        "http://[::ffff:127.0.0.1]:9/",  # a plain form: its address is judged at dial time
        "HTTPS://Feeds.Example.ORG./rss",
        "http://10.0.0.1/",
    ],
)
def test_plain_url_forms_pass_the_syntax_check(url: str) -> None:
    assert url_syntax_problem(url) is None


def test_lists_is_only_what_the_operator_named() -> None:
    policy = SSRFPolicy(allowed_hosts=["127.0.0.1", "::1", "Feeds.Example.", "10.0.0.0/8"])
    for host in ("127.0.0.1", "::1", "[::1]", "feeds.example", "FEEDS.example.", "10.2.3.4"):
        assert policy.lists(host), host
    for host in ("localhost", "127.0.0.2", "evil.feeds.example", "8.8.8.8", "1.2.3.4.5"):
        assert not policy.lists(host), host
    assert not SSRFPolicy().lists("127.0.0.1")  # nothing is listed by default


async def test_userinfo_is_refused_when_dialling_even_on_an_allowed_host() -> None:
    recorder = Recorder()
    policy = SSRFPolicy(allowed_hosts=["127.0.0.1"], resolver=Resolver({}))
    transport = SSRFGuardTransport(recorder, policy)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(InvalidRequest, match="user name or password"):
            await client.get("http://x:y@127.0.0.1:9/")
        assert (await client.get("http://127.0.0.1:9/")).status_code == 200
    assert len(recorder.requests) == 1
