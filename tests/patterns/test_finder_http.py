"""``/company/emailFinder`` and the predictions in profiles, over real HTTP on the demo store."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from leadsmith.db.database import Database
from leadsmith.db.tables import companies, emails, people
from tests.conftest import MakeAccount, balance_and_ledger


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_finder_predicts_from_the_domain_pattern(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=10)
    for body in (
        {"domain": "domain", "name": "Jane Doe"},
        {"domain": "company@domain", "firstName": "Jane", "lastName": "Doe"},
    ):
        r = await client.post("/company/emailFinder", headers=auth(acct.key), json=body)
        assert r.status_code == 200, r.text
        found = r.json()["emails"]
        assert 1 <= len(found) <= 5
        assert all(set(e) == {"email", "score", "pattern", "valid"} for e in found)
        assert found[0]["email"] == "jane.doe@domain"
        assert found[0]["pattern"] == "{first}.{last}@domain"
        assert found[0]["valid"] is None and found[0]["score"] > 0.5
        assert [e["score"] for e in found] == sorted((e["score"] for e in found), reverse=True)
        assert r.headers["Decreased-Credits"] == "1"
    assert await balance_and_ledger(db, acct.id) == (8, 8)


async def test_finder_puts_a_known_address_first_and_charges_it_once(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    acct = await make_account(credits=10)
    body = {"domain": "domain", "name": "Linkedin Name"}
    first = await client.post("/company/emailFinder", headers=auth(acct.key), json=body)
    found = first.json()["emails"]
    assert found[0] == {"email": "linkedin.name@domain", "score": 0.6, "pattern": None, "valid": None}
    assert first.headers["Decreased-Credits"] == "1"
    again = await client.post("/company/emailFinder", headers=auth(acct.key), json=body)
    assert again.headers["Decreased-Credits"] == "0"


async def test_finder_numbers_an_address_taken_by_a_namesake(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.post(
        "/company/emailFinder", headers=auth(demo_key), json={"domain": "domain", "name": "Linkedin Name"}
    )
    assert r.json()["emails"][0]["email"] == "linkedin.name@domain"
    namesake = await client.post(
        "/company/emailFinder", headers=auth(demo_key), json={"domain": "domain", "name": "Linkédin Name"}
    )
    found = [e["email"] for e in namesake.json()["emails"]]
    assert found[0] == "linkedin.name2@domain"
    assert "linkedin.name@domain" not in found


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"domain": "example.com"}, "name"),
        ({"name": "Jane Doe"}, "domain"),
        ({"domain": "not a domain", "name": "Jane Doe"}, "domain"),
        ({"domain": "example.com", "name": 5}, "name"),
        ({"domain": "example.com", "firstName": ["x"]}, "firstName"),
        ({"domain": "example.com", "name": ""}, "name"),
    ],
)
async def test_finder_bad_input(client: httpx.AsyncClient, demo_key: str, body: dict[str, object], field: str) -> None:
    r = await client.post("/company/emailFinder", headers=auth(demo_key), json=body)
    assert r.status_code == 400
    assert field in r.json()["error"]["message"]


async def test_profile_without_a_work_address_gets_a_prediction(
    client: httpx.AsyncClient, demo_key: str, db: Database
) -> None:
    has_pro = sa.select(emails.c.id).where(emails.c.person_id == people.c.id, emails.c.kind == "pro").exists()
    row = await db.fetch_one(
        sa.select(people.c.linkedin_id, companies.c.domain)
        .join(companies, companies.c.id == people.c.company_id)
        .where(~has_pro, companies.c.domain != "example.com")
        .limit(1)
    )
    assert row is not None, "the demo set has people with only a personal address"
    r = await client.post("/profile/profile", headers=auth(demo_key), json={"id": row.linkedin_id, "name": "x"})
    profile = r.json()["profile"]
    predicted = [e for e in profile["emails"] if e["email"].endswith("@" + row.domain)]
    assert len(predicted) == 1 and predicted[0]["valid"] is None
    assert profile["emails"][-1] == predicted[0]
    assert profile["currentProEmail"] == predicted[0]["email"]


async def test_domain_pattern_scores_come_from_the_engine(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.post("/company/domainPattern", headers=auth(demo_key), json={"domain": "domain"})
    patterns = r.json()["patterns"]
    assert patterns[0]["pattern"] == "{first}.{last}@domain" and patterns[0]["score"] > 0.7
    assert sum(p["score"] for p in patterns) <= 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"domain": "domain", "name": "🤡"},
        {"domain": "domain", "name": "🤡 🎈"},
        {"domain": "domain", "name": "..."},
        {"domain": "domain", "firstName": "🤡"},
        {"domain": "domain", "firstName": "🤡", "lastName": "-"},
    ],
)
async def test_a_name_with_nothing_to_build_an_address_from_is_a_400_charged_nothing(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database, body: dict[str, str]
) -> None:
    acct = await make_account(credits=5)
    r = await client.post("/company/emailFinder", headers=auth(acct.key), json=body)
    assert r.status_code == 400, r.text
    assert "no letter or digit" in r.json()["message"]
    assert r.json()["error"]["details"][0]["field"] in ("name", "firstName")
    assert await balance_and_ledger(db, acct.id) == (5, 5)


async def test_a_one_word_name_is_scored_by_the_domains_own_patterns(client: httpx.AsyncClient, demo_key: str) -> None:
    """At a domain of first.last (the demo's "domain"), a lone word is rarely the whole address; where the
    domain writes the first name alone, it often is."""

    async def lone(domain: str) -> float:
        r = await client.post("/company/emailFinder", headers=auth(demo_key), json={"domain": domain, "name": "Zorro"})
        (only,) = r.json()["emails"]
        assert only["email"] == f"zorro@{domain}"
        return float(only["score"])

    first_only = first_name_domain()
    at_first_last, at_first = await lone("domain"), await lone(first_only)
    assert at_first_last < 0.2 < at_first, (at_first_last, at_first)


def first_name_domain() -> str:
    """The demo's company whose addresses are the first name alone."""
    from leadsmith.contacts.demo import COMPANIES, demo_rows

    index = next(i for i, c in enumerate(COMPANIES) if c[4] == "{first}")
    domains = list(dict.fromkeys(str(r["domain"]) for r in demo_rows() if r.get("domain")))
    return domains[index]
