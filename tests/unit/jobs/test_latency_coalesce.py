"""Group commit for the dispatch task (jobs/coalesce.py): calls made together run as one,
a lone call runs alone and at once, a failing merged run fails only the caller whose
items fail, and nobody waits for ever."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalbridge.jobs.coalesce import Coalescer


class Recorder:
    """The merged function: records each run's items; fails on any item in ``bad``."""

    def __init__(self, bad: frozenset[int] = frozenset(), hold: asyncio.Event | None = None):
        self.runs: list[list[int]] = []
        self.bad = bad
        self.hold = hold

    async def __call__(self, items: list[int]) -> None:
        self.runs.append(list(items))
        if self.hold is not None:
            await self.hold.wait()
        if self.bad & set(items):
            raise RuntimeError(f"bad items {sorted(self.bad & set(items))}")


async def test_calls_made_together_run_once_with_every_item() -> None:
    record = Recorder()
    merged: Coalescer[int] = Coalescer(record)
    await asyncio.gather(*(merged.submit([i, i + 100]) for i in range(50)))
    assert len(record.runs) == 1
    assert sorted(record.runs[0]) == sorted([*range(50), *range(100, 150)])
    assert merged.runs == 1 and merged.largest == 100


async def test_a_lone_call_runs_alone_and_repeats_are_merged() -> None:
    record = Recorder()
    merged: Coalescer[int] = Coalescer(record)
    await merged.submit([7])
    await merged.submit([])  # nothing to do: no run
    await asyncio.gather(merged.submit([1, 2]), merged.submit([2, 3]))
    assert record.runs == [[7], [1, 2, 3]]  # an item asked twice runs once


async def test_a_call_during_a_run_starts_its_own_run_at_once() -> None:
    hold = asyncio.Event()
    record = Recorder(hold=hold)
    merged: Coalescer[int] = Coalescer(record)
    first = asyncio.create_task(merged.submit([1]))
    while not record.runs:
        await asyncio.sleep(0)
    second = asyncio.create_task(merged.submit([2]))
    while len(record.runs) < 2:  # it did not wait for the first run to end
        await asyncio.sleep(0)
    assert record.runs == [[1], [2]]
    hold.set()
    await asyncio.gather(first, second)


async def test_a_failing_merged_run_fails_only_the_caller_with_the_bad_item() -> None:
    record = Recorder(bad=frozenset({13}))
    merged: Coalescer[int] = Coalescer(record)
    outcomes = await asyncio.gather(
        merged.submit([1, 2]), merged.submit([13]), merged.submit([3]), return_exceptions=True
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], RuntimeError) and "13" in str(outcomes[1])
    # the merged run, then each caller's items on their own
    assert record.runs == [[1, 2, 13, 3], [1, 2], [13], [3]]


async def test_a_lone_failing_call_raises_its_error() -> None:
    merged: Coalescer[int] = Coalescer(Recorder(bad=frozenset({1})))
    with pytest.raises(RuntimeError, match="bad items"):
        await merged.submit([1])


async def test_a_cancelled_caller_leaves_the_run_to_the_others() -> None:
    hold = asyncio.Event()
    record = Recorder(hold=hold)
    merged: Coalescer[int] = Coalescer(record)
    leaving = asyncio.create_task(merged.submit([1]))
    staying = asyncio.create_task(merged.submit([2]))
    while not record.runs:
        await asyncio.sleep(0)
    leaving.cancel()
    hold.set()
    await staying  # finished for the caller that stayed
    assert leaving.cancelled()
    assert record.runs == [[1, 2]]


async def test_large_bursts_are_cut_at_max_items() -> None:
    record = Recorder()
    merged: Coalescer[int] = Coalescer(record, max_items=10)
    await asyncio.gather(*(merged.submit([i, i + 1000]) for i in range(12)))
    assert [len(run) for run in record.runs] == [10, 10, 4]
    with pytest.raises(ValueError):
        Coalescer(record, max_items=0)


@given(
    calls=st.lists(
        st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=5),
        min_size=1,
        max_size=30,
    ),
    bad=st.frozensets(st.integers(min_value=0, max_value=40), max_size=3),
)
def test_every_caller_learns_its_own_outcome(calls: list[list[int]], bad: frozenset[int]) -> None:
    async def scenario() -> None:
        record = Recorder(bad=bad)
        merged: Coalescer[int] = Coalescer(record)
        outcomes = await asyncio.gather(
            *(merged.submit(items) for items in calls), return_exceptions=True
        )
        for items, outcome in zip(calls, outcomes, strict=True):
            if bad & set(items):
                assert isinstance(outcome, RuntimeError)
            else:
                assert outcome is None
        ran = {item for run in record.runs for item in run}
        assert ran == {item for items in calls for item in items}  # nothing dropped

    asyncio.run(scenario())


def test_a_new_event_loop_starts_afresh() -> None:
    """A platform restarted on another loop: a collector the old loop never ran is not
    waited for."""
    record = Recorder()
    merged: Coalescer[int] = Coalescer(record)

    async def submit_and_leave() -> None:
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)
        await merged.submit([1])

    old = asyncio.new_event_loop()
    left = old.create_task(submit_and_leave())
    old.run_forever()  # stopped before the collector ran its course
    assert not left.done()
    left.cancel()
    old.close()
    asyncio.run(merged.submit([2]))
    assert record.runs == [[2]]


async def test_settled_waits_for_every_call_made_before_it() -> None:
    """What is queued after a dispatch (its provider update) runs after it, however it
    ends; with nothing in hand it does not wait at all."""
    hold = asyncio.Event()
    record = Recorder(bad=frozenset({9}), hold=hold)
    merged: Coalescer[int] = Coalescer(record)
    await merged.settled()  # nothing in hand
    calls = [asyncio.create_task(merged.submit([i])) for i in (1, 9)]
    while not record.runs:
        await asyncio.sleep(0)
    waiter = asyncio.create_task(merged.settled())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiter.done()  # the run is still in progress
    hold.set()
    await waiter
    # every call's work is over by then, the failing one's retry included
    assert record.runs == [[1, 9], [1], [9]]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert outcomes[0] is None and isinstance(outcomes[1], RuntimeError)
    later = asyncio.create_task(merged.submit([3]))
    await asyncio.sleep(0)  # submitted
    await merged.settled()
    assert record.runs[-1] == [3]
    await later
