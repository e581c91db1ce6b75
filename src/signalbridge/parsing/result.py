"""The parser's answer: a domain object, how sure the parser is, and why."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from signalbridge.domain.signals import Noise, Signal, SignalUpdate


@dataclass(frozen=True, slots=True)
class ParseResult:
    """``parsed`` is never silently fixed: a broken signal stays broken, with low confidence."""

    parsed: Signal | SignalUpdate | Noise
    confidence: float
    reasons: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.parsed.kind

    def to_dict(self) -> dict[str, Any]:
        """The ``signalbridge parse`` output object.

        An update's ``value`` is an ``int`` or an exact ``Decimal`` (a JSON number, never a
        float); every price elsewhere is a decimal string.
        """
        data = self.parsed.to_dict()
        if isinstance(self.parsed, SignalUpdate):
            data["value"] = json_number(self.parsed.value)
        data["confidence"] = round(self.confidence, 3)
        return data


def json_number(value: Decimal | None) -> int | Decimal | None:
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


def noise(confidence: float, *reasons: str) -> ParseResult:
    return ParseResult(Noise(), confidence, tuple(reasons))
