"""Bulk jobs over real HTTP against server processes: the single endpoints' rules item by item, results in
input order, cancelling, limits, another account's jobs, callbacks, and a server killed mid-job."""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from leadsmith.db.database import Database
from leadsmith.jobs.webhooks import verify_signature
from tests.conftest import MakeAccount, balance_and_ledger
from tests.metering.test_concurrency import linkedin_ids_with_email
from tests.support import Server, base_env, cli, start_server, temporary_database


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_done(client: httpx.Client | Server, key: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    url = client.url if isinstance(client, Server) else ""
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(f"{url}/bulk/jobs/{job_id}", headers=auth(key), timeout=10).json()["job"]
        if job["status"] in ("done", "cancelled", "failed"):
            return dict(job)
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def results(server: Server, key: str, job_id: str, fmt: str = "jsonl") -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/bulk/jobs/{job_id}/results", params={"format": fmt}, headers=auth(key), timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines()]


def start_job(server: Server, key: str, kind: str, items: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/bulk/{kind}", json={"items": items, **more}, headers=auth(key), timeout=60)
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/bulk/jobs/{r.json()['job']['id']}"
    return dict(r.json()["job"])


async def test_a_profile_job_follows_the_single_endpoint_item_by_item(
    server: Server, make_account: MakeAccount, db: Database
) -> None:
    items = [
        {"id": "linkedinId", "name": "Linkedin Name", "ref": "crm-1"},
        {"id": "kathleen-harvey", "name": "K", "isPhoneRequired": True, "ref": "crm-2"},
        {"id": "Casper-Linkedin", "name": "C", "isPhoneRequired": True},  # no phone known: not found
        {"id": "nobody-known-here", "name": "N"},
        {"id": "not a linkedin id !!", "name": "X", "ref": 7},
        {"name": "no id at all"},
        {"id": "linkedinId", "name": "again"},  # revealed by item 0: free
    ]
    bulk = await make_account(credits=100)
    job = start_job(server, bulk.key, "profile", items)
    assert job["status"] == "queued" and job["total"] == 7 and job["kind"] == "profile"
    job = wait_done(server, bulk.key, job["id"])
    lines = results(server, bulk.key, job["id"])
    assert [line["index"] for line in lines] == list(range(7))
    assert [line["status"] for line in lines] == [
        "found",
        "found",
        "not_found",
        "not_found",
        "invalid",
        "invalid",
        "found",
    ]
    assert [line["ref"] for line in lines[:2]] == ["crm-1", "crm-2"] and lines[4]["ref"] == "7"
    assert lines[0]["profile"]["currentProEmail"] == "linkedin.name@domain"
    assert lines[1]["profile"]["phones"] == ["+33 6 12 34 56 78"]
    assert "id" in lines[4]["error"]["message"] and "id" in lines[5]["error"]["message"]
    assert job["counts"] == {"found": 3, "not_found": 2, "invalid": 2} and job["found"] == 3
    # The same items asked one by one cost the same.
    single = await make_account(credits=100)
    spent = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for item in items:
            body = {k: v for k, v in item.items() if k != "ref"}
            r = await client.post("/profile/profile", json=body, headers=auth(single.key))
            spent += int(r.headers.get("Decreased-Credits", 0))
    assert job["creditsSpent"] == spent == 4  # an e-mail (1) each for 0 and 1, a phone (2) for 1
    assert await balance_and_ledger(db, bulk.id) == await balance_and_ledger(db, single.id) == (96, 96)


def test_results_as_csv(server: Server, demo_key: str) -> None:
    job = start_job(
        server, demo_key, "profile", [{"id": "linkedinId", "name": "x", "ref": "a"}, {"id": "zz-none", "name": "y"}]
    )
    wait_done(server, demo_key, job["id"])
    r = httpx.get(f"{server.url}/bulk/jobs/{job['id']}/results?format=csv", headers=auth(demo_key))
    assert r.headers["content-type"].startswith("text/csv")
    rows = r.text.splitlines()
    assert rows[0].startswith("index,ref,status,id,name,firstName,lastName,email,emails,phone")
    assert rows[1].startswith("0,a,found,linkedinId,Linkedin Name,Linkedin,Name,linkedin.name@domain")
    assert rows[2].startswith("1,,not_found")


def test_another_accounts_job_is_not_found(server: Server, demo_key: str) -> None:
    job = start_job(server, demo_key, "verify", [{"email": "jane@known.test"}])
    other = cli(server.env, "accounts", "create", "stranger@acme.example").stdout.split()[-1]
    for path in (f"/bulk/jobs/{job['id']}", f"/bulk/jobs/{job['id']}/results"):
        r = httpx.get(server.url + path, headers=auth(other))
        assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
    assert httpx.delete(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(other)).status_code == 404
    assert job["id"] not in {j["id"] for j in httpx.get(f"{server.url}/bulk/jobs", headers=auth(other)).json()["jobs"]}
    mine = httpx.get(f"{server.url}/bulk/jobs", headers=auth(demo_key), params={"limit": 5}).json()
    assert mine["jobs"][0]["id"] == job["id"] and mine["limit"] == 5  # newest first


def test_a_listing_offset_past_any_integer_is_a_400(server: Server, demo_key: str) -> None:
    for offset in ("9223372036854775808", "-1", "1000000001"):
        r = httpx.get(f"{server.url}/bulk/jobs", headers=auth(demo_key), params={"offset": offset})
        assert r.status_code == 400 and "offset" in r.json()["error"]["message"], r.text
    r = httpx.get(f"{server.url}/bulk/jobs", headers=auth(demo_key), params={"offset": "1000000000"})
    assert r.status_code == 200 and r.json()["jobs"] == []


async def test_a_job_that_runs_out_of_credits_stops_its_remaining_items(
    server: Server, make_account: MakeAccount, db: Database
) -> None:
    ids = (await linkedin_ids_with_email(db))[:30]
    acct = await make_account(credits=10)
    job = wait_done(
        server, acct.key, start_job(server, acct.key, "profile", [{"id": i, "name": "x"} for i in ids])["id"]
    )
    lines = results(server, acct.key, job["id"])
    statuses = [line["status"] for line in lines]
    assert statuses[:10] == ["found"] * 10 and set(statuses[10:]) == {"insufficient_credits"}
    assert job["creditsSpent"] == 10 and await balance_and_ledger(db, acct.id) == (0, 0)


def test_finder_and_verify_jobs(server: Server, demo_key: str) -> None:
    finder = start_job(server, demo_key, "emailFinder", [
        {"domain": "domain", "name": "Jane Doe"}, {"domain": "domain", "firstName": "Ada", "lastName": "Byron"},
        {"domain": "not a domain", "name": "x"}, {"domain": "domain", "name": "🤡"}])  # fmt: skip
    lines = results(server, demo_key, wait_done(server, demo_key, finder["id"])["id"])
    assert [line["status"] for line in lines] == ["found", "found", "invalid", "invalid"]
    assert lines[0]["emails"][0]["email"] == "jane.doe@domain"
    verify = start_job(server, demo_key, "verify", [{"email": "jane@known.test"}, {"email": "nobody@known.test"}, {}])
    lines = results(server, demo_key, wait_done(server, demo_key, verify["id"])["id"])
    assert [(line["status"], line.get("verification", {}).get("status")) for line in lines] == [
        ("found", "valid"), ("found", "invalid"), ("invalid", None)]  # fmt: skip


def test_a_big_list_is_taken_in_one_request(server: Server, demo_key: str) -> None:
    items = [{"email": f"person{i}@known.test"} for i in range(20_000)]  # ~600 KB: past the single endpoints' limit
    r = httpx.post(f"{server.url}/bulk/verify", json={"items": items}, headers=auth(demo_key), timeout=60)
    assert r.status_code == 202 and r.json()["job"]["total"] == 20_000
    httpx.delete(f"{server.url}/bulk/jobs/{r.json()['job']['id']}", headers=auth(demo_key))


def test_bad_requests_name_what_is_wrong(server: Server, demo_key: str) -> None:
    for body, field in (({}, "items"), ({"items": []}, "items"), ({"items": "x"}, "items"),
                        ({"items": [{}], "callbackUrl": "ftp://x"}, "callbackUrl"),
                        ({"items": [{}], "callbackUrl": "http://127.0.0.1:9/hook"}, "callbackUrl")):  # fmt: skip
        r = httpx.post(f"{server.url}/bulk/profile", json=body, headers=auth(demo_key))
        assert r.status_code == 400 and field in r.json()["message"], (body, r.text)
    assert (
        "not a public address"
        in httpx.post(
            f"{server.url}/bulk/profile",
            json={"items": [{}], "callbackUrl": "http://localhost:9/x"},
            headers=auth(demo_key),
        ).json()["message"]
    )


@contextmanager
def bulk_server(tmp: Path, **env: str) -> Iterator[tuple[Server, str]]:
    with temporary_database(tmp) as url:
        server_env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="1000000", **env)
        cli(server_env, "demo")
        key = cli(server_env, "accounts", "create", "bulk@acme.example", "--credits", "100000").stdout.split()[-1]
        server = start_server(server_env, tmp / "server.log")
        try:
            yield server, key
        finally:
            server.stop()


def test_cancelling_keeps_what_is_done_and_stops_the_rest(tmp_path: Path) -> None:
    with bulk_server(tmp_path, LEADSMITH_BULK_BATCH="5") as (server, key):
        cli(server.env, "accounts", "update", "bulk@acme.example", "--minutely-limit", "10")
        time.sleep(1.1)
        job = start_job(server, key, "verify", [{"email": f"ok{i}@limit.test"} for i in range(60)])
        deadline = time.monotonic() + 30
        # The minute's window (10, one of them the job's own POST) lets 9 items through, then the job rests.
        while httpx.get(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(key)).json()["job"]["processed"] < 9:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        cancelled = httpx.delete(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(key)).json()["job"]
        assert cancelled["status"] == "cancelled"
        time.sleep(1)
        lines = results(server, key, job["id"])
        assert len(lines) == 60
        done = [line for line in lines if line["status"] == "found"]
        assert len(done) == 9 and {line["status"] for line in lines} == {"found", "cancelled"}
        assert httpx.get(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(key)).json()["job"]["processed"] == len(
            done
        )


def test_items_count_against_the_keys_windows(tmp_path: Path) -> None:
    with bulk_server(tmp_path, LEADSMITH_BULK_BATCH="7") as (server, key):
        cli(server.env, "accounts", "update", "bulk@acme.example", "--rate-limit", "25")
        time.sleep(1.1)
        job = start_job(server, key, "verify", [{"email": f"ok{i}@limit.test"} for i in range(40)])
        time.sleep(3)
        seen = httpx.get(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(key)).json()["job"]
        assert seen["status"] == "running" and seen["processed"] == 24  # the job's own POST was one request
        assert (
            httpx.post(f"{server.url}/company/domainPattern", json={"domain": "domain"}, headers=auth(key)).status_code
            == 429
        )


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, str]]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append((body, self.headers.get("Leadsmith-Signature", "")))
        status = 500 if len(_Hook.received) <= _Hook.fail_first else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_a_job_calls_back_signed_and_retries(tmp_path: Path) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    try:
        with bulk_server(tmp_path, LEADSMITH_WEBHOOK_PRIVATE_NETWORKS="true") as (server, key):
            job = start_job(server, key, "verify", [{"email": "jane@known.test"}], callbackUrl=url)
            wait_done(server, key, job["id"])
            deadline = time.monotonic() + 40  # the first attempt fails; the next comes 10 s later
            while len(_Hook.received) < 2:
                assert time.monotonic() < deadline, _Hook.received
                time.sleep(0.2)
            secret = cli(server.env, "accounts", "webhook-secret", "bulk@acme.example").stdout.split()[-1]
            body, header = _Hook.received[-1]
            assert verify_signature(secret, body, header)
            assert not verify_signature(secret, body + b" ", header)
            assert json.loads(body)["job"]["id"] == job["id"] and json.loads(body)["job"]["status"] == "done"
    finally:
        hook.shutdown()


