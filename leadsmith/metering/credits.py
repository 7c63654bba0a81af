"""The rules of the credits ledger. Callers own the transaction these run in."""

from __future__ import annotations

from collections.abc import Sequence

from leadsmith.access.schemas import Prices
from leadsmith.db.database import Executor
from leadsmith.errors import BadRequest, InsufficientCredits, coded
from leadsmith.metering import repository
from leadsmith.metering.schemas import Item


async def grant(tx: Executor, account_id: int, amount: int, *, reason: str, now: int) -> int:
    """Add credits (or take some back with a negative amount); returns the new balance."""
    after = await repository.credit(tx, account_id, amount)
    if after is None:
        have = await repository.balance(tx, account_id)
        raise coded(
            BadRequest,
            "balance_would_go_negative",
            f"cannot take {-amount} credits from a balance of {have}",
        )
    await repository.add_ledger(
        tx,
        account_id=account_id,
        delta=amount,
        balance_after=after,
        reason=reason,
        now=now,
    )
    return after


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
) -> tuple[int, int]:
    """Charge for the items not revealed since ``fresh_since``; returns (decreased, remaining).

    The debit is one conditional UPDATE, so the balance never goes below zero; the ledger row is
    written in the same transaction (on PostgreSQL in the same statement). Raises InsufficientCredits
    (and the caller rolls back).
    """
    stored = [i for i in items if i.person_id is not None]
    new = [i for i in items if i.person_id is None] + await repository.claim_reveals(
        tx, account_id, stored, now, fresh_since
    )
    cost = sum(prices.of(item.kind) for item in new)
    if cost == 0:
        return 0, await repository.balance(tx, account_id)
    after = await repository.charge_balance(
        tx, account_id, cost, reason="charge", now=now, endpoint=endpoint, request_id=request_id
    )
    if after is None:
        have = await repository.balance(tx, account_id)
        raise InsufficientCredits(
            f"this request costs {cost} credits and the account has {have}; add credits to continue",
            headers={"Decreased-Credits": "0", "Remaining-Credits": str(have)},
        )
    return cost, after


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
    """``charge`` in one statement of its own (PostgreSQL, no transaction open): (decreased, remaining),
    or None when the balance does not cover the request and nothing was done (``charge`` in a
    transaction then says by how much)."""
    priced = [(item, prices.of(item.kind)) for item in items]
    return await repository.charge_at_once(
        db, account_id, priced, now=now, since=fresh_since, endpoint=endpoint, request_id=request_id
    )
