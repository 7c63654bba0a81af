"""The rules of the credits ledger. Callers own the transaction these run in.

An account has a general balance (``credits``) and may have a pool per kind (work e-mail, direct
e-mail, phone, export: Kaspr v2's credits). An item of a kind with a pool draws one credit of that
pool; an item of a kind without one draws its price from the general balance, the e-mails revealed
about one person in one request costing one e-mail price together (as a v1 profile always has). An
account with an export pool gives one export credit per request that draws anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from leadsmith.access.schemas import Prices
from leadsmith.db.database import Database, Executor
from leadsmith.errors import BadRequest, InsufficientCredits, coded
from leadsmith.metering import repository
from leadsmith.metering.schemas import EMAIL_KINDS, UNLIMITED, Item, PoolKind, Purse

KIND_NAMES: dict[str, str] = {
    "work_email": "work e-mail",
    "direct_email": "direct e-mail",
    "phone": "phone",
    "export": "export",
}


@dataclass(frozen=True, slots=True)
class Bill:
    """What a set of newly revealed items costs: from the general balance, and from each pool."""

    general: int
    pools: dict[PoolKind, int]

    @property
    def total(self) -> int:
        return self.general + sum(self.pools.values())


def bill(items: Sequence[Item], prices: Prices, purse: Purse) -> Bill:
    """The cost of revealing ``items`` (all of them new to the account) to an account with ``purse``."""
    general = 0
    pools: Counter[PoolKind] = Counter()
    emailed: set[int | None] = set()
    for n, item in enumerate(items):
        if purse.pool(item.kind) is not None:
            pools[item.kind] += 1  # type: ignore[index]
        elif item.kind in EMAIL_KINDS:
            person = item.person_id if item.person_id is not None else -1 - n  # someone not stored: each alone
            if person not in emailed:
                emailed.add(person)
                general += prices.email
        else:
            general += prices.of(item.kind)
    if items and purse.export is not None:
        pools["export"] += 1
    return Bill(general, dict(pools))


async def grant(
    tx: Executor, account_id: int, amount: int, *, reason: str, now: int, kind: PoolKind | None = None
) -> int:
    """Add credits (or take some back with a negative amount) to the general balance or, with ``kind``,
    to that pool (made if the account has none); returns the new balance."""
    if kind is None:
        after = await repository.credit(tx, account_id, amount)
    else:
        purse = await repository.purse(tx, account_id)
        if purse.pool(kind) == UNLIMITED:
            raise coded(BadRequest, "pool_unlimited", f"the {KIND_NAMES[kind]} credits are unlimited already")
        after = await repository.credit_pool(tx, account_id, kind, amount)
    if after is None:
        have = await repository.purse(tx, account_id)
        held = have.credits if kind is None else have.pool(kind) or 0
        raise coded(
            BadRequest,
            "balance_would_go_negative",
            f"cannot take {-amount} credits from a balance of {held}",
        )
    await repository.add_ledger(
        tx, account_id=account_id, delta=amount, balance_after=after, reason=reason, now=now, pool=kind
    )
    return after


async def set_pool(tx: Executor, account_id: int, kind: PoolKind, value: int, *, now: int) -> None:
    """Give the account a pool of ``value`` credits of ``kind`` (-1: unlimited). The ledger row moves the
    pool's sum of deltas to the new value (to 0 for an unlimited one, whose draws take nothing)."""
    if value < UNLIMITED:
        raise coded(BadRequest, "invalid_credits", f"a pool holds -1 (unlimited) or more credits, not {value}")
    old = (await repository.purse(tx, account_id)).pool(kind)
    held = 0 if old is None or old == UNLIMITED else old
    new_sum = 0 if value == UNLIMITED else value
    await repository.write_pool(tx, account_id, kind, value)
    if new_sum != held or old != value:
        await repository.add_ledger(
            tx,
            account_id=account_id,
            delta=new_sum - held,
            balance_after=value,
            reason="unlimited" if value == UNLIMITED else "set",
            now=now,
            pool=kind,
        )


