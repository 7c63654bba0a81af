"""All SQL about pattern statistics and the known (name, address) pairs they are learned from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from leadsmith.contacts.repository import has_work_address
from leadsmith.db import bulk
from leadsmith.db.database import Database, Executor, Prepared, read_sqlite_file
from leadsmith.db.tables import companies, domain_patterns, emails, people, predicted_emails, verifications
from leadsmith.engine.patterns import PatternKey
from leadsmith.verification.repository import trusted_status

PRIOR_DOMAIN = "*"

_SUPPORT = Prepared(
    sa.select(domain_patterns.c.template, domain_patterns.c.cap, domain_patterns.c.support).where(
        domain_patterns.c.domain == sa.bindparam("domain")
    )
)
_PAIRS = Prepared(
    sa.select(people.c.full_name, people.c.first_name, people.c.last_name, emails.c.address)
    .join(people, people.c.id == emails.c.person_id)
    .where(emails.c.domain == sa.bindparam("domain"))
)
_PAIR_COUNT = Prepared(sa.select(sa.func.count()).select_from(emails).where(emails.c.domain == sa.bindparam("domain")))
_WITHOUT_WORK_ADDRESS = Prepared(
    sa.select(people.c.id, people.c.full_name, people.c.first_name, people.c.last_name)
    .join(companies, companies.c.id == people.c.company_id)
    .where(companies.c.domain == sa.bindparam("domain"), ~has_work_address())
    .order_by(people.c.id)
)
# The same reads for many domains at once (PostgreSQL): one scan in domain order instead of a query
# per domain. For every domain of a big import the planner walks the tables in their physical order
# (a million people: the pairs in ~2.5 s of server time instead of ~10 s of index look-ups).
_DOMAINS = sa.bindparam("domains", type_=postgresql.ARRAY(sa.String))
_ALL_PAIRS = Prepared(
    sa.select(emails.c.domain, people.c.full_name, people.c.first_name, people.c.last_name, emails.c.address)
    .join(people, people.c.id == emails.c.person_id)
    .where(emails.c.domain == sa.any_(_DOMAINS))
    .order_by(emails.c.domain.collate("C"), emails.c.id)
)
_ALL_WITHOUT_WORK_ADDRESS = Prepared(
    sa.select(companies.c.domain, people.c.id, people.c.full_name, people.c.first_name, people.c.last_name)
    .join(companies, companies.c.id == people.c.company_id)
    .where(companies.c.domain == sa.any_(_DOMAINS), ~has_work_address())
    .order_by(companies.c.domain.collate("C"), people.c.id)
)


def _taken(at: Callable[[sa.ColumnElement[Any]], sa.ColumnElement[bool]]) -> sa.Subquery:
    """The addresses no one is predicted at the domains ``at`` selects (a condition on a domain column),
    each with whether someone has it (a namesake's: the person likely got a numbered one) or the
    verifier found it undeliverable (no one has it: the next candidate instead)."""
    return sa.union_all(
        sa.select(emails.c.domain, emails.c.address_key, sa.true().label("owned")).where(at(emails.c.domain)),
        sa.select(verifications.c.domain, verifications.c.address_key, sa.false().label("owned")).where(
            at(verifications.c.domain), trusted_status() == "invalid"
        ),
    ).subquery("taken")


_TAKEN_MANY = _taken(lambda domain: domain == sa.any_(_DOMAINS))
_ALL_TAKEN = Prepared(
    sa.select(_TAKEN_MANY.c.domain, _TAKEN_MANY.c.address_key, _TAKEN_MANY.c.owned).order_by(
        _TAKEN_MANY.c.domain.collate("C")
    )
)
_TAKEN_ONE = _taken(lambda domain: domain == sa.bindparam("domain"))
_TAKEN_AT = Prepared(sa.select(_TAKEN_ONE.c.address_key, _TAKEN_ONE.c.owned))


def taken_of(rows: Iterable[Sequence[Any]]) -> dict[str, bool]:
    """(address, owned) rows as the finder's ``taken``: True where someone has the address, False where
    it only bounced."""
    taken: dict[str, bool] = {}
    for key, owned in rows:
        taken[key] = bool(owned) or taken.get(key, False)
    return taken


_KNOWN = Prepared(
    sa.select(people.c.id, emails.c.address, emails.c.valid)
    .join(emails, emails.c.person_id == people.c.id)
    .where(
        sa.func.lower(people.c.last_name) == sa.bindparam("last"),
        sa.func.lower(people.c.first_name) == sa.bindparam("first"),
        emails.c.domain == sa.bindparam("domain"),
    )
    .order_by(people.c.id)
)


async def support(db: Executor, domain: str) -> dict[PatternKey, float]:
    rows = await db.fetch_all(_SUPPORT, {"domain": domain})
    return {(r.template, int(r.cap)): float(r.support) for r in rows}


_ALL_SUPPORTS = Prepared(
    sa.select(domain_patterns.c.domain, domain_patterns.c.template, domain_patterns.c.cap, domain_patterns.c.support)
    .where(domain_patterns.c.domain != PRIOR_DOMAIN)
    .order_by(domain_patterns.c.domain, domain_patterns.c.template, domain_patterns.c.cap)
)
_SUPPORT_ROWS = Prepared(
    sa.select(sa.func.count()).select_from(domain_patterns).where(domain_patterns.c.domain != PRIOR_DOMAIN)
)


def _by_domain_support(rows: Sequence[Sequence[Any]]) -> list[dict[PatternKey, float]]:
    out: dict[str, dict[PatternKey, float]] = {}
    for domain, template, cap, support in rows:
        out.setdefault(domain, {})[(template, int(cap))] = float(support)
    return list(out.values())


async def all_supports(db: Executor) -> list[dict[PatternKey, float]]:
    """Every domain's statistics (not the prior's), each domain's in template order."""
    return _by_domain_support(await db.fetch_all(_ALL_SUPPORTS))


