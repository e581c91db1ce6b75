"""Links are not a message's words: the digits of a chart link are no price.

"https://www.tradingview.com/x/7tdRnSFg" holds a 7, "t.me/vip_signals24" a 24: read as
words they become left-over prices, which cost a clean call its confidence (and could
land in a field). The rules (:mod:`signalbridge.parsing.rules`) blank every link of a
free-text message before reading it; machine dialects (JSON) never pass here.
"""

from __future__ import annotations

import re
from typing import Final

from signalbridge.parsing.text import contains_any

# A scheme ("https://", "tg://"), "www.", or a host of a common top-level domain followed
# by its path ("t.me/vip24", "tradingview.com/x/7tdRnSFg", "bit.ly/3xYz"), up to the next
# space
_TLDS: Final = ("com", "net", "org", "io", "me", "ly", "co", "app", "gg", "xyz", "info")
_LINK: Final = re.compile(
    r"(?:\b[a-z][a-z0-9+.\-]*://|\bwww\.|\b[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:"
    + "|".join(_TLDS)
    + r")/)\S*",
    re.IGNORECASE,
)
# a cheap gate in front of the expression: every link holds one of these
_ANY_LINK: Final = contains_any(
    ("://", "www.", "WWW.", *(f".{tld}/" for tld in _TLDS), *(f".{tld.upper()}/" for tld in _TLDS))
)


def blank_links(text: str) -> str:
    """``text`` with each link replaced by a space (the text itself when it has none)."""
    if not _ANY_LINK(text):
        return text
    return _LINK.sub(" ", text)
