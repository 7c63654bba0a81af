"""All SQL about verification results: storing them, reading them back, and what is due to be verified."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from leadsmith.db.database import Executor, Prepared, upsert
from leadsmith.db.tables import emails, leases, predicted_emails, verifications
from leadsmith.verification.rules import Result, valid_of

_ONE = Prepared(
    sa.select(
        verifications.c.address_key,
        verifications.c.status,
        verifications.c.score,
        verifications.c.reasons,
        verifications.c.verified_at,
        verifications.c.recheck_at,
    ).where(verifications.c.address_key == sa.bindparam("k"))
)


async def stored(db: Executor, key: str) -> Result | None:
    row = await db.fetch_one(_ONE, {"k": key})
    if row is None:
        return None
    reasons: dict[str, Any] = orjson.loads(row.reasons)
    email = str(reasons.pop("email", key))
    return Result(email, row.status, int(row.score), reasons, int(row.verified_at), row.recheck_at)


async def stored_many(db: Executor, keys: Sequence[str]) -> dict[str, Result]:
    out = {}
    for key in keys:
        found = await stored(db, key)
        if found is not None:
            out[key] = found
    return out


def trusted_status(v: sa.TableClause = verifications) -> sa.ColumnElement[str]:
    """A stored status as it may be acted on: an ``invalid`` still due to be asked again (a domain not
    found in DNS once, not yet confirmed) hides nothing yet, so it reads as ``unknown``."""
    return sa.case(
        (sa.and_(v.c.status == "invalid", v.c.recheck_at.is_not(None)), sa.literal("unknown")),
        else_=v.c.status,
    )


_STATUS = Prepared(sa.select(trusted_status().label("status")).where(verifications.c.address_key == sa.bindparam("k")))


async def statuses(db: Executor, keys: Sequence[str]) -> dict[str, str]:
    """The stored statuses of a few addresses (one prepared look-up each: cheaper than an IN list here)."""
    out = {}
    for key in keys:
        row = await db.fetch_one(_STATUS, {"k": key})
        if row is not None:
            out[key] = str(row.status)
    return out


async def save(tx: Executor, results: Sequence[Result]) -> None:
    """Store results (one per address) and carry the verdict to the stored addresses' ``valid``."""
    if not results:
        return
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        if "@" not in r.email:
            continue  # not an address at all: nothing to remember it by
        key = r.email.lower()
        rows[key] = {
            "address_key": key,
            "domain": key.rsplit("@", 1)[1],
            "status": r.status,
            "score": r.score,
            "reasons": orjson.dumps({"email": r.email, **r.reasons}).decode(),
            "verified_at": r.verified_at,
            "recheck_at": r.recheck_at,
        }
    if not rows:
        return
    stmt = upsert(tx.dialect, verifications)
    stmt = stmt.on_conflict_do_update(
        index_elements=[verifications.c.address_key],
        set_={c: stmt.excluded[c] for c in ("status", "score", "reasons", "verified_at", "recheck_at")},
    )
    await tx.execute(stmt, list(rows.values()))
    # Only a verdict either way overwrites what the address was imported with (not one still to be confirmed).
    by_valid: dict[bool, list[str]] = {}
    for key, row in rows.items():
        if row["status"] == "invalid" and row["recheck_at"] is not None:
            continue
        valid = valid_of(str(row["status"]))
        if valid is not None:
            by_valid.setdefault(valid, []).append(key)
    for valid, keys in by_valid.items():
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            await tx.execute(sa.update(emails).where(emails.c.address_key.in_(chunk)).values(valid=valid))


async def predicted_domains(db: Executor, keys: Sequence[str]) -> set[str]:
    """The domains of those of ``keys`` (lower-cased addresses) that someone is predicted at."""
    out: set[str] = set()
    for i in range(0, len(keys), 500):
        stmt = sa.select(predicted_emails.c.address).where(predicted_emails.c.address.in_(keys[i : i + 500]))
        out.update(str(r.address).rsplit("@", 1)[1] for r in await db.fetch_all(stmt.distinct()))
    return out


def _due_addresses(now: int, cutoff: int, after: str = "") -> tuple[sa.Select[Any], sa.Select[Any]]:
    """Stored and predicted addresses (each labelled ``a``) never verified, too old, or due a re-check."""
    known = sa.select(emails.c.address_key.label("a")).where(
        emails.c.address_key > after, _due(emails.c.address_key, now, cutoff)
    )
    predicted = sa.select(predicted_emails.c.address.label("a")).where(
        predicted_emails.c.address > after, _due(predicted_emails.c.address, now, cutoff)
    )
    return known, predicted


def _due(address: sa.ColumnElement[Any], now: int, cutoff: int) -> sa.ColumnElement[bool]:
    v = verifications
    fresh = (
        sa.select(v.c.address_key)
        .where(
            v.c.address_key == address,
            v.c.verified_at >= cutoff,
            sa.or_(v.c.recheck_at.is_(None), v.c.recheck_at > now),
        )
        .exists()
    )
    return ~fresh


async def due(db: Executor, now: int, cutoff: int, limit: int, after: str = "") -> list[str]:
    """Stored and predicted addresses never verified, verified before ``cutoff``, or due a re-check."""
    known, predicted = _due_addresses(now, cutoff, after)
    found = set()
    for stmt in (known, predicted):
        found |= {r.a for r in await db.fetch_all(stmt.order_by(sa.literal_column("a")).limit(limit))}
    return sorted(found)[:limit]


async def count_due(db: Executor, now: int, cutoff: int) -> int:
    known, predicted = _due_addresses(now, cutoff)
    return int(await db.scalar(sa.select(sa.func.count()).select_from(sa.union(known, predicted).subquery())) or 0)


async def take_lease(tx: Executor, name: str, holder: str, now: int, ttl_ms: int) -> bool:
    """Hold (or keep holding) a named lease: true for exactly one holder at a time across workers."""
    stmt = upsert(tx.dialect, leases).values(name=name, holder=holder, expires_at=now + ttl_ms)
    stmt = stmt.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"holder": holder, "expires_at": now + ttl_ms},
        where=sa.or_(leases.c.holder == holder, leases.c.expires_at < now),
    )
    await tx.execute(stmt)
    got = await tx.scalar(sa.select(leases.c.holder).where(leases.c.name == name))
    return bool(got == holder)
