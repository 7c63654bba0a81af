"""All SQL about balances, the ledger, reveals and stored idempotent responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from leadsmith.db.database import Executor, upsert
from leadsmith.db.tables import accounts, idempotency, ledger, reveals
from leadsmith.metering.schemas import Item

_BALANCE = sa.select(accounts.c.credits).where(accounts.c.id == sa.bindparam("account_id"))


async def balance(db: Executor, account_id: int) -> int:
    value = await db.scalar(_BALANCE, {"account_id": account_id})
    return int(value or 0)


async def debit(db: Executor, account_id: int, amount: int) -> int | None:
    """Take ``amount`` if the balance covers it; the new balance, or None when it does not."""
    stmt = (
        sa.update(accounts)
        .where(accounts.c.id == account_id, accounts.c.credits >= amount)
        .values(credits=accounts.c.credits - amount)
        .returning(accounts.c.credits)
    )
    value = await db.scalar(stmt)
    return None if value is None else int(value)


async def credit(db: Executor, account_id: int, amount: int) -> int | None:
    """Add ``amount`` (negative to take some back, never below zero); the new balance, or None."""
    stmt = (
        sa.update(accounts)
        .where(accounts.c.id == account_id, accounts.c.credits + amount >= 0)
        .values(credits=accounts.c.credits + amount)
        .returning(accounts.c.credits)
    )
    value = await db.scalar(stmt)
    return None if value is None else int(value)


async def add_ledger(
    db: Executor,
    *,
    account_id: int,
    delta: int,
    balance_after: int,
    reason: str,
    now: int,
    endpoint: str | None = None,
    request_id: str | None = None,
) -> None:
    await db.execute(
        sa.insert(ledger).values(
            account_id=account_id,
            delta=delta,
            balance_after=balance_after,
            reason=reason,
            endpoint=endpoint,
            request_id=request_id,
            created_at=now,
        )
    )


async def ledger_of(db: Executor, account_id: int, limit: int = 100) -> Sequence[Row[Any]]:
    stmt = (
        sa.select(
            ledger.c.id,
            ledger.c.delta,
            ledger.c.balance_after,
            ledger.c.reason,
            ledger.c.endpoint,
            ledger.c.request_id,
            ledger.c.created_at,
        )
        .where(ledger.c.account_id == account_id)
        .order_by(ledger.c.id.desc())
        .limit(limit)
    )
    return await db.fetch_all(stmt)


async def ledger_sum(db: Executor, account_id: int) -> int:
    value = await db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.delta), 0)).where(ledger.c.account_id == account_id)
    )
    return int(value)


async def fresh_reveals(db: Executor, account_id: int, items: Sequence[Item], since: int) -> set[tuple[int, str]]:
    """Which of these items the account revealed at or after ``since``."""
    person_ids = sorted({i.person_id for i in items})
    stmt = sa.select(reveals.c.person_id, reveals.c.kind).where(
        reveals.c.account_id == account_id,
        reveals.c.person_id.in_(person_ids),
        reveals.c.revealed_at >= since,
    )
    return {(int(r.person_id), str(r.kind)) for r in await db.fetch_all(stmt)}


async def claim_reveals(db: Executor, account_id: int, items: Sequence[Item], now: int, since: int) -> list[Item]:
    """Record the reveals; return those not already revealed since ``since`` (the ones to charge).

    One statement, atomic on both backends: a row revealed concurrently by another transaction
    is seen as fresh once that transaction commits, so it is never charged twice.
    """
    if not items:
        return []
    values = [
        {
            "account_id": account_id,
            "person_id": i.person_id,
            "kind": i.kind,
            "revealed_at": now,
        }
        for i in items
    ]
    ins = upsert(db.dialect, reveals).values(values)
    stmt = ins.on_conflict_do_update(
        index_elements=[reveals.c.account_id, reveals.c.person_id, reveals.c.kind],
        set_={"revealed_at": ins.excluded.revealed_at},
        where=reveals.c.revealed_at < since,
    ).returning(reveals.c.person_id, reveals.c.kind)
    rows = await db.fetch_all(stmt)
    return [Item(int(r.person_id), r.kind) for r in rows]


async def stored_response(db: Executor, account_id: int, key: str, since: int) -> Row[Any] | None:
    stmt = sa.select(idempotency.c.request_hash, idempotency.c.status_code, idempotency.c.body).where(
        idempotency.c.account_id == account_id,
        idempotency.c.key == key,
        idempotency.c.created_at >= since,
    )
    return await db.fetch_one(stmt)


async def store_response(
    db: Executor,
    account_id: int,
    key: str,
    request_hash: str,
    status: int,
    body: bytes,
    now: int,
    since: int,
) -> bool:
    """Store the first response under this key; False when another request already stored one."""
    ins = upsert(db.dialect, idempotency).values(
        account_id=account_id,
        key=key,
        request_hash=request_hash,
        status_code=status,
        body=body,
        created_at=now,
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[idempotency.c.account_id, idempotency.c.key],
        set_={
            "request_hash": ins.excluded.request_hash,
            "status_code": ins.excluded.status_code,
            "body": ins.excluded.body,
            "created_at": ins.excluded.created_at,
        },
        where=idempotency.c.created_at < since,
    ).returning(idempotency.c.key)
    return await db.fetch_one(stmt) is not None


async def purge_idempotency(db: Executor, before: int) -> int:
    return await db.execute(sa.delete(idempotency).where(idempotency.c.created_at < before))
