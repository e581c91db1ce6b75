"""What one call cost: tokens times the configuration's prices, exact.

Prices are US dollars per million tokens (how OpenRouter and OpenAI publish them); the
result is a Decimal rounded half-up to 10 places, which NUMERIC(38, 18) holds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["COST_PLACES", "call_cost"]

COST_PLACES = Decimal("1E-10")
_MILLION = Decimal(1_000_000)


def call_cost(
    input_tokens: int,
    output_tokens: int,
    usd_per_million_in: Decimal,
    usd_per_million_out: Decimal,
) -> Decimal:
    """Cost in USD of ``input_tokens`` + ``output_tokens``; negative counts are refused."""
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError("token counts are never negative")
    if usd_per_million_in < 0 or usd_per_million_out < 0:
        raise ValueError("prices are never negative")
    total = (
        Decimal(input_tokens) * usd_per_million_in + Decimal(output_tokens) * usd_per_million_out
    ) / _MILLION
    if total == 0:
        return Decimal(0)
    return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)
