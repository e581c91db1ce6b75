"""Decide what a delivered body means: canonical JSON is read strictly, text goes to the parser."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

from signalbridge.domain.bounds import JsonOutOfBounds, load_json
from signalbridge.domain.signals import Signal, bounds_problems
from signalbridge.services.ingest import Interpretation, interpret_canonical


def looks_canonical(data: Any) -> bool:
    return isinstance(data, dict) and ("kind" in data or ("symbol" in data and "side" in data))


def interpret(body_text: str, *, parse_text: bool, template: Any = None) -> Interpretation:
    """Canonical JSON (``kind``/``symbol`` keys) is strict; anything else is parsed as text.

    A JSON object with only a ``text`` field (``{"text": "..."}``) is parsed as that text.
    """
    if "\x00" in body_text:
        return Interpretation(None, Decimal(0), ("the body holds NUL characters",))
    stripped = body_text.lstrip()
    if stripped.startswith("{"):
        try:
            data = load_json(stripped)
        except JsonOutOfBounds:
            return interpret_canonical(stripped)  # reports the JSON error precisely
        if looks_canonical(data) or not parse_text:
            return interpret_canonical(stripped)
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            return parse_with_rules(data["text"], template)
    if not parse_text:
        return Interpretation(None, Decimal(0), ("this channel accepts canonical JSON only",))
    return parse_with_rules(body_text, template)


def parse_with_rules(text: str, template: Any = None) -> Interpretation:
    from signalbridge.parsing import parse

    result = parse(text, channel_template(template))
    confidence = Decimal(str(round(result.confidence, 4)))
    parsed = result.parsed
    problems = tuple(result.reasons)
    out_of_bounds = bounds_problems(parsed)
    if out_of_bounds:  # the parser read a number or symbol the store cannot hold
        return Interpretation(None, confidence, tuple(out_of_bounds))
    if isinstance(parsed, Signal):
        geometry = parsed.geometry_problems()
        if geometry:  # never "fixed": the message is kept as rejected, with the reasons
            return Interpretation(None, confidence, problems or tuple(geometry))
    return Interpretation(parsed, confidence, problems)


def channel_template(spec: Any) -> Any:
    """A channel's stored ``parse_template`` (a JSON object) as the parser's ``Template``.

    Built once per distinct spec (a template's extended lexicon is not free); a stored
    template that no longer validates is passed over, so the general rules still read.
    """
    if spec is None or not isinstance(spec, dict):
        return spec
    try:
        key = json.dumps(spec, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    return _built_template(key)


@lru_cache(maxsize=256)
def _built_template(key: str) -> Any:
    from signalbridge.parsing.templates import template_from_dict

    try:
        return template_from_dict(json.loads(key), default_name="channel")
    except ValueError:
        return None
