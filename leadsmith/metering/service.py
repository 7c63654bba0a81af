"""Counting requests against hourly limits and running charged requests exactly once."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from leadsmith.access.schemas import Caller
from leadsmith.clock import DAY_MS, HOUR_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.bulk import savepoint
from leadsmith.db.database import Database, Executor
from leadsmith.db.tables import installation
from leadsmith.errors import BadRequest, Conflict, coded
from leadsmith.loops import every
from leadsmith.metering import credits, repository
from leadsmith.metering.counters import Counters, Limit
from leadsmith.metering.schemas import Charged, Hit, Item, Purse, Quota, Work

log = logging.getLogger("leadsmith.metering")


_WINDOW_NAMES: dict[str, Any] = {"m": "minutely", "h": "hourly", "d": "daily"}


async def installation_id(db: Database) -> str:
    value = await db.scalar(sa.select(installation.c.id).limit(1))
    if value is None:
        raise RuntimeError("the store has no installation row: run `leadsmith migrate`")
    return str(value)


async def installation_secret(db: Database) -> str:
    """The store's own secret (made by its first migration): what keyed hashes and derived secrets use."""
    value = await db.scalar(sa.select(installation.c.secret).limit(1))
    if value is None:
        raise RuntimeError("the store has no installation row: run `leadsmith migrate`")
    return str(value)


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
    # Told of every answer's reveals once they are charged (or free): the reveal log (see privacy/).
    on_reveal: Callable[[int, int | None, str, tuple[Item, ...]], None] | None = None

    _namespace: str | None = None

    async def namespace(self) -> str:
        """What this store's counters are named under: its installation id, so that stores sharing one
        Redis (staging beside production, a store rebuilt) never share a window."""
        if self._namespace is None:
            self._namespace = await installation_id(self.db)
        return self._namespace

    async def key_windows(
        self, key_id: int, key_prefix: str, hourly: int, minutely: int | None = None, daily: int | None = None
    ) -> list[Limit]:
        """A key's windows: the hourly one always, the minute's and the day's when its account has them.
        Named by the store and the key's own identity (its public prefix and its id), never an id alone."""
        base = f"{await self.namespace()}:key:{key_prefix}:{key_id}"
        out = [Limit(f"{base}:h", self.settings.rate_window_seconds * 1000, hourly)]
        if minutely:
            out.insert(0, Limit(f"{base}:m", 60_000, minutely))
        if daily:
            out.append(Limit(f"{base}:d", DAY_MS, daily))
        return out

    async def hit(self, caller: Caller, *, count: bool = True) -> Hit:
        """Count a request against the caller's windows (all or none); ``count=False`` only looks."""
        limits = await self.key_windows(
            caller.key_id, caller.key_prefix, caller.rate_limit, caller.minutely_limit, caller.daily_limit
        )
        now = self.clock()
        if count:
            allowed, windows = await self.counters.hit_all(limits, now)
        else:
            windows = [await self.counters.peek(lim.key, lim.window_ms, now) for lim in limits]
            allowed = True
        quotas = tuple(
            Quota(_WINDOW_NAMES[lim.key[-1]], lim.limit, max(0, lim.limit - w.count), max(0, w.reset_ms))
            for lim, w in zip(limits, windows, strict=True)
        )
        return Hit(allowed=allowed, windows=quotas)

    async def remaining_credits(self, caller: Caller) -> dict[str, int]:
        """``GET /keys/remainingCredits``: each kind's pool, or the general balance it draws on."""
        purse = await repository.purse(self.db, caller.account_id)
        direct = purse.shown("direct_email")
        return {
            "workEmailCredits": purse.shown("work_email"),
            "directEmailCredits": direct,
            "personalEmailCredits": direct,
            "phoneCredits": purse.shown("phone"),
            "exportCredits": purse.shown("export"),
        }

    @staticmethod
    def rate_limits(caller: Caller) -> dict[str, int | None]:
        """``GET /keys/rateLimits``: each of the key's windows, null for one it does not have."""
        return {
            "dailyLimit": caller.daily_limit,
            "hourlyLimit": caller.rate_limit,
            "minutelyLimit": caller.minutely_limit,
        }

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
        await every(every_seconds, self.purge_idempotency, log, "could not purge expired idempotency keys")

    def bill(self, caller: Caller, ctx: RequestContext, params: Mapping[str, Any]) -> Bill:
        """The charge of one request, to be made after its work (``charged``) or, when the work writes
        anyway, inside the work's own transaction (``Bill.settle_in``)."""
        now = self.clock()
        request_hash = fingerprint(ctx.endpoint, params) if ctx.idempotency_key else ""
        return Bill(self, caller, ctx, now, self._idempotency_since(now), request_hash)

    async def charged(
        self,
        caller: Caller,
        ctx: RequestContext,
        params: Mapping[str, Any],
        work: Callable[[], Awaitable[Work]],
        bill: Bill | None = None,
    ) -> Charged:
        """Run ``work`` and charge for what it reveals, in one transaction with the stored response (or in
        the work's own, when it settled ``bill`` there).

        With an idempotency key, a request already answered gets its first response back, free.
        """
        bill = bill or self.bill(caller, ctx, params)
        if ctx.idempotency_key:
            replay = await self._replay(caller, ctx.idempotency_key, bill.request_hash, bill.idem_since)
            if replay is not None:
                return replay

        result = await work()
        charged = bill.charged if bill.charged is not None else await self._charge(bill, result)
        if self.on_reveal is not None and result.items and not charged.replayed:
            self.on_reveal(caller.account_id, caller.key_id, ctx.endpoint, result.items)
        return charged

    async def _charge(self, bill: Bill, result: Work) -> Charged:
        caller, ctx = bill.caller, bill.ctx
        body = orjson.dumps(result.payload)
        if not ctx.idempotency_key:
            fresh: AbstractSet[tuple[int, str]]
            if result.standing is not None:
                purse, fresh = result.standing.purse, result.standing.fresh
            else:
                purse, fresh = await repository.balance_and_fresh(
                    self.db, caller.account_id, result.items, self.fresh_since(bill.now)
                )
            if _all_fresh(result.items, fresh):
                return Charged(body, result.status, 0, purse)
            if self.db.dialect == "postgresql" and not purse.has_pools:
                done = await credits.charge_at_once(
                    self.db, caller.account_id, caller.prices, result.items, **bill.terms()
                )
                if done is not None:
                    return Charged(body, result.status, done[0], Purse(done[1]))
                # Not enough credits: the transaction below finds out by how much and says so.

        async def charge(tx: Executor) -> tuple[int, Purse]:
            return await bill.write(tx, result, body)

        try:
            # Committed with the other charges of this moment (a group commit; see Database.grouped).
            drawn, after = await self.db.grouped(charge)
        except _Replay:
            assert ctx.idempotency_key is not None
            replay = await self._replay(caller, ctx.idempotency_key, bill.request_hash, bill.idem_since)
            assert replay is not None
            return replay
        return Charged(body, result.status, drawn, after)

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
        purse = await repository.purse(self.db, caller.account_id)
        return Charged(bytes(row.body), int(row.status_code), 0, purse, replayed=True)


