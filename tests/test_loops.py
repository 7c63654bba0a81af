from __future__ import annotations

import asyncio
import logging

import pytest

from leadsmith.loops import every


async def test_a_failing_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    third = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the store is away")
        if len(rounds) == 3:
            third.set()

    task = asyncio.create_task(every(0.01, work, logging.getLogger("leadsmith.test"), "could not flush; retrying"))
    with caplog.at_level(logging.ERROR, logger="leadsmith.test"):
        await asyncio.wait_for(third.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failures = [r for r in caplog.records if r.name == "leadsmith.test"]
    assert [r.getMessage() for r in failures] == ["could not flush; retrying"]
    assert failures[0].exc_info is not None and "the store is away" in str(failures[0].exc_info[1])
