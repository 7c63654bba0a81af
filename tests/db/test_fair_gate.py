"""The gate in front of PostgreSQL's connection pools lets callers in the order they came."""

from __future__ import annotations

import asyncio

from leadsmith.db.database import Database, FairGate, PostgresDatabase


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
