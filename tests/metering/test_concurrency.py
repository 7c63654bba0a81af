"""Counting under load, over real HTTP: exact rate limits, a balance that never goes negative, no double charges."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable

import httpx
import sqlalchemy as sa

from leadsmith.db.database import Database
from leadsmith.db.tables import emails, people
from tests.conftest import MakeAccount, balance_and_ledger


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def counted(client: httpx.AsyncClient, key: str) -> Awaitable[httpx.Response]:
    """A request counted against the key's windows and free of charge."""
    return client.post("/company/domainPattern", headers=auth(key), json={"domain": "example.com"})


async def linkedin_ids_with_email(db: Database) -> list[str]:
    stmt = (
        sa.select(people.c.linkedin_id)
        .where(
            people.c.linkedin_id.is_not(None), sa.select(emails.c.id).where(emails.c.person_id == people.c.id).exists()
        )
        .order_by(people.c.id)
    )
    return [r.linkedin_id for r in await db.fetch_all(stmt)]


async def test_rate_limit_is_exact_under_concurrency(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    n = 40
    acct = await make_account(rate_limit=n)
    responses = await asyncio.gather(*(counted(client, acct.key) for _ in range(3 * n)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: n, 429: 2 * n}
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(n))
    for r in responses:
        assert r.headers["X-RateLimit-Limit"] == str(n)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["Retry-After"]) >= 1
            assert r.headers["X-RateLimit-Remaining"] == "0"
    later = await counted(client, acct.key)
    assert later.status_code == 429
    # The /keys/* calls are not counted, and answer while the window is spent.
    assert (await client.get("/keys/verifyKey", headers=auth(acct.key))).status_code == 200


async def test_credits_never_go_negative_and_the_ledger_sums_to_the_balance(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    ids = (await linkedin_ids_with_email(db))[:300]
    assert len(ids) == 300
    acct = await make_account(credits=100)
    responses = await asyncio.gather(
        *(client.post("/profile/profile", headers=auth(acct.key), json={"id": i, "name": "x"}) for i in ids)
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 100, 402: 200}
    assert sum(int(r.headers["Decreased-Credits"]) for r in responses) == 100
    assert all(int(r.headers["Remaining-Credits"]) >= 0 for r in responses)
    assert await balance_and_ledger(db, acct.id) == (0, 0)


async def test_one_lead_revealed_concurrently_is_charged_once(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=100)
    body = {"id": "kathleen-harvey", "name": "Kathleen Harvey", "isPhoneRequired": True}
    responses = await asyncio.gather(
        *(client.post("/profile/profile", headers=auth(acct.key), json=body) for _ in range(100))
    )
    assert {r.status_code for r in responses} == {200}
    assert sorted(int(r.headers["Decreased-Credits"]) for r in responses)[-1] == 3
    assert sum(int(r.headers["Decreased-Credits"]) for r in responses) == 3
    assert await balance_and_ledger(db, acct.id) == (97, 97)


async def test_idempotency_key_under_concurrency_charges_once(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=100)
    headers = {**auth(acct.key), "Idempotency-Key": "burst-1"}
    body = {"domain": "example.com", "contactsNumberLimit": 7}
    responses = await asyncio.gather(
        *(client.post("/company/domainEmployees", headers=headers, json=body) for _ in range(60))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert sum(int(r.headers["Decreased-Credits"]) for r in responses) == 7
    assert await balance_and_ledger(db, acct.id) == (93, 93)


async def test_the_one_statement_charge_counts_each_reveal_once_and_takes_nothing_it_cannot_cover(
    make_account: MakeAccount, db: Database
) -> None:
    """PostgreSQL charges outside a transaction in one statement: concurrent charges for the same lead
    pay once, a charge the balance cannot cover claims and takes nothing, and the ledger sums up."""
    if db.dialect != "postgresql":
        return
    from leadsmith.access.schemas import Prices
    from leadsmith.db.tables import reveals
    from leadsmith.metering import credits
    from leadsmith.metering.schemas import Item

    person_ids = [int(r.id) for r in await db.fetch_all(sa.select(people.c.id).order_by(people.c.id).limit(3))]
    acct = await make_account(credits=10)
    prices = Prices(email=2, phone=3, employee=1)

    async def charge(items: list[Item]) -> tuple[int, int] | None:
        return await credits.charge_at_once(
            db, acct.id, prices, items, endpoint="/test", request_id="r", now=1_000, fresh_since=0
        )

    same = [Item(person_ids[0], "email"), Item(person_ids[0], "phone")]
    results = await asyncio.gather(*(charge(same) for _ in range(20)))
    assert sorted(r[0] for r in results if r is not None) == [0] * 19 + [5]
    assert await balance_and_ledger(db, acct.id) == (5, 5)
    # Two e-mails and one unknown person's prediction (always charged): 2 + 2 + 1 > 5 - nothing happens.
    too_much = [
        Item(person_ids[1], "email"),
        Item(person_ids[2], "email"),
        Item(None, "employee"),
        Item(None, "employee"),
    ]
    assert await charge(too_much) is None
    assert await balance_and_ledger(db, acct.id) == (5, 5)
    claimed = await db.scalar(sa.select(sa.func.count()).select_from(reveals).where(reveals.c.account_id == acct.id))
    assert claimed == 2
    assert await charge(too_much[:2] + too_much[2:3]) == (5, 0)
    assert await balance_and_ledger(db, acct.id) == (0, 0)
