"""What the model may answer when asked to parse a message, validated strictly.

An LLM's answer is untrusted input. It is read as JSON with Decimal numbers (no float
touches a price), validated by these pydantic models (extra fields forbidden, every number
within what the store holds, at most 10 targets), then turned into the domain's
:data:`~signalbridge.domain.signals.Parsed` through the same
:func:`~signalbridge.domain.signals.parsed_from_dict` every other reader uses, geometry
checked. Anything off at any step is :class:`~signalbridge.ai.errors.MalformedAnswer`:
that provider's failure, never a signal.

The schema sent to the model (:data:`PARSE_SCHEMA`) wraps the answer in ``{"answer": …}``
because OpenAI's strict structured outputs need an object at the root (no ``anyOf``
there); :func:`parse_answer` accepts that form or the bare answer object.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from signalbridge.ai.errors import MalformedAnswer
from signalbridge.domain.bounds import PositiveStoreDecimal, StoreDecimal
from signalbridge.domain.errors import InvalidSignal
from signalbridge.domain.signals import (
    MAX_SYMBOL_LENGTH,
    MAX_TAKE_PROFITS,
    Parsed,
    UpdateAction,
    fmt_decimal,
    parsed_from_dict,
)

__all__ = [
    "PARSE_SCHEMA",
    "PARSE_SCHEMA_NAME",
    "AiAnswer",
    "AiNoiseAnswer",
    "AiRange",
    "AiSignalAnswer",
    "AiUpdateAnswer",
    "answer_to_parsed",
    "confidence_of",
    "parse_answer",
]

PARSE_SCHEMA_NAME = "signal_parse"
MAX_LEVERAGE = 500

UpdateActionName = Literal[
    "tp_hit",
    "sl_hit",
    "move_sl_to_entry",
    "move_sl",
    "close_all",
    "close_partial",
    "cancel",
    "modify_tp",
]
Confidence = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Symbol = Annotated[str, Field(min_length=1, max_length=MAX_SYMBOL_LENGTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AiRange(_Strict):
    """An entry price (low == high) or zone."""

    low: PositiveStoreDecimal
    high: PositiveStoreDecimal


class AiSignalAnswer(_Strict):
    kind: Literal["signal"]
    symbol: Symbol
    side: Literal["buy", "sell"]
    order_type: Literal["market", "limit"]
    entry: AiRange | None = None
    stop_loss: PositiveStoreDecimal | None = None
    take_profits: list[PositiveStoreDecimal] = Field(
        default_factory=list, max_length=MAX_TAKE_PROFITS
    )
    leverage: PositiveStoreDecimal | None = None
    confidence: Confidence


class AiUpdateAnswer(_Strict):
    kind: Literal["update"]
    action: UpdateActionName
    symbol: Symbol | None = None
    value: StoreDecimal | None = None
    confidence: Confidence


class AiNoiseAnswer(_Strict):
    kind: Literal["noise"]
    confidence: Confidence


AiAnswer = Annotated[AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer, Field(discriminator="kind")]
_ANSWER: TypeAdapter[AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer] = TypeAdapter(AiAnswer)


def parse_answer(data: object) -> AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer:
    """Validate a decoded answer (``{"answer": {...}}`` or the bare object) strictly.

    Raises :class:`MalformedAnswer` naming the fields that are wrong, never their values
    (they are the model's words, possibly an attacker's).
    """
    if isinstance(data, dict) and set(data) == {"answer"}:
        data = data["answer"]
    if not isinstance(data, dict):
        raise MalformedAnswer("AI answer is not a JSON object")
    try:
        return _ANSWER.validate_python(data)
    except ValidationError as exc:
        raise MalformedAnswer(f"AI answer outside the schema ({_fields(exc)})") from None


def answer_to_parsed(answer: AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer) -> Parsed:
    """The domain object the answer stands for, through the one canonical reader."""
    try:
        return parsed_from_dict(_canonical(answer))
    except InvalidSignal as exc:
        problems = "; ".join(p[:120] for p in exc.problems[:5])
        raise MalformedAnswer(f"AI answer is not a valid signal: {problems}") from None


def _canonical(answer: AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer) -> dict[str, Any]:
    if isinstance(answer, AiNoiseAnswer):
        return {"kind": "noise"}
    if isinstance(answer, AiUpdateAnswer):
        return {
            "kind": "update",
            "action": answer.action,
            "symbol": answer.symbol,
            "value": None if answer.value is None else fmt_decimal(answer.value),
        }
    leverage: int | None = None
    if answer.leverage is not None:
        if answer.leverage != answer.leverage.to_integral_value() or answer.leverage > MAX_LEVERAGE:
            raise MalformedAnswer(f"AI answer leverage must be a whole number 1..{MAX_LEVERAGE}")
        leverage = int(answer.leverage)
    return {
        "kind": "signal",
        "symbol": answer.symbol,
        "side": "long" if answer.side == "buy" else "short",
        "order_type": answer.order_type,
        "entry": None
        if answer.entry is None
        else {"low": fmt_decimal(answer.entry.low), "high": fmt_decimal(answer.entry.high)},
        "stop_loss": None if answer.stop_loss is None else fmt_decimal(answer.stop_loss),
        "take_profits": [fmt_decimal(tp) for tp in answer.take_profits],
        "leverage": leverage,
    }


def _fields(exc: ValidationError) -> str:
    seen = dict.fromkeys(
        ".".join(str(p) for p in err["loc"]) or "(root)"
        for err in exc.errors(include_input=False, include_url=False)
    )
    return ", ".join(name[:60] for name in list(seen)[:8])


def confidence_of(answer: AiSignalAnswer | AiUpdateAnswer | AiNoiseAnswer) -> Decimal:
    """The model's confidence as an exact two-place Decimal (0.00 to 1.00)."""
    return Decimal(str(round(answer.confidence, 2)))


