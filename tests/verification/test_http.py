"""``POST /email/verify`` over HTTP, stored results, the CLI, and verification in the background."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from leadsmith.db.database import Database, open_database
from leadsmith.db.tables import emails
from leadsmith.testing.loopback import AllNxdomain, fake_dns
from tests.conftest import MakeAccount
from tests.support import Server, base_env, cli, start_server, temporary_database


async def test_verify_charges_a_verdict_and_reuses_the_stored_result(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    account = await make_account(credits=10)
    headers = {"Authorization": f"Bearer {account.key}"}
    r = await client.post("/email/verify", json={"email": "John@Known.TEST"}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "valid" and body["valid"] is True and body["email"] == "John@known.test"
    assert body["reasons"]["smtp"]["code"] == 250 and body["reasons"]["mx"] == ["mx.known.test"]
    assert r.headers["Decreased-Credits"] == "1" and r.headers["Remaining-Credits"] == "9"
    again = await client.post("/email/verify", json={"email": "john@known.test"}, headers=headers)
    assert again.json()["verified_at"] == body["verified_at"]  # stored, not asked again
    assert again.headers["Decreased-Credits"] == "1"


@pytest.mark.parametrize(
    ("email", "status", "charged"),
    [
        ("nobody@known.test", "invalid", "1"),
        ("x@nullmx.test", "invalid", "1"),
        ("anyone@catchall.test", "accept_all", "1"),
        ("jane@policy.test", "unknown", "0"),
        ("a@servfail.test", "unknown", "0"),
        ("someone@gmail.com", "webmail", "1"),
        ("x@mailinator.com", "disposable", "1"),
        ("not an address", "invalid", "0"),
    ],
)
async def test_verify_statuses_and_what_they_cost(
    client: httpx.AsyncClient, make_account: MakeAccount, email: str, status: str, charged: str
) -> None:
    account = await make_account(credits=5)
    r = await client.post("/email/verify", json={"email": email}, headers={"Authorization": f"Bearer {account.key}"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == status
    assert r.headers["Decreased-Credits"] == charged


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "email"), ({"email": 5}, "email"), ({"email": ""}, "email"), ({"email": "a" * 400}, "email")],
)
async def test_verify_bad_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, demo_key: str, body: dict[str, object], field: str
) -> None:
    r = await client.post("/email/verify", json=body, headers={"Authorization": f"Bearer {demo_key}"})
    assert r.status_code == 400
    assert field in r.text


def test_cli_verify_writes_json_lines_and_stores_results(database_url: str, tmp_path: Path) -> None:
    env = base_env(database_url)
    listing = tmp_path / "list.txt"
    listing.write_text("jane@known.test\n# a comment\nnobody@known.test\n")
    result = cli(env, "verify", "anyone@catchall.test", "--file", str(listing), "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["email"], x["status"], x["valid"]) for x in lines] == [
        ("anyone@catchall.test", "accept_all", None),
        ("jane@known.test", "valid", True),
        ("nobody@known.test", "invalid", False),
    ]
    assert all({"score", "reasons", "verified_at"} <= set(x) for x in lines)
    table = cli(env, "verify", "jane@known.test").stdout
    assert "valid" in table


def _import(env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text(
        "name,email,linkedin,company,domain\n"
        "Jane Known,jane@known.test,https://www.linkedin.com/in/jane-known-ls,Known Inc,known.test\n"
        "Nobody Known,nobody@known.test,https://www.linkedin.com/in/nobody-known-ls,Known Inc,known.test\n"
        "John Known,,https://www.linkedin.com/in/john-known-ls,Known Inc,known.test\n"
    )
    cli(env, "import", str(data))


def _profile(server: Server, key: str, slug: str) -> list[dict[str, object]]:
    r = httpx.post(
        f"{server.url}/profile/profile",
        json={"id": slug, "name": "x"},
        headers={"Authorization": f"Bearer {key}", "accept-version": "v2.0"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    emails: list[dict[str, object]] = r.json()["profile"]["emails"]
    return emails


def test_stored_and_predicted_addresses_are_verified_in_the_background(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url, LEADSMITH_VERIFY_BACKGROUND="true")
        _import(env, tmp_path)
        key = cli(env, "accounts", "create", "bg@leadsmith.test", "--credits", "100").stdout.split()[-1]
        server = start_server(env, tmp_path / "server.log")
        try:
            deadline = time.monotonic() + 30
            while True:
                jane = _profile(server, key, "jane-known-ls")
                john = _profile(server, key, "john-known-ls")
                if jane and jane[0]["valid"] is True and john and john[0]["valid"] is True:
                    break
                assert time.monotonic() < deadline, (jane, john)
                time.sleep(0.3)
            # John's address was predicted from the two known ones, then verified.
            assert john[0]["email"] == "john@known.test"  # the domain writes {first}
            found = httpx.post(
                f"{server.url}/company/emailFinder",
                json={"domain": "known.test", "name": "John Known"},
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()["emails"]
            assert found[0] == {**found[0], "email": "john@known.test", "valid": True}
        finally:
            server.stop()


async def test_cli_verify_stored_updates_what_profiles_show(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url)
        _import(env, tmp_path)
        assert "re-verified 3 stored addresses" in cli(env, "verify", "--stored").stdout
        assert "re-verified 0 stored addresses" in cli(env, "verify", "--stored").stdout
        db: Database = open_database(url)
        try:
            rows = await db.fetch_all(sa.select(emails.c.address_key, emails.c.valid).order_by(emails.c.address_key))
        finally:
            await db.close()
        assert [(r[0], bool(r[1])) for r in rows] == [("jane@known.test", True), ("nobody@known.test", False)]


def test_a_broken_resolver_in_the_background_hides_no_address(tmp_path: Path) -> None:
    """Background verification on a machine whose resolver answers NXDOMAIN to everything: the addresses
    are looked at, judged unknown, and every profile keeps its work address."""
    with temporary_database(tmp_path) as url, fake_dns(AllNxdomain()) as (nameserver, resolver):
        env = base_env(url, LEADSMITH_VERIFY_BACKGROUND="true", LEADSMITH_DNS_NAMESERVERS=nameserver)
        key = cli(env, "demo").stdout.strip().splitlines()[-1]
        server = start_server(env, tmp_path / "server.log")
        try:
            deadline = time.monotonic() + 30
            while sum(resolver.queries.values()) < 5:  # the background verifier is at work
                assert time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(2)
            r = httpx.post(
                f"{server.url}/profile/profile",
                json={"id": "Casper-Linkedin", "name": "Casper"},
                headers={"Authorization": key},
                timeout=10,
            )
            assert r.json()["profile"]["currentProEmail"] == "Casper@example.com"
            assert all(e["valid"] is not False for e in r.json()["profile"]["emails"])
        finally:
            server.stop()
        log = server.log.read_text()
        assert log.count("DNS is failing") == 1, log
