"""All SQL for reading contacts (writes live in ``importer_repository``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadsmith.db.database import Executor, Prepared
from leadsmith.db.tables import accounts, companies, emails, people, phones, predicted_emails, reveals, verifications
from leadsmith.metering.repository import PURSE_COLUMNS, purse_of
from leadsmith.metering.schemas import Standing
from leadsmith.privacy.identity import Traits, traits
from leadsmith.verification.repository import trusted_status

FRESH_KINDS = ("work_email", "direct_email", "phone")


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    linkedin_id: str | None
    full_name: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    location: str | None
    updated_at: int
    company_name: str | None
    company_domain: str | None
    predicted_address: str | None = None
    predicted_score: float | None = None
    predicted_status: str | None = None  # the verification status of the predicted address, if verified
    linkedin_key: str | None = None
    sales_nav_id: str | None = None


@dataclass(frozen=True, slots=True)
class EmailRow:
    address: str
    kind: str
    valid: bool | None
    predicted: bool = False
    source: str | None = None  # what it came from: an import's label, or "provider:<name>"
    since: int | None = None  # when it was first seen


def shown_source(source: str | None) -> str:
    """A stored source as the API shows it: the provider's name for an upstream answer, else "import"."""
    return source.removeprefix("provider:") if source and source.startswith("provider:") else "import"


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    domain: str
    name: str | None


_PERSON_COLS = (
    people.c.id,
    people.c.linkedin_id,
    people.c.full_name,
    people.c.first_name,
    people.c.last_name,
    people.c.title,
    people.c.location,
    people.c.updated_at,
    sa.func.coalesce(people.c.company_name, companies.c.name).label("company_name"),
    companies.c.domain.label("company_domain"),
    predicted_emails.c.address.label("predicted_address"),
    predicted_emails.c.score.label("predicted_score"),
    trusted_status().label("predicted_status"),
    people.c.linkedin_key,
    people.c.sales_nav_id,
)
_PERSON_FROM = (
    people.outerjoin(companies, companies.c.id == people.c.company_id)
    .outerjoin(predicted_emails, predicted_emails.c.person_id == people.c.id)
    .outerjoin(verifications, verifications.c.address_key == predicted_emails.c.address)
)
_VALID_RANK = sa.case((emails.c.valid.is_(True), 0), (emails.c.valid.is_(None), 1), else_=2)


def _fresh(kind: str) -> sa.Label[bool]:
    return (
        sa.exists()
        .where(
            reveals.c.account_id == sa.bindparam("account_id"),
            reveals.c.person_id == people.c.id,
            reveals.c.kind == kind,
            reveals.c.revealed_at >= sa.bindparam("since"),
        )
        .label(f"fresh_{kind}")
    )


def _purse_column(col: sa.Column[Any]) -> sa.Label[Any]:
    return sa.select(col).where(accounts.c.id == sa.bindparam("account_id")).scalar_subquery().label(col.name)


# The asking account's purse and whether it revealed this person's e-mails / phone lately, read in the
# same statement as the person: what charging needs, without a round trip of its own.
_STANDING = (
    *(_purse_column(c) for c in PURSE_COLUMNS),
    *(_fresh(kind) for kind in FRESH_KINDS),
)


def _person_with_emails(where: sa.ColumnElement[bool]) -> Prepared:
    return Prepared(
        sa.select(
            *_PERSON_COLS,
            *_STANDING,
            emails.c.address,
            emails.c.kind,
            emails.c.valid,
            emails.c.source,
            emails.c.first_seen,
        )
        .select_from(_PERSON_FROM.outerjoin(emails, emails.c.person_id == people.c.id))
        .where(where)
        .order_by(_VALID_RANK, emails.c.last_seen.desc(), emails.c.id)
    )


