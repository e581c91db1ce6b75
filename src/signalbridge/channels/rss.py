"""RSS and Atom feeds as a polled channel.

The feed is fetched by the kernel's guarded client (see channels/fetching.py: SSRF guard on
the URL and every redirect, size and time caps, conditional GET). Its bytes, never its URL,
are then read in two steps:

1. defusedxml parses them with entity declarations and external references forbidden, so
   a billion-laughs or quadratic-blowup document, a ``SYSTEM`` file entity or an external
   DTD is refused before anything expands or is fetched. A document that is not
   well-formed XML (feeds often are not: a stray ``&``, an encoding expat lacks) is still
   read by feedparser's lenient parser, but only when it declares no DOCTYPE and no entity
   at all, in any byte form;
2. feedparser reads the same bytes from a stream: handed a string it could take it for a
   URL or a file name and fetch it, so it is never handed one.

Items are identified by their guid (RSS ``guid``, Atom ``id``), else by a hash of their
link, else by a hash of their text; their HTML is reduced to text for the parser.
"""

from __future__ import annotations

import calendar
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import defusedxml
import defusedxml.ElementTree
import feedparser

from signalbridge.channels.fetching import (
    Candidate,
    FeedRefused,
    Fetched,
    PolledHttpConfig,
    item_key,
    short_hash,
)
from signalbridge.channels.html_text import html_to_text, looks_like_html
from signalbridge.channels.http_limits import Item, LimitedHttpChannel
from signalbridge.integrations.registry import AdapterRegistry

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
#: Items read from one feed document (feeds carry 10-100; more is a hostile document).
MAX_ITEMS = 500
_DECLARATIONS = re.compile(rb"<!\s*(doctype|entity)", re.IGNORECASE)


class RssConfig(PolledHttpConfig):
    """An RSS 2.0 / RSS 1.0 / Atom feed; see :class:`PolledHttpConfig` for the rest."""


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as text."""

    key: str
    text: str
    link: str | None
    published: datetime | None


def refuse_unsafe_xml(data: bytes) -> None:
    """Raise :class:`FeedRefused` for a document defusedxml refuses (entities, external
    references) or that is ill-formed and declares a DOCTYPE or an entity."""
    try:
        defusedxml.ElementTree.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise FeedRefused(
            f"the feed was refused: {type(exc).__name__} (entity declarations and external "
            "references are not allowed in feeds)"
        ) from None
    except (ET.ParseError, ValueError, RecursionError, UnicodeError, LookupError):
        # Not well-formed: feedparser's lenient reading is allowed only without any
        # declaration (NULs dropped, so UTF-16 and UTF-32 spellings are caught too).
        if _DECLARATIONS.search(data.replace(b"\x00", b"")):
            raise FeedRefused(
                "the feed is not well-formed XML and declares a DOCTYPE or entities: refused"
            ) from None


def parse_feed(
    data: bytes, *, content_type: str = "", base_url: str = "", max_items: int = MAX_ITEMS
) -> list[FeedItem]:
    """The items of a feed document, oldest first; :class:`FeedRefused` when the bytes are
    refused or are no feed at all. Any bytes give one or the other."""
    if not data.strip():
        raise FeedRefused("the feed is empty")
    refuse_unsafe_xml(data)
    headers = {"content-type": content_type or "application/xml"}
    if base_url:
        headers["content-location"] = base_url
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        entries = list(parsed.get("entries") or [])
        version = parsed.get("version") or ""
    except Exception as exc:  # the lenient parser's own failures: still a clear refusal
        raise FeedRefused(f"the feed could not be read ({type(exc).__name__})") from None
    if not version and not entries:
        raise FeedRefused("the document is not an RSS or Atom feed")
    items: list[tuple[int, FeedItem]] = []
    for position, entry in enumerate(entries[:max_items]):
        item = _item(entry)
        if item is not None:
            items.append((position, item))
    return [item for _, item in sorted(items, key=_age)]


def _age(pair: tuple[int, FeedItem]) -> tuple[float, int]:
    """Oldest first: by date where an item has one, else document order reversed (feeds
    list the newest first)."""
    position, item = pair
    stamp = item.published.timestamp() if item.published is not None else float("-inf")
    return (stamp, -position)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return html_to_text(value) if looks_like_html(value) else value.strip()


def _entry_body(entry: Any) -> str:
    for content in entry.get("content") or []:
        value = content.get("value") if hasattr(content, "get") else None
        if isinstance(value, str) and value.strip():
            return _text(value)
    return _text(entry.get("summary"))


def _item(entry: Any) -> FeedItem | None:
    title = _text(entry.get("title"))
    body = _entry_body(entry)
    if body.startswith(title):  # Twitter-like feeds repeat the title as the body's start
        title = ""
    text = "\n\n".join(part for part in (title, body) if part)
    if not text:
        return None
    link = entry.get("link")
    link = link if isinstance(link, str) and link else None
    guid = entry.get("id")
    if isinstance(guid, str) and guid.strip():
        key = item_key("guid", guid.strip())
    elif link is not None:
        key = f"link:{short_hash(link)}"
    else:
        key = f"text:{short_hash(text)}"
    return FeedItem(key=key, text=text, link=link, published=_published(entry))


def _published(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(name)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError, OSError):
                continue
    return None


class RssChannel(LimitedHttpChannel):
    """An RSS/Atom feed, polled with conditional GET; items de-duplicated by guid.

    Items longer than ``max_message_chars`` are refused (channels/http_limits.py); the
    health's lag is measured from the newest item's own date (``pubDate``, ``updated``).
    """

    type = "rss"
    accept = ACCEPT

    def items(self, fetched: Fetched) -> Sequence[Item]:
        found = parse_feed(fetched.body, content_type=fetched.content_type, base_url=fetched.url)
        return [Item(Candidate(key=i.key, text=i.text), i.published) for i in found]


def register(registry: AdapterRegistry) -> None:
    """Make ``rss`` a channel type (bootstrap calls this)."""
    registry.register(
        "channel",
        RssChannel.type,
        RssChannel,  # the polling runner calls ``RssChannel.from_config(...)``
        RssConfig,
        description="RSS 2.0 or Atom feed, polled with conditional GET",
    )
