"""The one entry point: machine dialects first, then the channel template, then the rules."""

from __future__ import annotations

from signalbridge.parsing.dialects import parse_dialect
from signalbridge.parsing.lexicon import default_lexicon
from signalbridge.parsing.result import ParseResult, noise
from signalbridge.parsing.rules import parse_rules
from signalbridge.parsing.templates import Template
from signalbridge.parsing.text import MAX_CHARS, normalise


def parse(text: str, template: Template | None = None) -> ParseResult:
    """Read one message. Never raises for any string; the answer says how sure it is."""
    if not isinstance(text, str):
        raise TypeError("parse() needs the message text as a str")
    norm = normalise(text)
    stripped = norm.strip()
    if not stripped:
        return noise(0.99, "empty message")
    result = parse_dialect(stripped)
    if result is not None:
        return result
    if template is not None:
        result = template.apply(norm)
        if result is not None:
            return result
        result = parse_rules(norm, template.lexicon(), template.symbols)
    else:
        result = parse_rules(norm, default_lexicon())
    if len(text) > MAX_CHARS:
        reason = f"only the first {MAX_CHARS} characters were read"
        result = ParseResult(result.parsed, min(result.confidence, 0.5), (*result.reasons, reason))
    return result
