"""Task definitions: thin and idempotent, each one a call into a service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalbridge.execution.engine import ExecutionEngine
from signalbridge.execution.pool import AdapterPool
from signalbridge.integrations.queue import APPLY_UPDATE, DISPATCH_SIGNAL, RUN_EXECUTION, TaskQueue
from signalbridge.jobs.coalesce import Coalescer
from signalbridge.services.ai_analysis import (
    ANALYSE_SIGNAL,
    AnalysisDeps,
    analyse_signal,
    needs_analysis,
)
from signalbridge.services.ai_parsing import AI_PARSE, AiParsing, load_chain
from signalbridge.services.dispatch import dispatch_signal
from signalbridge.services.override import RESUME_ACTION, Overrides
from signalbridge.services.updates import apply_update


def register_tasks(
    queue: TaskQueue,
    sessions: async_sessionmaker[AsyncSession],
    engine: ExecutionEngine,
    pool: AdapterPool,
    ai_parsing: AiParsing | None = None,
) -> None:
    """Name what each task runs; called by the Platform, never at import."""

    # Dispatch tasks that run at the same time (a poll's signals) are merged into one
    # engine run: one planning and one recording commit for all (jobs/coalesce.py).
    merged: Coalescer[int] = Coalescer(engine.run_many)
    # The market analyst of published signals (services/ai_analysis.py) reaches the AI as
    # the AI parse does; it queues the signal's held executions again when it is done.
    analysis: AnalysisDeps | None = None
    if ai_parsing is not None:
        parts = ai_parsing.parts
        analysis = AnalysisDeps(
            sessions, pool, lambda session: load_chain(session, parts), queue, DISPATCH_SIGNAL
        )

    async def dispatch(signal_id: int, execution_ids: list[int] | None = None) -> None:
        # A signal's executions are planned and placed together (batched database work,
        # concurrent sends); any left unfinished are found again by the sweeper. When the
        # executions were created with the signal (intake) their ids come along, and the
        # engine itself skips any that are no longer pending.
        try:
            if execution_ids is None:
                execution_ids = await dispatch_signal(sessions, signal_id)
            if execution_ids:
                await merged.submit(execution_ids)
        finally:
            # After the run, off the orders' hot path: follows with an analyst gate were
            # held meanwhile (left pending); the analysis queues them again when stored.
            if analysis is not None and await needs_analysis(sessions, signal_id):
                await queue.enqueue(ANALYSE_SIGNAL, signal_id)

    async def run_execution(execution_id: int) -> None:
        await engine.run(execution_id)

    async def apply_provider_update(update_id: int) -> None:
        # An update is queued after the signal it answers (the intake keeps the order of
        # a poll's messages): it waits for the dispatches this worker has in hand, so
        # "close all" in the same getUpdates answer as its post finds the post's orders
        # rather than "nothing open".
        await merged.settled()
        await apply_update(sessions, engine, update_id, pool=pool)

    async def resume_action(action_id: int) -> None:
        # A manual action a crash left pending: run again with the same client order ids.
        await Overrides(sessions, engine).run(action_id)

    queue.register(DISPATCH_SIGNAL, dispatch)
    queue.register(RUN_EXECUTION, run_execution)
    queue.register(APPLY_UPDATE, apply_provider_update)
    queue.register(RESUME_ACTION, resume_action)

    if analysis is not None:
        analysing = analysis

        async def analyse(signal_id: int) -> None:
            # Idempotent by signal id: the analysis row is claimed before the AI is asked.
            await analyse_signal(analysing, signal_id)

        queue.register(ANALYSE_SIGNAL, analyse)

    if ai_parsing is not None:
        parsing = ai_parsing

        async def ai_parse(message_id: int) -> None:
            # Idempotent by message id: a second run finds the recorded parse and stops.
            await parsing.run(message_id)

        queue.register(AI_PARSE, ai_parse)
