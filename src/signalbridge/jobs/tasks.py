"""Task definitions: thin and idempotent, each one a call into a service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.queue import APPLY_UPDATE, DISPATCH_SIGNAL, RUN_EXECUTION, TaskQueue
from signalbridge.jobs.coalesce import Coalescer
from signalbridge.services.dispatch import dispatch_signal
from signalbridge.services.updates import apply_update


def register_tasks(
    queue: TaskQueue,
    sessions: async_sessionmaker[AsyncSession],
    engine: ExecutionEngine,
    pool: AdapterPool,
) -> None:
    """Name what each task runs; called by the Platform, never at import."""

    # Dispatch tasks that run at the same time (a poll's signals) are merged into one
    # engine run: one planning and one recording commit for all (jobs/coalesce.py).
    merged: Coalescer[int] = Coalescer(engine.run_many)

    async def dispatch(signal_id: int, execution_ids: list[int] | None = None) -> None:
        # A signal's executions are planned and placed together (batched database work,
        # concurrent sends); any left unfinished are found again by the sweeper. When the
        # executions were created with the signal (intake) their ids come along, and the
        # engine itself skips any that are no longer pending.
        if execution_ids is None:
            execution_ids = await dispatch_signal(sessions, signal_id)
        if execution_ids:
            await merged.submit(execution_ids)

    async def run_execution(execution_id: int) -> None:
        await engine.run(execution_id)

    async def apply_provider_update(update_id: int) -> None:
        # An update is queued after the signal it answers (the intake keeps the order of
        # a poll's messages): it waits for the dispatches this worker has in hand, so
        # "close all" in the same getUpdates answer as its post finds the post's orders
        # rather than "nothing open".
        await merged.settled()
        await apply_update(sessions, engine, update_id, pool=pool)

    queue.register(DISPATCH_SIGNAL, dispatch)
    queue.register(RUN_EXECUTION, run_execution)
    queue.register(APPLY_UPDATE, apply_provider_update)
