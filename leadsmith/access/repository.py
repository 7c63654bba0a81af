"""All SQL about accounts and keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from leadsmith.access.schemas import Account, KeyInfo
from leadsmith.db.database import Executor, Prepared
from leadsmith.db.tables import accounts, api_keys
from leadsmith.metering.repository import purse_of

_KEY_SELECT = sa.select(
    api_keys.c.id,
    api_keys.c.prefix,
    api_keys.c.revoked_at,
    accounts.c.id.label("account_id"),
    accounts.c.email,
    accounts.c.rate_limit,
    accounts.c.daily_limit,
    accounts.c.minutely_limit,
    accounts.c.disabled,
    accounts.c.cost_email,
    accounts.c.cost_phone,
    accounts.c.cost_employee,
).join(accounts, accounts.c.id == api_keys.c.account_id)
_KEY_LOOKUP = Prepared(_KEY_SELECT.where(api_keys.c.key_hash == sa.bindparam("key_hash")))

_ACCOUNT_COLS = (
    accounts.c.id,
    accounts.c.email,
    accounts.c.credits,
    accounts.c.rate_limit,
    accounts.c.disabled,
    accounts.c.created_at,
    accounts.c.daily_limit,
    accounts.c.minutely_limit,
    accounts.c.work_email_credits,
    accounts.c.direct_email_credits,
    accounts.c.phone_credits,
    accounts.c.export_credits,
)
_KEY_COLS = (
    api_keys.c.id,
    api_keys.c.account_id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


def _account(row: Row[Any]) -> Account:
    v = tuple(row)
    return Account(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], pools=purse_of(v[2:3] + v[8:12]))


def _key(row: Row[Any]) -> KeyInfo:
    return KeyInfo(*tuple(row))


_KEY_BY_ID = Prepared(_KEY_SELECT.where(api_keys.c.id == sa.bindparam("key_id")))


async def key_by_id(db: Executor, key_id: int) -> Row[Any] | None:
    return await db.fetch_one(_KEY_BY_ID, {"key_id": key_id})


async def key_by_hash(db: Executor, key_hash: str) -> Row[Any] | None:
    return await db.fetch_one(_KEY_LOOKUP, {"key_hash": key_hash})


async def account_by_email(db: Executor, email: str) -> Account | None:
    row = await db.fetch_one(sa.select(*_ACCOUNT_COLS).where(sa.func.lower(accounts.c.email) == email.lower()))
    return _account(row) if row else None


async def account_by_id(db: Executor, account_id: int) -> Account | None:
    row = await db.fetch_one(sa.select(*_ACCOUNT_COLS).where(accounts.c.id == account_id))
    return _account(row) if row else None


async def insert_account(db: Executor, values: Mapping[str, Any]) -> int:
    account_id = await db.scalar(sa.insert(accounts).values(**values).returning(accounts.c.id))
    return int(account_id)


async def update_account(db: Executor, account_id: int, values: Mapping[str, Any]) -> None:
    await db.execute(sa.update(accounts).where(accounts.c.id == account_id).values(**values))


async def list_accounts(db: Executor) -> Sequence[Account]:
    return [_account(r) for r in await db.fetch_all(sa.select(*_ACCOUNT_COLS).order_by(accounts.c.id))]


async def insert_key(db: Executor, values: Mapping[str, Any]) -> KeyInfo:
    row = await db.fetch_one(sa.insert(api_keys).values(**values).returning(*_KEY_COLS))
    assert row is not None
    return _key(row)


async def keys_of(db: Executor, account_id: int) -> Sequence[KeyInfo]:
    stmt = sa.select(*_KEY_COLS).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
    return [_key(r) for r in await db.fetch_all(stmt)]


async def revoke(db: Executor, account_id: int, key_ref: str, now: int) -> KeyInfo | None:
    """Revoke one of the account's keys, named by its id or its display prefix."""
    cond = api_keys.c.prefix == key_ref
    if key_ref.isdigit():
        cond = sa.or_(cond, api_keys.c.id == int(key_ref))
    stmt = (
        sa.update(api_keys)
        .where(api_keys.c.account_id == account_id, cond, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(*_KEY_COLS)
    )
    row = await db.fetch_one(stmt)
    return _key(row) if row else None


async def touch_keys(db: Executor, last_used: Mapping[int, int]) -> None:
    stmt = (
        sa.update(api_keys)
        .where(
            api_keys.c.id == sa.bindparam("kid"),
            sa.or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at < sa.bindparam("at"),
            ),
        )
        .values(last_used_at=sa.bindparam("at"))
    )
    await db.execute(stmt, [{"kid": k, "at": at} for k, at in last_used.items()])
