"""A loopback HTTP server for the feed and web-page channels, speaking real HTTP/1.1.

It serves what a provider's site would: RSS 2.0 and Atom documents with ``ETag`` and
``Last-Modified`` validators and conditional GET as RFC 7232 says (``If-None-Match``
first, with the weak comparison, ``*`` included; ``If-Modified-Since`` only without it;
a 304 carries the validators and no body), an HTML page whose posts change between polls,
and the hostile documents the channels must refuse: a billion-laughs XML bomb, a document
with an external ``SYSTEM`` entity, one with an external DTD, and redirects to private and
metadata addresses (which the SSRF guard must refuse before any connection is made).

Built on :class:`tests.fakes.flaky_server.FlakyServer` (threads, sockets, hit log); paths
not published here answer with that server's scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from html import escape

from tests.fakes.flaky_server import FlakyServer, Hit, Reply

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Post:
    """One item of a feed or page; ``guid`` None leaves the item without one (RSS)."""

    title: str
    body: str = ""
    guid: str | None = None
    link: str | None = None
    published: datetime | None = None


@dataclass
class Resource:
    """A published document with its validators; ``conditional`` False ignores them (a
    server that never answers 304)."""

    body: bytes
    content_type: str
    etag: str
    last_modified: datetime
    conditional: bool = True
    validators: bool = True


def rss_document(posts: list[Post], *, title: str = "Signals") -> bytes:
    """RSS 2.0, newest post first (as feeds list them)."""
    items = []
    for post in posts:
        parts = [f"<title>{escape(post.title)}</title>"]
        if post.link:
            parts.append(f"<link>{escape(post.link)}</link>")
        if post.guid:
            parts.append(f'<guid isPermaLink="false">{escape(post.guid)}</guid>')
        if post.published:
            parts.append(f"<pubDate>{format_datetime(post.published, usegmt=True)}</pubDate>")
        if post.body:
            parts.append(f"<description>{escape(post.body)}</description>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.com/</link>"
        "<description>signals</description>" + "".join(reversed(items)) + "</channel></rss>"
    ).encode()


def atom_document(posts: list[Post], *, title: str = "Signals") -> bytes:
    """Atom 1.0 (RFC 4287), newest entry first; bodies as escaped HTML content."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for n, post in enumerate(posts):
        stamp = (post.published or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries.append(
            "<entry>"
            f"<title>{escape(post.title)}</title>"
            f"<id>{escape(post.guid or f'urn:post:{n}')}</id>"
            f"<updated>{stamp}</updated>"
            + (f'<link href="{escape(post.link)}"/>' if post.link else "")
            + f'<content type="html">{escape(post.body)}</content>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:feed</id><updated>{now}</updated>"
        + "".join(reversed(entries))
        + "</feed>"
    ).encode()


def html_page(posts: list[Post]) -> bytes:
    """A blog-like page: one ``<article class="post" data-id=...>`` per post, newest first."""
    articles = []
    for post in posts:
        link = f'<a href="{escape(post.link)}">permalink</a>' if post.link else ""
        ident = f' data-id="{escape(post.guid)}"' if post.guid else ""
        articles.append(
            f'<article class="post"{ident}><h2>{escape(post.title)}</h2>'
            f'<div class="body">{post.body}</div>{link}</article>'
        )
    return (
        "<!DOCTYPE html><html><head><title>Signals</title><style>p{color:red}</style>"
        "<script>var x = 1;</script></head><body><nav>Home | About</nav><main>"
        + "".join(reversed(articles))
        + "</main><footer>(c) provider</footer></body></html>"
    ).encode()


def billion_laughs(levels: int = 10) -> bytes:
    """The classic entity-expansion bomb: 10 levels expand to 10**9 'lol's."""
    decls = ['<!ENTITY lol0 "lol">']
    for n in range(1, levels):
        decls.append(f'<!ENTITY lol{n} "' + f"&lol{n - 1};" * 10 + '">')
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [' + "".join(decls) + "]>"
        f'<rss version="2.0"><channel><title>t</title><item><title>&lol{levels - 1};</title>'
        "<guid>bomb</guid></item></channel></rss>"
    ).encode()


def quadratic_blowup(size: int = 100_000, refs: int = 10_000) -> bytes:
    """One large entity referenced many times (no nesting, so naive limits miss it)."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + "a" * size + '">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>'
        + "&a;" * refs
        + "</title><guid>q</guid></item></channel></rss>"
    ).encode()


def external_entity(target: str = "file:///etc/passwd") -> bytes:
    """An XXE document: a SYSTEM entity whose value would be the file (or URL) content."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "' + target + '">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
        "<guid>xxe</guid></item></channel></rss>"
    ).encode()


