"""All SQL of privacy: the suppression list, finding everything stored about a person, erasing it, the
reveal log, removal requests and admin tokens."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from leadsmith.db import bulk
from leadsmith.db.database import Executor, upsert
from leadsmith.db.tables import (
    accounts,
    api_keys,
    companies,
    emails,
    idempotency,
    installation,
    job_items,
    jobs,
    people,
    phones,
    predicted_emails,
    privacy_requests,
    reveal_log,
    reveals,
    suppressions,
    upstream_calls,
    upstream_misses,
    verifications,
)
from leadsmith.privacy.identity import Identity

# --- the suppression list


async def secret_and_version(db: Executor) -> tuple[bytes, int]:
    row = await db.fetch_one(sa.select(installation.c.secret, installation.c.suppression_version).limit(1))
    if row is None:
        raise RuntimeError("the store has no installation row: run `leadsmith migrate`")
    return str(row.secret).encode(), int(row.suppression_version)


async def suppression_version(db: Executor) -> int:
    return int(await db.scalar(sa.select(installation.c.suppression_version).limit(1)) or 0)


async def suppression_hashes(db: Executor) -> list[tuple[str, str]]:
    return [(r.hash, r.kind) for r in await db.fetch_all(sa.select(suppressions.c.hash, suppressions.c.kind))]


async def _bump(tx: Executor) -> None:
    await tx.execute(sa.update(installation).values(suppression_version=installation.c.suppression_version + 1))


async def add_suppressions(tx: Executor, rows: Sequence[tuple[str, str]], origin: str, now: int) -> int:
    """(hash, kind) rows; those already there are left as they are. Returns how many are new."""
    if not rows:
        return 0
    have = {
        r.hash
        for r in await tx.fetch_all(
            sa.select(suppressions.c.hash).where(suppressions.c.hash.in_(sa.bindparam("h", expanding=True))),
            {"h": [h for h, _ in rows]},
        )
    }
    new = {h: kind for h, kind in rows if h not in have}
    if new:
        stmt = upsert(tx.dialect, suppressions).on_conflict_do_nothing(index_elements=[suppressions.c.hash])
        await tx.execute(stmt, [{"hash": h, "kind": k, "origin": origin, "created_at": now} for h, k in new.items()])
        await _bump(tx)
    return len(new)


async def remove_suppressions(tx: Executor, hashes: Collection[str]) -> int:
    if not hashes:
        return 0
    gone = await tx.execute(sa.delete(suppressions).where(suppressions.c.hash.in_(list(hashes))))
    if gone:
        await _bump(tx)
    return gone


async def list_suppressions(db: Executor, kind: str | None = None) -> Sequence[Row[Any]]:
    stmt = sa.select(suppressions).order_by(suppressions.c.created_at, suppressions.c.hash)
    if kind is not None:
        stmt = stmt.where(suppressions.c.kind == kind)
    return await db.fetch_all(stmt)


async def is_suppressed(db: Executor, hashes: Collection[str]) -> set[str]:
    if not hashes:
        return set()
    rows = await db.fetch_all(sa.select(suppressions.c.hash).where(suppressions.c.hash.in_(list(hashes))))
    return {r.hash for r in rows}


# --- who an identity is


async def people_of(db: Executor, identity: Identity) -> list[int]:
    """The ids of the people an identity names (by their LinkedIn profile, an address, a phone number, or
    their company's or an address's domain)."""
    value = identity.value
    if identity.kind == "linkedin":
        where = people.c.sales_nav_id == value[3:] if value.startswith("sn:") else people.c.linkedin_key == value
        stmts = [sa.select(people.c.id).where(where)]
    elif identity.kind == "email":
        stmts = [
            sa.select(emails.c.person_id).where(emails.c.address_key == value),
            sa.select(predicted_emails.c.person_id).where(sa.func.lower(predicted_emails.c.address) == value),
        ]
    elif identity.kind == "phone":
        stmts = [sa.select(phones.c.person_id).where(phones.c.e164 == value)]
    else:
        stmts = [
            sa.select(people.c.id)
            .join(companies, companies.c.id == people.c.company_id)
            .where(companies.c.domain == value),
            sa.select(emails.c.person_id).where(emails.c.domain == value),
        ]
    found: set[int] = set()
    for stmt in stmts:
        found |= {int(r[0]) for r in await db.fetch_all(stmt)}
    return sorted(found)


# --- everything stored about people


async def dossier(db: Executor, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Everything the store holds about these people, with where each thing came from and when."""
    if not ids:
        return []
    by_id: dict[int, dict[str, Any]] = {}
    stmt = (
        sa.select(people, companies.c.domain.label("company_domain"), companies.c.name.label("company_known_name"))
        .select_from(people.outerjoin(companies, companies.c.id == people.c.company_id))
        .where(people.c.id.in_(list(ids)))
        .order_by(people.c.id)
    )
    for r in await db.fetch_all(stmt):
        by_id[int(r.id)] = {
            "person": r._asdict(),
            "emails": [],
            "phones": [],
            "predicted": None,
            "reveals": [],
        }
    for r in await db.fetch_all(
        sa.select(emails).where(emails.c.person_id.in_(list(ids))).order_by(emails.c.person_id, emails.c.id)
    ):
        by_id[int(r.person_id)]["emails"].append(r._asdict())
    for r in await db.fetch_all(
        sa.select(phones).where(phones.c.person_id.in_(list(ids))).order_by(phones.c.person_id, phones.c.id)
    ):
        by_id[int(r.person_id)]["phones"].append(r._asdict())
    for r in await db.fetch_all(sa.select(predicted_emails).where(predicted_emails.c.person_id.in_(list(ids)))):
        by_id[int(r.person_id)]["predicted"] = r._asdict()
    log = (
        sa.select(
            reveal_log.c.person_id,
            reveal_log.c.account_id,
            accounts.c.email.label("account_email"),
            reveal_log.c.key_id,
            api_keys.c.prefix.label("key_prefix"),
            reveal_log.c.fields,
            reveal_log.c.endpoint,
            reveal_log.c.created_at,
            reveal_log.c.count,
        )
        .select_from(
            reveal_log.outerjoin(accounts, accounts.c.id == reveal_log.c.account_id).outerjoin(
                api_keys, api_keys.c.id == reveal_log.c.key_id
            )
        )
        .where(reveal_log.c.person_id.in_(list(ids)))
        .order_by(reveal_log.c.created_at, reveal_log.c.id)
    )
    for r in await db.fetch_all(log):
        by_id[int(r.person_id)]["reveals"].append(r._asdict())
    return [by_id[i] for i in sorted(by_id)]


