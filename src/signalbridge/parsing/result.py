"""The parser's answer: a domain object, how sure the parser is, and why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from signalbridge.domain.signals import Noise, Signal, SignalUpdate


class ParseResult:
    """``parsed`` is never silently fixed: a broken signal stays broken, with low confidence.

    Immutable: read-only properties over private slots. A plain class rather than a frozen
    dataclass, so that mypyc compiles its constructor (one result per message).
    """

    __slots__ = ("_confidence", "_parsed", "_reasons")

    def __init__(
        self,
        parsed: Signal | SignalUpdate | Noise,
        confidence: float,
        reasons: tuple[str, ...] = (),
    ) -> None:
        self._parsed = parsed
        self._confidence = confidence
        self._reasons = reasons

    @property
    def parsed(self) -> Signal | SignalUpdate | Noise:
        return self._parsed

    @property
    def confidence(self) -> float:
        return self._confidence

    @property
    def reasons(self) -> tuple[str, ...]:
        return self._reasons

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParseResult):
            return NotImplemented
        return (self._parsed, self._confidence, self._reasons) == (
            other._parsed,
            other._confidence,
            other._reasons,
        )

    def __hash__(self) -> int:
        return hash((self._parsed, self._confidence, self._reasons))

    def __repr__(self) -> str:
        parsed, confidence, reasons = self._parsed, self._confidence, self._reasons
        return f"ParseResult({parsed=}, {confidence=}, {reasons=})"

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
