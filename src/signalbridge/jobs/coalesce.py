"""Group commit for the dispatch task: executions queued together are run together.

Why: the queue wakes one task per signal. A poll that stored 100 signals queues 100
dispatch tasks at once; run side by side, each with its own planning and recording
commits, they queue up for the database's write lock, and the median post's order went
out long after its signal was stored (issue 15's benchmark). Merged, they share one
planning commit and one recording commit (execution/batch.py) and their POSTs go out
concurrently.

Only calls made in the same moment are merged: the first call waits a couple of loop
turns for the tasks that are ready alongside it, then runs with them, so a lone signal
(one webhook delivery) waits for nothing, and a call that comes while a run is in
progress starts its own run at once rather than waiting for that one. A merged run that
fails is run again caller by caller, so one bad signal fails only its own task, as
before (every step is idempotent: the engine skips what is already done). Nothing is
kept here that the database does not also know: a process that dies with calls waiting
loses only queue tasks, which the sweeper finds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: Loop turns the first call waits for the others that are ready to join.
SETTLE_TURNS = 2
#: Items in one merged run at most (execution/batch.py plans them in one commit).
MAX_ITEMS = 1000


@dataclass
class _Call(Generic[T]):
    items: list[T]
    done: asyncio.Future[None]


class Coalescer(Generic[T]):
    """Runs ``run(items)`` for the items of concurrent :meth:`submit` calls, merged."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[None]],
        *,
        max_items: int = MAX_ITEMS,
        settle_turns: int = SETTLE_TURNS,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._run = run
        self._max = max_items
        self._settle = settle_turns
        self._waiting: list[_Call[T]] = []
        self._collecting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: set[asyncio.Future[None]] = set()  # calls not finished yet
        self._running: set[asyncio.Task[None]] = set()
        #: Merged runs so far and the largest one (for tests and the benchmark).
        self.runs = 0
        self.largest = 0

    async def submit(self, items: Sequence[T]) -> None:
        """Run ``items`` (with whatever else is submitted now); raises what their run raised."""
        if not items:
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop: nothing of an old one is waited for
            self._loop, self._waiting, self._collecting, self._open = loop, [], False, set()
        call: _Call[T] = _Call(list(items), loop.create_future())
        self._open.add(call.done)
        call.done.add_done_callback(self._open.discard)
        self._waiting.append(call)
        if not self._collecting:
            self._collecting = True
            task = asyncio.create_task(self._collect())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        # Shielded: a caller that is cancelled leaves the merged run to finish for the others.
        await asyncio.shield(call.done)

    async def settled(self) -> None:
        """Wait until every call submitted before this one has finished, however it
        ended: what is queued after a signal's dispatch (its provider update) then finds
        the signal's orders in place."""
        if self._loop is asyncio.get_running_loop() and self._open:
            await asyncio.wait(list(self._open))

    async def _collect(self) -> None:
        try:
            for _ in range(self._settle):
                await asyncio.sleep(0)
        finally:
            self._collecting = False  # a call from now on starts the next run
            waiting, self._waiting = self._waiting, []
        batches: list[list[_Call[T]]] = [[]]
        count = 0
        for call in waiting:
            if batches[-1] and count + len(call.items) > self._max:
                batches.append([])
                count = 0
            batches[-1].append(call)
            count += len(call.items)
        try:
            for batch in batches:
                await self._run_batch(batch)
        except BaseException as exc:  # cancelled (shutdown): nobody waits for ever
            for call in waiting:
                _fail(call, exc)
            raise

    async def _run_batch(self, batch: list[_Call[T]]) -> None:
        merged = list(dict.fromkeys(item for call in batch for item in call.items))
        self.runs += 1
        self.largest = max(self.largest, len(merged))
        try:
            await self._run(merged)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for call in batch:  # one by one: a bad item fails only its own caller
                try:
                    await self._run(call.items)
                except Exception as one:
                    _fail(call, one)
                else:
                    _succeed(call)
            return
        except BaseException as exc:
            for call in batch:
                _fail(call, exc)
            raise
        for call in batch:
            _succeed(call)


def _succeed(call: _Call[T]) -> None:
    if not call.done.done():
        call.done.set_result(None)


def _fail(call: _Call[T], exc: BaseException) -> None:
    if call.done.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        call.done.cancel()
    else:
        call.done.set_exception(exc)
    with contextlib.suppress(BaseException):
        call.done.exception()  # retrieved: a caller that left logs no warning