async def verifications_of(db: Executor, keys: Collection[str]) -> list[dict[str, Any]]:
    if not keys:
        return []
    stmt = sa.select(verifications).where(verifications.c.address_key.in_(sorted(keys)))
    return [r._asdict() for r in await db.fetch_all(stmt.order_by(verifications.c.address_key))]


def _holds(dialect: str, column: str, param: str, blob: bool = False) -> str:
    """SQL that the lower-cased ``column`` holds the bound ``:param`` (already lower-cased)."""
    if dialect == "postgresql":
        text = f"convert_from({column}, 'UTF8')" if blob else column
        return f"strpos(lower({text}), :{param}) > 0"
    text = f"CAST({column} AS TEXT)" if blob else column
    return f"instr(lower({text}), :{param}) > 0"


def _mentions(
    dialect: str, columns: Sequence[str], groups: Sequence[tuple[str, ...]], blob: bool = False
) -> tuple[str, dict[str, str]]:
    """A condition that one of ``columns`` holds every string of one of ``groups``, and its parameters."""
    ors, params = [], {}
    for g, group in enumerate(groups):
        for column in columns:
            ands = []
            for k, needle in enumerate(group):
                name = f"n{g}_{k}"
                params[name] = needle
                ands.append(_holds(dialect, column, name, blob))
            ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors), params


