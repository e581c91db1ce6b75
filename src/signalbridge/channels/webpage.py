"""A web page as a polled channel: XPath or CSS selectors pick the posts, a content hash
sees edits.

Selectors are XPath 1.0, evaluated by lxml, or CSS, which parsel (with cssselect) turns
into XPath once, when the config is validated, so both kinds run the same lxml path.
parsel's CSS adds ``::text`` and ``::attr(name)`` for text nodes and attribute values;
relative to a post, ``:scope`` is the post itself (``:scope::attr(data-id)``).

Configuration: ``items_xpath`` (or ``items_css``) selects the element of each post;
relative to it, ``text_xpath``/``text_css`` picks its text (default: all of it),
``id_xpath``/``id_css`` a stable id (default: the link, else the text's hash) and
``link_xpath``/``link_css`` its link; each is given one way, not both. A post whose id
was seen with another text is an edit: it is delivered with ``edit_of`` set to the post's
first external id. Without any id or link, a changed text cannot be told from a new post and is one.

The page is fetched through the kernel like a feed (channels/fetching.py: SSRF guard,
caps, conditional GET, per-host politeness) and parsed by lxml's HTML parser, which never
fetches anything and does not expand entities.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from cssselect import SelectorError
from parsel.csstranslator import css2xpath
from pydantic import Field, field_validator, model_validator

from signalbridge.channels.fetching import (
    Candidate,
    FeedRefused,
    Fetched,
    PolledHttpConfig,
    item_key,
    short_hash,
)
from signalbridge.channels.html_text import element_text
from signalbridge.channels.http_limits import Item, LimitedHttpChannel
from signalbridge.channels.probing import ChannelProbe
from signalbridge.integrations.registry import AdapterRegistry

ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
MAX_XPATH = 500
#: Posts read from one page.
MAX_ITEMS = 200
_SPACES = re.compile(r"\s+")


def compile_xpath(expression: str) -> lxml.etree.XPath:
    """The compiled expression; ValueError with lxml's reason when it is not XPath 1.0."""
    try:
        return lxml.etree.XPath(expression)
    except lxml.etree.XPathSyntaxError as exc:
        raise ValueError(f"not a valid XPath expression ({exc})") from None


def css_to_xpath(selector: str) -> str:
    """parsel's XPath for a CSS selector; ValueError with cssselect's reason when it is none."""
    try:
        expression = css2xpath(selector)
    except SelectorError as exc:
        raise ValueError(f"not a valid CSS selector ({exc})") from None
    compile_xpath(expression)
    return expression


#: The selectors a post is read by; each is given as ``<name>_xpath`` or ``<name>_css``.
SELECTOR_NAMES = ("items", "text", "id", "link")


class WebPageConfig(PolledHttpConfig):
    """A page and where its posts are; see :class:`PolledHttpConfig` for the rest."""

    items_xpath: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_XPATH,
        description="XPath selecting each post's element, e.g. //article[@class='post'] "
        "(this or items_css)",
    )
    text_xpath: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="XPath relative to a post for its text, e.g. .//div[@class='body']; "
        "default: the post's whole text",
    )
    id_xpath: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="XPath relative to a post for a stable id, e.g. @data-id; default: the "
        "link, else the text's hash (then an edit reads as a new post)",
    )
    link_xpath: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="XPath relative to a post for its link, e.g. .//a/@href",
    )
    items_css: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_XPATH,
        description="CSS selecting each post's element, e.g. article.post (this or items_xpath)",
    )
    text_css: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="CSS relative to a post for its text, e.g. div.body",
    )
    id_css: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="CSS relative to a post for a stable id, e.g. :scope::attr(data-id)",
    )
    link_css: str | None = Field(
        default=None,
        max_length=MAX_XPATH,
        description="CSS relative to a post for its link, e.g. a::attr(href)",
    )
    newest_first: bool = Field(
        default=True,
        description="the page lists its newest post first (posts are delivered oldest first)",
    )

    @field_validator("items_xpath", "text_xpath", "id_xpath", "link_xpath")
    @classmethod
    def _xpath(cls, value: str | None) -> str | None:
        if value is not None:
            compile_xpath(value)
        return value

    @field_validator("items_css", "text_css", "id_css", "link_css")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        if value is not None:
            css_to_xpath(value)
        return value

    @model_validator(mode="after")
    def _one_kind_each(self) -> WebPageConfig:
        for name in SELECTOR_NAMES:
            if None not in (getattr(self, f"{name}_xpath"), getattr(self, f"{name}_css")):
                raise ValueError(f"give {name}_xpath or {name}_css, not both")
        if self.items_xpath is None and self.items_css is None:
            raise ValueError("items_xpath or items_css is required")
        return self

    def xpath(self, name: str) -> str | None:
        """One selector (``items``, ``text``, ``id``, ``link``) as XPath: its ``_xpath``,
        else its ``_css`` translated by parsel, else None."""
        css: str | None = getattr(self, f"{name}_css")
        return css_to_xpath(css) if css is not None else getattr(self, f"{name}_xpath")


