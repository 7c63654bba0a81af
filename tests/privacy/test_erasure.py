"""Erasure over real HTTP and the CLI: a person looked up every way there is (profiles with a stored
idempotent response, employees, the finder, a verification, bulk jobs, an upstream answer) is erased with
everything derived from them, then suppressed; the ledger keeps its amounts, the reveal log its rows without
the person; and a byte search of the store's files (SQLite: the database, its WAL and shared memory;
PostgreSQL after VACUUM FULL: the tables' and indexes' files) finds none of their data."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from leadsmith.db.database import open_database, sqlite_path
from leadsmith.db.tables import metadata
from tests.privacy.conftest import World
from tests.support import PG_ADMIN_URL, backend

ERASED = """name,email,linkedin,phone,company,domain,location
Erinyes Valkyrion,erinyes.valkyrion@erase-corp.example,Erinyes-Valkyrion-5501,+33 6 12 34 50 99,Erase Corp,erase-corp.example,"Nantes, France"
Kept Colleague,kept.colleague@erase-corp.example,kept-colleague-5502,,Erase Corp,erase-corp.example,"Nantes, France"
Other Colleague,other.colleague@erase-corp.example,other-colleague-5503,,Erase Corp,erase-corp.example,"Nantes, France"
Third Colleague,third.colleague@erase-corp.example,third-colleague-5504,,Erase Corp,erase-corp.example,"Nantes, France"
"""
# Every form the person's data takes in the store: the address, the name (and its parts, as the name index
# holds them), the LinkedIn id, the phone in each format it is written or shown in.
NEEDLES = [
    "erinyes.valkyrion@erase-corp.example",
    "erinyes",
    "valkyrion",
    "erinyes-valkyrion-5501",
    "+33612345099",
    "+33 6 12 34 50 99",
    "612345099",
    "ghost-erased-9",
]


def store_url(world: World) -> str:
    return world.server.env["LEADSMITH_DATABASE_URL"]


async def rows_mentioning(url: str, needles: list[str]) -> dict[str, int]:
    """Rows of every table whose text (or bytes) holds one of ``needles``, by table: what a reader of the
    database would still find."""
    db = open_database(url)
    found: dict[str, int] = {}
    try:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.LargeBinary)]
            if not columns:
                continue
            for row in await db.fetch_all(sa.select(*columns)):
                text = " ".join(
                    (bytes(v).decode(errors="replace") if isinstance(v, bytes | memoryview) else str(v)).lower()
                    for v in row
                    if v is not None
                )
                if any(n in text for n in needles):
                    found[table.name] = found.get(table.name, 0) + 1
    finally:
        await db.close()
    return found


def sqlite_files(url: str) -> list[Path]:
    path = sqlite_path(url)
    assert path is not None
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


async def postgres_files(url: str) -> list[Path] | None:
    """The files of every table, index and TOAST table of the store's database, or None when this process
    cannot read the server's data directory."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        root = Path(await conn.fetchval("SHOW data_directory"))
        rels = await conn.fetch(
            "SELECT pg_relation_filepath(c.oid) AS p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname IN ('public', 'pg_toast') AND c.relkind IN ('r', 'i', 't')"
        )
    finally:
        await conn.close()
    if not os.access(root, os.R_OK):
        return None
    out = []
    for r in rels:
        if r["p"]:
            base = root / r["p"]
            out += [p for p in base.parent.glob(base.name + "*") if p.is_file()]
    return out


