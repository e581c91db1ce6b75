"""What a channel agrees to read: its ``parse_text`` and ``dialect`` settings applied to a
message's interpretation before it is stored.

The parser recognises every machine dialect by itself (parsing/dialects.py). A channel
that names one (``3commas``, ``pineconnector``, ``octobot``) takes that one only: a body
in another dialect is refused with the reason rather than traded as something its sender
did not mean. A channel with ``parse_text`` off takes canonical JSON and its dialect
only, never free text. SignalBridge's canonical JSON is always read. A refusal keeps the
message, as rejected, with the reason (services/ingest.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.store import models as m

if TYPE_CHECKING:  # ingest calls screen(): a runtime import would be circular
    from signalbridge.services.ingest import Interpretation

#: Channel setting value -> how the parser names a reading in that dialect (its first reason).
DIALECTS: Final = {
    "3commas": "3Commas JSON",
    "pineconnector": "PineConnector command",
    "octobot": "OctoBot signal",
}
#: Machine formats the parser reads besides those a channel can choose.
_OTHER_FORMATS: Final = {"tradingview": "TradingView JSON"}
CANONICAL: Final = "canonical"
TEXT: Final = "text"


def is_canonical(text: str) -> bool:
    """Is ``text`` SignalBridge's canonical JSON (a ``kind``, or ``symbol`` and ``side``)?"""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return False
    try:
        data = load_json(stripped)
    except JsonOutOfBounds:
        return False
    return isinstance(data, dict) and ("kind" in data or ("symbol" in data and "side" in data))


def reading_of(text: str, meaning: Interpretation) -> str:
    """Which format ``meaning`` was read in: ``canonical``, a dialect, or ``text``."""
    if is_canonical(text):
        return CANONICAL
    first = meaning.problems[0] if meaning.problems else ""
    for name, reason in (*DIALECTS.items(), *_OTHER_FORMATS.items()):
        if first.startswith(reason):
            return name
    return TEXT


def _label(name: str) -> str:
    return {**DIALECTS, **_OTHER_FORMATS}.get(name, "free text")


def screen(channel: m.ChannelSource, text: str, meaning: Interpretation) -> Interpretation:
    """``meaning``, or a refusal with the reason when the channel does not read its format."""
    dialect = channel.dialect
    if meaning.parsed is None or (channel.parse_text and dialect is None):
        return meaning
    source = reading_of(text, meaning)
    if source == CANONICAL or source == dialect:
        return meaning
    if dialect is not None and source != TEXT:
        reason = (
            f"this channel reads {_label(dialect)} bodies (its dialect setting); "
            f"this body is {_label(source)}"
        )
        return _refused(meaning, reason)
    if source == TEXT and not channel.parse_text:
        also = f" or {_label(dialect)}" if dialect is not None else ""
        reason = f"text parsing is off for this channel: send canonical JSON{also}"
        return _refused(meaning, reason)
    if source != TEXT:  # another machine format on a text-off channel without a dialect
        reason = f"text parsing is off for this channel: send canonical JSON, not {_label(source)}"
        return _refused(meaning, reason)
    return meaning


def _refused(meaning: Interpretation, reason: str) -> Interpretation:
    return replace(meaning, parsed=None, problems=(reason,))