_BY_LINKEDIN = _person_with_emails(people.c.linkedin_key == sa.bindparam("k"))
_BY_SALES_NAV = _person_with_emails(people.c.sales_nav_id == sa.bindparam("k"))
_N_PERSON = len(_PERSON_COLS)
_EMAILS = (
    sa.select(emails.c.person_id, emails.c.address, emails.c.kind, emails.c.valid)
    .where(emails.c.person_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(emails.c.person_id, _VALID_RANK, emails.c.last_seen.desc(), emails.c.id)
)
_PHONES = (
    sa.select(phones.c.person_id, phones.c.e164)
    .where(phones.c.person_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(phones.c.person_id, phones.c.last_seen.desc(), phones.c.id)
)
_COMPANY = Prepared(
    sa.select(companies.c.id, companies.c.domain, companies.c.name).where(companies.c.domain == sa.bindparam("d"))
)


def has_work_address() -> sa.Exists:
    """Whether the person of the enclosing query has a work address not known to be undeliverable."""
    usable = sa.or_(emails.c.valid.is_(None), emails.c.valid.is_(True))
    return sa.select(emails.c.id).where(emails.c.person_id == people.c.id, emails.c.kind == "pro", usable).exists()


async def person_by_linkedin(
    db: Executor, key: str, sales_navigator: bool, account_id: int, since: int
) -> tuple[PersonRow, list[EmailRow], Standing] | None:
    """A person, their addresses (best first) and the asking account's standing, in one query."""
    params = {"k": key, "account_id": account_id, "since": since}
    rows = await db.fetch_all(_BY_SALES_NAV if sales_navigator else _BY_LINKEDIN, params)
    if not rows:
        return None
    first = tuple(rows[0])
    person = PersonRow(*first[:_N_PERSON])
    found = [
        EmailRow(r.address, r.kind, r.valid, source=r.source, since=r.first_seen) for r in rows if r.address is not None
    ]
    purse = purse_of(first[_N_PERSON : _N_PERSON + len(PURSE_COLUMNS)])
    flags = first[_N_PERSON + len(PURSE_COLUMNS) : _N_PERSON + len(PURSE_COLUMNS) + len(FRESH_KINDS)]
    fresh = frozenset((person.id, kind) for kind, seen in zip(FRESH_KINDS, flags, strict=True) if seen)
    return person, found, Standing(purse, fresh)


_MANY = {
    column: sa.select(
        *_PERSON_COLS, emails.c.address, emails.c.kind, emails.c.valid, emails.c.source, emails.c.first_seen, column
    )
    .select_from(_PERSON_FROM.outerjoin(emails, emails.c.person_id == people.c.id))
    .where(column.in_(sa.bindparam("keys", expanding=True)))
    .order_by(people.c.id, _VALID_RANK, emails.c.last_seen.desc(), emails.c.id)
    for column in (people.c.linkedin_key, people.c.sales_nav_id)
}


async def people_by_linkedin_many(
    db: Executor, keys: Sequence[str], sales_navigator: bool = False
) -> dict[str, tuple[PersonRow, list[EmailRow]]]:
    """Many people by LinkedIn key (or Sales Navigator id), with their addresses best first: a bulk job's
    batch in one query."""
    out: dict[str, tuple[PersonRow, list[EmailRow]]] = {}
    if not keys:
        return out
    column = people.c.sales_nav_id if sales_navigator else people.c.linkedin_key
    for r in await db.fetch_all(_MANY[column], {"keys": list(dict.fromkeys(keys))}):
        values = tuple(r)
        key = values[-1]
        if key not in out:
            out[key] = (PersonRow(*values[:_N_PERSON]), [])
        if r.address is not None:
            out[key][1].append(EmailRow(r.address, r.kind, r.valid, source=r.source, since=r.first_seen))
    return out


async def phone_rows_many(db: Executor, person_ids: Sequence[int]) -> dict[int, list[tuple[str, str, int]]]:
    out: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    if person_ids:
        stmt = (
            sa.select(phones.c.person_id, phones.c.e164, phones.c.source, phones.c.first_seen)
            .where(phones.c.person_id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(phones.c.person_id, phones.c.last_seen.desc(), phones.c.id)
        )
        for r in await db.fetch_all(stmt, {"ids": list(person_ids)}):
            out[r.person_id].append((r.e164, r.source, int(r.first_seen)))
    return out


async def emails_of(db: Executor, person_ids: Sequence[int]) -> dict[int, list[EmailRow]]:
    out: dict[int, list[EmailRow]] = defaultdict(list)
    if person_ids:
        for r in await db.fetch_all(_EMAILS, {"ids": list(person_ids)}):
            out[r.person_id].append(EmailRow(r.address, r.kind, r.valid))
    return out


async def phones_of(db: Executor, person_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if person_ids:
        for r in await db.fetch_all(_PHONES, {"ids": list(person_ids)}):
            out[r.person_id].append(r.e164)
    return out


_PHONE_ROWS = Prepared(
    sa.select(phones.c.e164, phones.c.source, phones.c.first_seen)
    .where(phones.c.person_id == sa.bindparam("p"))
    .order_by(phones.c.last_seen.desc(), phones.c.id)
)


async def phone_rows(db: Executor, person_id: int) -> list[tuple[str, str, int]]:
    """A person's phones (E.164, best first) with where each came from and when it was first seen."""
    return [(r.e164, r.source, int(r.first_seen)) for r in await db.fetch_all(_PHONE_ROWS, {"p": person_id})]


async def has_work_addresses(db: Executor, domain: str) -> bool:
    stmt = sa.select(emails.c.id).where(emails.c.domain == domain, emails.c.kind == "pro").limit(1)
    return await db.fetch_one(stmt) is not None


async def company_by_domain(db: Executor, domain: str) -> Company | None:
    row = await db.fetch_one(_COMPANY, {"d": domain})
    return Company(*tuple(row)) if row else None


def _staff(with_work_address: bool, require_phone: bool) -> Prepared:
    """A company's people with (or without) a usable work address, newest first: a walk down the
    (company_id, updated_at, id) index that stops after ``limit`` matches."""
    work = has_work_address()
    stmt = (
        sa.select(*_PERSON_COLS)
        .select_from(_PERSON_FROM)
        .where(people.c.company_id == sa.bindparam("company"), work if with_work_address else ~work)
        .order_by(people.c.updated_at.desc(), people.c.id)
        .limit(sa.bindparam("limit"))
    )
    if require_phone:
        stmt = stmt.where(sa.select(phones.c.id).where(phones.c.person_id == people.c.id).exists())
    return Prepared(stmt)


_STAFF = {(w, p): _staff(w, p) for w in (True, False) for p in (True, False)}


async def employees(db: Executor, company_id: int, limit: int, require_phone: bool) -> list[PersonRow]:
    """A company's people: those with a known work address first, then the most recently updated."""
    found = await db.fetch_all(_STAFF[True, require_phone], {"company": company_id, "limit": limit})
    if len(found) < limit:
        rest = {"company": company_id, "limit": limit - len(found)}
        found = [*found, *await db.fetch_all(_STAFF[False, require_phone], rest)]
    return [PersonRow(*tuple(r)) for r in found]


async def traits_of(db: Executor, person_id: int) -> Traits:
    """Every identity the store holds of a person: what a suppression of any of them hides them by."""
    row = await db.fetch_one(
        sa.select(people.c.linkedin_key, people.c.sales_nav_id, companies.c.domain, predicted_emails.c.address)
        .select_from(
            people.outerjoin(companies, companies.c.id == people.c.company_id).outerjoin(
                predicted_emails, predicted_emails.c.person_id == people.c.id
            )
        )
        .where(people.c.id == person_id)
    )
    if row is None:
        return Traits()
    addresses = [
        r.address_key
        for r in await db.fetch_all(sa.select(emails.c.address_key).where(emails.c.person_id == person_id))
    ]
    numbers = [r.e164 for r in await db.fetch_all(sa.select(phones.c.e164).where(phones.c.person_id == person_id))]
    if row.address:
        addresses.append(row.address)
    return traits(
        linkedin_key=row.linkedin_key,
        sales_nav_id=row.sales_nav_id,
        emails=addresses,
        phones=numbers,
        domains=(row.domain,),
    )