async def charge(
    tx: Executor,
    account_id: int,
    prices: Prices,
    items: Sequence[Item],
    *,
    endpoint: str,
    request_id: str,
    now: int,
    fresh_since: int,
    purse: Purse | None = None,
) -> tuple[int, Purse]:
    """Charge for the items not revealed since ``fresh_since``; returns (drawn, purse after). ``purse``:
    the account's, as read in this transaction with nothing able to change it since (on SQLite, under
    the write lock), or None to read it here.

    The debit is one conditional UPDATE over the balance and every pool, so none goes below zero and a
    request one pool cannot cover takes nothing from any; its ledger rows are written in the same
    transaction. Raises InsufficientCredits (and the caller rolls back).
    """
    stored = [i for i in items if i.person_id is not None]
    new = [i for i in items if i.person_id is None] + await repository.claim_reveals(
        tx, account_id, stored, now, fresh_since
    )
    if purse is None:
        purse = await repository.purse(tx, account_id)
    cost = bill(new, prices, purse)
    if cost.total == 0:
        return 0, purse
    if not cost.pools:  # the common case, in statements prepared once
        left = await repository.charge_balance(
            tx, account_id, cost.general, reason="charge", now=now, endpoint=endpoint, request_id=request_id
        )
        if left is None:
            have = await repository.purse(tx, account_id)
            raise InsufficientCredits(
                shortfall(cost, have), headers={"Decreased-Credits": "0", "Remaining-Credits": str(have.credits)}
            )
        return cost.total, purse.with_credits(left)
    after = await repository.debit_all(tx, account_id, cost.general, cost.pools)
    if after is None:
        have = await repository.purse(tx, account_id)
        raise InsufficientCredits(
            shortfall(cost, have),
            headers={"Decreased-Credits": "0", "Remaining-Credits": str(have.credits)},
        )
    if cost.general:
        await repository.add_ledger(
            tx,
            account_id=account_id,
            delta=-cost.general,
            balance_after=after.credits,
            reason="charge",
            now=now,
            endpoint=endpoint,
            request_id=request_id,
        )
    for kind, amount in cost.pools.items():
        left = after.pool(kind)
        assert left is not None
        await repository.add_ledger(
            tx,
            account_id=account_id,
            delta=0 if left == UNLIMITED else -amount,
            balance_after=left,
            reason="charge",
            now=now,
            endpoint=endpoint,
            request_id=request_id,
            pool=kind,
        )
    return cost.total, after


def affordable(purse: Purse, cost: Bill) -> bool:
    """Whether ``purse`` covers ``cost`` (an unlimited pool covers anything)."""
    if cost.general > purse.credits:
        return False
    for kind, amount in cost.pools.items():
        left = purse.pool(kind)
        if left is None or (left != UNLIMITED and left < amount):
            return False
    return True


def after(purse: Purse, cost: Bill) -> Purse:
    """``purse`` once ``cost`` is drawn from it."""
    changes: dict[str, int] = {"credits": purse.credits - cost.general}
    for kind, amount in cost.pools.items():
        left = purse.pool(kind)
        if left is not None and left != UNLIMITED:
            changes[kind] = left - amount
    return replace(purse, **changes)


class _Short(Exception):
    """A batch's item ``at`` is the first its account cannot cover: the batch is done again up to it."""

    def __init__(self, at: int) -> None:
        self.at = at


async def charge_batch(
    db: Database,
    account_id: int,
    prices: Prices,
    batch: Sequence[tuple[int, Sequence[Item]]],
    *,
    endpoint: str,
    request_id: str,
    now: int,
    fresh_since: int,
    then: Callable[[Executor, dict[int, int | None]], Awaitable[None]],
) -> dict[int, int | None]:
    """Charge a batch of requests (a bulk job's items) each as its single call would be, in order, in one
    transaction with ``then`` (which writes their results): what each drew, None for those the account
    could not cover (the first item it cannot cover and every one after it).

    The same rules as ``charge``: an item pays for what the account has not revealed since
    ``fresh_since`` (nor an earlier item of the batch), by ``bill``; no balance or pool goes below zero;
    the ledger gets a row per balance moved. An item the account cannot cover makes the transaction
    start again with the items before it only, so what is claimed and drawn is exactly what was paid for.
    """
    items = list(batch)
    while True:
        try:
            return await _charge_batch(db, account_id, prices, items, endpoint, request_id, now, fresh_since, then)
        except _Retry:
            continue
        except _Short as short:
            cut = next(i for i, (idx, _) in enumerate(items) if idx == short.at)
            refused: dict[int, int | None] = {idx: None for idx, _ in items[cut:]}
            if cut == 0:
                async with db.transaction() as tx:
                    await then(tx, dict(refused))
                return refused

            async def with_refused(
                tx: Executor, outcome: dict[int, int | None], refused: dict[int, int | None] = refused
            ) -> None:
                await then(tx, {**outcome, **refused})

            done = await charge_batch(
                db, account_id, prices, items[:cut], endpoint=endpoint, request_id=request_id, now=now,
                fresh_since=fresh_since, then=with_refused,
            )  # fmt: skip
            return {**done, **refused}