def all_supports_in_file(path: str) -> list[dict[PatternKey, float]]:
    """``all_supports``, read from the SQLite store at ``path`` by a pool worker."""
    return _by_domain_support(read_sqlite_file(path, _ALL_SUPPORTS))


async def support_rows(db: Executor) -> int:
    """How many rows of statistics ``all_supports`` would read."""
    return int(await db.scalar(_SUPPORT_ROWS) or 0)


async def replace_support(db: Executor, domain: str, values: Mapping[PatternKey, float], now: int) -> None:
    await replace_supports(db, {domain: values}, now)


async def replace_supports(db: Executor, supports: Mapping[str, Mapping[PatternKey, float]], now: int) -> None:
    """Replace the statistics of several domains: one delete and one bulk insert for them all."""
    await bulk.delete_in(db, domain_patterns, "domain", list(supports))
    rows = [(domain, t, c, v, now) for domain, values in supports.items() for (t, c), v in values.items()]
    await bulk.insert_rows(db, domain_patterns, ("domain", "template", "cap", "support", "updated_at"), rows)


async def pairs(db: Executor, domain: str) -> list[tuple[str | None, str | None, str | None, str]]:
    """The known (full, first, last name, address) pairs at ``domain``, as plain tuples."""
    return [tuple(r) for r in await db.fetch_all(_PAIRS, {"domain": domain})]


async def pair_count(db: Executor, domain: str) -> int:
    """How many addresses at ``domain`` are known (what ``pairs`` would read): a count of the index."""
    return int(await db.scalar(_PAIR_COUNT, {"domain": domain}) or 0)


def pairs_in_file(path: str, domain: str) -> list[tuple[str | None, str | None, str | None, str]]:
    """``pairs``, read from the SQLite store at ``path`` by a pool worker."""
    return read_sqlite_file(path, _PAIRS, {"domain": domain})


async def known_person(db: Executor, domain: str, first: str, last: str) -> Sequence[Any]:
    return await db.fetch_all(_KNOWN, {"domain": domain, "first": first.lower(), "last": last.lower()})


_TAKEN_SLOTS = 5
_TAKEN = Prepared(
    sa.select(emails.c.address_key).where(
        emails.c.address_key.in_([sa.bindparam(f"a{i}") for i in range(_TAKEN_SLOTS)])
    )
)


async def taken(db: Executor, addresses: Collection[str]) -> set[str]:
    """Which of these addresses already belong to someone (five at a time, one prepared statement)."""
    keys = sorted({a.lower() for a in addresses})
    out: set[str] = set()
    for i in range(0, len(keys), _TAKEN_SLOTS):
        chunk = keys[i : i + _TAKEN_SLOTS]
        params = {f"a{j}": chunk[j] if j < len(chunk) else "" for j in range(_TAKEN_SLOTS)}
        out.update(r.address_key for r in await db.fetch_all(_TAKEN, params))
    return out


async def people_without_work_address(
    db: Executor, domain: str
) -> list[tuple[int, str | None, str | None, str | None]]:
    """The people (id, full, first, last name) of the company at ``domain`` with no usable work address."""
    return [tuple(r) for r in await db.fetch_all(_WITHOUT_WORK_ADDRESS, {"domain": domain})]


