"""PostgreSQL under load: callers wait their turn for connections; small hot tables are vacuumed."""

from __future__ import annotations

import asyncio

from leadsmith.db.database import Database, FairGate, PostgresDatabase
from tests.conftest import MakeAccount


async def test_callers_enter_in_the_order_they_came_even_when_newcomers_arrive_at_release() -> None:
    gate = FairGate(2)
    entered: list[int] = []
    tasks: list[asyncio.Task[None]] = []

    async def caller(i: int) -> None:
        async with gate():
            entered.append(i)
            await asyncio.sleep(0)
            if i < 20:
                # A newcomer that runs before the waiter woken by this release: an asyncio.Queue (the
                # pools' own waiting) would give it the freed place.
                tasks.append(asyncio.ensure_future(caller(i + 100)))

    first = [asyncio.ensure_future(caller(i)) for i in range(20)]
    await asyncio.gather(*first)
    while not all(t.done() for t in tasks):
        await asyncio.gather(*tasks)
    assert entered[:20] == list(range(20))
    assert sorted(entered[20:]) == list(range(100, 120))


def test_a_gate_can_be_used_from_one_event_loop_after_another() -> None:
    gate = FairGate(1)

    async def use() -> int:
        async def hold() -> None:
            async with gate():
                await asyncio.sleep(0.01)

        await asyncio.gather(hold(), hold(), hold())
        return 3

    assert asyncio.run(use()) == 3
    assert asyncio.run(use()) == 3


async def test_many_more_concurrent_reads_than_connections(db: Database) -> None:
    """The store's gates in front of both pools under 200 concurrent statements: all answered."""
    if not isinstance(db, PostgresDatabase):
        return
    import sqlalchemy as sa

    results = await asyncio.gather(*(db.scalar(sa.text(f"SELECT {i}")) for i in range(200)))
    assert results == list(range(200))


async def test_hot_tables_are_vacuumed_after_many_changes(db: Database, make_account: MakeAccount) -> None:
    """Every charge rewrites its account's row; the store vacuums such small tables itself."""
    if not isinstance(db, PostgresDatabase):
        return
    import sqlalchemy as sa

    acct = await make_account(credits=10)

    async def changes() -> int:
        query = "SELECT n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = 'accounts'"
        return int(await db.scalar(sa.text(query)))

    async def vacuums() -> int:
        query = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'accounts'"
        return int(await db.scalar(sa.text(query)))

    assert "accounts" not in await db.vacuum_hot_tables(every_changes=1000)  # the first look counts from here
    before, vacuumed = await changes(), await vacuums()
    async with db.transaction() as tx:
        for i in range(1200):
            await tx.execute(sa.text("UPDATE accounts SET credits = :c WHERE id = :id"), {"c": i, "id": acct.id})
        await tx.execute(sa.text("SELECT pg_stat_force_next_flush()"))
    deadline = asyncio.get_running_loop().time() + 20
    while await changes() < before + 1200:  # the statistics arrive within a moment
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)
    assert "accounts" in await db.vacuum_hot_tables(every_changes=1000)
    assert await vacuums() == vacuumed + 1
    assert "accounts" not in await db.vacuum_hot_tables(every_changes=1000)
