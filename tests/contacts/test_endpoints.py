"""The four Kaspr endpoints over real HTTP against a server process on the session's store."""

from __future__ import annotations

import httpx
import pytest

from leadsmith.db.database import Database
from tests.conftest import MakeAccount, balance_and_ledger
from tests.support import Server, cli

PROFILE_FIELDS = {
    "id", "name", "firstName", "lastName", "emails", "currentProEmails", "currentPersonalEmails", "phones",
    "location", "title", "companyName", "fetchedAt", "currentProEmail", "processingTime", "currentEmail",
    "sources",  # leadsmith's one field beyond the reference's
}  # fmt: skip
EMPLOYEE_FIELDS = {"firstName", "lastName", "name", "company", "job", "email", "emails", "phones", "phone", "location"}


def auth(key: str, bearer: bool = True) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}" if bearer else key}


async def test_verify_key_accepts_bearer_and_bare_keys(client: httpx.AsyncClient, demo_key: str) -> None:
    for bearer in (True, False):
        r = await client.get("/keys/verifyKey", headers=auth(demo_key, bearer))
        assert r.status_code == 200
        assert r.json() == {"user": "demo@leadsmith.local"}
        assert int(r.headers["X-RateLimit-Limit"]) > 0
        assert int(r.headers["X-RateLimit-Remaining"]) >= 0
        assert 0 < int(r.headers["X-RateLimit-Reset"]) <= 3_600_000
        assert "Decreased-Credits" not in r.headers


@pytest.mark.parametrize(
    "ident",
    [
        "Casper-Linkedin",
        "casper-linkedin",
        "https://www.linkedin.com/in/Casper-Linkedin/",
        "http://fr.linkedin.com/in/casper-linkedin/en",
        "https://m.linkedin.com/in/casper-linkedin?trk=people-guest",
        "linkedin.com/in/Casper%2DLinkedin/",
    ],
)
async def test_profile_by_any_form_of_its_linkedin_id(client: httpx.AsyncClient, demo_key: str, ident: str) -> None:
    r = await client.post("/profile/profile", headers=auth(demo_key), json={"id": ident, "name": "Casper The Ghost"})
    assert r.status_code == 200, r.text
    profile = r.json()["profile"]
    assert set(profile) == PROFILE_FIELDS
    assert profile["id"] == "Casper-Linkedin"
    assert (profile["firstName"], profile["lastName"], profile["name"]) == ("Casper", "The Ghost", "Casper The Ghost")
    assert profile["emails"] == [
        {"email": "Casper@example.com", "valid": None},
        {"email": "Casper@gmail.com", "valid": None},
    ]
    assert profile["currentProEmails"] == ["Casper@example.com"]
    assert profile["currentPersonalEmails"] == ["Casper@gmail.com"]
    assert profile["currentProEmail"] == profile["currentEmail"] == "Casper@example.com"
    assert profile["phones"] == []
    assert (profile["title"], profile["companyName"], profile["location"]) == ("Ghost", "Home", "Home")
    assert isinstance(profile["fetchedAt"], int) and profile["fetchedAt"] > 1_600_000_000_000
    assert isinstance(profile["processingTime"], float) and 0 <= profile["processingTime"] < 5


async def test_profile_phones_only_when_required(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=100)
    body = {"id": "kathleen-harvey", "name": "Kathleen Harvey"}
    r = await client.post("/profile/profile", headers=auth(acct.key), json=body)
    assert r.json()["profile"]["phones"] == [] and r.headers["Decreased-Credits"] == "1"
    r = await client.post("/profile/profile", headers=auth(acct.key), json={**body, "isPhoneRequired": True})
    assert r.json()["profile"]["phones"] == ["+33 6 12 34 56 78"]
    assert r.headers["Decreased-Credits"] == "2"
    assert r.headers["Remaining-Credits"] == "97"


