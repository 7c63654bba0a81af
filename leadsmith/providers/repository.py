"""All SQL about upstream providers: the calls ledger, remembered misses, and one flight per ask."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from leadsmith.db import bulk
from leadsmith.db.database import Executor, Prepared, upsert
from leadsmith.db.tables import emails, upstream_calls, upstream_flights, upstream_misses

_MISSED = Prepared(
    sa.select(upstream_misses.c.key).where(
        upstream_misses.c.key == sa.bindparam("k"), upstream_misses.c.expires_at > sa.bindparam("now")
    )
)


async def missed(db: Executor, key: str, now: int) -> bool:
    """Whether no provider knew ``key`` when last asked, and that is still remembered."""
    return await db.fetch_one(_MISSED, {"k": key, "now": now}) is not None


async def remember_miss(db: Executor, key: str, expires_at: int) -> None:
    ins = upsert(db.dialect, upstream_misses).values(key=key, expires_at=expires_at)
    await db.execute(ins.on_conflict_do_update(index_elements=[upstream_misses.c.key], set_={"expires_at": expires_at}))


async def forget_misses(db: Executor, before: int) -> int:
    return await db.execute(sa.delete(upstream_misses).where(upstream_misses.c.expires_at <= before))


async def take_flight(db: Executor, key: str, holder: str, now: int, ttl_ms: int) -> bool:
    """Become the one asking upstream for ``key`` (a flight nobody holds, or one whose holder is gone)."""
    ins = upsert(db.dialect, upstream_flights).values(key=key, holder=holder, expires_at=now + ttl_ms)
    stmt = ins.on_conflict_do_update(
        index_elements=[upstream_flights.c.key],
        set_={"holder": holder, "expires_at": now + ttl_ms},
        where=upstream_flights.c.expires_at <= now,
    ).returning(upstream_flights.c.holder)
    row = await db.fetch_one(stmt)
    return row is not None and row.holder == holder


_FLYING = Prepared(
    sa.select(upstream_flights.c.holder).where(
        upstream_flights.c.key == sa.bindparam("k"), upstream_flights.c.expires_at > sa.bindparam("now")
    )
)


async def in_flight(db: Executor, key: str, now: int) -> bool:
    return await db.fetch_one(_FLYING, {"k": key, "now": now}) is not None


async def end_flight(db: Executor, key: str, holder: str) -> None:
    await db.execute(
        sa.delete(upstream_flights).where(upstream_flights.c.key == key, upstream_flights.c.holder == holder)
    )


_CALL_COLUMNS = ("provider", "lookup", "account_id", "outcome", "units", "latency_ms", "detail", "created_at")
_CALL_VALUES = operator.itemgetter(*_CALL_COLUMNS)


async def record_calls(db: Executor, rows: Sequence[Mapping[str, Any]]) -> None:
    """The calls' ledger, in one bulk insert (a row for every call made upstream)."""
    await bulk.insert_rows(db, upstream_calls, _CALL_COLUMNS, [_CALL_VALUES(r) for r in rows])


async def units_since(db: Executor, provider: str, since: int) -> float:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(upstream_calls.c.units), 0.0)).where(
        upstream_calls.c.provider == provider, upstream_calls.c.created_at >= since
    )
    return float(await db.scalar(stmt) or 0.0)


async def usage(
    db: Executor, since: int, account_id: int | None = None, until: int | None = None
) -> list[tuple[str, str, int, float, int]]:
    """(provider, outcome, calls, units, latency ms summed) from ``since`` to ``until``, for one account or all."""
    stmt = sa.select(
        upstream_calls.c.provider,
        upstream_calls.c.outcome,
        sa.func.count().label("n"),
        sa.func.coalesce(sa.func.sum(upstream_calls.c.units), 0.0).label("units"),
        sa.func.coalesce(sa.func.sum(upstream_calls.c.latency_ms), 0).label("ms"),
    ).where(upstream_calls.c.created_at >= since)
    if account_id is not None:
        stmt = stmt.where(upstream_calls.c.account_id == account_id)
    if until is not None:
        stmt = stmt.where(upstream_calls.c.created_at < until)
    stmt = stmt.group_by(upstream_calls.c.provider, upstream_calls.c.outcome).order_by(
        upstream_calls.c.provider, upstream_calls.c.outcome
    )
    return [(str(r.provider), str(r.outcome), int(r.n), float(r.units), int(r.ms)) for r in await db.fetch_all(stmt)]


_MARK = Prepared(
    sa.update(emails)
    .where(emails.c.address_key == sa.bindparam("k"))
    .values(
        confidence=sa.func.coalesce(sa.bindparam("c", type_=sa.Float), emails.c.confidence),
        valid=sa.func.coalesce(emails.c.valid, sa.bindparam("v", type_=sa.Boolean)),
    )
)


async def mark_addresses(tx: Executor, marks: Mapping[str, tuple[bool | None, float | None]]) -> None:
    """A provider's verdict (where leadsmith has none yet) and confidence for addresses it gave."""
    for key, (valid, confidence) in marks.items():
        if valid is not None or confidence is not None:
            await tx.execute(_MARK, {"k": key, "c": confidence, "v": valid})