def external_dtd(dtd_url: str) -> bytes:
    """A feed naming an external DTD (and using a parameter entity from it)."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "' + dtd_url + '">'
        '<rss version="2.0"><channel><title>t</title><item><title>hello</title>'
        "<guid>dtd</guid></item></channel></rss>"
    ).encode()


def external_parameter_entity(dtd_url: str) -> bytes:
    """A parameter entity that loads an external DTD from inside the internal subset."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % ext SYSTEM "' + dtd_url + '"> %ext;]>'
        '<rss version="2.0"><channel><title>t</title><item><title>hi</title>'
        "<guid>pe</guid></item></channel></rss>"
    ).encode()


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag, for the weak comparison (RFC 7232 §2.3.2)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


class FeedServer(FlakyServer):
    """The provider's site; see the module. Published paths answer with conditional GET."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1",)) -> None:
        super().__init__(hosts=hosts)
        self.resources: dict[str, Resource] = {}
        self._docs_lock = threading.Lock()

    # --- publishing ------------------------------------------------------------------------
    def publish(
        self,
        path: str,
        body: bytes,
        content_type: str,
        *,
        conditional: bool = True,
        validators: bool = True,
    ) -> Resource:
        """Serve ``body`` at ``path``; a new body gets a new ETag and Last-Modified."""
        with self._docs_lock:
            current = self.resources.get(path)
            if current is not None and current.body == body:
                return current
            modified = datetime.now(UTC).replace(microsecond=0)
            if current is not None and modified <= current.last_modified:
                # HTTP dates have one-second resolution: a change must move the date.
                modified = current.last_modified.replace(microsecond=0)
                modified = datetime.fromtimestamp(modified.timestamp() + 1, UTC)
            resource = Resource(body, content_type, _etag(body), modified, conditional, validators)
            self.resources[path] = resource
            return resource

    def publish_rss(self, path: str, posts: list[Post], **kwargs: bool) -> Resource:
        return self.publish(path, rss_document(posts), RSS_TYPE, **kwargs)

    def publish_atom(self, path: str, posts: list[Post], **kwargs: bool) -> Resource:
        return self.publish(path, atom_document(posts), ATOM_TYPE, **kwargs)

    def publish_page(self, path: str, posts: list[Post], **kwargs: bool) -> Resource:
        return self.publish(path, html_page(posts), HTML_TYPE, **kwargs)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """``path`` answers every request with a redirect to ``location``."""
        self.set_default(path, Reply(status=status, redirect_to=location))

    def requests(self, path: str) -> list[Hit]:
        return self.hits_for(path)

    # --- HTTP ------------------------------------------------------------------------------
    def answer(self, method: str, path: str, headers: dict[str, str]) -> Reply | None:
        """The reply for a published path (RFC 7232 conditional GET), None for others."""
        with self._docs_lock:
            resource = self.resources.get(path)
        if resource is None:
            return None
        out = {"Content-Type": resource.content_type, "Date": _http_date(datetime.now(UTC))}
        if resource.validators:
            out["ETag"] = resource.etag
            out["Last-Modified"] = _http_date(resource.last_modified)
        if method not in ("GET", "HEAD"):
            return Reply(status=405, body=b"", headers={"Allow": "GET, HEAD"})
        if resource.conditional and resource.validators and self._not_modified(resource, headers):
            out.pop("Content-Type")
            return Reply(status=304, body=b"", headers=out)
        return Reply(status=200, body=resource.body if method == "GET" else b"", headers=out)

    @staticmethod
    def _not_modified(resource: Resource, headers: dict[str, str]) -> bool:
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None:  # §6 step 3; If-Modified-Since is then ignored
            if if_none_match.strip() == "*":
                return True
            wanted = _opaque(resource.etag)
            return any(_opaque(tag) == wanted for tag in if_none_match.split(","))
        if_modified_since = headers.get("if-modified-since")
        if if_modified_since is not None:  # §6 step 4
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False  # an invalid date is ignored (§3.3)
            if since.tzinfo is None:
                return False
            return resource.last_modified <= since
        return False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """FlakyServer's loop, answering published paths from :meth:`answer`."""
        with self._lock:
            self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                with self._lock:
                    self.hits.append(Hit(method, target, headers, body, time.time()))
                path = target.split("?", 1)[0]
                reply = self.answer(method, path, headers) or self._next_reply(path)
                if not await self._respond(writer, reply):
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            if not writer.is_closing():
                writer.close()
