"""The task queue: taskiq in-process by default, Redis when several workers share work.

The database is the source of truth; a task only says "look at row N". Losing one is
harmless because the sweeper finds rows stuck in a non-final state and queues them again.

It lives in the kernel, beside the other ways out of the process, so that services can
enqueue and bootstrap can build it without importing ``jobs`` (which imports bootstrap);
``jobs/tasks.py`` defines what each task name runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.kicker import AsyncKicker

TaskFn = Callable[..., Awaitable[Any]]

DISPATCH_SIGNAL = "signalbridge.dispatch_signal"
RUN_EXECUTION = "signalbridge.run_execution"
APPLY_UPDATE = "signalbridge.apply_update"
TASK_NAMES = (DISPATCH_SIGNAL, RUN_EXECUTION, APPLY_UPDATE)


def make_broker(url: str, queue_name: str = "signalbridge:tasks") -> AsyncBroker:
    """``memory://`` runs tasks in this process; ``redis://`` shares them between workers."""
    if url.startswith("memory://"):
        return InMemoryBroker(max_async_tasks=200)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from taskiq_redis import ListQueueBroker

        return ListQueueBroker(url, queue_name=queue_name)
    raise ValueError(f"unsupported broker URL scheme in {url.split('://', 1)[0]!r}")


class TaskQueue:
    """What the services see of the queue: ``enqueue(name, *args)`` and nothing else."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker

    @property
    def in_process(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    def register(self, name: str, fn: TaskFn) -> None:
        self.broker.register_task(fn, task_name=name)

    async def enqueue(self, name: str, *args: Any) -> None:
        await AsyncKicker(name, self.broker, {}).kiq(*args)

    async def startup(self) -> None:
        await self.broker.startup()

    async def shutdown(self) -> None:
        await self.broker.shutdown()

    async def ping(self) -> bool:
        """Whether the broker is reachable (always true in process)."""
        if self.in_process:
            return True
        pool = getattr(self.broker, "connection_pool", None)
        if pool is None:
            return True
        from redis.asyncio import Redis

        async with Redis(connection_pool=pool) as client:
            return bool(await client.ping())