async def test_phone_required_but_unknown_returns_nothing_and_charges_nothing(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=50)
    r = await client.post(
        "/profile/profile",
        headers=auth(acct.key),
        json={"id": "Casper-Linkedin", "name": "Casper", "isPhoneRequired": True},
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "phone_not_found"
    assert "profile" not in r.json()
    assert await balance_and_ledger(db, acct.id) == (50, 50)


async def test_unknown_profile_is_404(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.post("/profile/profile", headers=auth(demo_key), json={"id": "nobody-here-123", "name": "No Body"})
    assert r.status_code == 404
    message = r.json()["message"]
    assert "nobody-here-123" in message
    assert r.json() == {"message": message, "error": {"code": "profile_not_found", "message": message, "status": 404}}


@pytest.mark.parametrize(
    "domain", ["example.com", "company@example.com", "@example.com", "https://www.example.com/about"]
)
async def test_domain_pattern_accepts_every_domain_form(client: httpx.AsyncClient, demo_key: str, domain: str) -> None:
    r = await client.post("/company/domainPattern", headers=auth(demo_key), json={"domain": domain})
    assert r.status_code == 200, r.text
    patterns = r.json()["patterns"]
    assert patterns and all(set(p) == {"pattern", "score"} for p in patterns)
    assert all(p["pattern"].endswith("@example.com") and "{" in p["pattern"] for p in patterns)
    scores = [p["score"] for p in patterns]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert patterns[0]["pattern"] == "{f}{last}@example.com"
    assert r.headers["Decreased-Credits"] == "0"


async def test_domain_pattern_unknown_domain_is_404(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.post("/company/domainPattern", headers=auth(demo_key), json={"domain": "never-heard-of.io"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "domain_not_found"


async def test_domain_employees_limits_and_phones(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=1000)
    r = await client.post("/company/domainEmployees", headers=auth(acct.key), json={"domain": "example.com"})
    assert r.status_code == 200
    staff = r.json()["employees"]
    assert len(staff) == 5
    assert all(set(e) == EMPLOYEE_FIELDS for e in staff)
    assert all(e["phones"] == [] and e["phone"] is None for e in staff)
    assert r.headers["Decreased-Credits"] == "5"

    r = await client.post(
        "/company/domainEmployees",
        headers=auth(acct.key),
        json={"domain": "https://www.example.com", "contactsNumberLimit": 10, "isPhoneRequired": True},
    )
    staff = r.json()["employees"]
    assert 0 < len(staff) <= 10
    assert all(e["phones"] and e["phone"] == e["phones"][0] and e["phone"].startswith("+") for e in staff)
    assert all(e["email"] is None or e["email"] == e["emails"][0]["email"] for e in staff)


@pytest.mark.parametrize("limit", [0, -1, 101, 10**9])
async def test_domain_employees_limit_out_of_range_is_400(client: httpx.AsyncClient, demo_key: str, limit: int) -> None:
    r = await client.post(
        "/company/domainEmployees", headers=auth(demo_key), json={"domain": "example.com", "contactsNumberLimit": limit}
    )
    assert r.status_code == 400
    assert "contactsNumberLimit" in r.json()["error"]["message"]


async def test_repeat_reveal_is_free_and_ledger_matches(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=10)
    body = {"id": "Casper-Linkedin", "name": "Casper The Ghost"}
    first = await client.post("/profile/profile", headers=auth(acct.key), json=body)
    again = await client.post("/profile/profile", headers=auth(acct.key), json=body)
    assert (first.headers["Decreased-Credits"], first.headers["Remaining-Credits"]) == ("1", "9")
    assert (again.headers["Decreased-Credits"], again.headers["Remaining-Credits"]) == ("0", "9")
    assert await balance_and_ledger(db, acct.id) == (9, 9)


async def test_not_enough_credits_is_402_with_no_data(
    client: httpx.AsyncClient, make_account: MakeAccount, db: Database
) -> None:
    acct = await make_account(credits=0)
    r = await client.post("/profile/profile", headers=auth(acct.key), json={"id": "Casper-Linkedin", "name": "Casper"})
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_credits"
    assert "profile" not in r.json()
    assert r.headers["Remaining-Credits"] == "0" and r.headers["Decreased-Credits"] == "0"
    assert "X-RateLimit-Remaining" in r.headers
    assert await balance_and_ledger(db, acct.id) == (0, 0)


async def test_per_account_prices(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    acct = await make_account(credits=100, email=7, phone=11)
    r = await client.post(
        "/profile/profile", headers=auth(acct.key), json={"id": "kathleen-harvey", "name": "K", "isPhoneRequired": True}
    )
    assert r.headers["Decreased-Credits"] == "18"


async def test_idempotency_key_replays_the_first_response_free(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    acct = await make_account(credits=100)
    headers = {**auth(acct.key), "Idempotency-Key": "order-42"}
    body = {"domain": "example.com", "contactsNumberLimit": 3}
    first = await client.post("/company/domainEmployees", headers=headers, json=body)
    second = await client.post("/company/domainEmployees", headers=headers, json=body)
    assert first.headers["Decreased-Credits"] == "3"
    assert second.headers["Decreased-Credits"] == "0" and second.headers["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert second.headers["Remaining-Credits"] == "97"
    other = await client.post("/company/domainEmployees", headers=headers, json={**body, "contactsNumberLimit": 4})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_unknown_malformed_and_missing_keys(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.get("/keys/verifyKey")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    typo = demo_key[:-1] + ("A" if demo_key[-1] != "A" else "B")
    r = await client.get("/keys/verifyKey", headers=auth(typo))
    assert r.status_code == 401 and r.json()["error"]["code"] == "malformed_api_key"
    from leadsmith.access.keys import generate_key

    r = await client.get("/keys/verifyKey", headers=auth(generate_key().key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert "X-RateLimit-Limit" not in r.headers


async def test_revoked_key_is_refused_within_the_cache_time(
    server: Server, client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    import asyncio

    acct = await make_account()
    assert (await client.get("/keys/verifyKey", headers=auth(acct.key))).status_code == 200
    done = cli(server.env, "keys", "revoke", acct.email, acct.key[:12])
    assert "revoked" in done.stdout
    await asyncio.sleep(1.2)
    r = await client.get("/keys/verifyKey", headers=auth(acct.key))
    assert r.status_code == 401 and r.json()["error"]["code"] == "revoked_api_key"


async def test_error_shape_for_routing_errors(client: httpx.AsyncClient, demo_key: str) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/profile/profile", headers=auth(demo_key))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_the_endpoints_served_ahead_of_the_router_are_the_routed_ones() -> None:
    """EdgeMiddleware answers these paths' POSTs itself: with the very functions the router would call."""
    from fastapi.routing import APIRoute

    from leadsmith.contacts.endpoints import DIRECT, router

    routed = {r.path: r.endpoint for r in router.routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())}
    assert DIRECT and all(routed[path] is endpoint for path, endpoint in DIRECT.items())


@pytest.mark.parametrize("path", ["/profile/profile", "/profile/linkedin", "/company/domainPattern"])
async def test_the_direct_endpoints_answer_errors_as_the_router_does(
    client: httpx.AsyncClient, demo_key: str, path: str
) -> None:
    headers = {**auth(demo_key), "Content-Type": "application/json", "X-Request-Id": "direct-1"}
    bad = await client.post(path, content=b"{not json", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert bad.headers["X-Request-Id"] == "direct-1" and "X-RateLimit-Remaining" in bad.headers
    anonymous = await client.post(path, json={})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == 401
    assert set(anonymous.json()) == {"message", "error"}


def test_the_edge_is_outermost_ahead_of_fastapis_own_middleware() -> None:
    """FastAPI puts its server-error handler, exception telemetry and body limit outside the middleware
    added to it; the edge wraps all of them, so the look-ups it answers itself pass through none."""
    from starlette.middleware.errors import ServerErrorMiddleware

    from leadsmith.app import create_app
    from leadsmith.middleware import EdgeMiddleware

    stack = create_app().build_middleware_stack()
    assert isinstance(stack, EdgeMiddleware)
    assert isinstance(stack.app, ServerErrorMiddleware)  # what every other request goes through, as before
    inner = stack.app
    while hasattr(inner, "app"):  # and no second edge inside
        inner = inner.app
        assert not isinstance(inner, EdgeMiddleware)
