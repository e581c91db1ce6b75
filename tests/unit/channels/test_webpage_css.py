"""CSS selectors for web pages (parsel): the same posts as XPath, validated, any input safe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from signalbridge.bootstrap import build_registry
from signalbridge.channels.fetching import FeedRefused
from signalbridge.channels.webpage import (
    PageItem,
    Selectors,
    WebPageConfig,
    css_to_xpath,
    parse_page,
)
from signalbridge.integrations.registry import AdapterConfigError

#: A forum-like page, not the fake site's layout: posts are list items, the id is on the
#: item, the link is the second of two, and the text sits in two paragraphs.
PAGE = b"""<!DOCTYPE html>
<html><head><title>Calls</title><style>.msg{}</style></head><body>
<header><a href="/">Home</a></header>
<ul id="feed">
  <li class="msg pinned" data-id="m-3">
    <span class="who">Ann</span>
    <div class="content"><p>BTC/USDT LONG</p><p>Entry 60000 SL 58000</p></div>
    <a class="reply" href="#r3">reply</a> <a class="perma" href="/m/3">#3</a>
  </li>
  <li class="msg" data-id="m-2">
    <span class="who">Bob</span>
    <div class="content"><p>ETH short 3000</p></div>
    <a class="perma" href="https://forum.test/m/2">#2</a>
  </li>
  <li class="ad">Buy our course</li>
</ul>
<footer>(c)</footer></body></html>"""

XPATH = {
    "items_xpath": "//ul[@id='feed']/li[contains(concat(' ', @class, ' '), ' msg ')]",
    "id_xpath": "@data-id",
    "text_xpath": ".//div[@class='content']",
    "link_xpath": ".//a[@class='perma']/@href",
}
CSS = {
    "items_css": "ul#feed > li.msg",
    "id_css": ":scope::attr(data-id)",
    "text_css": "div.content",
    "link_css": "a.perma::attr(href)",
}


def read(page: bytes, **fields: str) -> list[PageItem]:
    config = WebPageConfig.model_validate({"url": "https://forum.test/calls", **fields})
    return parse_page(page, Selectors.of(config), base_url="https://forum.test/calls")


def test_css_selectors_pick_the_same_posts_as_their_xpath() -> None:
    by_css = read(PAGE, **CSS)
    assert by_css == read(PAGE, **XPATH)
    assert [(p.key, p.text, p.link) for p in by_css] == [
        ("m-3", "BTC/USDT LONG\n\nEntry 60000 SL 58000", "https://forum.test/m/3"),
        ("m-2", "ETH short 3000", "https://forum.test/m/2"),
    ]


def test_text_and_attribute_pseudo_elements_read_nodes_not_elements() -> None:
    found = read(PAGE, items_css="li.msg", text_css="span.who::text", id_css="::attr(data-id)")
    assert [(p.key, p.text) for p in found] == [("m-3", "Ann"), ("m-2", "Bob")]
    nested = read(PAGE, items_css="li.pinned", text_css="div.content ::text")
    assert [p.text for p in nested] == ["BTC/USDT LONG\nEntry 60000 SL 58000"]


def test_css_and_xpath_mix_across_fields() -> None:
    mixed = read(PAGE, items_css="li.msg", id_xpath="@data-id", text_css="div.content")
    assert [p.key for p in mixed] == ["m-3", "m-2"]
    assert mixed == read(PAGE, **{k: v for k, v in XPATH.items() if k != "link_xpath"})


def test_without_an_id_the_css_link_identifies_a_post() -> None:
    (first, _) = read(PAGE, items_css="li.msg", link_css="a.perma::attr(href)")
    assert first.key.startswith("link:") and first.link == "https://forum.test/m/3"


def test_a_selector_matching_nothing_gives_no_posts() -> None:
    assert read(PAGE, items_css="article.post") == []
    assert read(PAGE, items_css="li.ad", text_css="p") == []  # no text: no post


def test_the_stored_config_keeps_the_css_and_drops_nothing() -> None:
    registry = build_registry()
    public, secrets = registry.split_config(
        "channel", "webpage", {"url": "https://forum.test/calls", **CSS}
    )
    assert secrets == {}
    assert {k: public[k] for k in CSS} == CSS
    assert public["items_xpath"] is None
    again = registry.validate_config("channel", "webpage", public)
    assert isinstance(again, WebPageConfig) and again.xpath("items") == css_to_xpath(
        CSS["items_css"]
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "items_xpath or items_css"),
        ({"items_css": ""}, "items_css"),
        ({"items_css": "li[", "text_css": "p"}, "items_css"),
        ({"items_css": "li", "text_css": "p::shadow"}, "text_css"),
        ({"items_css": "li", "link_css": "a::attr()"}, "link_css"),
        ({"items_css": "li", "id_css": "::text::text"}, "id_css"),
        ({"items_css": "li", "items_xpath": "//li"}, "items_xpath or items_css, not both"),
        ({"items_css": "li", "text_css": "p", "text_xpath": ".//p"}, "text_xpath or text_css"),
        ({"items_css": "x" * 501}, "items_css"),
    ],
)
def test_bad_css_configuration_is_refused_with_the_field_named(
    fields: dict[str, str], named: str
) -> None:
    with pytest.raises(AdapterConfigError) as refused:
        build_registry().validate_config("channel", "webpage", {"url": "https://f.test/", **fields})
    assert named in str(refused.value)


def test_css_is_translated_by_parsel_with_its_pseudo_elements() -> None:
    assert css_to_xpath("a::attr(href)") == "descendant-or-self::a/@href"
    assert css_to_xpath("p::text") == "descendant-or-self::p/text()"
    with pytest.raises(ValueError, match="not a valid CSS selector"):
        css_to_xpath("p:nth-child(x)")


_css_parts = st.sampled_from(
    [
        "li", "ul", "#feed", ".msg", " ", ">", "+", "~", ",", "*", "[", "]", "(", ")",
        "data-id", "=", "'m-3'", '"', "::text", "::attr(href)", "::attr(", ":scope",
        ":not(", ":nth-child(2n+1)", ":contains('BTC')", ":hover", "::", "\\", "\x00", "é",
        "|", "@", "//", "$=", "^=",
    ]
)  # fmt: skip
_css = st.one_of(st.text(max_size=40), st.lists(_css_parts, max_size=12).map("".join))


@given(items=_css, text=_css)
def test_any_css_is_refused_clearly_or_reads_any_page(items: str, text: str) -> None:
    """Selectors come from users: anything is a validation error or a working selector."""
    try:
        config = WebPageConfig.model_validate(
            {"url": "https://forum.test/", "items_css": items, "text_css": text}
        )
    except ValidationError as exc:
        assert all(e["msg"] for e in exc.errors())
        return
    selectors = Selectors.of(config)
    for page in (PAGE, b"<p>x</p>", b"\x00"):
        try:
            found = parse_page(page, selectors)
        except FeedRefused as exc:
            assert exc.message
        else:
            assert all(p.key and p.text for p in found)
