"""All SQL about bulk jobs and their items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from leadsmith.db.database import Executor
from leadsmith.db.tables import job_items, jobs

ACTIVE = ("queued", "running")
FINAL = ("done", "cancelled", "failed")


async def insert_job(tx: Executor, values: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> None:
    await tx.execute(sa.insert(jobs).values(**values))
    for n in range(0, len(items), 5000):
        await tx.execute(sa.insert(job_items), list(items[n : n + 5000]))


async def job(db: Executor, job_id: str, account_id: int | None = None) -> Row[Any] | None:
    stmt = sa.select(jobs).where(jobs.c.id == job_id)
    if account_id is not None:
        stmt = stmt.where(jobs.c.account_id == account_id)
    return await db.fetch_one(stmt)


async def jobs_of(db: Executor, account_id: int, limit: int, offset: int) -> tuple[list[Row[Any]], int]:
    rows = await db.fetch_all(
        sa.select(jobs)
        .where(jobs.c.account_id == account_id)
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    total = await db.scalar(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.account_id == account_id))
    return list(rows), int(total or 0)


async def claim(tx: Executor, holder: str, now: int, lease_ms: int) -> Row[Any] | None:
    """The oldest job that wants work and that no worker holds (or whose holder's lease ran out), now
    held by ``holder``. One job at a time per account across workers: a job whose account has another
    held job waits."""
    held = sa.select(jobs.c.account_id).where(
        jobs.c.status == "running", jobs.c.lease_until > now, jobs.c.holder.is_not(None)
    )
    candidate = (
        sa.select(jobs.c.id)
        .where(
            jobs.c.status.in_(ACTIVE),
            sa.or_(jobs.c.lease_until.is_(None), jobs.c.lease_until <= now),
            sa.or_(jobs.c.not_before.is_(None), jobs.c.not_before <= now),
            jobs.c.account_id.not_in(held),
        )
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(1)
    )
    if tx.dialect == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    job_id = await tx.scalar(candidate)
    if job_id is None:
        return None
    await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            holder=holder,
            lease_until=now + lease_ms,
            status="running",
            started_at=sa.func.coalesce(jobs.c.started_at, now),
            not_before=None,
        )
    )
    return await tx.fetch_one(sa.select(jobs).where(jobs.c.id == job_id))


async def renew(tx: Executor, job_id: str, holder: str, until: int) -> bool:
    """Keep holding the job; False when it is no longer this holder's or no longer wants work."""
    n = await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.holder == holder, jobs.c.status == "running")
        .values(lease_until=until)
    )
    return n == 1


async def release(tx: Executor, job_id: str, holder: str, not_before: int | None = None) -> None:
    await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.holder == holder)
        .values(holder=None, lease_until=None, not_before=not_before)
    )


async def lock_job(tx: Executor, job_id: str) -> Row[Any] | None:
    """The job, locked until the transaction ends (PostgreSQL; SQLite's writer holds the store)."""
    stmt = sa.select(jobs.c.status, jobs.c.holder, jobs.c.counts).where(jobs.c.id == job_id)
    if tx.dialect == "postgresql":
        stmt = stmt.with_for_update()
    return await tx.fetch_one(stmt)


async def pending(db: Executor, job_id: str, limit: int, after: int = -1) -> list[Row[Any]]:
    """Items not done yet, in input order, after ``after`` (a walk that goes on from where it was, rather
    than over every done item again)."""
    stmt = (
        sa.select(job_items.c.idx, job_items.c.ref, job_items.c.input)
        .where(job_items.c.job_id == job_id, job_items.c.idx > after, job_items.c.status.is_(None))
        .order_by(job_items.c.idx)
        .limit(limit)
    )
    return list(await db.fetch_all(stmt))


async def finish_items(tx: Executor, job_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Results of items not finished yet (an item finished twice, by a worker whose lease ran out, keeps
    its first result)."""
    if rows:
        stmt = (
            sa.update(job_items)
            .where(job_items.c.job_id == job_id, job_items.c.idx == sa.bindparam("i"), job_items.c.status.is_(None))
            .values(
                status=sa.bindparam("s"),
                result=sa.bindparam("r"),
                charged=sa.bindparam("c"),
                finished_at=sa.bindparam("at"),
            )
        )
        await tx.execute(stmt, [dict(r) for r in rows])


async def add_progress(tx: Executor, job_id: str, processed: int, found: int, credits: int, counts: str) -> None:
    await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            processed=jobs.c.processed + processed,
            found=jobs.c.found + found,
            credits_spent=jobs.c.credits_spent + credits,
            counts=counts,
        )
    )


async def end(tx: Executor, job_id: str, status: str, now: int, webhook: bool, error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": now, "holder": None, "lease_until": None}
    if error is not None:
        values["error"] = error[:512]
    if webhook:
        values |= {"webhook_state": "pending", "webhook_next_at": now}
    await tx.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE)).values(**values))


async def cancel(tx: Executor, job_id: str, account_id: int, now: int) -> bool:
    n = await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.account_id == account_id, jobs.c.status.in_(ACTIVE))
        .values(
            status="cancelled",
            finished_at=now,
            webhook_state=sa.case((jobs.c.callback_url.is_not(None), "pending"), else_=None),
            webhook_next_at=now,
        )
    )
    return n == 1


async def results(db: Executor, job_id: str, after: int, limit: int) -> list[Row[Any]]:
    """Finished items (and, once the job ended, the cancelled ones), in input order, from ``after``."""
    stmt = (
        sa.select(job_items.c.idx, job_items.c.ref, job_items.c.status, job_items.c.result)
        .where(job_items.c.job_id == job_id, job_items.c.idx > after)
        .order_by(job_items.c.idx)
        .limit(limit)
    )
    return list(await db.fetch_all(stmt))


async def due_webhooks(tx: Executor, now: int, holder: str, lease_ms: int) -> list[Row[Any]]:
    stmt = (
        sa.select(jobs.c.id)
        .where(jobs.c.webhook_state == "pending", jobs.c.webhook_next_at <= now)
        .order_by(jobs.c.webhook_next_at)
        .limit(20)
    )
    ids = [r.id for r in await tx.fetch_all(stmt)]
    if not ids:
        return []
    # Taken for a while (the next attempt's time, pushed on), so that another worker does not send it too.
    await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(ids), jobs.c.webhook_state == "pending")
        .values(webhook_next_at=now + lease_ms)
    )
    return list(await tx.fetch_all(sa.select(jobs).where(jobs.c.id.in_(ids))))


async def webhook_done(tx: Executor, job_id: str, state: str, attempts: int, next_at: int | None) -> None:
    await tx.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id)
        .values(webhook_state=state, webhook_attempts=attempts, webhook_next_at=next_at)
    )


async def purge(tx: Executor, before: int) -> int:
    old = sa.select(jobs.c.id).where(jobs.c.status.in_(FINAL), jobs.c.finished_at < before)
    ids = [r.id for r in await tx.fetch_all(old)]
    for n in range(0, len(ids), 500):
        chunk = ids[n : n + 500]
        await tx.execute(sa.delete(job_items).where(job_items.c.job_id.in_(chunk)))
        await tx.execute(sa.delete(jobs).where(jobs.c.id.in_(chunk)))
    return len(ids)
