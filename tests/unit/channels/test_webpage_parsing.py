"""Web pages to posts: XPath selectors, ids, links, content hashes; any bytes are safe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fakes.feed_server import Post, html_page

from signalbridge.channels.fetching import FeedRefused, short_hash
from signalbridge.channels.webpage import (
    Selectors,
    WebPageConfig,
    content_hash,
    parse_page,
)

POSTS = [
    Post("BTC long", "<p>Entry 60000</p><p>SL 58000</p>", guid="p1", link="/posts/1"),
    Post("ETH short", "Entry 3000 <b>now</b>", guid="p2", link="/posts/2"),
]


def selectors(**fields: str) -> Selectors:
    config = {"url": "https://blog.test/", "items_xpath": "//article[@class='post']", **fields}
    return Selectors.of(WebPageConfig.model_validate(config))


def test_posts_are_picked_with_their_id_text_and_absolute_link() -> None:
    found = parse_page(
        html_page(POSTS),
        selectors(id_xpath="@data-id", text_xpath=".//div[@class='body']", link_xpath=".//a/@href"),
        base_url="https://blog.test/signals",
    )
    assert [p.key for p in found] == ["p2", "p1"]  # page order: newest first
    assert found[1].text == "Entry 60000\n\nSL 58000"
    assert found[1].link == "https://blog.test/posts/1"
    assert found[1].content_hash == content_hash("Entry 60000\n\nSL 58000")


def test_without_an_id_the_link_then_the_text_identifies_a_post() -> None:
    by_link = parse_page(
        html_page(POSTS), selectors(link_xpath=".//a/@href"), base_url="https://b.t/"
    )
    assert by_link[0].key == f"link:{short_hash('https://b.t/posts/2')}"
    assert by_link[0].text == "ETH short\n\nEntry 3000 now\npermalink"
    by_text = parse_page(html_page(POSTS), selectors())
    assert by_text[0].key == f"text:{by_text[0].content_hash}"


def test_whitespace_is_no_edit_but_a_changed_word_is() -> None:
    assert content_hash("SL  58000\n") == content_hash("SL 58000")
    assert content_hash("SL 58000") != content_hash("SL 58500")


def test_selectors_returning_strings_numbers_or_nothing_are_read_as_text() -> None:
    page = html_page(POSTS)
    found = parse_page(page, selectors(text_xpath="count(.//p)", id_xpath="string(@data-id)"))
    assert [(p.key, p.text) for p in found] == [("p2", "0"), ("p1", "2")]
    assert parse_page(page, selectors(items_xpath="count(//article)")) == []
    assert parse_page(page, selectors(items_xpath="//nothing")) == []


def test_a_post_met_twice_counts_once_and_empty_posts_are_skipped() -> None:
    page = (
        b"<html><body><article class='post' data-id='a'>one</article>"
        b"<article class='post' data-id='a'>one again</article>"
        b"<article class='post' data-id='b'>  </article></body></html>"
    )
    found = parse_page(page, selectors(id_xpath="@data-id"))
    assert [(p.key, p.text) for p in found] == [("a", "one")]


@pytest.mark.parametrize("data", [b"", b"  \n "])
def test_no_page_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(FeedRefused):
        parse_page(data, selectors())
    assert parse_page(b"\x00\x00", selectors()) == []  # a page, without posts


@given(st.binary(max_size=3000))
def test_any_bytes_give_posts_or_a_clear_error(data: bytes) -> None:
    try:
        found = parse_page(data, selectors(items_xpath="//*", id_xpath="@id"))
    except FeedRefused as exc:
        assert exc.message
    else:
        assert all(p.key and p.text and len(p.key) <= 200 for p in found)


_htmlish = st.lists(
    st.sampled_from(
        [
            "<article class='post' data-id='a'>", "</article>", "<div class='body'>", "</div>",
            "<p>", "</p>", "<br>", "<script>", "</script>", "<!--", "-->", "&amp;", "&#0;",
            "<a href='javascript:x'>", "</a>", "BTC 60000", "\x00", "<![CDATA[", "é", "<",
            "<!DOCTYPE html>", "<!ENTITY x 'y'>", "&x;",
        ]
    ),
    max_size=80,
).map(lambda parts: "".join(parts).encode("utf-8"))  # fmt: skip


@given(_htmlish)
def test_any_page_shaped_bytes_give_posts_or_a_clear_error(data: bytes) -> None:
    try:
        found = parse_page(
            data,
            selectors(id_xpath="@data-id", text_xpath=".//div", link_xpath=".//a/@href"),
            base_url="https://blog.test/",
        )
    except FeedRefused:
        return
    assert all(p.key and p.text for p in found)
