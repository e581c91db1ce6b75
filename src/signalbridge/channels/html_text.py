"""HTML reduced to plain text, for channels whose posts arrive as HTML (feeds, web pages).

The rule parser reads text; markup, scripts and styles would only be noise to it. lxml's
HTML parser is lenient (it never raises on tag soup) and resolves no external entities or
DTDs, so any bytes a provider serves become text or an empty string. Block elements end
lines, so "Entry: 1.2<br>SL: 1.1" stays two lines for the parser.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.etree
import lxml.html

#: Elements whose text is never shown to a reader.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "title", "iframe"})
#: Elements that start and end a line of their own.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr",
        "ul", "body", "html",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_LOOKS_LIKE_MARKUP = re.compile(r"<[A-Za-z!/?]")


def looks_like_html(text: str) -> bool:
    """Whether ``text`` holds markup at all (plain text is returned as it is)."""
    return bool(_LOOKS_LIKE_MARKUP.search(text)) or "&" in text


def html_to_text(html: str | bytes) -> str:
    """The readable text of an HTML fragment or document; "" when there is none."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    html = _CONTROL.sub("", html)
    if not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return ""
    return element_text(root)


def element_text(element: Any) -> str:
    """The readable text of one parsed lxml element (a page's item, say)."""
    # Comments and processing instructions go, their tails (text after them) stay.
    lxml.etree.strip_tags(element, lxml.etree.Comment, lxml.etree.ProcessingInstruction)
    parts: list[str] = []
    _walk(element, parts)
    text = "".join(parts)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _walk(element: Any, parts: list[str]) -> None:
    """Depth-first without recursion, so no nesting depth can exhaust the stack."""
    walker = lxml.etree.iterwalk(element, events=("start", "end"))
    for event, node in walker:
        if not isinstance(node.tag, str):  # an entity reference left unresolved
            continue
        tag = node.tag.rsplit("}", 1)[-1].lower()
        if event == "start":
            if tag in _HIDDEN:
                walker.skip_subtree()
                continue
            if tag == "br" or tag in _BLOCKS:
                parts.append("\n")
            elif tag in _CELLS:
                parts.append(" ")
            if node.text:
                parts.append(node.text)
            continue
        if tag in _BLOCKS:
            parts.append("\n")
        if node.tail and node is not element:
            parts.append(node.tail)
