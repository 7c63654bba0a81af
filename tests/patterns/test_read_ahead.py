"""The refresh's read-ahead: each task gets its own domain's rows, whoever asks first."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from leadsmith.patterns.service import _ReadAhead


async def _rows(n: int, fail_at: int | None = None, skip: int | None = None) -> AsyncIterator[tuple[str, int]]:
    for i in range(n):
        if i == fail_at:
            raise OSError("the connection went away")
        if i != skip:
            yield f"d{i:04d}", i
        await asyncio.sleep(0)  # a network read now and then


async def _ask_in_a_window(reader: _ReadAhead, n: int, window: int) -> list[object]:
    """Like the refresh's pipeline: tasks started in domain order, ``window`` at a time, each yielding
    a random number of times first, so wake-ups and new tasks' requests interleave every way."""
    rng = random.Random(7)

    async def ask(i: int) -> object:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        return await reader.next(f"d{i:04d}")

    pending: list[asyncio.Task[object]] = []
    got: list[object] = []
    try:
        for i in range(n):
            pending.append(asyncio.create_task(ask(i)))
            if len(pending) > window:
                got.append(await pending.pop(0))
        got += await asyncio.gather(*pending)
    finally:
        await asyncio.gather(*pending, return_exceptions=True)
    return got


async def test_each_task_gets_its_own_domain_whoever_asks_first() -> None:
    reader = _ReadAhead(_rows(2000), ahead=8)
    try:
        assert await _ask_in_a_window(reader, 2000, 32) == list(range(2000))
    finally:
        await reader.close()


async def test_a_failed_read_reaches_every_task_that_asks() -> None:
    reader = _ReadAhead(_rows(100, fail_at=40), ahead=8)
    try:
        with pytest.raises(OSError, match="went away"):
            await _ask_in_a_window(reader, 100, 16)
        with pytest.raises(OSError, match="went away"):
            await reader.next("d0099")  # asked after the failure
    finally:
        await reader.close()


async def test_a_domain_the_rows_never_reach_is_an_error_not_a_wait() -> None:
    reader = _ReadAhead(_rows(10, skip=9), ahead=8)
    try:
        assert [await reader.next(f"d{i:04d}") for i in range(9)] == list(range(9))
        with pytest.raises(LookupError):
            await asyncio.wait_for(reader.next("d0009"), 5)
    finally:
        await reader.close()
