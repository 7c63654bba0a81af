"""All SQL about balances, the ledger, reveals and stored idempotent responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from leadsmith.db.database import Dialect, Executor, Prepared, upsert
from leadsmith.db.tables import accounts, idempotency, ledger, reveals
from leadsmith.metering.schemas import POOL_KINDS, UNLIMITED, Item, PoolKind, Purse

_BALANCE = Prepared(sa.select(accounts.c.credits).where(accounts.c.id == sa.bindparam("account_id")))
POOL_COLUMNS: dict[PoolKind, sa.Column[int]] = {kind: accounts.c[f"{kind}_credits"] for kind in POOL_KINDS}
PURSE_COLUMNS = (accounts.c.credits, *POOL_COLUMNS.values())
_PURSE = Prepared(sa.select(*PURSE_COLUMNS).where(accounts.c.id == sa.bindparam("account_id")))


def purse_of(values: Sequence[Any]) -> Purse:
    """A Purse from the values of ``PURSE_COLUMNS``, in order."""
    credits, *pools = values
    return Purse(int(credits or 0), *(None if p is None else int(p) for p in pools))


async def purse(db: Executor, account_id: int) -> Purse:
    row = await db.fetch_one(_PURSE, {"account_id": account_id})
    return purse_of(tuple(row)) if row is not None else Purse(0)


_BALANCE_AND_FRESH_ONE = Prepared(
    sa.select(*PURSE_COLUMNS, reveals.c.kind)
    .select_from(
        accounts.outerjoin(
            reveals,
            sa.and_(
                reveals.c.account_id == accounts.c.id,
                reveals.c.person_id == sa.bindparam("person_id"),
                reveals.c.revealed_at >= sa.bindparam("since"),
            ),
        )
    )
    .where(accounts.c.id == sa.bindparam("account_id"))
)
_FRESH = sa.select(reveals.c.person_id, reveals.c.kind).where(
    reveals.c.account_id == sa.bindparam("account_id"),
    reveals.c.person_id.in_(sa.bindparam("ids", expanding=True)),
    reveals.c.revealed_at >= sa.bindparam("since"),
)


async def balance(db: Executor, account_id: int) -> int:
    value = await db.scalar(_BALANCE, {"account_id": account_id})
    return int(value or 0)


_DEBIT = Prepared(
    sa.update(accounts)
    .where(accounts.c.id == sa.bindparam("account_id"), accounts.c.credits >= sa.bindparam("amount"))
    .values(credits=accounts.c.credits - sa.bindparam("amount"))
    .returning(accounts.c.credits)
)
_LEDGER = Prepared(
    sa.insert(ledger).values(
        account_id=sa.bindparam("account_id"),
        delta=sa.bindparam("delta"),
        balance_after=sa.bindparam("balance_after"),
        reason=sa.bindparam("reason"),
        endpoint=sa.bindparam("endpoint"),
        request_id=sa.bindparam("request_id"),
        created_at=sa.bindparam("created_at"),
        pool=sa.bindparam("pool"),
    )
)


def _claim(dialect: Dialect, rows: int) -> Any:
    ins = upsert(dialect, reveals).values(
        [
            {
                "account_id": sa.bindparam("account_id"),
                "person_id": sa.bindparam(f"person_{n}"),
                "kind": sa.bindparam(f"kind_{n}"),
                "revealed_at": sa.bindparam("now"),
            }
            for n in range(rows)
        ]
    )
    return ins.on_conflict_do_update(
        index_elements=[reveals.c.account_id, reveals.c.person_id, reveals.c.kind],
        set_={"revealed_at": ins.excluded.revealed_at},
        where=reveals.c.revealed_at < sa.bindparam("since"),
    ).returning(reveals.c.person_id, reveals.c.kind)


_CLAIM_ONE = Prepared(_claim("sqlite", 1))


async def debit_all(db: Executor, account_id: int, general: int, pools: dict[PoolKind, int]) -> Purse | None:
    """Take ``general`` from the balance and each amount from its pool (an unlimited pool stays -1), all
    or nothing; the purse after, or None when one of them does not cover its amount."""
    values: dict[str, Any] = {}
    conditions = [accounts.c.id == account_id]
    if general:
        values["credits"] = accounts.c.credits - general
        conditions.append(accounts.c.credits >= general)
    for kind, amount in pools.items():
        col = POOL_COLUMNS[kind]
        values[col.name] = sa.case((col == UNLIMITED, UNLIMITED), else_=col - amount)
        conditions.append(sa.or_(col == UNLIMITED, col >= amount))
    stmt = sa.update(accounts).where(*conditions).values(**values).returning(*PURSE_COLUMNS)
    row = await db.fetch_one(stmt)
    return None if row is None else purse_of(tuple(row))


async def credit_pool(db: Executor, account_id: int, kind: PoolKind, amount: int) -> int | None:
    """Add ``amount`` to a pool (made at 0 if the account has none; never below zero); its new value, or None."""
    col = POOL_COLUMNS[kind]
    stmt = (
        sa.update(accounts)
        .where(accounts.c.id == account_id, sa.func.coalesce(col, 0) + amount >= 0)
        .values({col.name: sa.func.coalesce(col, 0) + amount})
        .returning(col)
    )
    value = await db.scalar(stmt)
    return None if value is None else int(value)


async def write_pool(db: Executor, account_id: int, kind: PoolKind, value: int | None) -> None:
    await db.execute(sa.update(accounts).where(accounts.c.id == account_id).values({POOL_COLUMNS[kind].name: value}))


async def debit(db: Executor, account_id: int, amount: int) -> int | None:
    """Take ``amount`` if the balance covers it; the new balance, or None when it does not."""
    value = await db.scalar(_DEBIT, {"account_id": account_id, "amount": amount})
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
    pool: PoolKind | None = None,
) -> None:
    await db.execute(
        _LEDGER,
        {
            "account_id": account_id,
            "delta": delta,
            "balance_after": balance_after,
            "reason": reason,
            "endpoint": endpoint,
            "request_id": request_id,
            "created_at": now,
            "pool": pool,
        },
    )


def _debit_with_ledger() -> sa.Insert:
    """PostgreSQL: the debit and its ledger row in one statement, so the account's row (locked by the
    UPDATE until the commit) waits for one round trip fewer. (The ledger's parameters are named apart
    from the accounts table's columns: SQLAlchemy adds a parameter named like a column to an UPDATE.)"""
    debit = (
        sa.update(accounts)
        .where(accounts.c.id == sa.bindparam("account_id"), accounts.c.credits >= sa.bindparam("amount"))
        .values(credits=accounts.c.credits - sa.bindparam("amount"))
        .returning(accounts.c.id, accounts.c.credits)
        .cte("debit")
    )
    row = sa.select(
        debit.c.id,
        sa.bindparam("entry_delta", type_=sa.BigInteger),
        debit.c.credits,
        sa.bindparam("entry_reason", type_=sa.String),
        sa.bindparam("entry_endpoint", type_=sa.String),
        sa.bindparam("entry_request_id", type_=sa.String),
        sa.bindparam("entry_at", type_=sa.BigInteger),
    )
    columns = ["account_id", "delta", "balance_after", "reason", "endpoint", "request_id", "created_at"]
    return sa.insert(ledger).from_select(columns, row).returning(ledger.c.balance_after)


_DEBIT_WITH_LEDGER = _debit_with_ledger()


async def charge_balance(
    db: Executor, account_id: int, amount: int, *, reason: str, now: int, endpoint: str | None, request_id: str | None
) -> int | None:
    """Take ``amount`` if the balance covers it and write the ledger row; the new balance, or None
    (nothing taken, nothing written) when it does not."""
    if db.dialect == "postgresql":
        params = {
            "account_id": account_id,
            "amount": amount,
            "entry_delta": -amount,
            "entry_reason": reason,
            "entry_endpoint": endpoint,
            "entry_request_id": request_id,
            "entry_at": now,
        }
        value = await db.scalar(_DEBIT_WITH_LEDGER, params)
        return None if value is None else int(value)
    after = await debit(db, account_id, amount)
    if after is not None:
        await add_ledger(
            db,
            account_id=account_id,
            delta=-amount,
            balance_after=after,
            reason=reason,
            now=now,
            endpoint=endpoint,
            request_id=request_id,
        )
    return after


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
            ledger.c.pool,
        )
        .where(ledger.c.account_id == account_id)
        .order_by(ledger.c.id.desc())
        .limit(limit)
    )
    return await db.fetch_all(stmt)


