"""Background flushes of buffered rows run as soon as a buffer holds ``loops.FLUSH_ROWS`` rows, not only at
the end of their interval: each flush is a transaction on the event loop (and, on SQLite, behind the
store's write lock), and a second's worth of rows under load held every request for milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsmith.contacts.import_service import ImportService
from leadsmith.db.database import Database
from leadsmith.db.tables import reveal_log, upstream_calls
from leadsmith.engine.identifiers import normalise_linkedin
from leadsmith.loops import FLUSH_ROWS, every
from leadsmith.metering.schemas import Item
from leadsmith.privacy.audit import RevealLog
from leadsmith.providers.waterfall import Need, Upstream
from tests.conftest import MakeAccount
from tests.providers.fakes import Reply, fake_provider
from tests.providers.test_waterfall import kaspr, providers_toml

LONG = 60.0  # an interval no test waits for


@contextlib.asynccontextmanager
async def running(loop_of: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(loop_of)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> float:
    """How long ``check`` took to come true (it must, within ``seconds``)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_every_runs_as_soon_as_woken_and_otherwise_waits_its_interval() -> None:
    rounds: list[float] = []
    wake = asyncio.Event()

    async def work() -> None:
        rounds.append(time.monotonic())

    async with running(every(LONG, work, logging.getLogger("leadsmith.test"), "failed", wake)):
        await asyncio.sleep(0.2)
        assert rounds == []  # not woken: waits for the interval
        wake.set()

        async def ran() -> bool:
            return len(rounds) == 1

        await eventually(ran, 5)
        await asyncio.sleep(0.2)
        assert len(rounds) == 1 and not wake.is_set()  # one round per wake-up


async def test_the_reveal_log_is_written_once_it_holds_flush_rows(db: Database, make_account: MakeAccount) -> None:
    account = await make_account()
    log = RevealLog(db, retention_days=365)
    endpoint = f"/test/flush-{os.getpid()}-{time.monotonic_ns()}"

    async def written() -> int:
        query = sa.select(sa.func.count()).select_from(reveal_log).where(reveal_log.c.endpoint.like(endpoint + "%"))
        return int(await db.scalar(query) or 0)

    async with running(log.run_flusher(every_seconds=LONG)):
        for n in range(FLUSH_ROWS - 1):  # distinct rows: one short of the threshold
            log.record(account.id, None, f"{endpoint}/{n}", [Item(None, "work_email")])
        await asyncio.sleep(0.3)
        assert await written() == 0

        async def all_of_them() -> bool:
            return await written() == FLUSH_ROWS

        log.record(account.id, None, f"{endpoint}/last", [Item(None, "work_email")])
        await eventually(all_of_them)


async def test_the_upstream_calls_ledger_is_written_once_flush_rows_calls_wait(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_provider() as fake:
        fake.on("/profile/linkedin", Reply(200, {"profile": {}}))  # a lead the provider does not know
        path = tmp_path / "providers.toml"
        name = f"ledger-{os.getpid()}-{time.monotonic_ns()}"
        path.write_text(providers_toml([kaspr(name, fake)]))
        monkeypatch.setenv("UP_KEY", "the-providers-key")
        up = Upstream.from_file(path, db, ImportService(db).keep)
        try:

            async def written() -> int:
                query = sa.select(sa.func.count()).select_from(upstream_calls).where(upstream_calls.c.provider == name)
                return int(await db.scalar(query) or 0)

            async with running(up.run_learner(every_seconds=LONG, flush_seconds=LONG)):
                for n in range(FLUSH_ROWS - 1):
                    ref = normalise_linkedin(f"nobody-{name}-{n}")
                    assert ref is not None
                    await up.profile(1, ref, "No Body", Need(frozenset({"pro"})))
                await asyncio.sleep(0.3)
                assert await written() == 0

                async def all_of_them() -> bool:
                    return await written() == FLUSH_ROWS

                ref = normalise_linkedin(f"nobody-{name}-last")
                assert ref is not None
                await up.profile(1, ref, "No Body", Need(frozenset({"pro"})))
                await eventually(all_of_them)
        finally:
            await up.close()


async def test_a_failed_round_waits_its_whole_interval_however_often_it_is_woken() -> None:
    """A store that cannot be written is not asked again on every request that fills the buffer."""
    rounds: list[float] = []
    wake = asyncio.Event()

    async def work() -> None:
        rounds.append(time.monotonic())
        raise RuntimeError("the store is away")

    wake.set()
    async with running(every(0.3, work, logging.getLogger("leadsmith.test"), "failed", wake)):
        for _ in range(40):  # 0.4 s of requests, each asking for a flush
            wake.set()
            await asyncio.sleep(0.01)
    assert 1 <= len(rounds) <= 3  # woken once, then once an interval: not forty times
    assert all(b - a >= 0.25 for a, b in itertools.pairwise(rounds))