@dataclass(frozen=True)
class PageItem:
    """One post found on a page."""

    key: str
    text: str
    link: str | None
    content_hash: str


@dataclass(frozen=True)
class Selectors:
    items: lxml.etree.XPath
    text: lxml.etree.XPath | None = None
    id: lxml.etree.XPath | None = None
    link: lxml.etree.XPath | None = None

    @classmethod
    def of(cls, config: WebPageConfig) -> Selectors:
        def optional(name: str) -> lxml.etree.XPath | None:
            expression = config.xpath(name)
            return None if expression is None else compile_xpath(expression)

        items = optional("items")
        if items is None:  # the config's validator requires it
            raise ValueError("items_xpath or items_css is required")
        return cls(items=items, text=optional("text"), id=optional("id"), link=optional("link"))


def content_hash(text: str) -> str:
    """The hash edits are detected by: whitespace differences are no edit."""
    return short_hash(_SPACES.sub(" ", text).strip())


def _as_text(result: Any) -> str:
    """An XPath result (elements, strings, a number, a boolean) as plain text."""
    if isinstance(result, list):
        return "\n".join(t for t in (_as_text(r) for r in result) if t)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, str):  # attribute values and text() results are strings too
        return str(result).strip()
    if isinstance(result, float):
        return "" if result != result else f"{result:g}"  # NaN: nothing selected
    if isinstance(getattr(result, "tag", None), str):
        return element_text(result)
    return ""


def _evaluate(xpath: lxml.etree.XPath, element: Any) -> Any:
    try:
        return xpath(element)
    except lxml.etree.XPathError as exc:
        raise FeedRefused(f"a selector failed on this page ({exc})") from None


def parse_page(data: bytes, selectors: Selectors, *, base_url: str = "") -> list[PageItem]:
    """The posts on a page, in page order; :class:`FeedRefused` when the bytes are no HTML
    document. A page without matching posts gives an empty list."""
    if not data.strip():
        raise FeedRefused("the page is empty")
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise FeedRefused(f"the page could not be read as HTML ({exc})") from None
    if root is None:
        raise FeedRefused("the page could not be read as HTML")
    found = _evaluate(selectors.items, root)
    elements = (
        [e for e in found if isinstance(getattr(e, "tag", None), str)]
        if isinstance(found, list)
        else []
    )
    items: list[PageItem] = []
    keys: set[str] = set()
    for element in elements[:MAX_ITEMS]:
        item = _page_item(element, selectors, base_url)
        if item is not None and item.key not in keys:  # the same post twice counts once
            keys.add(item.key)
            items.append(item)
    return items


def _page_item(element: Any, selectors: Selectors, base_url: str) -> PageItem | None:
    link: str | None = None
    if selectors.link is not None:
        href = _as_text(_evaluate(selectors.link, element)).split("\n", 1)[0]
        link = urljoin(base_url, href) if href else None
    raw_id = _as_text(_evaluate(selectors.id, element)) if selectors.id is not None else ""
    text = (
        _as_text(_evaluate(selectors.text, element))
        if selectors.text is not None
        else element_text(element)
    )
    if not text:
        return None
    digest = content_hash(text)
    if raw_id:
        key = item_key("id", raw_id)
    elif link:
        key = f"link:{short_hash(link)}"
    else:
        key = f"text:{digest}"
    return PageItem(key=key, text=text, link=link, content_hash=digest)


class WebPageChannel(LimitedHttpChannel):
    """A web page polled for posts; changed posts are delivered as edits.

    Posts longer than ``max_message_chars`` are refused (channels/http_limits.py). A page
    dates nothing, so the health's lag is measured from the last successful poll; the
    probe fails when the items selector matches nothing.
    """

    type = "webpage"
    accept = ACCEPT

    def __init__(self, config: WebPageConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._selectors = Selectors.of(config)
        self._newest_first = config.newest_first

    def items(self, fetched: Fetched) -> Sequence[Item]:
        items = parse_page(fetched.body, self._selectors, base_url=fetched.url)
        if self._newest_first:  # deliver the oldest first
            items.reverse()
        return [Item(Candidate(key=i.key, text=i.text, version=i.content_hash)) for i in items]

    def judge(self, count: int) -> ChannelProbe:
        if count == 0:
            return ChannelProbe(
                False,
                "webpage: fetched, but the items selector matched no post with text: check "
                "items_xpath/items_css against the page",
            )
        return ChannelProbe(True, f"webpage: fetched, the selectors found {count} post(s)")


def register(registry: AdapterRegistry) -> None:
    """Make ``webpage`` a channel type (bootstrap calls this)."""
    registry.register(
        "channel",
        WebPageChannel.type,
        WebPageChannel,  # the polling runner calls ``WebPageChannel.from_config(...)``
        WebPageConfig,
        description="a web page's posts picked by XPath or CSS selectors; edits seen by "
        "content hash",
    )