# The JSON schema sent to the model. Strict mode (OpenAI structured outputs) wants every
# property required (optional ones nullable) and additionalProperties false everywhere.
_PRICE: dict[str, Any] = {
    "type": "string",
    "description": 'a price as plain decimal text, e.g. "42000.5"',
}
_NULLABLE_PRICE: dict[str, Any] = {"anyOf": [_PRICE, {"type": "null"}]}
_CONFIDENCE: dict[str, Any] = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "how sure you are, 0 to 1",
}
_SYMBOL: dict[str, Any] = {
    "type": "string",
    "description": "the market as written by the channel, e.g. BTC/USDT or EURUSD",
}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_SIGNAL_SCHEMA = _object(
    {
        "kind": {"type": "string", "enum": ["signal"]},
        "symbol": _SYMBOL,
        "side": {"type": "string", "enum": ["buy", "sell"]},
        "order_type": {"type": "string", "enum": ["market", "limit"]},
        "entry": {
            "anyOf": [_object({"low": _PRICE, "high": _PRICE}), {"type": "null"}],
            "description": "entry price (low = high) or zone; null for a market order "
            "without a price",
        },
        "stop_loss": _NULLABLE_PRICE,
        "take_profits": {"type": "array", "items": _PRICE, "maxItems": MAX_TAKE_PROFITS},
        "leverage": {
            "anyOf": [{"type": "string", "description": "whole number"}, {"type": "null"}]
        },
        "confidence": _CONFIDENCE,
    }
)
_UPDATE_SCHEMA = _object(
    {
        "kind": {"type": "string", "enum": ["update"]},
        "action": {"type": "string", "enum": [a.value for a in UpdateAction]},
        "symbol": {"anyOf": [_SYMBOL, {"type": "null"}]},
        "value": {
            **_NULLABLE_PRICE,
            "description": "tp_hit: the target number; move_sl: the new stop; "
            "close_partial: the percentage; modify_tp: the new target; else null",
        },
        "confidence": _CONFIDENCE,
    }
)
_NOISE_SCHEMA = _object({"kind": {"type": "string", "enum": ["noise"]}, "confidence": _CONFIDENCE})

PARSE_SCHEMA: dict[str, Any] = _object(
    {"answer": {"anyOf": [_SIGNAL_SCHEMA, _UPDATE_SCHEMA, _NOISE_SCHEMA]}}
)