async def _charge_batch(
    db: Database,
    account_id: int,
    prices: Prices,
    items: list[tuple[int, Sequence[Item]]],
    endpoint: str,
    request_id: str,
    now: int,
    fresh_since: int,
    then: Callable[[Executor, dict[int, int | None]], Awaitable[None]],
) -> dict[int, int | None]:
    async with db.transaction() as tx:
        stored = list({(i.person_id, i.kind): i for _, its in items for i in its if i.person_id is not None}.values())
        newly = {
            (i.person_id, i.kind) for i in await repository.claim_reveals(tx, account_id, stored, now, fresh_since)
        }
        purse = await repository.purse(tx, account_id)
        running, outcome = purse, dict[int, int | None]()
        total = Bill(0, {})
        for idx, its in items:
            new = [i for i in its if i.person_id is None or (i.person_id, i.kind) in newly]
            newly -= {(i.person_id, i.kind) for i in new}  # the first item to reveal a thing pays for it
            cost = bill(new, prices, running)
            if not affordable(running, cost):
                raise _Short(idx)
            running = after(running, cost)
            total = Bill(total.general + cost.general, {**total.pools, **{
                k: total.pools.get(k, 0) + v for k, v in cost.pools.items()}})  # fmt: skip
            outcome[idx] = cost.total
        if total.total:
            left = await repository.debit_all(tx, account_id, total.general, total.pools)
            if left is None:  # spent meanwhile by another request (PostgreSQL): start again
                raise _Retry
            await _ledger(tx, account_id, total, left, endpoint=endpoint, request_id=request_id, now=now)
        await then(tx, outcome)
        return outcome


class _Retry(Exception):
    """The account's balance moved between the batch's reading and its debit."""


async def _ledger(
    tx: Executor, account_id: int, cost: Bill, left: Purse, *, endpoint: str, request_id: str, now: int
) -> None:
    if cost.general:
        await repository.add_ledger(
            tx, account_id=account_id, delta=-cost.general, balance_after=left.credits, reason="charge",
            now=now, endpoint=endpoint, request_id=request_id,
        )  # fmt: skip
    for kind, amount in cost.pools.items():
        pool = left.pool(kind)
        assert pool is not None
        await repository.add_ledger(
            tx, account_id=account_id, delta=0 if pool == UNLIMITED else -amount, balance_after=pool,
            reason="charge", now=now, endpoint=endpoint, request_id=request_id, pool=kind,
        )  # fmt: skip


def shortfall(cost: Bill, have: Purse) -> str:
    """Which balance cannot cover ``cost``, in words."""
    for kind, amount in cost.pools.items():
        left = have.pool(kind)
        if left is not None and left != UNLIMITED and left < amount:
            return (
                f"this request needs {amount} {KIND_NAMES[kind]} credit(s) and the account has {left} left: "
                f"add {KIND_NAMES[kind]} credits, or ask without that kind"
            )
    return f"this request costs {cost.general} credits and the account has {have.credits}; add credits to continue"


async def charge_at_once(
    db: Executor,
    account_id: int,
    prices: Prices,
    items: Sequence[Item],
    *,
    endpoint: str,
    request_id: str,
    now: int,
    fresh_since: int,
) -> tuple[int, int] | None:
    """``charge`` in one statement of its own (PostgreSQL, no transaction open, an account without
    pools): (decreased, remaining), or None when the balance does not cover the request and nothing was
    done (``charge`` in a transaction then says by how much)."""
    priced = [(item, prices.of(item.kind)) for item in items]
    return await repository.charge_at_once(
        db, account_id, priced, now=now, since=fresh_since, endpoint=endpoint, request_id=request_id
    )