async def ledger_sum(db: Executor, account_id: int, pool: PoolKind | None = None) -> int:
    """The sum of the ledger's deltas for the general balance, or for one pool."""
    which = ledger.c.pool.is_(None) if pool is None else ledger.c.pool == pool
    value = await db.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(ledger.c.delta), 0)).where(ledger.c.account_id == account_id, which)
    )
    return int(value)


async def fresh_reveals(db: Executor, account_id: int, items: Sequence[Item], since: int) -> set[tuple[int, str]]:
    """Which of these items the account revealed at or after ``since``."""
    params = {
        "account_id": account_id,
        "ids": sorted({i.person_id for i in items if i.person_id is not None}),
        "since": since,
    }
    return {(int(r.person_id), str(r.kind)) for r in await db.fetch_all(_FRESH, params)}


async def balance_and_fresh(
    db: Executor, account_id: int, items: Sequence[Item], since: int
) -> tuple[Purse, set[tuple[int, str]]]:
    """The purse, and which of these items the account revealed since ``since``: one query for one person."""
    people_ids = {i.person_id for i in items if i.person_id is not None}
    if not people_ids:
        return await purse(db, account_id), set()
    if len(people_ids) != 1:
        return await purse(db, account_id), await fresh_reveals(db, account_id, items, since)
    (person_id,) = people_ids
    rows = await db.fetch_all(
        _BALANCE_AND_FRESH_ONE, {"account_id": account_id, "person_id": person_id, "since": since}
    )
    found = purse_of(tuple(rows[0])[: len(PURSE_COLUMNS)]) if rows else Purse(0)
    return found, {(person_id, r.kind) for r in rows if r.kind is not None}


