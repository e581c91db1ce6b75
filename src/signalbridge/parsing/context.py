"""Replies, quotes, forwards and date headers: the context around a message's own words.

A reply carries the message it answers ("> EURUSD BUY 1.0850" lines, a "Reply to: ..."
preview, an "[In reply to Channel]" header); a forward starts with "Forwarded from X";
an exported message with a date and time line. Only the message's own words may open a
trade: the quoted text is context (at most the symbol of the trade an update manages).

The words of the headers are data (:data:`REPLY_WORDS`, :data:`FORWARD_WORDS`, in every
language the rules read); a new language is a new entry there.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from signalbridge.domain.signals import UpdateAction
from signalbridge.parsing.text import contains_any, lower
from signalbridge.parsing.update_languages import MORE_GATE
from signalbridge.parsing.update_reader import UpdateHit, find_update
from signalbridge.parsing.updates import GATE_MOVE, GATE_PCT, NEED_CANCEL, NEED_CLOSE, NEED_PARTIAL

REPLY_WORDS: Final = (
    *("in reply to", "reply to", "replying to", "replied to", "quote", "quoted message"),
    *("original message", "ответ на", "в ответ на", "отвечая на", "цитата", "en respuesta a"),
    *("respondiendo a", "em resposta a", "respondendo a", "en réponse à", "réponse à"),
    *("antwort auf", "in risposta a", "w odpowiedzi na", "yanıt olarak", "yanıtla"),
    *("balasan untuk", "membalas", "trả lời", "回复", "回覆", "引用", "پاسخ به", "در پاسخ به"),
    *("رداً على", "ردا على", "رد على", "返信", "답장"),
)
FORWARD_WORDS: Final = (
    *("forwarded from", "forwarded message", "forwarded", "fwd from", "fwd", "переслано от"),
    *("пересланное сообщение", "переслано", "reenviado de", "reenviado desde", "encaminhado de"),
    *("transféré de", "weitergeleitet von", "inoltrato da", "przekazano od", "iletildi"),
    *("diteruskan dari", "chuyển tiếp từ", "转发自", "转发", "轉發自", "بازارسال از", "فوروارد از"),
    *("إعادة توجيه من", "محول من", "転送元", "전달됨"),
)
# A quoted line starts with one of these (Telegram's "> ", a bar some clients draw).
QUOTE_MARKS: Final = (">", "»", "│", "┃", "▎", "▌", "❝")

_MONTHS: Final = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_WEEKDAYS: Final = (
    "mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|sat(?:urday)?"
    "|sun(?:day)?"
)
_DATE: Final = (
    r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})\.?,?(?:\s+\d{{4}})?"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?)"
)
_TIME: Final = r"(?:\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\s*(?:am|pm)?)"
_ZONE: Final = r"(?:\s*(?:z|utc|gmt|msk|est|cet)?\s*(?:[+-]\d{1,2}(?::?\d{2})?)?)"
_DATETIME: Final = (
    rf"(?:(?:{_WEEKDAYS}),?\s+)?(?:{_DATE}(?:(?:\s*,?\s*|\s+at\s+|t){_TIME})?"
    rf"|{_TIME}(?:\s*,?\s*{_DATE})?){_ZONE}"
)
# A line that is only a date and/or a time (in brackets or not), and an exported
# message's "Channel name, [12.03.24 14:35]" line.
DATETIME_LINE: Final = rf"[\[(]?\s*{_DATETIME}\s*[\])]?\W{{0,2}}"
NAMED_DATETIME_LINE: Final = rf"[^\[(\n]{{1,60}}?,\s*\[\s*{_DATETIME}\s*\]\W{{0,2}}"


@cache
def _date_lines() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The two date-line expressions, compiled on first use (few messages start with a
    date: this keeps their compiling out of every process's start-up)."""
    return re.compile(DATETIME_LINE), re.compile(NAMED_DATETIME_LINE)


def _header(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"[\[(*_\s]{{0,3}}(?:{alternatives})(?!\w)\s*:?\s*(.*?)[\])*_]*\s*$")


REPLY_HEADER: Final = _header(REPLY_WORDS)
FORWARD_HEADER: Final = _header(FORWARD_WORDS)
_ANY_HEADER_WORD: Final = contains_any((*REPLY_WORDS, *FORWARD_WORDS))
# A date line starts with a digit, a bracket, or a weekday's or a month's first letters
_DATE_STARTS: Final = frozenset(
    "jan feb mar apr may jun jul aug sep oct nov dec mon tue wed thu fri sat sun".split()
)
_MAX_DATE_LINE: Final = 60
# How a header line can start: a bracket, a mark or a digit (a date), or the first three
# letters of a header word, a weekday or a month
_DATE_HEADS: Final = frozenset("[(*_0123456789")
_HEADER_PREFIXES: Final = frozenset(w[:3] for w in (*REPLY_WORDS, *FORWARD_WORDS, *_DATE_STARTS))

_MAX_HEADER_LINES: Final = 6


class Context:
    """A message split into its own words and the text it quotes."""

    __slots__ = ("forwarded", "own", "quoted", "reply")

    def __init__(self, own: str, quoted: str, reply: bool, forwarded: bool) -> None:
        self.own = own
        self.quoted = quoted  # the quoted lines (and a reply header's preview)
        self.reply = reply  # a reply or a quote: the quoted text is context
        self.forwarded = forwarded  # a "Forwarded from" header was dropped


def _is_quoted(line: str) -> bool:
    s = line.lstrip()
    return bool(s) and s[0] in QUOTE_MARKS and not s.startswith(">=")


