"""Kaspr API v2.0 over real HTTP against a server process: /profile/linkedin, /keys/remainingCredits and
/keys/rateLimits, credits per kind and the windows per key."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsmith.access.service import AccessService
from leadsmith.config import Settings
from leadsmith.db.database import Database, open_database
from leadsmith.metering import credits as credit_rules
from leadsmith.metering import repository as metering_repository
from leadsmith.metering.schemas import POOL_KINDS, PoolKind
from tests.conftest import MakeAccount, balance_and_ledger
from tests.metering.test_concurrency import linkedin_ids_with_email
from tests.support import Server, cli

V2 = {"accept-version": "v2.0"}
V2_FIELDS = {
    "id", "name", "firstName", "lastName", "title", "location", "companyName", "company", "workEmails",
    "starryWorkEmail", "directEmails", "starryDirectEmail", "phones", "starryPhone", "emails", "fetchedAt",
    "professionalEmails", "professionalEmail", "starryProfessionalEmail", "personalEmails", "personalEmail",
    "starryPersonalEmail", "phone", "sources",
}  # fmt: skip
# Leads of the demo set, with what is known of each.
LEADS = {
    "linkedinId": {"work_email": ["linkedin.name@domain"], "direct_email": ["linkedin.name@gmail.com"],
                   "phone": ["+33 1 42 68 53 00"]},
    "kathleen-harvey": {"work_email": ["Kathleen-Harvey@example.com"], "direct_email": [], "phone": ["+33 6 12 34 56 78"]},
    "Casper-Linkedin": {"work_email": ["Casper@example.com"], "direct_email": ["Casper@gmail.com"], "phone": []},
}  # fmt: skip
NAMES = {"workEmail": "work_email", "directEmail": "direct_email", "personalEmail": "direct_email", "phone": "phone"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **V2}


async def pools_of(db: Database, account_id: int) -> dict[str, int | None]:
    purse = await metering_repository.purse(db, account_id)
    return {"general": purse.credits, **{k: purse.pool(k) for k in POOL_KINDS}}


async def ledger_matches(db: Database, account_id: int) -> None:
    """Every finite pool and the general balance equal the sum of their ledger rows (an unlimited one sums to 0)."""
    purse = await metering_repository.purse(db, account_id)
    assert await metering_repository.ledger_sum(db, account_id) == purse.credits
    for kind in POOL_KINDS:
        value = purse.pool(kind)
        if value is not None:
            assert await metering_repository.ledger_sum(db, account_id, kind) == (0 if value == -1 else value)


async def test_a_lead_in_both_namings(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=100)
    r = await client.post(
        "/profile/linkedin", headers=auth(acct.key), json={"id": "linkedinId", "name": "Linkedin Name"}
    )
    assert r.status_code == 200, r.text
    p = r.json()["profile"]
    assert set(p) == V2_FIELDS
    assert p["id"] == "linkedinId" and p["name"] == "Linkedin Name"
    assert (p["firstName"], p["lastName"], p["title"]) == ("Linkedin", "Name", "Head of Examples")
    assert p["workEmails"] == p["professionalEmails"] == ["linkedin.name@domain"]
    assert p["starryWorkEmail"] == p["starryProfessionalEmail"] == p["professionalEmail"] == "linkedin.name@domain"
    assert p["directEmails"] == p["personalEmails"] == ["linkedin.name@gmail.com"]
    assert p["starryDirectEmail"] == p["starryPersonalEmail"] == p["personalEmail"] == "linkedin.name@gmail.com"
    assert p["phones"] == ["+33 1 42 68 53 00"] and p["starryPhone"] == p["phone"] == "+33 1 42 68 53 00"
    assert {e["email"] for e in p["emails"]} == {"linkedin.name@domain", "linkedin.name@gmail.com"}
    assert all(set(e) == {"email", "valid", "isCurrent"} and e["isCurrent"] is True for e in p["emails"])
    assert p["company"]["name"] == "Company" and p["company"]["domains"] == ["domain"]
    assert set(p["company"]["mainAddress"]) == {"line1", "city", "postalCode", "country"}
    assert isinstance(p["fetchedAt"], int)
    # Work and direct e-mails cost one e-mail price together on the general balance, the phone its own.
    assert r.headers["Decreased-Credits"] == "3" and r.headers["Remaining-Credits"] == "97"
    for kind in ("Work-Email", "Direct-Email", "Phone"):
        assert r.headers[f"Remaining-{kind}-Credits"] == "97"
    assert r.headers["Remaining-Export-Credits"] == "-1"


async def test_only_the_kinds_asked_for_are_filled(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=100)
    r = await client.post(
        "/profile/linkedin", headers=auth(acct.key), json={"id": "linkedinId", "name": "x", "dataToGet": ["phone"]}
    )
    p = r.json()["profile"]
    assert p["phones"] == ["+33 1 42 68 53 00"]
    assert p["workEmails"] == p["directEmails"] == p["emails"] == [] and p["starryWorkEmail"] is None
    assert r.headers["Decreased-Credits"] == "2"
    r = await client.post(
        "/profile/linkedin",
        headers=auth(acct.key),
        json={"id": "linkedinId", "name": "x", "dataToGet": ["personalEmail"]},
    )
    p = r.json()["profile"]
    assert p["directEmails"] == ["linkedin.name@gmail.com"] and p["workEmails"] == [] and p["phones"] == []
    assert [e["email"] for e in p["emails"]] == ["linkedin.name@gmail.com"]


async def test_an_unknown_lead_or_a_missing_required_kind_is_an_empty_profile_charged_nothing(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=100)
    for body in (
        {"id": "nobody-known-at-all", "name": "No Body"},
        {"id": "Casper-Linkedin", "name": "Casper", "requiredData": ["phone"]},
        {"id": "kathleen-harvey", "name": "Kathleen", "dataToGet": ["workEmail"], "requiredData": ["directEmail"]},
        {"id": "Casper-Linkedin", "name": "Casper", "isPhoneRequired": True},
    ):
        r = await client.post("/profile/linkedin", headers=auth(acct.key), json=body)
        assert r.status_code == 200, r.text
        p = r.json()["profile"]
        assert set(p) == V2_FIELDS
        assert p["id"] == body["id"] and p["name"] == body["name"]
        assert p["fetchedAt"] is None and p["company"] is None
        for field in ("workEmails", "directEmails", "phones", "emails", "professionalEmails", "personalEmails"):
            assert p[field] == [], field
        for field in ("starryWorkEmail", "starryDirectEmail", "starryPhone", "phone", "personalEmail"):
            assert p[field] is None, field
        assert r.headers["Decreased-Credits"] == "0"
    assert await balance_and_ledger(db, acct.id) == (100, 100)


async def test_a_required_kind_is_also_revealed(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=100)
    r = await client.post(
        "/profile/linkedin",
        headers=auth(acct.key),
        json={"id": "kathleen-harvey", "name": "K", "dataToGet": ["workEmail"], "requiredData": ["phone"]},
    )
    p = r.json()["profile"]
    assert p["workEmails"] == ["Kathleen-Harvey@example.com"] and p["phones"] == ["+33 6 12 34 56 78"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("dataToGet", ["emails", "phones"]), ("dataToGet", ["Work email"]), ("requiredData", ["company"])],
)
async def test_unknown_kinds_are_a_400_naming_them_and_the_allowed_ones(
    client: httpx.AsyncClient, demo_key: str, field: str, value: list[str]
) -> None:
    r = await client.post("/profile/linkedin", headers=auth(demo_key), json={"id": "linkedinId", field: value})
    assert r.status_code == 400
    body = r.json()
    assert body["error"]["code"] == "invalid_request"
    assert body["message"] == body["error"]["message"]
    assert field in body["message"] and repr(value[0]) in body["message"]
    assert "workEmail" in body["message"] and "directEmail" in body["message"] and "phone" in body["message"]


async def test_the_two_versions_reveal_the_same_items_and_draw_the_same_credits(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    """Either version first, the other then: the second is free, and both cost what one costs."""
    for first, second in (("/profile/profile", "/profile/linkedin"), ("/profile/linkedin", "/profile/profile")):
        acct = await make_account(credits=100, email=5, phone=7)
        v1 = {"id": "linkedinId", "name": "Linkedin Name", "isPhoneRequired": True}
        v2 = {"id": "linkedinId", "name": "Linkedin Name"}
        r1 = await client.post(first, headers=auth(acct.key), json=v1 if first.endswith("profile") else v2)
        r2 = await client.post(second, headers=auth(acct.key), json=v1 if second.endswith("profile") else v2)
        assert (r1.status_code, r2.status_code) == (200, 200)
        assert (r1.headers["Decreased-Credits"], r2.headers["Decreased-Credits"]) == ("12", "0")
        old, new = (r1, r2) if first.endswith("profile") else (r2, r1)
        assert old.json()["profile"]["currentProEmails"] == new.json()["profile"]["workEmails"]
        assert old.json()["profile"]["currentPersonalEmails"] == new.json()["profile"]["directEmails"]
        assert old.json()["profile"]["phones"] == new.json()["profile"]["phones"]
        assert await balance_and_ledger(db, acct.id) == (88, 88)


async def test_pools_per_kind_draw_one_credit_per_item_and_an_export_credit_per_call(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database, server: Server
) -> None:
    acct = await make_account(credits=10)
    cli(server.env, "accounts", "update", acct.email, "--work-email-credits", "-1", "--direct-email-credits", "5")
    cli(server.env, "credits", "grant", acct.email, "3", "--kind", "phone")
    cli(server.env, "credits", "grant", acct.email, "2", "--kind", "export")
    r = await client.get("/keys/remainingCredits", headers=auth(acct.key))
    assert r.json() == {
        "workEmailCredits": -1,
        "directEmailCredits": 5,
        "personalEmailCredits": 5,
        "phoneCredits": 3,
        "exportCredits": 2,
    }
    r = await client.post("/profile/linkedin", headers=auth(acct.key), json={"id": "linkedinId", "name": "x"})
    assert r.status_code == 200
    assert r.headers["Decreased-Credits"] == "4"  # work (unlimited), direct, phone, export
    assert r.headers["Remaining-Credits"] == "10"
    assert [r.headers[f"Remaining-{k}-Credits"] for k in ("Work-Email", "Direct-Email", "Phone", "Export")] == [
        "-1",
        "4",
        "2",
        "1",
    ]
    again = await client.post("/profile/linkedin", headers=auth(acct.key), json={"id": "linkedinId", "name": "x"})
    assert again.headers["Decreased-Credits"] == "0"  # a re-reveal is free, export included
    assert await pools_of(db, acct.id) == {
        "general": 10,
        "work_email": -1,
        "direct_email": 4,
        "phone": 2,
        "export": 1,
    }
    await ledger_matches(db, acct.id)
    shown = cli(server.env, "credits", "show", acct.email).stdout
    assert f"{acct.email}: 10 credits" in shown
    assert "work e-mail credits: unlimited" in shown and "phone credits: 2" in shown


async def test_an_empty_pool_is_a_402_naming_its_kind_and_nothing_is_drawn(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database, server: Server
) -> None:
    acct = await make_account(credits=10)
    cli(server.env, "accounts", "update", acct.email, "--phone-credits", "0", "--work-email-credits", "4")
    r = await client.post(
        "/profile/linkedin", headers=auth(acct.key), json={"id": "kathleen-harvey", "dataToGet": ["workEmail", "phone"]}
    )
    assert r.status_code == 402
    assert "phone" in r.json()["message"] and r.json()["error"]["code"] == "insufficient_credits"
    assert await pools_of(db, acct.id) == {
        "general": 10,
        "work_email": 4,
        "direct_email": None,
        "phone": 0,
        "export": None,
    }
    # Nothing was revealed either: the same e-mail is charged when asked again without the phone.
    r = await client.post(
        "/profile/linkedin", headers=auth(acct.key), json={"id": "kathleen-harvey", "dataToGet": ["workEmail"]}
    )
    assert r.status_code == 200 and r.headers["Decreased-Credits"] == "1"
    assert (await pools_of(db, acct.id))["work_email"] == 3
    await ledger_matches(db, acct.id)


async def test_keys_calls_are_free_uncounted_and_answer_when_a_window_is_spent(
    client: httpx.AsyncClient, make_account: MakeAccount, server: Server
) -> None:
    acct = await make_account(credits=10, rate_limit=3)
    cli(server.env, "accounts", "update", acct.email, "--daily-limit", "500", "--minutely-limit", "2")
    await asyncio.sleep(1.1)  # the server's key cache (1 s in tests) forgets the old limits
    r = await client.get("/keys/rateLimits", headers=auth(acct.key))
    assert r.json() == {"dailyLimit": 500, "hourlyLimit": 3, "minutelyLimit": 2}
    body = {"domain": "example.com"}
    statuses = [
        (await client.post("/company/domainPattern", headers=auth(acct.key), json=body)).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    refused = await client.post("/company/domainPattern", headers=auth(acct.key), json=body)
    assert refused.status_code == 429
    assert refused.headers["X-Minutely-RateLimit-Remaining"] == "0"
    assert refused.headers["X-Hourly-RateLimit-Remaining"] == "1"  # refused requests spend no other window
    assert refused.headers["X-Daily-RateLimit-Remaining"] == "498"
    assert refused.headers["X-RateLimit-Remaining"] == "0" and refused.headers["X-RateLimit-Limit"] == "2"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "2 requests a minute" in refused.json()["message"]
    for path in ("/keys/verifyKey", "/keys/remainingCredits", "/keys/rateLimits"):
        for _ in range(3):
            r = await client.get(path, headers=auth(acct.key))
            assert r.status_code == 200, (path, r.text)
            assert "Decreased-Credits" not in r.headers
    assert (await client.get("/keys/rateLimits", headers={"Authorization": "Bearer nope"})).status_code == 401


@pytest.mark.parametrize("version", [None, "v2.0", "v1", "2.0", "nonsense;;", ""])
async def test_any_accept_version_answers_the_same(
    client: httpx.AsyncClient, demo_key: str, version: str | None
) -> None:
    headers = {"Authorization": f"Bearer {demo_key}"}
    if version is not None:
        headers["accept-version"] = version
    r = await client.post("/profile/linkedin", headers=headers, json={"id": "Casper-Linkedin", "name": "Casper"})
    assert r.status_code == 200
    assert r.json()["profile"]["workEmails"] == ["Casper@example.com"]


async def test_every_error_carries_a_top_level_message(client: httpx.AsyncClient, demo_key: str) -> None:
    for method, path, kwargs in (
        ("GET", "/keys/verifyKey", {}),
        ("POST", "/profile/profile", {"headers": {"Authorization": demo_key}, "content": b"{"}),
        ("POST", "/profile/linkedin", {"headers": {"Authorization": demo_key}, "json": {"name": "no id"}}),
        ("GET", "/nowhere", {}),
        ("DELETE", "/profile/profile", {}),
    ):
        r = await client.request(method, path, **kwargs)
        assert r.status_code >= 400
        body = r.json()
        assert isinstance(body["message"], str) and body["message"] == body["error"]["message"], (path, body)


async def test_pools_stay_exact_under_200_concurrent_reveals(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    """200 concurrent v2 reveals of different leads on one account whose pools cover fewer: no pool below
    zero, every pool's ledger equal to it, and each 200 drew exactly what it revealed."""
    ids = (await linkedin_ids_with_email(db))[:200]
    assert len(ids) == 200
    acct = await make_account(credits=1000, pools={"work_email": 60, "direct_email": 40, "export": 150})
    responses = await asyncio.gather(
        *(
            client.post(
                "/profile/linkedin", headers=auth(acct.key), json={"id": i, "dataToGet": ["workEmail", "directEmail"]}
            )
            for i in ids
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 402} and statuses[402] > 0
    pools = await pools_of(db, acct.id)
    assert all(v is None or v >= 0 for v in pools.values()), pools
    assert pools["general"] == 1000
    drawn = sum(int(r.headers["Decreased-Credits"]) for r in responses if r.status_code == 200)
    assert drawn == (60 - pools["work_email"]) + (40 - pools["direct_email"]) + (150 - pools["export"])  # type: ignore[operator]
    await ledger_matches(db, acct.id)


# --- Hypothesis: what is revealed is what was asked for and known; what is drawn is what was newly revealed.

KIND_NAME = st.sampled_from(sorted(NAMES))
CALL = st.fixed_dictionaries(
    {
        "lead": st.sampled_from(sorted(LEADS)),
        "dataToGet": st.none() | st.lists(KIND_NAME, max_size=4),
        "requiredData": st.none() | st.lists(KIND_NAME, max_size=2),
    }
)


def expected(call: dict[str, Any]) -> tuple[set[str], bool]:
    """(kinds revealed, found) for a call."""
    want = set(NAMES.values()) if call["dataToGet"] is None else {NAMES[k] for k in call["dataToGet"]}
    require = {NAMES[k] for k in call["requiredData"] or []}
    known = {k for k, v in LEADS[call["lead"]].items() if v}
    if not require <= known:
        return set(), False
    return (want | require) & known, True


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(calls=st.lists(CALL, min_size=1, max_size=3))
def test_what_is_revealed_and_drawn_follows_what_was_asked(
    calls: list[dict[str, Any]], server: Server, database_url: str
) -> None:
    async def run() -> None:
        db = open_database(database_url)  # this example's own loop, its own connections
        try:
            acct = await account_with_pools(db, {"work_email": 50, "direct_email": 50, "phone": 50})
            revealed: dict[str, set[str]] = {}
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                for call in calls:
                    before = await pools_of(db, acct[0])
                    body: dict[str, Any] = {"id": call["lead"], "name": "x"}
                    for field in ("dataToGet", "requiredData"):
                        if call[field] is not None:
                            body[field] = call[field]
                    r = await client.post("/profile/linkedin", headers=auth(acct[1]), json=body)
                    assert r.status_code == 200, r.text
                    p = r.json()["profile"]
                    kinds, _ = expected(call)
                    truth = LEADS[call["lead"]]
                    assert p["workEmails"] == (truth["work_email"] if "work_email" in kinds else [])
                    assert p["directEmails"] == (truth["direct_email"] if "direct_email" in kinds else [])
                    assert p["phones"] == (truth["phone"] if "phone" in kinds else [])
                    new = kinds - revealed.setdefault(call["lead"], set())
                    revealed[call["lead"]] |= kinds
                    after = await pools_of(db, acct[0])
                    drawn = Counter({k: (before[k] or 0) - (after[k] or 0) for k in after if k != "general"})
                    assert +drawn == Counter(new), (call, drawn, new)
                    assert r.headers["Decreased-Credits"] == str(len(new))
            await ledger_matches(db, acct[0])
        finally:
            await db.close()

    asyncio.run(run())


async def account_with_pools(db: Database, pools: dict[PoolKind, int], credits: int = 0) -> tuple[int, str]:
    """An account with these pools and a key, through the real services: (id, key)."""
    access = AccessService(db, Settings(database_url=db.url))
    async with db.transaction() as tx:
        account = await access.create_account(tx, f"pools-{uuid.uuid4().hex[:10]}@test.example", credits_=credits)
        for kind, value in pools.items():
            await credit_rules.set_pool(tx, account.id, kind, value, now=access.clock())
        created = await access.create_key(tx, account.id, "test")
    return account.id, created.key
