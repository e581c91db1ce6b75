"""Stored positions as the exit rules see them.

The monitor (every tick) and the provider-update service (one update) both turn a position
row, its follow's management settings and its execution's order legs into a
:class:`~signalbridge.domain.management.PositionView`; this module is that one reading,
so neither borrows the other's internals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.domain.legs import is_entry_leg, is_full_close
from signalbridge.domain.management import PositionView, Precision, management_settings
from signalbridge.domain.signals import Side
from signalbridge.store import models as m

ZERO = Decimal(0)
_CHUNK = 500


def view_of(
    position: m.Position,
    management: dict[str, Any] | None,
    legs: list[tuple[str, Decimal]],
    precision: Precision,
) -> PositionView:
    """The rules' view of a stored position; ``legs`` are its execution's (leg, filled).

    Raises :class:`pydantic.ValidationError` when ``management`` is not valid settings.
    """
    opened = sum((filled for leg, filled in legs if is_entry_leg(leg)), ZERO)
    return PositionView(
        side=Side(position.side),
        opened=max(opened, position.amount),
        amount=position.amount,
        entry=position.entry_price,
        stop_loss=position.stop_loss,
        take_profits=tuple(Decimal(str(tp)) for tp in position.take_profits),
        tp_done=position.tp_hits,
        closing=any(is_full_close(leg) for leg, _ in legs),
        precision=precision,
        settings=management_settings(management),
    )


def lenient_view_of(
    position: m.Position,
    management: dict[str, Any] | None,
    legs: list[tuple[str, Decimal]],
    precision: Precision,
) -> tuple[PositionView, bool]:
    """:func:`view_of`, with default settings when the stored ones are invalid.

    The flag says whether the stored settings were valid (the monitor reports when not):
    a follow's broken settings must not leave its positions unmanaged.
    """
    try:
        return view_of(position, management, legs, precision), True
    except ValidationError:
        return view_of(position, None, legs, precision), False


async def execution_legs(
    session: AsyncSession, execution_ids: list[int]
) -> dict[int, list[tuple[str, Decimal]]]:
    """Each execution's order legs with their filled amounts, read in chunks."""
    result: dict[int, list[tuple[str, Decimal]]] = {}
    for start in range(0, len(execution_ids), _CHUNK):
        chunk = execution_ids[start : start + _CHUNK]
        rows = await session.execute(
            select(m.Order.execution_id, m.Order.leg, m.Order.filled).where(
                m.Order.execution_id.in_(chunk)
            )
        )
        for execution_id, leg, filled in rows.all():
            result.setdefault(execution_id, []).append((leg, filled))
    return result
