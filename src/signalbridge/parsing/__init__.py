"""Rule-based signal parser: any provider's text to an exact Signal, SignalUpdate or Noise."""

from signalbridge.parsing.engine import parse
from signalbridge.parsing.result import ParseResult

__all__ = ["ParseResult", "parse"]
