"""Admin tokens: an operator's credentials for the admin API (``/admin/*``), made on the command line
(``leadsmith admin token create NAME``), never by the API itself.

A token is ``lsa_`` and 40 URL-safe random characters (240 bits); only its SHA-256 is stored. It is sent as
``Authorization: Bearer lsa_...``; an API key (``lsk_``) is refused there, and a token is refused by the
Kaspr endpoints (it is no key). Revoked tokens stop working at once (they are looked up on every call:
the admin API is not a hot path).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadsmith.clock import Clock, now_ms
from leadsmith.db.database import Database
from leadsmith.db.tables import admin_tokens
from leadsmith.errors import NotFound, Unauthorized, coded

PREFIX = "lsa_"
DISPLAY_LEN = len(PREFIX) + 8


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Admin:
    """Who is calling the admin API: a token's id and name."""

    token_id: int
    name: str


@dataclass
class AdminService:
    db: Database
    clock: Clock = now_ms

    async def create(self, name: str) -> tuple[str, str]:
        """A new token (shown once) and its prefix (what lists and revocations name it by)."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise ValueError("a token's name is 1 to 100 characters")
        token = PREFIX + secrets.token_urlsafe(30)
        prefix = token[:DISPLAY_LEN]
        async with self.db.transaction() as tx:
            await tx.execute(
                sa.insert(admin_tokens).values(
                    name=name, prefix=prefix, token_hash=hash_token(token), created_at=self.clock()
                )
            )
        return token, prefix

    async def tokens(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(sa.select(admin_tokens).order_by(admin_tokens.c.id))
        return [
            {
                "name": r.name,
                "prefix": r.prefix,
                "created_at": r.created_at,
                "last_used_at": r.last_used_at,
                "revoked_at": r.revoked_at,
            }
            for r in rows
        ]

    async def revoke(self, prefix: str) -> None:
        async with self.db.transaction() as tx:
            done = await tx.execute(
                sa.update(admin_tokens)
                .where(admin_tokens.c.prefix == prefix, admin_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        if not done:
            raise coded(NotFound, "admin_token_not_found", f"no active admin token starts with {prefix!r}")

    async def authenticate(self, header: str | None) -> Admin:
        value = (header or "").strip()
        scheme, _, rest = value.partition(" ")
        if rest and scheme.lower() == "bearer":
            value = rest.strip()
        if not value.startswith(PREFIX):
            raise coded(
                Unauthorized,
                "admin_token_required",
                "the admin API takes an admin token (Authorization: Bearer lsa_...), made with "
                "`leadsmith admin token create NAME`; an API key is not one",
            )
        digest = hash_token(value)
        row = await self.db.fetch_one(
            sa.select(admin_tokens.c.id, admin_tokens.c.name, admin_tokens.c.token_hash).where(
                admin_tokens.c.token_hash == digest, admin_tokens.c.revoked_at.is_(None)
            )
        )
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            raise coded(Unauthorized, "invalid_admin_token", "this admin token is unknown or revoked")
        async with self.db.transaction() as tx:
            await tx.execute(
                sa.update(admin_tokens).where(admin_tokens.c.id == row.id).values(last_used_at=self.clock())
            )
        return Admin(int(row.id), str(row.name))