async def job_items_mentioning(db: Executor, groups: Sequence[tuple[str, ...]]) -> list[Row[Any]]:
    """The bulk items whose reference, input or result mentions someone (see ``_mentions``)."""
    if not groups:
        return []
    where, params = _mentions(db.dialect, ("ref", "input", "result"), groups)
    stmt = sa.text(f"SELECT job_id, idx, status FROM job_items WHERE {where} ORDER BY job_id, idx")  # noqa: S608
    return list(await db.fetch_all(stmt, params))


async def responses_mentioning(db: Executor, groups: Sequence[tuple[str, ...]]) -> list[tuple[int, str]]:
    """The stored idempotent responses that mention someone."""
    if not groups:
        return []
    where, params = _mentions(db.dialect, ("body",), groups, blob=True)
    stmt = sa.text(f"SELECT account_id, key FROM idempotency WHERE {where}")  # noqa: S608 (our names only)
    return [(int(r.account_id), str(r.key)) for r in await db.fetch_all(stmt, params)]


async def calls_mentioning(db: Executor, groups: Sequence[tuple[str, ...]]) -> list[int]:
    """Upstream calls whose detail (a provider's error message) mentions someone."""
    if not groups:
        return []
    where, params = _mentions(db.dialect, ("detail",), groups)
    stmt = sa.text(f"SELECT id FROM upstream_calls WHERE detail IS NOT NULL AND ({where})")  # noqa: S608
    return [int(r.id) for r in await db.fetch_all(stmt, params)]


# --- erasure


async def erase_people(
    tx: Executor,
    ids: Sequence[int],
    address_keys: Collection[str],
    miss_prefixes: Iterable[str],  # ``profile:<key>:`` and ``email:<domain>:<first>:<last>``
    items: Sequence[Row[Any]],
    responses: Sequence[tuple[int, str]],
    calls: Sequence[int],
    now: int,
) -> dict[str, int]:
    """Delete people and everything derived from or about them, in one transaction; the reveal log keeps
    its rows (who received something, when) without the person. Returns what went, by table."""
    gone: dict[str, int] = {}
    if ids:
        id_list = list(ids)
        gone["reveal_log"] = await tx.execute(
            sa.update(reveal_log).where(reveal_log.c.person_id.in_(id_list)).values(person_id=None)
        )
        for table in (reveals, predicted_emails, phones, emails):
            gone[str(table.name)] = await tx.execute(sa.delete(table).where(table.c.person_id.in_(id_list)))
        gone["people"] = await tx.execute(sa.delete(people).where(people.c.id.in_(id_list)))
    if address_keys:
        keys = sorted(address_keys)
        gone["verifications"] = await tx.execute(sa.delete(verifications).where(verifications.c.address_key.in_(keys)))
    misses = 0
    for prefix in miss_prefixes:
        misses += await tx.execute(sa.delete(upstream_misses).where(upstream_misses.c.key.startswith(prefix)))
    gone["upstream_misses"] = misses
    for account_id, key in responses:
        await tx.execute(sa.delete(idempotency).where(idempotency.c.account_id == account_id, idempotency.c.key == key))
    gone["idempotency"] = len(responses)
    pending_by_job: dict[str, int] = {}
    for item in items:
        line = '{"index":%d,"ref":null,"status":"erased"}' % int(item.idx)  # noqa: UP031
        await tx.execute(
            sa.update(job_items)
            .where(job_items.c.job_id == item.job_id, job_items.c.idx == item.idx)
            .values(ref=None, input="{}", result=line, status="erased", finished_at=sa.func.coalesce(
                job_items.c.finished_at, now))
        )  # fmt: skip
        if item.status is None:
            pending_by_job[item.job_id] = pending_by_job.get(item.job_id, 0) + 1
    for job_id, n in pending_by_job.items():
        await tx.execute(sa.update(jobs).where(jobs.c.id == job_id).values(processed=jobs.c.processed + n))
    gone["job_items"] = len(items)
    if calls:
        gone["upstream_calls"] = await tx.execute(
            sa.update(upstream_calls).where(upstream_calls.c.id.in_(list(calls))).values(detail=None)
        )
    return gone