async def claim_reveals(db: Executor, account_id: int, items: Sequence[Item], now: int, since: int) -> list[Item]:
    """Record the reveals; return those not already revealed since ``since`` (the ones to charge).

    Atomic on both backends: a row revealed concurrently by another transaction is seen as fresh
    once that transaction commits, so it is never charged twice. SQLite (in-process, no round
    trips) runs one prepared single-row upsert per item; PostgreSQL one multi-row statement.
    """
    if not items:
        return []
    base = {"account_id": account_id, "now": now, "since": since}
    rows: list[Any] = []
    if db.dialect == "sqlite":
        for item in items:
            rows.extend(await db.fetch_all(_CLAIM_ONE, {**base, "person_0": item.person_id, "kind_0": item.kind}))
    else:
        params: dict[str, Any] = dict(base)
        for n, item in enumerate(items):
            params[f"person_{n}"], params[f"kind_{n}"] = item.person_id, item.kind
        rows = list(await db.fetch_all(_claim(db.dialect, len(items)), params))
    return [Item(int(r.person_id), r.kind) for r in rows]


# PostgreSQL: claim the reveals, debit the balance and write the ledger row in one statement, run on
# its own (it commits as it ends). The account's row is locked from the debit to the commit: in a
# transaction of several statements that spanned a round trip to a busy worker and back for the
# COMMIT (one account's charged profile look-ups: ~750 per second on 2 workers; one row updated in a
# statement of its own: 4,000 per second, pgbench). A debit past zero breaks the balance's CHECK
# constraint and undoes the whole statement, claims included.
_CHARGE_AT_ONCE = sa.text(
    """
WITH wanted AS (
    SELECT * FROM unnest(CAST(:people AS BIGINT[]), CAST(:kinds AS VARCHAR[]), CAST(:prices AS BIGINT[]))
        AS w(person_id, kind, price)
), claimed AS (
    INSERT INTO reveals (account_id, person_id, kind, revealed_at)
    SELECT :account_id, person_id, kind, :now FROM wanted
    ON CONFLICT (account_id, person_id, kind) DO UPDATE SET revealed_at = excluded.revealed_at
        WHERE reveals.revealed_at < :since
    RETURNING person_id, kind
), cost AS (
    SELECT CAST(:unstored AS BIGINT) + coalesce(sum(price), 0) AS amount FROM (
        -- The e-mails of one person cost one e-mail price together (see credits.bill).
        SELECT max(wanted.price) AS price FROM claimed JOIN wanted USING (person_id, kind)
        GROUP BY person_id, CASE WHEN kind IN ('work_email', 'direct_email') THEN 'email' ELSE kind END
    ) AS priced
), debit AS (
    UPDATE accounts SET credits = accounts.credits - cost.amount
    FROM cost WHERE accounts.id = :account_id AND cost.amount > 0
    RETURNING accounts.credits, cost.amount
), entry AS (
    INSERT INTO ledger (account_id, delta, balance_after, reason, endpoint, request_id, created_at)
    SELECT :account_id, -amount, credits, 'charge', :endpoint, :request_id, :now FROM debit
)
SELECT (SELECT amount FROM cost) AS amount,
       coalesce((SELECT credits FROM debit), (SELECT credits FROM accounts WHERE id = :account_id)) AS credits
"""
)


async def charge_at_once(
    db: Executor,
    account_id: int,
    priced: Sequence[tuple[Item, int]],
    *,
    now: int,
    since: int,
    endpoint: str,
    request_id: str,
) -> tuple[int, int] | None:
    """PostgreSQL, outside a transaction: charge these (item, price) pairs in one statement; returns
    (decreased, remaining), or None when the balance does not cover them (nothing claimed or taken)."""
    stored = {(i.person_id, i.kind): price for i, price in priced if i.person_id is not None}
    params = {
        "account_id": account_id,
        "people": [p for p, _ in stored],
        "kinds": [k for _, k in stored],
        "prices": list(stored.values()),
        "unstored": sum(price for i, price in priced if i.person_id is None),
        "now": now,
        "since": since,
        "endpoint": endpoint,
        "request_id": request_id,
    }
    try:
        row = await db.fetch_one(_CHARGE_AT_ONCE, params)
    except sa.exc.IntegrityError as exc:
        if "credits_not_negative" in str(exc.orig):
            return None
        raise
    assert row is not None
    return int(row.amount), int(row.credits)


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


async def purge_responses(db: Executor, before: int) -> int:
    """Forget stored responses older than ``before`` (they no longer answer retries anyway)."""
    return await db.execute(sa.delete(idempotency).where(idempotency.c.created_at < before))
