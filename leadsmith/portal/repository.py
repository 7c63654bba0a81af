"""All SQL of the developer portal: sessions and passwords (accounts, keys and the ledger are the
access and metering features' own)."""

from __future__ import annotations

import sqlalchemy as sa

from leadsmith.db.database import Executor
from leadsmith.db.tables import accounts, portal_sessions


async def password_hash(db: Executor, email: str) -> tuple[int, str | None, bool] | None:
    row = await db.fetch_one(
        sa.select(accounts.c.id, accounts.c.password_hash, accounts.c.disabled).where(
            sa.func.lower(accounts.c.email) == email.lower()
        )
    )
    return (int(row.id), row.password_hash, bool(row.disabled)) if row else None


async def set_password(db: Executor, account_id: int, hashed: str) -> None:
    await db.execute(sa.update(accounts).where(accounts.c.id == account_id).values(password_hash=hashed))


async def add_session(db: Executor, token_hash: str, account_id: int, now: int, expires: int) -> None:
    await db.execute(
        sa.insert(portal_sessions).values(
            token_hash=token_hash, account_id=account_id, created_at=now, expires_at=expires
        )
    )
    await db.execute(sa.delete(portal_sessions).where(portal_sessions.c.expires_at < now))


async def session_account(db: Executor, token_hash: str, now: int) -> int | None:
    value = await db.scalar(
        sa.select(portal_sessions.c.account_id).where(
            portal_sessions.c.token_hash == token_hash, portal_sessions.c.expires_at > now
        )
    )
    return int(value) if value is not None else None


async def end_session(db: Executor, token_hash: str) -> None:
    await db.execute(sa.delete(portal_sessions).where(portal_sessions.c.token_hash == token_hash))
