"""The habits of public Kaspr v2.0 clients (kaspr-api-v2.md, "Public clients worth reading"), one test
each, replayed over real HTTP against a server process with nothing but the base URL and key changed."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MakeAccount
from tests.support import Server

HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "accept-version": "v2.0"}


def bearer(key: str, name: str = "Authorization", scheme: str = "Bearer") -> dict[str, str]:
    return {**HEADERS, name: f"{scheme} {key}" if scheme else key}


def error_text(r: httpx.Response) -> str:
    """How aristote-app/Autonomia-MCP reads an error: message, then reason, detail, error."""
    body = r.json()
    for field in ("message", "reason", "detail", "error"):
        if isinstance(body.get(field), str):
            return str(body[field])
    return ""


async def test_a_key_check_with_an_empty_data_to_get(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """otomata-tech/connectors: `{"id": "<nonsense>", "name": "x", "dataToGet": []}`: 200 for a good key,
    401 for a bad one, nothing charged."""
    acct = await make_account(credits=5)
    probe = {"id": "__oto_verify_key__", "name": "__verify__", "dataToGet": []}
    good = await client.post("/profile/linkedin", headers=bearer(acct.key), json=probe)
    assert good.status_code == 200 and good.headers["Decreased-Credits"] == "0"
    assert good.json()["profile"]["workEmails"] == []
    known = await client.post("/profile/linkedin", headers=bearer(acct.key), json={**probe, "id": "linkedinId"})
    assert known.status_code == 200 and known.headers["Decreased-Credits"] == "0"
    assert known.json()["profile"]["workEmails"] == [] and known.headers["Remaining-Credits"] == "5"
    bad = await client.post("/profile/linkedin", headers=bearer("lsk_not-a-key"), json=probe)
    assert bad.status_code == 401 and error_text(bad)


async def test_a_retry_without_phone_after_a_402(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """otomata-tech/connectors: on 402 with "phone" asked for, the same call again without it."""
    acct = await make_account(credits=10, pools={"phone": 0})
    body = {"id": "kathleen-harvey", "name": "Kathleen Harvey", "dataToGet": ["workEmail", "phone"]}
    first = await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)
    assert first.status_code == 402 and "phone" in error_text(first)
    body["dataToGet"] = [d for d in body["dataToGet"] if d != "phone"]
    retry = await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)
    assert retry.status_code == 200
    assert retry.json()["profile"]["workEmails"] == ["Kathleen-Harvey@example.com"]


async def test_required_data(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """aristote-app/Autonomia-MCP, benieralexis-sudo/openclaw: `requiredData` beside `dataToGet`; a lead
    lacking it answers an empty profile, charged nothing."""
    acct = await make_account(credits=10)
    body = {"id": "Casper-Linkedin", "name": "Casper The Ghost", "dataToGet": ["workEmail"], "requiredData": ["phone"]}
    r = await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)
    assert r.status_code == 200 and r.json()["profile"]["starryWorkEmail"] is None
    assert r.headers["Decreased-Credits"] == "0"
    body["requiredData"] = ["workEmail"]
    r = await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)
    assert r.json()["profile"]["starryWorkEmail"] == "Casper@example.com"


@pytest.mark.parametrize(
    "ident",
    [
        "https://www.linkedin.com/in/kathleen-harvey",
        "https://www.linkedin.com/in/kathleen-harvey/",
        "https://fr.linkedin.com/in/kathleen-harvey/?originalSubdomain=fr",
        "linkedin.com/in/kathleen-harvey",
    ],
)
async def test_a_full_profile_url_as_id(client: httpx.AsyncClient, demo_key: str, ident: str) -> None:
    """MarieMoriceau/enrichisseur-dirigeants sends the whole URL (Kaspr answers 500 to some)."""
    r = await client.post("/profile/linkedin", headers=bearer(demo_key), json={"id": ident, "name": "Kathleen Harvey"})
    assert r.status_code == 200
    p = r.json()["profile"]
    assert p["workEmails"] == ["Kathleen-Harvey@example.com"] and p["id"] == "kathleen-harvey"


@pytest.mark.parametrize(
    ("name", "scheme"), [("Authorization", ""), ("authorization", "Bearer"), ("Authorization", "bearer")]
)
async def test_a_bare_key_and_other_spellings(client: httpx.AsyncClient, demo_key: str, name: str, scheme: str) -> None:
    """Some clients send the bare key, a lowercase `authorization` or `bearer`."""
    r = await client.post(
        "/profile/linkedin", headers=bearer(demo_key, name, scheme), json={"id": "Casper-Linkedin", "name": "Casper"}
    )
    assert r.status_code == 200


async def test_the_no_version_naming_with_is_phone_required(client: httpx.AsyncClient, demo_key: str) -> None:
    """AccessTechTeam/MasterAccess-E-lead: no accept-version, `isPhoneRequired`, the older field names."""
    r = await client.post(
        "/profile/linkedin",
        headers={"Authorization": f"Bearer {demo_key}", "Content-Type": "application/json"},
        json={"id": "kathleen-harvey", "name": "Kathleen Harvey", "isPhoneRequired": True},
    )
    assert r.status_code == 200
    p = r.json()["profile"]
    assert p["professionalEmails"] == ["Kathleen-Harvey@example.com"] == [p["professionalEmail"]]
    assert p["starryProfessionalEmail"] == "Kathleen-Harvey@example.com"
    assert p["personalEmails"] == [] and p["personalEmail"] is None and p["phone"] == "+33 6 12 34 56 78"


async def test_remaining_credits_with_an_unlimited_pool(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """aristote-app/Autonomia-MCP, benieralexis-sudo/openclaw: `/keys/remainingCredits`, -1 for unlimited;
    `personalEmailCredits` and `directEmailCredits` one pool."""
    acct = await make_account(credits=7, pools={"work_email": -1, "phone": 200})
    r = await client.get("/keys/remainingCredits", headers=bearer(acct.key))
    credits = r.json()
    assert credits["workEmailCredits"] == -1 and credits["phoneCredits"] == 200
    assert credits["personalEmailCredits"] == credits["directEmailCredits"] == 7
    assert credits["workEmailCredits"] == -1 or credits["workEmailCredits"] > 0  # how clients decide to go on


async def test_the_remaining_credit_headers(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """benieralexis-sudo/openclaw reads `Remaining-*-Credits` off each answer: the same numbers as
    /keys/remainingCredits."""
    acct = await make_account(credits=20, pools={"phone": 3})
    r = await client.post("/profile/linkedin", headers=bearer(acct.key), json={"id": "kathleen-harvey", "name": "K"})
    after = (await client.get("/keys/remainingCredits", headers=bearer(acct.key))).json()
    assert int(r.headers["Remaining-Phone-Credits"]) == after["phoneCredits"] == 2
    assert int(r.headers["Remaining-Work-Email-Credits"]) == after["workEmailCredits"] == 19
    assert int(r.headers["Remaining-Direct-Email-Credits"]) == after["directEmailCredits"]


async def test_a_client_throttling_itself_on_minutely_limit(
    server: Server, client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    """benieralexis-sudo/openclaw and others: read `/keys/rateLimits`, then pace to `minutelyLimit`; no 429."""
    acct = await make_account(credits=100, rate_limit=500, minutely_limit=60, daily_limit=500)
    limits = (await client.get("/keys/rateLimits", headers=bearer(acct.key))).json()
    assert limits == {"dailyLimit": 500, "hourlyLimit": 500, "minutelyLimit": 60}
    burst = limits["minutelyLimit"]
    statuses = []
    started = time.monotonic()
    for _ in range(burst):
        r = await client.post("/company/domainPattern", headers=bearer(acct.key), json={"domain": "example.com"})
        statuses.append(r.status_code)
    assert set(statuses) == {200} and time.monotonic() - started < 60
    over = await client.post("/company/domainPattern", headers=bearer(acct.key), json={"domain": "example.com"})
    assert over.status_code == 429


async def test_429_with_retry_after_and_remaining(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """MarieMoriceau/enrichisseur-dirigeants: on 429, sleep `Retry-After` seconds; reads
    `x-ratelimit-remaining`; openclaw reads `X-Daily-RateLimit-Remaining` and `X-Hourly-RateLimit-Remaining`,
    a long Retry-After meaning the day's quota is spent."""
    acct = await make_account(credits=100, rate_limit=100, daily_limit=2)
    body = {"id": "Casper-Linkedin", "name": "Casper"}
    for _ in range(2):
        assert (await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)).status_code == 200
    r = await client.post("/profile/linkedin", headers=bearer(acct.key), json=body)
    assert r.status_code == 429
    assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["X-Daily-RateLimit-Remaining"] == "0"
    assert r.headers["X-Hourly-RateLimit-Remaining"] == "98"
    assert int(r.headers["Retry-After"]) > 3600  # a day's window: "daily quota spent"
    assert "day" in error_text(r)


