"""RSS/Atom bytes to items: guards first (defusedxml), then feedparser on bytes only;
HTML reduced to text; ids, hashes, cuts and configuration checks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fakes.feed_server import (
    Post,
    atom_document,
    billion_laughs,
    external_dtd,
    external_entity,
    external_parameter_entity,
    quadratic_blowup,
    rss_document,
)

from signalbridge.bootstrap import build_registry
from signalbridge.channels.fetching import (
    FeedRefused,
    cut_text,
    dump_cursor,
    item_key,
    load_cursor,
    short_hash,
)
from signalbridge.channels.html_text import html_to_text, looks_like_html
from signalbridge.channels.rss import RssChannel, parse_feed, refuse_unsafe_xml
from signalbridge.channels.webpage import WebPageChannel
from signalbridge.integrations.registry import AdapterConfigError
from signalbridge.jobs.polling import is_polling_class

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_rss_items_come_oldest_first_with_their_html_reduced_to_text() -> None:
    posts = [
        Post("BTC long", "<p>Entry 60000<br>SL <b>58000</b></p>", guid="g1", published=T0),
        Post("ETH short", "Entry 3000 &amp; SL 3100", link="http://x.test/2", published=T0),
    ]
    items = parse_feed(rss_document(posts))
    assert [i.key for i in items] == ["g1", f"link:{short_hash('http://x.test/2')}"]
    assert items[0].text == "BTC long\n\nEntry 60000\nSL 58000"
    assert items[1].text == "ETH short\n\nEntry 3000 & SL 3100"
    assert items[0].published == T0


def test_dates_order_items_and_undated_ones_keep_the_feeds_order() -> None:
    dated = [Post(f"p{n}", guid=f"g{n}", published=T0 + timedelta(minutes=n)) for n in (3, 1, 2)]
    assert [i.key for i in parse_feed(rss_document(dated))] == ["g1", "g2", "g3"]
    undated = [Post(f"p{n}", guid=f"g{n}") for n in range(3)]  # the document lists g2 first
    assert [i.key for i in parse_feed(rss_document(undated))] == ["g0", "g1", "g2"]


def test_atom_entries_are_read_by_id() -> None:
    posts = [Post("Gold", "<div>XAUUSD <i>buy</i> 2300</div>", guid="urn:x:1", published=T0)]
    (item,) = parse_feed(atom_document(posts))
    assert item.key == "urn:x:1" and item.text == "Gold\n\nXAUUSD buy 2300"


def test_an_item_without_guid_or_link_is_keyed_by_its_text() -> None:
    (item,) = parse_feed(rss_document([Post("only a title")]))
    assert item.key == f"text:{short_hash('only a title')}"
    long_guid = "g" * 500
    (item,) = parse_feed(rss_document([Post("t", guid=long_guid)]))
    assert item.key == f"guid:{short_hash(long_guid)}"


@pytest.mark.parametrize(
    "document",
    [
        billion_laughs(),
        quadratic_blowup(),
        external_entity("file:///etc/passwd"),
        external_entity("http://127.0.0.1:9/secret"),
        external_parameter_entity("http://127.0.0.1:9/evil.dtd"),
        billion_laughs().decode().encode("utf-16"),
    ],
    ids=["billion-laughs", "quadratic", "xxe-file", "xxe-url", "parameter-entity", "utf-16"],
)
def test_entity_tricks_are_refused_fast(document: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(FeedRefused, match="refused"):
        parse_feed(document)
    assert time.perf_counter() - started < 1.0


def test_an_external_dtd_is_never_fetched_and_the_feed_still_reads() -> None:
    # No network in unit tests: a fetch attempt would raise; the item comes through.
    (item,) = parse_feed(external_dtd("http://127.0.0.1:9/rss.dtd"))
    assert item.text == "hello"


def test_ill_formed_feeds_are_read_leniently_only_without_declarations() -> None:
    sloppy = b'<rss version="2.0"><channel><item><title>AT&T up</title><guid>a</guid></item>'
    assert [i.key for i in parse_feed(sloppy)] == ["a"]
    with pytest.raises(FeedRefused, match="DOCTYPE"):
        refuse_unsafe_xml(b'<rss>& <!DOCTYPE x [<!ENTITY a "b">]><title>&a;</title></rss>')


def test_bytes_are_never_taken_for_a_file_name_or_url(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss_document([Post("from a local file", guid="leak")]))
    for data in (str(secret).encode(), secret.as_uri().encode(), b"http://127.0.0.1:9/f"):
        with pytest.raises(FeedRefused, match="not an RSS or Atom feed"):
            parse_feed(data)


@pytest.mark.parametrize("data", [b"", b"   ", b"<html><body>hi</body></html>", b"\xff\xfe\x00"])
def test_what_is_no_feed_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(FeedRefused):
        parse_feed(data)


@given(st.binary(max_size=2000))
def test_any_bytes_give_items_or_a_clear_error(data: bytes) -> None:
    try:
        items = parse_feed(data)
    except FeedRefused as exc:
        assert exc.message
    else:
        assert all(item.key and item.text for item in items)


_xmlish = st.lists(
    st.sampled_from(
        [
            "<rss>", "</rss>", "<channel>", "</channel>", "<item>", "</item>", "<title>",
            "</title>", "<guid>", "</guid>", "<feed>", "<entry>", "<id>", "<![CDATA[", "]]>",
            "&amp;", "&lt;b&gt;", "&#0;", "&#x110000;", "<!--", "-->", "<?xml version='1.0'?>",
            "BTC", "\x00", "é", "<p>", "<description>", "</description>", '<rss version="2.0">',
        ]
    ),
    max_size=60,
).map(lambda parts: "".join(parts).encode("utf-8"))  # fmt: skip


@given(_xmlish)
def test_any_feed_shaped_bytes_give_items_or_a_clear_error(data: bytes) -> None:
    try:
        items = parse_feed(data)
    except FeedRefused:
        return
    assert all(item.key and item.text and len(item.key) <= 200 for item in items)


def test_html_to_text_keeps_lines_and_drops_scripts() -> None:
    html = "<div>BUY <b>EURUSD</b><br/>TP 1.09<script>steal()</script></div><p>x &gt; y</p>"
    assert html_to_text(html) == "BUY EURUSD\nTP 1.09\n\nx > y"
    assert html_to_text("<!-- c -->after") == "after"
    assert html_to_text("") == "" and html_to_text(b"\xff<p>") == "\ufffd"
    assert not looks_like_html("BTC long 60000") and looks_like_html("a &amp; b")


@given(st.text(max_size=500))
def test_html_to_text_never_fails(text: str) -> None:
    assert isinstance(html_to_text(text), str)


def test_keys_hashes_cuts_and_cursors() -> None:
    assert item_key("guid", "abc") == "abc"
    two_lines = "a\nb"
    assert item_key("guid", two_lines) == "guid:" + short_hash(two_lines)
    assert len(short_hash(b"x")) == 32
    assert cut_text("short", 100) == ("short", None)
    text, why = cut_text("x" * 150, 100)
    assert len(text) == 100 and text.endswith("…") and why is not None and "150" in why
    assert load_cursor(None) == {} and load_cursor("not json") == {} and load_cursor("[1]") == {}
    assert load_cursor(dump_cursor({"etag": '"a"'})) == {"etag": '"a"'}


@pytest.mark.parametrize(
    ("type_", "config", "field"),
    [
        ("rss", {}, "url"),
        ("rss", {"url": "file:///etc/passwd"}, "url"),
        ("rss", {"url": "http://user:pw@example.com/feed"}, "url"),
        ("rss", {"url": "http://0x7f000001/feed"}, "url"),
        ("rss", {"url": "https://example.com/f", "interval_seconds": 0}, "interval_seconds"),
        ("rss", {"url": "https://example.com/f", "rate_limit": "lots"}, "rate_limit"),
        ("rss", {"url": "https://example.com/f", "host_rate_limit": "1/fortnight"}, "host_rate"),
        ("rss", {"url": "https://example.com/f", "max_message_chars": 10}, "max_message_chars"),
        ("rss", {"url": "https://example.com/f", "surprise": 1}, "surprise"),
        ("webpage", {"url": "https://example.com/"}, "items_xpath"),
        ("webpage", {"url": "https://example.com/", "items_xpath": "//div[@"}, "items_xpath"),
        ("webpage", {"url": "https://e.com/", "items_xpath": "//a", "id_xpath": "@@"}, "id_xpath"),
    ],
)
def test_bad_configuration_is_refused_with_the_field_named(
    type_: str, config: dict[str, object], field: str
) -> None:
    with pytest.raises(AdapterConfigError) as refused:
        build_registry().validate_config("channel", type_, config)
    assert field in str(refused.value)


def test_both_kinds_are_registered_polling_channels() -> None:
    registry = build_registry()
    assert registry.get("channel", "rss").factory is RssChannel
    assert registry.get("channel", "webpage").factory is WebPageChannel
    assert is_polling_class(RssChannel) and is_polling_class(WebPageChannel)
    config = registry.validate_config("channel", "rss", {"url": "https://example.com/feed"})
    with pytest.raises(TypeError, match="kernel"):
        RssChannel.from_config(config, channel_id=1, deps=None)  # type: ignore[arg-type]
