"""``Batches``, the queue under both group commits (``Database.grouped``, ``ImportService.keep``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from leadsmith.db.database import Batches, settle


async def test_work_of_one_turn_is_one_batch_and_work_asked_meanwhile_the_next() -> None:
    batches: list[list[int]] = []
    later: list[asyncio.Future[Any]] = []

    async def write(batch: list[tuple[int, asyncio.Future[Any]]]) -> None:
        batches.append([n for n, _ in batch])
        if len(batches) == 1:  # asked while the first batch is being written: the next batch
            later.extend(asyncio.ensure_future(queue.ask(n)) for n in (10, 11))
        await asyncio.sleep(0.01)
        for n, done in batch:
            settle(done, True, n * 2)

    queue: Batches[int] = Batches(write, "stopped")
    assert await asyncio.gather(*(queue.ask(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert await asyncio.gather(*later) == [20, 22]
    assert batches == [[0, 1, 2, 3, 4], [10, 11]]


async def test_a_caller_gone_away_is_still_written_and_shutting_down_fails_what_waits() -> None:
    written: list[int] = []
    started = asyncio.Event()

    async def write(batch: list[tuple[int, asyncio.Future[Any]]]) -> None:
        started.set()
        await asyncio.sleep(0.05)
        for n, done in batch:
            written.append(n)
            settle(done, True, n)

    queue: Batches[int] = Batches(write, "shutting down: not written")
    gone = asyncio.ensure_future(queue.ask(1))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0.1)
    assert written == [1]

    started.clear()
    waiting = asyncio.ensure_future(queue.ask(2))
    await started.wait()
    task = queue._task
    assert task is not None
    task.cancel()
    with pytest.raises(RuntimeError, match="shutting down: not written"):
        await waiting
    assert written == [1]
    assert await asyncio.wait_for(queue.ask(3), 1) == 3  # the next piece starts a task again