async def stale_people(db: Executor, before: int, limit: int) -> list[int]:
    """People no import or upstream answer has named since ``before`` (retention)."""
    seen = sa.func.coalesce(people.c.seen_at, people.c.updated_at)
    stmt = sa.select(people.c.id).where(seen < before).order_by(people.c.id).limit(limit)
    return [int(r.id) for r in await db.fetch_all(stmt)]


# --- the reveal log


REVEAL_COLUMNS = ("account_id", "key_id", "person_id", "fields", "endpoint", "created_at", "count")


async def write_reveals(tx: Executor, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows of ``REVEAL_COLUMNS`` whose person still exists (or that name none): one erased since the
    reveal is not named again."""
    ids = {r[2] for r in rows if r[2] is not None}
    alive = {int(r[0]) for r in await bulk.select_in(tx, people, ("id",), "id", ids)} if ids else set()
    kept = [r for r in rows if r[2] is None or r[2] in alive]
    await bulk.insert_rows(tx, reveal_log, REVEAL_COLUMNS, kept)


async def purge_reveals(tx: Executor, before: int, limit: int = 10_000) -> int:
    ids = sa.select(reveal_log.c.id).where(reveal_log.c.created_at < before).limit(limit).scalar_subquery()
    return await tx.execute(sa.delete(reveal_log).where(reveal_log.c.id.in_(ids)))


# --- removal requests


async def add_request(tx: Executor, identity: str, kind: str, state: str, token_hash: str | None, now: int) -> int:
    stmt = sa.insert(privacy_requests).values(
        identity=identity, kind=kind, token_hash=token_hash, state=state, created_at=now
    )
    if tx.dialect == "postgresql":
        return int(await tx.scalar(stmt.returning(privacy_requests.c.id)))
    await tx.execute(stmt)
    return int(await tx.scalar(sa.select(sa.func.max(privacy_requests.c.id))))


async def requests(db: Executor, states: Collection[str] | None = None) -> Sequence[Row[Any]]:
    stmt = sa.select(privacy_requests).order_by(privacy_requests.c.id)
    if states:
        stmt = stmt.where(privacy_requests.c.state.in_(list(states)))
    return await db.fetch_all(stmt)


async def request(db: Executor, request_id: int) -> Row[Any] | None:
    return await db.fetch_one(sa.select(privacy_requests).where(privacy_requests.c.id == request_id))


async def request_by_token(db: Executor, token_hash: str) -> Row[Any] | None:
    return await db.fetch_one(sa.select(privacy_requests).where(privacy_requests.c.token_hash == token_hash))


async def close_request(tx: Executor, request_id: int, state: str, now: int, identity: str) -> None:
    """A request carried out or turned down: it keeps no readable identity (``identity`` is its hash)."""
    await tx.execute(
        sa.update(privacy_requests)
        .where(privacy_requests.c.id == request_id)
        .values(state=state, done_at=now, identity=identity, token_hash=None)
    )


async def count_recent_requests(db: Executor, since: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(privacy_requests).where(privacy_requests.c.created_at >= since)
    return int(await db.scalar(stmt) or 0)


async def expire_requests(tx: Executor, before: int) -> Sequence[Row[Any]]:
    """Requests never confirmed since ``before``: forgotten (their identity was never acted on)."""
    stmt = sa.select(privacy_requests.c.id).where(
        privacy_requests.c.state == "mailed", privacy_requests.c.created_at < before
    )
    rows = await tx.fetch_all(stmt)
    if rows:
        await tx.execute(sa.delete(privacy_requests).where(privacy_requests.c.id.in_([r.id for r in rows])))
    return rows