def people_without_work_address_in_file(path: str, domain: str) -> list[tuple[int, str | None, str | None, str | None]]:
    """``people_without_work_address``, read from the SQLite store at ``path`` by a pool worker."""
    return read_sqlite_file(path, _WITHOUT_WORK_ADDRESS, {"domain": domain})


def taken_in_file(path: str, domain: str) -> dict[str, bool]:
    """``taken_at``, read from the SQLite store at ``path`` by a pool worker."""
    return taken_of(read_sqlite_file(path, _TAKEN_AT, {"domain": domain}))


async def _by_domain(db: Database, stmt: Prepared, domains: Sequence[str]) -> AsyncIterator[tuple[str, list[Any]]]:
    """PostgreSQL: for each of ``domains`` (sorted), in turn, the domain and its rows of ``stmt`` (a
    scan of them all in domain order, its first column the domain) without the domain, through a
    server-side cursor read 10,000 rows at a time (row by row, a million rows' awaits cost seconds)."""
    plan = stmt.postgres_plan()
    async with db.transaction() as tx:
        raw = await tx.raw_connection()
        await raw.execute("SET LOCAL work_mem = '64MB'")  # the sort by domain, in memory
        cursor = await raw.cursor(plan.sql, *plan.args({"domains": list(domains)}))
        chunk: list[Any] = []
        at, exhausted = 0, False
        for domain in domains:
            group = []
            while not exhausted:
                if at == len(chunk):
                    chunk, at = await cursor.fetch(10_000), 0
                    if not chunk:
                        exhausted = True
                        break
                row = chunk[at]
                if row[0] != domain:
                    if row[0] < domain:
                        raise RuntimeError(f"rows out of domain order: {row[0]!r} after {domain!r}")
                    break
                group.append(tuple(row)[1:])
                at += 1
            yield domain, group


def pairs_by_domain(db: Database, domains: Sequence[str]) -> AsyncIterator[tuple[str, list[Any]]]:
    """``pairs`` of each of ``domains`` (sorted), in turn (PostgreSQL)."""
    return _by_domain(db, _ALL_PAIRS, domains)


def without_work_address_by_domain(db: Database, domains: Sequence[str]) -> AsyncIterator[tuple[str, list[Any]]]:
    """``people_without_work_address`` of each of ``domains`` (sorted), in turn (PostgreSQL)."""
    return _by_domain(db, _ALL_WITHOUT_WORK_ADDRESS, domains)


def taken_by_domain(db: Database, domains: Sequence[str]) -> AsyncIterator[tuple[str, list[Any]]]:
    """``taken_at`` each of ``domains`` (sorted), in turn, as (address, owned) rows (PostgreSQL)."""
    return _by_domain(db, _ALL_TAKEN, domains)


async def taken_at(db: Executor, domain: str) -> dict[str, bool]:
    """The finder's ``taken`` at ``domain`` (see ``taken_of``)."""
    return taken_of(await db.fetch_all(_TAKEN_AT, {"domain": domain}))


async def replace_predictions(
    db: Executor, predictions: Mapping[str, Sequence[tuple[int, str, float, str]]], now: int
) -> None:
    """Forget the predictions for the companies at these domains and store these (person id, address,
    score, pattern) instead: one delete and one bulk insert for them all."""
    if not predictions:
        return
    # After a first import there are none to forget, and the delete would still walk every person of
    # these companies (a million people: ~1 s, with nothing else at work).
    if await db.scalar(sa.select(predicted_emails.c.person_id).limit(1)) is not None:
        if db.dialect == "postgresql":
            # The table grows from nothing during a refresh: a plan cached while it was empty scans all
            # of it each time (quadratic); planned each time, the delete walks the primary key.
            await db.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
        condition, args = bulk.one_of(db, companies.c.domain, list(predictions))  # our SQL; domains are arguments
        await bulk.execute(
            db,
            "DELETE FROM predicted_emails WHERE person_id IN (SELECT people.id FROM people JOIN companies"  # noqa: S608
            f" ON companies.id = people.company_id WHERE companies.domain {condition})",
            args,
        )
    columns = ("person_id", "address", "score", "pattern", "updated_at")
    rows = [(*row, now) for domain_rows in predictions.values() for row in domain_rows]
    await bulk.insert_rows(db, predicted_emails, columns, rows)


async def confirm_address(tx: Executor, address_key: str) -> None:
    """A stored address the domain's mail server accepted: deliverable."""
    await tx.execute(emails.update().where(emails.c.address_key == address_key).values(valid=True))
