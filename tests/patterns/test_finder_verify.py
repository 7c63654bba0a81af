"""``"verify": true``: the finder probes its candidates at the domain's own (loopback) mail server.

A real server process on its own store, DNS and SMTP fakes on loopback: acme.test writes {first}.{last}
for most people but gave Jane Roe ``jroe@``; catchall.test accepts everything; slow.test takes 3 s a
command; policy.test refuses the probe itself.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from leadsmith.testing.loopback import ServerLog, Zone, fake_dns, fake_smtp
from tests.support import Server, base_env, cli, start_server, temporary_database

MAILBOXES = {"jroe", "ada.lovelace", "alan.turing", "grace.hopper", "ken.thompson", "amy.stone"}


def rule(local: str, domain: str) -> Any:
    if domain == "acme.test":
        return "250 2.1.5 OK" if local in MAILBOXES else "550 5.1.1 <x>: user unknown"
    if domain == "catchall.test":
        return "250 2.1.5 OK"
    if domain == "slow.test":
        return ("sleep", 3.0, "250 OK")
    if domain == "policy.test":
        return "550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
    return "550 5.1.1 user unknown"


def zones() -> dict[str, Zone]:
    out = {}
    for name in ("acme", "catchall", "slow", "policy"):
        out[f"{name}.test"] = Zone(mx=[(10, f"mx.{name}.test")])
        out[f"mx.{name}.test"] = Zone(a=["127.0.0.1"])
    return out


class World:
    def __init__(self, server: Server, key: str, url: str, smtp: ServerLog) -> None:
        self.server, self.key, self.url, self.smtp = server, key, url, smtp

    def find(self, body: dict[str, Any], timeout: float = 20) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/company/emailFinder",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("finder-verify")
    people = tmp / "people.csv"
    with people.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "domain"])
        for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Ken Thompson"):
            w.writerow([name, f"{name.lower().replace(' ', '.')}@acme.test", "acme.test"])
        for name in ("Ada Lovelace", "Alan Turing", "Grace Hopper"):
            for domain in ("catchall.test", "slow.test", "policy.test"):
                w.writerow([name, f"{name.lower().replace(' ', '.')}@{domain}", domain])
    with temporary_database(tmp) as url, fake_dns(zones()) as (nameserver, _), fake_smtp(rule) as (port, log):
        env = base_env(
            url,
            LEADSMITH_DNS_NAMESERVERS=nameserver,
            LEADSMITH_SMTP_PORT=str(port),
            LEADSMITH_DNS_CANARY="acme.test",
            LEADSMITH_FINDER_VERIFY_TIMEOUT_SECONDS="2",
            LEADSMITH_SMTP_COMMAND_TIMEOUT_SECONDS="10",
        )
        cli(env, "import", str(people))
        key = cli(env, "accounts", "create", "finder@verify.test", "--credits", "100").stdout.strip().splitlines()[-1]
        server = start_server(env, tmp / "server.log")
        try:
            yield World(server, key, url, log)
        finally:
            server.stop()


def test_the_address_the_server_accepts_comes_first_and_rejected_ones_go(world: World) -> None:
    unverified = world.find({"domain": "acme.test", "name": "Jane Roe"}).json()["emails"]
    assert unverified[0]["email"] == "jane.roe@acme.test" and "verification" not in unverified[0]
    assert "jroe@acme.test" in [e["email"] for e in unverified]

    sessions = world.smtp.sessions
    r = world.find({"domain": "acme.test", "name": "Jane Roe", "verify": True})
    assert r.status_code == 200, r.text
    found = r.json()["emails"]
    assert found[0]["email"] == "jroe@acme.test" and found[0]["valid"] is True
    assert found[0]["verification"] == {"status": "valid", "reason": None}
    assert found[0]["score"] >= 0.9
    # every other candidate was rejected by the server: none is offered
    assert len(found) == 1
    assert world.smtp.sessions - sessions == 1  # all the candidates in one session
    # A confirmed answer is an e-mail reveal and a verification.
    assert r.headers["Decreased-Credits"] == "2"


def test_a_confirmed_address_is_kept_and_the_next_ask_needs_no_probe(world: World) -> None:
    first = world.find({"domain": "acme.test", "name": "Amy Stone", "verify": True}).json()["emails"]
    assert first[0]["email"] == "amy.stone@acme.test" and first[0]["valid"] is True
    deadline = time.monotonic() + 10
    while True:  # stored as Amy Stone's known address at acme.test (the learner runs every 5 s)
        again = world.find({"domain": "acme.test", "name": "Amy Stone"}).json()["emails"]
        if again[0]["pattern"] is None:
            break
        assert time.monotonic() < deadline, again
        time.sleep(0.5)
    assert again[0] == {"email": "amy.stone@acme.test", "score": 0.9, "pattern": None, "valid": True}
    sessions = world.smtp.sessions
    probed = world.find({"domain": "acme.test", "name": "Amy Stone", "verify": True}).json()["emails"]
    assert probed[0]["email"] == "amy.stone@acme.test" and probed[0]["valid"] is True
    assert world.smtp.sessions == sessions  # a known, verified address is not probed again


def test_an_accept_all_domain_keeps_the_models_order_with_a_reason(world: World) -> None:
    plain = world.find({"domain": "catchall.test", "name": "Jane Roe"}).json()["emails"]
    r = world.find({"domain": "catchall.test", "name": "Jane Roe", "verify": True})
    found = r.json()["emails"]
    assert [e["email"] for e in found] == [e["email"] for e in plain]
    assert all(e["valid"] is None and e["verification"]["status"] == "accept_all" for e in found)
    assert "accepts every address" in found[0]["verification"]["reason"]
    assert r.headers["Decreased-Credits"] == "1"  # no verdict, no verification charged


def test_a_refused_probe_is_inconclusive_not_a_rejection(world: World) -> None:
    found = world.find({"domain": "policy.test", "name": "Jane Roe", "verify": True}).json()["emails"]
    assert found and found[0]["email"] == "jane.roe@policy.test"
    assert all(e["valid"] is None and e["verification"]["status"] == "unknown" for e in found)
    assert "spamhaus" in found[0]["verification"]["reason"].lower()


def test_a_slow_server_never_makes_the_answer_later_than_the_budget(world: World) -> None:
    started = time.monotonic()
    r = world.find({"domain": "slow.test", "name": "Jane Roe", "verify": True})
    took = time.monotonic() - started
    assert r.status_code == 200 and took < 2 + 1.0, took
    found = r.json()["emails"]
    assert found[0]["email"] == "jane.roe@slow.test"
    assert all(e["verification"]["status"] == "unknown" for e in found)
    assert "timeout" in found[0]["verification"]["reason"]


def test_a_finder_without_verify_is_unchanged_and_nothing_is_probed(world: World) -> None:
    sessions = world.smtp.sessions
    r = world.find({"domain": "acme.test", "name": "Grace Hopper"})
    assert set(r.json()["emails"][0]) == {"email", "score", "pattern", "valid"}
    assert world.smtp.sessions == sessions


def test_bulk_finder_jobs_take_the_option(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.key}"}
    items = [{"domain": "acme.test", "name": "Jane Roe"}, {"domain": "acme.test", "name": "Zed Nobody"}]
    r = httpx.post(f"{world.server.url}/bulk/emailFinder", json={"items": items, "verify": True}, headers=headers)
    assert r.status_code == 202, r.text
    job = r.json()["job"]["id"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{world.server.url}/bulk/jobs/{job}", headers=headers).json()["job"]["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    results = httpx.get(f"{world.server.url}/bulk/jobs/{job}/results", headers=headers)
    lines = [orjson.loads(x) for x in results.text.splitlines()]
    assert lines[0]["emails"][0]["email"] == "jroe@acme.test" and lines[0]["emails"][0]["valid"] is True
    assert lines[1]["status"] == "not_found" or lines[1]["emails"] == []  # every guess rejected
