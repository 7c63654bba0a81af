"""Counting requests against hourly limits and running charged requests exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import orjson

from leadsmith.access.schemas import Caller
from leadsmith.clock import DAY_MS, HOUR_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database
from leadsmith.errors import BadRequest, Conflict, coded
from leadsmith.metering import credits, repository
from leadsmith.metering.counters import Counters
from leadsmith.metering.schemas import Charged, Hit, Work

log = logging.getLogger("leadsmith.metering")


class _Replay(Exception):
    """Another request stored its response under this idempotency key first."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    endpoint: str
    idempotency_key: str | None
    started: float


def fingerprint(endpoint: str, params: Mapping[str, Any]) -> str:
    return hashlib.sha256(endpoint.encode() + b"\0" + orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not value.isascii() or not value.isprintable():
        raise coded(
            BadRequest,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )
    return value


@dataclass
class MeteringService:
    db: Database
    settings: Settings
    counters: Counters
    clock: Clock = now_ms

    async def hit(self, caller: Caller) -> Hit:
        window_ms = self.settings.rate_window_seconds * 1000
        window = await self.counters.hit(f"key:{caller.key_id}", window_ms, self.clock())
        return Hit(
            allowed=window.count <= caller.rate_limit,
            limit=caller.rate_limit,
            remaining=max(0, caller.rate_limit - window.count),
            reset_ms=max(0, window.reset_ms),
        )

    def fresh_since(self, now: int | None = None) -> int:
        """The start of the reveal window: what an account revealed since then is not charged again."""
        return (self.clock() if now is None else now) - int(self.settings.reveal_window_days * DAY_MS)

    def _idempotency_since(self, now: int) -> int:
        """Stored responses older than this answer no retry."""
        return now - int(self.settings.idempotency_ttl_hours * HOUR_MS)

    async def purge_idempotency(self) -> int:
        """Delete stored responses past their time-to-live; returns how many."""
        before = self._idempotency_since(self.clock())
        async with self.db.transaction() as tx:
            return await repository.purge_responses(tx, before)

    async def run_purger(self, every_seconds: float = 600.0) -> None:
        """Keep the idempotency table to its time-to-live (any worker may do it: the delete is idempotent)."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.purge_idempotency()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round retries; the error is logged
                log.exception("could not purge expired idempotency keys")

    async def charged(
        self,
        caller: Caller,
        ctx: RequestContext,
        params: Mapping[str, Any],
        work: Callable[[], Awaitable[Work]],
    ) -> Charged:
        """Run ``work`` and charge for what it reveals, in one transaction with the stored response.

        With an idempotency key, a request already answered gets its first response back, free.
        """
        now = self.clock()
        idem_since = self._idempotency_since(now)
        request_hash = fingerprint(ctx.endpoint, params) if ctx.idempotency_key else ""
        if ctx.idempotency_key:
            replay = await self._replay(caller, ctx.idempotency_key, request_hash, idem_since)
            if replay is not None:
                return replay

        result = await work()
        body = orjson.dumps(result.payload)
        fresh_since = self.fresh_since(now)
        terms: dict[str, Any] = {
            "endpoint": ctx.endpoint,
            "request_id": ctx.request_id,
            "now": now,
            "fresh_since": fresh_since,
        }
        if not ctx.idempotency_key:
            fresh: AbstractSet[tuple[int, str]]
            if result.standing is not None:
                balance, fresh = result.standing.balance, result.standing.fresh
            else:
                balance, fresh = await repository.balance_and_fresh(
                    self.db, caller.account_id, result.items, fresh_since
                )
            if all((i.person_id, i.kind) in fresh for i in result.items):
                return Charged(body, result.status, 0, balance)
            if self.db.dialect == "postgresql":
                done = await credits.charge_at_once(self.db, caller.account_id, caller.prices, result.items, **terms)
                if done is not None:
                    return Charged(body, result.status, *done)
                # Not enough credits: the transaction below finds out by how much and says so.
        try:
            async with self.db.transaction() as tx:
                if ctx.idempotency_key and not await repository.store_response(
                    tx,
                    caller.account_id,
                    ctx.idempotency_key,
                    request_hash,
                    result.status,
                    body,
                    now,
                    idem_since,
                ):
                    raise _Replay
                decreased, remaining = await credits.charge(tx, caller.account_id, caller.prices, result.items, **terms)
        except _Replay:
            assert ctx.idempotency_key is not None
            replay = await self._replay(caller, ctx.idempotency_key, request_hash, idem_since)
            assert replay is not None
            return replay
        return Charged(body, result.status, decreased, remaining)

    async def _replay(self, caller: Caller, key: str, request_hash: str, since: int) -> Charged | None:
        row = await repository.stored_response(self.db, caller.account_id, key, since)
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise coded(
                Conflict,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request; use a new key",
            )
        remaining = await repository.balance(self.db, caller.account_id)
        return Charged(bytes(row.body), int(row.status_code), 0, remaining, replayed=True)