async def test_a_stray_prefer_header_is_ignored(client: httpx.AsyncClient, demo_key: str) -> None:
    """A `Prefer: code=200` copied from Kaspr's documentation site (a mock-server header)."""
    headers = {**bearer(demo_key), "Prefer": "code=200"}
    r = await client.post("/profile/linkedin", headers=headers, json={"id": "Casper-Linkedin", "name": "Casper"})
    assert r.status_code == 200 and r.json()["profile"]["workEmails"] == ["Casper@example.com"]


async def test_the_name_may_be_left_out(client: httpx.AsyncClient, demo_key: str) -> None:
    """A few clients omit `name` (Kaspr requires it; leadsmith does not)."""
    r = await client.post("/profile/linkedin", headers=bearer(demo_key), json={"id": "Casper-Linkedin"})
    assert r.status_code == 200 and r.json()["profile"]["name"] == "Casper The Ghost"


async def test_starry_then_lists_then_the_old_names(client: httpx.AsyncClient, demo_key: str) -> None:
    """krafterio/pyper: `starryWorkEmail`, else `workEmails[0]`, else `professionalEmails[0]`; the
    `company` object's name and domains; kamel-mustapha/linkedin-sheets: the whole field set."""
    r = await client.post(
        "/profile/linkedin",
        headers=bearer(demo_key),
        json={"id": "linkedinId", "name": "Linkedin Name", "dataToGet": ["phone", "workEmail", "directEmail"]},
    )
    p = r.json()["profile"]
    email = p.get("starryWorkEmail") or (p.get("workEmails") or [None])[0] or (p.get("professionalEmails") or [None])[0]
    assert email == "linkedin.name@domain"
    assert p["company"]["name"] == "Company" and "domain" in p["company"]["domains"]
    cells = {
        "first name": p["firstName"],
        "company name": p["companyName"],
        "phones": ";".join(p["phones"]).replace("+", ""),
        "emails directs": ";".join(p["directEmails"]),
        "work emails": ";".join(p["workEmails"]),
        "emails": ";".join(e["email"] for e in p["emails"]),
        "location": p["location"],
    }
    assert cells["phones"] == "33 1 42 68 53 00" and cells["emails directs"] == "linkedin.name@gmail.com"
    assert [e["isCurrent"] for e in p["emails"]] == [True, True]


async def test_errors_are_read_through_message(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    """krafterio/pyper and most others show `message` from an error body: 401, 402, 429 and 400 all have one."""
    acct = await make_account(credits=0, rate_limit=100)
    for status, headers, body in (
        (401, bearer("lsk_wrong"), {"id": "x"}),
        (402, bearer(acct.key), {"id": "linkedinId", "name": "x"}),
        (400, bearer(acct.key), {"id": "linkedinId", "dataToGet": ["emails"]}),
    ):
        r = await client.post("/profile/linkedin", headers=headers, json=body)
        assert r.status_code == status and error_text(r) and r.json()["message"] == r.json()["error"]["message"]
