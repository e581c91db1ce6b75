"""Tokens times prices: exact Decimal cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from signalbridge.ai.cost import call_cost


def test_cost_is_tokens_times_price_per_million() -> None:
    # gpt-4o-mini list prices: $0.15 in, $0.60 out per million tokens
    assert call_cost(1000, 200, Decimal("0.15"), Decimal("0.60")) == Decimal("0.00027")
    assert call_cost(1_000_000, 0, Decimal("3"), Decimal("15")) == Decimal("3")


def test_free_models_and_zero_tokens_cost_nothing() -> None:
    assert call_cost(5000, 5000, Decimal(0), Decimal(0)) == 0
    assert call_cost(0, 0, Decimal("2.5"), Decimal("10")) == 0


def test_cost_is_rounded_to_ten_places() -> None:
    assert call_cost(1, 0, Decimal("0.0000333"), Decimal(0)) == Decimal("0")
    assert call_cost(3, 0, Decimal("0.07"), Decimal(0)) == Decimal("2.1E-7")


@pytest.mark.parametrize("args", [(-1, 0, Decimal(1), Decimal(1)), (1, 1, Decimal(-1), Decimal(1))])
def test_negative_inputs_are_refused(args: tuple[int, int, Decimal, Decimal]) -> None:
    with pytest.raises(ValueError):
        call_cost(*args)
