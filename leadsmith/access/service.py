"""Accounts and keys: creating them, and turning an ``Authorization`` header into a Caller."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leadsmith.access import keys, repository
from leadsmith.access.schemas import Account, Caller, CreatedKey, KeyInfo, Prices
from leadsmith.clock import Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database, Executor
from leadsmith.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    coded,
)
from leadsmith.loops import every
from leadsmith.metering import credits

log = logging.getLogger("leadsmith.access")

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s]{1,63}")


def extract_key(header: str | None) -> str:
    """The key from ``Authorization: Bearer KEY`` or a bare ``Authorization: KEY`` (the reference uses both)."""
    if not header or not header.strip():
        raise coded(
            Unauthorized,
            "missing_api_key",
            "send your API key in the Authorization header: 'Bearer YOUR-API-KEY'",
        )
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    if not keys.well_formed(value):
        raise coded(
            Unauthorized,
            "malformed_api_key",
            "this is not a well-formed leadsmith API key (wrong length, characters or checksum): "
            "check it was copied whole",
        )
    return value


@dataclass
class _Cached:
    caller: Caller
    expires: float


@dataclass
class AccessService:
    db: Database
    settings: Settings
    clock: Clock = now_ms
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _last_used: dict[int, int] = field(default_factory=dict)

    def prices(self, cost_email: int | None, cost_phone: int | None, cost_employee: int | None) -> Prices:
        s = self.settings
        return Prices(
            email=s.cost_email if cost_email is None else cost_email,
            phone=s.cost_phone if cost_phone is None else cost_phone,
            employee=s.cost_employee if cost_employee is None else cost_employee,
            verify=s.cost_verify,
        )

    async def authenticate(self, header: str | None) -> Caller:
        """The caller behind an Authorization header.

        A verified header is remembered in memory for ``auth_cache_seconds`` (never written
        anywhere), so the hot path skips the checksum, the hash and the database.
        """
        now = time.monotonic()
        cached = self._cache.get(header) if header else None
        if cached is not None and cached.expires > now:
            caller = cached.caller
        else:
            key = extract_key(header)
            digest = keys.hash_key(key)
            row = await repository.key_by_hash(self.db, digest)
            if row is None:
                raise coded(
                    Unauthorized,
                    "invalid_api_key",
                    "this API key is not known: create one in the developer portal",
                )
            if row.revoked_at is not None:
                raise coded(Unauthorized, "revoked_api_key", "this API key has been revoked")
            if row.disabled:
                raise coded(
                    Forbidden,
                    "account_disabled",
                    "the account that owns this key is disabled",
                )
            caller = self._caller(row)
            if self.settings.auth_cache_seconds > 0 and header:
                if len(self._cache) > 50_000:
                    self._cache.clear()
                self._cache[header] = _Cached(caller, now + self.settings.auth_cache_seconds)
        self._last_used[caller.key_id] = self.clock()
        return caller

    async def caller_of_key(self, key_id: int) -> Caller:
        """The caller a key is, by its id (a bulk job works as the key that made it): refused like
        ``authenticate`` when the key was revoked or its account disabled since."""
        row = await repository.key_by_id(self.db, key_id)
        if row is None:
            raise coded(Unauthorized, "invalid_api_key", "the job's API key no longer exists")
        if row.revoked_at is not None:
            raise coded(Unauthorized, "revoked_api_key", "the job's API key has been revoked")
        if row.disabled:
            raise coded(Forbidden, "account_disabled", "the account that owns this key is disabled")
        return self._caller(row)

    def _caller(self, row: Any) -> Caller:
        return Caller(
            key_id=row.id,
            account_id=row.account_id,
            email=row.email,
            rate_limit=row.rate_limit or self.settings.rate_limit_per_hour,
            prices=self.prices(row.cost_email, row.cost_phone, row.cost_employee),
            key_prefix=row.prefix,
            daily_limit=row.daily_limit,
            minutely_limit=row.minutely_limit,
        )

    def forget(self) -> None:
        """Drop cached keys (after a revocation in this process)."""
        self._cache.clear()

    async def flush_last_used(self) -> None:
        if not self._last_used:
            return
        pending, self._last_used = self._last_used, {}
        try:
            # In a transaction of the store's own (its write lock): on SQLite a write outside one took
            # the file's lock in SQLite's busy handler, sleeping on the event loop while another
            # worker's transaction held it.
            async with self.db.transaction() as tx:
                await repository.touch_keys(tx, pending)
        except Exception:
            for key_id, at in pending.items():  # kept for the next round (a later use wins)
                self._last_used[key_id] = max(at, self._last_used.get(key_id, at))
            raise

    async def run_flusher(self, every_seconds: float = 2.0) -> None:
        await every(every_seconds, self.flush_last_used, log, "could not write the keys' last use; retrying")

    async def create_account(
        self,
        tx: Executor,
        email: str,
        *,
        credits_: int | None = None,
        rate_limit: int | None = None,
        password_hash: str | None = None,
    ) -> Account:
        email = email.strip()
        if not _EMAIL.fullmatch(email):
            raise coded(BadRequest, "invalid_email", f"not an e-mail address: {email!r}")
        if await repository.account_by_email(tx, email) is not None:
            raise coded(Conflict, "account_exists", f"an account already exists for {email}")
        if rate_limit is not None and rate_limit < 1:
            raise coded(
                BadRequest,
                "invalid_rate_limit",
                "the rate limit must be at least 1 request per hour",
            )
        now = self.clock()
        account_id = await repository.insert_account(
            tx,
            {
                "email": email,
                "credits": 0,
                "rate_limit": rate_limit,
                "password_hash": password_hash,
                "created_at": now,
            },
        )
        start = self.settings.signup_credits if credits_ is None else credits_
        if start:
            await credits.grant(tx, account_id, start, reason="signup", now=now)
        account = await repository.account_by_id(tx, account_id)
        assert account is not None
        return account

    async def create_key(self, tx: Executor, account_id: int, name: str = "default") -> CreatedKey:
        name = name.strip()[:100] or "default"
        new = keys.generate_key()
        info = await repository.insert_key(
            tx,
            {
                "account_id": account_id,
                "name": name,
                "prefix": new.prefix,
                "key_hash": new.hash,
                "created_at": self.clock(),
            },
        )
        return CreatedKey(info=info, key=new.key)

    async def revoke_key(self, tx: Executor, account_id: int, key_ref: str) -> KeyInfo:
        info = await repository.revoke(tx, account_id, key_ref.strip(), self.clock())
        if info is None:
            raise coded(NotFound, "key_not_found", f"no active key {key_ref!r} on this account")
        self.forget()
        return info

    async def account(self, db: Executor, email: str) -> Account:
        account = await repository.account_by_email(db, email)
        if account is None:
            raise coded(NotFound, "account_not_found", f"no account for {email}")
        return account

    async def keys_of(self, db: Executor, account_id: int) -> Sequence[KeyInfo]:
        return await repository.keys_of(db, account_id)
