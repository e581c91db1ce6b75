"""Task definitions: thin and idempotent, each one a call into a service."""

from __future__ import annotations

from signalbridge.bootstrap import Container
from signalbridge.execution.engine import ExecutionEngine
from signalbridge.jobs.queue import APPLY_UPDATE, DISPATCH_SIGNAL, RUN_EXECUTION
from signalbridge.services.dispatch import dispatch_signal


def register_tasks(container: Container, engine: ExecutionEngine) -> None:
    queue = container.queue

    async def dispatch(signal_id: int) -> None:
        for execution_id in await dispatch_signal(container.sessions, signal_id):
            await queue.enqueue(RUN_EXECUTION, execution_id)

    async def run_execution(execution_id: int) -> None:
        await engine.run(execution_id)

    async def apply_update(update_id: int) -> None:
        # Provider updates are applied by the position monitor, which reads them from the
        # signal_updates table; the task only has to exist so a queued update is accepted.
        return None

    queue.register(DISPATCH_SIGNAL, dispatch)
    queue.register(RUN_EXECUTION, run_execution)
    queue.register(APPLY_UPDATE, apply_update)