def bytes_found(files: list[Path], needles: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in files:
        data = path.read_bytes().lower()
        hits = [n for n in needles if n.encode() in data]
        if hits:
            found[path.name] = hits
    return found


def wait_job(world: World, job_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        job = httpx.get(f"{world.server.url}/bulk/jobs/{job_id}", headers={"Authorization": world.key}).json()["job"]
        if job["status"] == "done":
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    text = httpx.get(f"{world.server.url}/bulk/jobs/{job_id}/results", headers={"Authorization": world.key}).text
    return [json.loads(line) for line in text.splitlines()]


def job_results(world: World, job_id: str) -> list[dict[str, Any]]:
    text = httpx.get(f"{world.server.url}/bulk/jobs/{job_id}/results", headers={"Authorization": world.key}).text
    return [json.loads(line) for line in text.splitlines()]


def test_erasure_removes_everything_about_the_person_and_leaves_nothing_readable(world: World) -> None:
    path = world.tmp / "erase.csv"
    path.write_text(ERASED)
    world.cli("import", str(path))
    url = store_url(world)

    # The person, looked up every way there is.
    slug = "erinyes-valkyrion-5501"
    r = world.profile("https://www.linkedin.com/in/Erinyes-Valkyrion-5501/", isPhoneRequired=True,
                      name="Erinyes Valkyrion")  # fmt: skip
    assert r.status_code == 200 and r.json()["profile"]["phones"], r.text
    stored = world.post("/profile/profile", {"id": slug, "name": "Erinyes Valkyrion"}, **{"Idempotency-Key": "k-1"})
    assert stored.status_code == 200
    assert world.post("/profile/linkedin", {"id": slug, "name": "Erinyes Valkyrion"}).status_code == 200
    staff = world.post("/company/domainEmployees", {"domain": "erase-corp.example", "contactsNumberLimit": 10})
    assert "Erinyes Valkyrion" in {e["name"] for e in staff.json()["employees"]}
    found = world.post("/company/emailFinder", {"name": "Erinyes Valkyrion", "domain": "erase-corp.example"})
    assert found.status_code == 200
    assert world.post("/email/verify", {"email": "erinyes.valkyrion@erase-corp.example"}).status_code == 200
    profiles = world.post(
        "/bulk/profile",
        {"items": [{"id": slug, "name": "x", "ref": "crm-erinyes"}, {"id": "kept-colleague-5502", "name": "y"}]},
    ).json()["job"]["id"]
    finds = world.post(
        "/bulk/emailFinder",
        {"items": [{"firstName": "Erinyes", "lastName": "Valkyrion", "domain": "erase-corp.example"}]},
    ).json()["job"]["id"]
    assert [x["status"] for x in wait_job(world, profiles)] == ["found", "found"]
    assert wait_job(world, finds)[0]["status"] == "found"
    # And one known only from an upstream provider's answer (kept in the store).
    assert world.profile("ghost-erased-9").status_code == 200

    time.sleep(1.5)  # the reveal log is written once a second
    before = asyncio.run(rows_mentioning(url, NEEDLES))
    for table in ("people", "emails", "phones", "verifications", "idempotency", "job_items"):
        assert before.get(table), (table, before)
    if backend() == "sqlite":
        assert bytes_found(sqlite_files(url), NEEDLES)  # the search finds them while they are there
    export = json.loads(world.cli("privacy", "export", "erinyes.valkyrion@erase-corp.example").stdout)
    (person,) = export["people"]
    assert person["emails"][0]["source"] == "erase.csv" and person["emails"][0]["firstSeen"]
    assert person["phones"][0]["phone"] == "+33 6 12 34 50 99"
    assert {r["account"] for r in person["reveals"]} == {"buyer@customer.example"}
    revealed = {(r["endpoint"], f) for r in person["reveals"] for f in r["fields"]}
    assert {("/profile/profile", "phone"), ("/company/domainEmployees", "employee"), ("/bulk/profile",
            "work_email")} <= revealed  # fmt: skip
    ledger_before = asyncio.run(ledger(url))

    erased = json.loads(world.cli("privacy", "erase", "Erinyes.Valkyrion@erase-corp.example").stdout)
    assert erased["people"] == 1 and erased["suppressed"] >= 2, erased
    assert {"people", "emails", "phones", "idempotency", "job_items", "verifications"} <= set(erased["removed"])
    ghost = json.loads(world.cli("privacy", "erase", "https://www.linkedin.com/in/ghost-erased-9").stdout)
    assert ghost["people"] == 1

    # Nothing is served about them, nothing of them is stored, the ledger keeps its amounts.
    assert world.profile(slug).status_code == 404
    assert world.profile("ghost-erased-9").status_code == 404
    lines = job_results(world, profiles)
    assert lines[0] == {"index": 0, "ref": None, "status": "erased"} and lines[1]["status"] == "found"
    assert job_results(world, finds)[0]["status"] == "erased"
    assert asyncio.run(rows_mentioning(url, NEEDLES)) == {}
    assert asyncio.run(ledger(url)) == ledger_before
    assert asyncio.run(anonymous_reveals(url)) >= len(person["reveals"])
    after = json.loads(world.cli("privacy", "export", "erinyes.valkyrion@erase-corp.example").stdout)
    assert after["people"] == [] and after["verifications"] == [] and after["suppressed"] is True

    if backend() == "sqlite":
        assert bytes_found(sqlite_files(url), NEEDLES) == {}
    # An import does not bring them back.
    again = world.cli("import", str(path)).stdout
    assert any(line.strip("│ ").startswith("suppressed") and line.strip("│ ").endswith("1") for line in
               again.splitlines()), again  # fmt: skip
    assert world.profile(slug).status_code == 404


@pytest.mark.skipif(backend() != "postgres", reason="PostgreSQL's files after VACUUM FULL")
def test_on_postgres_vacuum_full_leaves_no_file_holding_them(world: World) -> None:
    rows = "name,email,linkedin,phone,company,domain\nPersephone Quillfeather,persephone.quillfeather@pg-erase.example,persephone-quillfeather-77,+33 6 98 76 54 21,PG Erase,pg-erase.example\n"
    path = world.tmp / "pg-erase.csv"
    path.write_text(rows)
    world.cli("import", str(path))
    needles = ["quillfeather", "persephone", "+33698765421"]
    assert world.profile("persephone-quillfeather-77", isPhoneRequired=True).status_code == 200
    files = asyncio.run(postgres_files(store_url(world)))
    if files is None:
        pytest.skip("this process cannot read the PostgreSQL server's data directory")
    asyncio.run(checkpoint())
    assert bytes_found(files, needles)  # there before
    world.cli("privacy", "erase", "--vacuum-full", "persephone-quillfeather-77")
    asyncio.run(checkpoint())
    files = asyncio.run(postgres_files(store_url(world)))
    assert files is not None
    assert bytes_found(files, needles) == {}


async def checkpoint() -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute("CHECKPOINT")  # what is committed reaches the tables' files
    finally:
        await conn.close()


async def ledger(url: str) -> list[tuple[Any, ...]]:
    db = open_database(url)
    try:
        rows = await db.fetch_all(
            sa.text("SELECT id, account_id, delta, balance_after, reason FROM ledger ORDER BY id")
        )
        return [tuple(r) for r in rows]
    finally:
        await db.close()


async def anonymous_reveals(url: str) -> int:
    db = open_database(url)
    try:
        return int(await db.scalar(sa.text("SELECT count(*) FROM reveal_log WHERE person_id IS NULL")) or 0)
    finally:
        await db.close()