def test_a_server_killed_mid_job_resumes_it_and_charges_no_item_twice(tmp_path: Path) -> None:
    with temporary_database(tmp_path) as url:
        env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="1000000", LEADSMITH_BULK_BATCH="20",
                       LEADSMITH_BULK_LEASE_SECONDS="1")  # fmt: skip
        cli(env, "demo")
        key = cli(env, "accounts", "create", "kill@acme.example", "--credits", "100000").stdout.split()[-1]
        server = start_server(env, tmp_path / "first.log")
        leads = _demo_leads(server, key)
        items = [{"id": lead, "name": "x"} for lead in leads * 6]  # repeats are free re-reveals
        job = start_job(server, key, "profile", items)
        deadline = time.monotonic() + 60
        while httpx.get(f"{server.url}/bulk/jobs/{job['id']}", headers=auth(key)).json()["job"]["processed"] < 100:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        again = start_server(env, tmp_path / "second.log")
        try:
            done = wait_done(again, key, job["id"], timeout=120)
            lines = results(again, key, job["id"])
        finally:
            again.stop()
        assert [line["index"] for line in lines] == list(range(len(items)))
        assert Counter(line["status"] for line in lines)["found"] == done["found"]
        shown = cli(env, "credits", "show", "kill@acme.example").stdout
        balance = int(shown.split(": ", 1)[1].split()[0])
        assert 100000 - balance == done["creditsSpent"] == len(set(leads))  # each lead paid for once


def _demo_leads(server: Server, key: str) -> list[str]:
    from leadsmith.contacts.demo import demo_rows

    out = []
    for row in demo_rows():
        slug = str(row["linkedin"]).rstrip("/").rsplit("/", 1)[-1]
        if row.get("emails"):
            out.append(slug)
    return out


@pytest.mark.parametrize("kind", ["profile", "emailFinder", "verify"])
def test_every_kind_is_documented(server: Server, kind: str) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "202" in spec["paths"][f"/bulk/{kind}"]["post"]["responses"]