@dataclass
class Bill:
    """One request's charge: what it is charged under (its time, its idempotency key's fingerprint), and,
    once settled inside another transaction, its answer.

    ``settle_in`` charges inside a transaction the request's work holds anyway (an upstream answer's
    keep: a store miss then commits once, not twice), in a savepoint: if that cannot be done (not enough
    credits, the idempotency key taken meanwhile, any error), none of it is written, ``charged`` stays
    None, and the request is charged the usual way after its work, which says why if it must fail."""

    metering: MeteringService
    caller: Caller
    ctx: RequestContext
    now: int
    idem_since: int
    request_hash: str
    charged: Charged | None = None  # settled: the answer (``settle_in``)
    settled: Work | None = None  # settled: the work it charged for

    def forget(self) -> None:
        """Nothing settled (what an attempt whose transaction was rolled back settled is void)."""
        self.charged = self.settled = None

    def terms(self) -> dict[str, Any]:
        return {
            "endpoint": self.ctx.endpoint,
            "request_id": self.ctx.request_id,
            "now": self.now,
            "fresh_since": self.metering.fresh_since(self.now),
        }

    async def write(self, tx: Executor, result: Work, body: bytes, purse: Purse | None = None) -> tuple[int, Purse]:
        """The charge's statements in ``tx``: the response stored under the idempotency key (``_Replay`` if
        another request stored one first), then the debit (``purse``: see ``credits.charge``)."""
        caller, ctx = self.caller, self.ctx
        key = ctx.idempotency_key
        if key and not await repository.store_response(
            tx, caller.account_id, key, self.request_hash, result.status, body, self.now, self.idem_since
        ):
            raise _Replay
        return await credits.charge(tx, caller.account_id, caller.prices, result.items, **self.terms(), purse=purse)

    async def settle_in(self, tx: Executor, result: Work) -> None:
        """Charge for ``result`` inside ``tx``, a SQLite write transaction in which ``result`` was read (its
        standing's purse is the account's: nothing else can write meanwhile). Once charged, ``charged`` is
        the answer and ``settled`` the work; a charge that cannot be made here leaves both None."""
        self.forget()
        body = orjson.dumps(result.payload)
        standing = result.standing
        if standing is not None and not self.ctx.idempotency_key and _all_fresh(result.items, standing.fresh):
            self.charged, self.settled = Charged(body, result.status, 0, standing.purse), result
            return
        try:
            async with savepoint(tx, "bill"):
                drawn, after = await self.write(tx, result, body, standing.purse if standing else None)
        except Exception:  # noqa: BLE001 - charged again after the work, which answers the error
            return
        self.charged, self.settled = Charged(body, result.status, drawn, after), result


def _all_fresh(items: Sequence[Item], fresh: AbstractSet[tuple[int, str]]) -> bool:
    """Whether every item was revealed to the account lately (nothing to charge)."""
    return all((i.person_id, i.kind) in fresh for i in items)
