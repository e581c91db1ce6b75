"""An execution's status, derived from its orders or ended before any order exists.

Every path that records an order's outcome (placed, rejected, reconciled) settles the
execution in the same transaction, so the execution's status never lags its orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalbridge.execution.recorder import get_rows, log_row
from signalbridge.store import models as m

_CHUNK = 500  # ids per IN list, well below both databases' bind-parameter limits


async def settle_executions(session: AsyncSession, execution_ids: Sequence[int]) -> None:
    """Derive the executions' status from their orders: two queries per chunk.

    Every order rejected: failed. No order unsettled: open. A final execution is left alone.
    """
    await session.flush()
    ids = list(dict.fromkeys(execution_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        executions = await get_rows(session, m.Execution, chunk)
        statuses: dict[int, list[str]] = {e: [] for e in chunk}
        rows = await session.execute(
            select(m.Order.execution_id, m.Order.status).where(m.Order.execution_id.in_(chunk))
        )
        for execution_id, status in rows.all():
            statuses[execution_id].append(status)
        for execution_id in chunk:
            execution = executions[execution_id]
            if execution.status in m.ExecutionStatus.FINAL:
                continue
            found = statuses[execution_id]
            if found and all(s == m.OrderStatus.REJECTED for s in found):
                execution.status = m.ExecutionStatus.FAILED
                execution.reason = "every order was rejected"
            elif found and not any(s in m.OrderStatus.UNSETTLED for s in found):
                execution.status = m.ExecutionStatus.OPEN


async def end_pending(
    session: AsyncSession, execution_id: int, status: str, reason: str, now: datetime
) -> bool:
    """End a still-pending execution (e.g. skipped) with ``reason``; False if it was not
    pending any more (another worker got there first). The log row is written once."""
    done = await session.execute(
        update(m.Execution)
        .where(m.Execution.id == execution_id, m.Execution.status == m.ExecutionStatus.PENDING)
        .values(status=status, reason=reason[:2000], updated_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(log_row(execution_id, status, reason=reason))
    return True