def split_context(text: str) -> Context | None:
    """The message without its header lines and the quoted block below them; ``None``
    when it has neither (the common case, decided from its first characters).

    The quoted block is the run of lines that start with a quote mark right after the
    headers (or at the top), as clients lay a reply out; a ">" further down is the
    message's own (a bullet, an arrow).
    """
    start = text.lstrip() if text[:1].isspace() else text
    if not start:
        return None
    head = start[0]
    if head not in QUOTE_MARKS:
        end = start.find("\n")
        first = start if end < 0 else start[:end]
        if not (head in _DATE_HEADS or start[:3].lower() in _HEADER_PREFIXES or ", [" in first):
            return None  # no header starts like this (most messages)
        if _header_line(lower(first.strip())) is None:
            return None
    lines = text.split("\n")
    quoted: list[str] = []
    reply = forwarded = False
    i = 0
    n = len(lines)
    seen = 0
    while i < n and seen < _MAX_HEADER_LINES:
        line = lines[i].strip()
        if not line:
            i += 1
            continue
        seen += 1
        kind = _header_line(lower(line))
        if kind is None:
            break
        i += 1
        if kind == "forward":
            forwarded = True
        elif kind == "reply":
            reply = True
            m = REPLY_HEADER.match(lower(line))
            preview = line[m.start(1) : m.end(1)].strip() if m is not None else ""
            if preview:
                quoted.append(preview)
            if line.endswith(":"):
                # "Replying to X:" then the quoted block, up to a blank line (or one line)
                end = i
                while end < n and lines[end].strip():
                    end += 1
                if end == n or not any(x.strip() for x in lines[end:]):
                    # no blank line: one quoted line, and never the message's last line
                    # (a reply has words of its own: "Replying to X:\nMove SL to 1.2 now")
                    end = i + 1 if i + 1 < n else i
                quoted.extend(lines[i:end])
                i = end
    while i < n and (_is_quoted(lines[i]) or (not lines[i].strip() and quoted)):
        if lines[i].strip():
            quoted.append(lines[i].lstrip()[1:])
        i += 1
    if i == 0:
        return None
    return Context("\n".join(lines[i:]), "\n".join(quoted), reply or bool(quoted), forwarded)


def _header_line(low: str) -> str | None:
    """``"reply"``, ``"forward"`` or ``"date"`` for a header line (lower case, stripped)."""
    if not low:
        return None
    if _ANY_HEADER_WORD(low):
        if REPLY_HEADER.match(low) is not None:
            return "reply"
        if FORWARD_HEADER.match(low) is not None:
            return "forward"
    if len(low) > _MAX_DATE_LINE + 40:
        return None
    if (
        (low[0].isdigit() or low[0] in "[(" or low[:3] in _DATE_STARTS)
        and len(low) <= _MAX_DATE_LINE
        and _date_lines()[0].fullmatch(low) is not None
    ):
        return "date"
    if "[" in low and "," in low and _date_lines()[1].fullmatch(low) is not None:
        return "date"
    return None


# A management plan inside a call is conditional ("move SL to entry after TP1", "at +30
# pips", "once TP1 is hit"); an instruction under a quoted call is not.
_CONDITION: Final = re.compile(
    r"\b(?:if|when|whenever|once|after|upon|until|before|as\s+soon\s+as|in\s+case"
    r"|khi|nếu|jika|kalau|setelah|saat|если|когда|после|si|cuando|después|eğer|sonra"
    r"|اگر|وقتی|بعد|إذا|عند)\b"
    r"|\bat\s+(?:tp|target|the\s+first\s+target|\+?\d)|\bon\s+(?:tp|target)|如果|之后|以后|到了"
)
_MAX_TAIL_SPACES: Final = 12  # an instruction is a short line; a longer one is a note
# Every instruction's wording holds one of these (a verb, or the stop's new place)
_ANY_INSTRUCTION: Final = contains_any(
    (
        *(*NEED_CLOSE, *GATE_MOVE, *NEED_CANCEL, *NEED_PARTIAL, *GATE_PCT, *MORE_GATE),
        *("book", "break", "to be", "to entry", "б/у", "безубыт", "trailing"),
    )
)
# The actions an instruction under a call can ask for (a hit is a report, not an order)
_INSTRUCTIONS: Final = frozenset(
    {UpdateAction.CLOSE_ALL, UpdateAction.CLOSE_PARTIAL, UpdateAction.CANCEL}
    | {UpdateAction.MOVE_SL_TO_ENTRY, UpdateAction.MOVE_SL, UpdateAction.MODIFY_TP}
)


def instruction_under_call(low: str) -> tuple[str, UpdateHit] | None:
    """The last line of a message that holds a complete call above it, and the action it
    asks for, when that line is an instruction of its own ("EURUSD BUY 1.0850 / SL ... /
    Move SL to 1.0850 now": the call is the signal a reply quotes, the last line the
    message); ``None`` when it is no explicit instruction, or a conditional one (a plan
    that belongs to the call: "move SL to entry after TP1")."""
    body = low.rstrip()
    cut = body.rfind("\n")  # a call above: at least one line before the last
    if cut < 0:
        return None
    tail = body[cut + 1 :].strip()
    if not tail or tail.count(" ") > _MAX_TAIL_SPACES:
        return None
    if not _ANY_INSTRUCTION(tail):
        return None  # no verb of an instruction: a call's own last line ("TP3 1.0950")
    hit = find_update(tail)
    if hit is None or not hit.clear or hit.action not in _INSTRUCTIONS:
        return None
    if _CONDITION.search(tail) is not None:
        return None
    return tail, hit
