"""``leadsmith import``: CSV and JSON Lines, merging, bad rows with line numbers, and idempotency."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.contacts import import_repository
from leadsmith.contacts.import_service import ImportService, _Written
from leadsmith.contacts.records import Record, parse_row
from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.db.tables import (
    DEFERRABLE_FOREIGN_KEYS,
    DEFERRABLE_INDEXES,
    companies,
    deferrables_sql,
    domain_patterns,
    emails,
    people,
    phones,
    predicted_emails,
)
from tests.support import backend, base_env, cli, temporary_database

CSV = """\
First Name,LAST_NAME,LinkedIn,Emails,Phone,Job Title,company,Domain,location
Ada,Lovelace,https://www.linkedin.com/in/ada-lovelace/,ada.lovelace@analytical.io;ada@gmail.com,+44 20 7946 0958,Countess,Analytical Engines,analytical.io,"London, United Kingdom"
Charles,Babbage,charles-babbage,cbabbage@analytical.io,020 7946 0000,Inventor,Analytical Engines,,"London, United Kingdom"
Grace,Hopper,,grace@navy.example,not-a-phone,Rear Admiral,US Navy,,"Arlington, United States"
Nobody,Atall,,,,,,,
Alan,Turing,not a linkedin url!,alan@bletchley.example,,,,,
"Multi
Line",Name,multi-line-person,ml@analytical.io,,,,,
"""

JSONL = "\n".join(
    [
        json.dumps({"name": "Ada Lovelace", "linkedinUrl": "linkedin.com/in/Ada-Lovelace", "title": "Mathematician"}),
        json.dumps(
            {
                "fullName": "Grace M. Hopper",
                "email": ["grace@navy.example", "ghopper@navy.example"],
                "phones": ["+1 202-555-0143"],
            }
        ),
        "{broken json",
        json.dumps(["not", "an", "object"]),
        json.dumps({"name": {"first": "x"}, "email": "x@y.example"}),
        json.dumps(
            {
                "firstName": "Linus",
                "lastName": "Torvalds",
                "email": "linus@kernel.example",
                "domain": "https://kernel.example/about",
            }
        ),
    ]
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        yield url, base_env(url)


async def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    db = open_database(url)
    try:
        out = {}
        for table in (people, emails, phones, companies):
            rows = await db.fetch_all(sa.select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
        return out
    finally:
        await db.close()


def counts(stdout: str) -> dict[str, int]:
    found = {}
    for line in stdout.splitlines():
        parts = [p.strip() for p in line.strip("│ ").split("│")]
        if len(parts) == 2 and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


async def test_csv_import_merges_reports_and_is_idempotent(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = store
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    first = cli(env, "import", str(path))
    summary = counts(first.stdout)
    assert summary["rows"] == 6 and summary["skipped"] == 2
    assert summary["people created"] == 4 and summary["companies created"] == 2
    assert summary["emails added"] == 5 and summary["phones added"] == 2
    assert "line 5: skipped: needs a LinkedIn id or an e-mail address" in first.stderr
    assert "line 6: skipped: linkedin: not a LinkedIn profile id or URL" in first.stderr
    assert "line 4: warning: phone: not a valid number" in first.stderr

    before = await snapshot(url)
    second = cli(env, "import", str(path))
    again = counts(second.stdout)
    assert again["people created"] == again["people updated"] == again["emails added"] == again["phones added"] == 0
    assert again["companies created"] == 0
    assert await snapshot(url) == before

    ada = next(p for p in before["people"] if p[1] == "ada-lovelace")
    assert (ada[5], ada[6]) == ("Ada", "Lovelace")
    babbage_phone = next(p for p in before["phones"] if p[2] == "+442079460000")
    assert babbage_phone
    ml = next(p for p in before["people"] if p[1] == "multi-line-person")
    assert ml[4] == "Multi Line Name"


async def test_jsonl_merges_by_linkedin_then_email(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = store
    csv_path, jsonl_path = tmp_path / "a.csv", tmp_path / "b.jsonl"
    csv_path.write_text(CSV)
    jsonl_path.write_text(JSONL)
    cli(env, "import", str(csv_path))
    out = cli(env, "import", str(jsonl_path))
    summary = counts(out.stdout)
    assert summary["rows"] == 6 and summary["skipped"] == 3
    assert summary["people created"] == 1 and summary["people updated"] == 2
    assert "line 3: skipped: not valid JSON" in out.stderr
    assert "line 4: skipped: each line must be a JSON object" in out.stderr
    assert "line 5: skipped: name: expected text" in out.stderr
    snap = await snapshot(url)
    ada = next(p for p in snap["people"] if p[1] == "ada-lovelace")
    assert ada[7] == "Mathematician"
    grace_id = next(e[1] for e in snap["emails"] if e[2] == "grace@navy.example")
    assert {e[2] for e in snap["emails"] if e[1] == grace_id} == {"grace@navy.example", "ghopper@navy.example"}
    assert any(p[1] == grace_id and p[2] == "+12025550143" for p in snap["phones"])
    assert any(c[1] == "kernel.example" for c in snap["companies"])


async def test_import_handles_tsv_bom_and_cp1252(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = store
    tsv = tmp_path / "people.tsv"
    tsv.write_bytes("\ufeffname\temail\tdomain\nJosé Núñez\tjose.nunez@acme.example\tacme.example\n".encode())
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name;email\nFrançois Müller;fm@acme.example\n".encode("cp1252"))
    out = cli(env, "import", str(tsv), str(latin))
    assert counts(out.stdout)["people created"] == 2
    snap = await snapshot(url)
    assert {p[4] for p in snap["people"]} == {"José Núñez", "François Müller"}


async def content(url: str) -> dict[str, list[tuple[object, ...]]]:
    """What an import decides (timestamps left out): people, addresses, phones, patterns, predictions."""
    db = open_database(url)
    try:
        out = {}
        for table in (people, emails, phones, companies, domain_patterns, predicted_emails):
            columns = [c for c in table.columns if c.name not in STAMPS]
            rows = await db.fetch_all(sa.select(*columns).order_by(*table.primary_key.columns))
            # Scores to 12 digits: PostgreSQL's float8 and SQLite's REAL may differ in the last bit.
            out[table.name] = [tuple(round(v, 12) if isinstance(v, float) else v for v in r) for r in rows]
        return out
    finally:
        await db.close()


STAMPS = {"created_at", "updated_at", "seen_at", "first_seen", "last_seen"}


def imported(tmp: Path, path: Path, *options: str, created: int) -> dict[str, list[tuple[object, ...]]]:
    """What a new store holds after ``leadsmith import <options> <path>``, which creates ``created`` people."""
    with temporary_database(tmp) as url:
        migrate.upgrade(url)
        out = cli(base_env(url), "import", *options, str(path))
        assert counts(out.stdout)["people created"] == created, out.stdout + out.stderr[:2000]
        return asyncio.run(content(url))


def test_parallel_import_gives_the_same_store(tmp_path: Path) -> None:
    """Rows parsed and patterns learned in worker processes (--jobs 2) give exactly what one process gives."""
    rows = ["name,email,linkedin,phone,company,domain,location"]
    firsts = ["Ada", "Grace", "Jürgen", "Zhao", "Marie-Claire", "Li", "Hans", "Anne"]
    lasts = ["Lovelace", "Hopper", "Müller", "Lei", "van der Berg", "Wei", "Schmidt", "O'Neil"]
    for i in range(3000):
        first, last = firsts[i % 8], lasts[(i * 3) % 8]
        domain = f"corp{i % 7}.example"
        local = [f"{first}.{last}", f"{first[0]}{last}", first][i % 7 % 3].lower().replace(" ", "").replace("'", "")
        email = f"{local}{i}@{domain}" if i % 5 else ""
        phone = f"+33 1 42 68 {i % 100:02d} {i // 100:02d}" if i % 2 else "not a phone"
        rows.append(f'"{first} {last}",{email},person-{i},{phone},Corp {i % 7},{domain},"Paris, France"')
    path = tmp_path / "many.csv"
    path.write_text("\n".join(rows) + "\n")
    found = [imported(tmp_path / jobs, path, "--jobs", jobs, created=3000) for jobs in ("1", "2")]
    assert found[0]["domain_patterns"] and found[0]["predicted_emails"]
    assert found[0] == found[1]


async def test_an_import_leaves_statistics_for_the_query_planner(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Without them SQLite looked a person up by name by walking their whole company's addresses."""
    url, env = store
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    cli(env, "import", str(path))
    db = open_database(url)
    try:
        if db.dialect == "sqlite":
            analysed = {r[0] for r in await db.fetch_all(sa.text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'people'"))}
            assert "ix_people_name" in analysed
            plan = await db.fetch_all(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT people.id FROM people JOIN emails ON emails.person_id = people.id "
                    "WHERE lower(people.last_name) = 'lovelace' AND lower(people.first_name) = 'ada' "
                    "AND emails.domain = 'analytical.io'"
                )
            )
            assert any("ix_people_name" in str(row[-1]) for row in plan)
        else:
            tuples = await db.scalar(sa.text("SELECT reltuples FROM pg_class WHERE relname = 'people'"))
            assert tuples == 4
    finally:
        await db.close()


async def index_names(url: str) -> set[str]:
    """The store's indexes and, on PostgreSQL, foreign keys."""
    db = open_database(url)
    try:
        return {r[0] for r in await db.fetch_all(sa.text(deferrables_sql(db.dialect)))}
    finally:
        await db.close()


async def test_an_import_into_an_empty_store_builds_its_indexes_after_the_rows(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """The lookup indexes no import needs (and on PostgreSQL the foreign keys of the rows it writes) are
    dropped for the rows and made again after them; the store ends with exactly the indexes and keys the
    migrations gave it, and an import into a store with people keeps them."""
    url, env = store
    migrated = await index_names(url)
    deferrable = {str(i.name) for i in DEFERRABLE_INDEXES}
    if backend() == "postgres":
        deferrable |= {str(fk.name) for fk in DEFERRABLE_FOREIGN_KEYS}
        assert len(deferrable) == 7
    assert deferrable <= migrated
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    cli(env, "import", str(path))
    assert await index_names(url) == migrated
    db = open_database(url)
    try:
        service = ImportService(db)
        assert not await import_repository.defer_deferrables(db)  # not empty now: nothing dropped
        assert await index_names(url) == migrated

        def failing() -> Iterator[Record]:
            record = parse_row({"First Name": "Ann", "Last Name": "Lee", "Email": "ann@lee.example"}, 2)
            assert isinstance(record, Record)
            yield record
            raise OSError("the file went away")

        await db.execute(sa.delete(emails))
        await db.execute(sa.delete(phones))
        await db.execute(sa.delete(people))
        with pytest.raises(OSError, match="went away"):
            await service.import_records(failing())
        assert await index_names(url) == migrated  # an import that fails still leaves them all
        assert await import_repository.defer_deferrables(db)
        assert not deferrable & await index_names(url)
    finally:
        await db.close()
    await asyncio.to_thread(migrate.upgrade, url)  # what every start runs: builds what an interrupted import left out
    assert await index_names(url) == migrated


def test_small_batches_give_what_one_batch_gives(tmp_path: Path) -> None:
    """Each batch is merged while the one before is being written: rows that come back to the people
    of the batch just before (by LinkedIn id, by address, with more phones, with a clashing address)
    end the same as when every row is in one batch."""
    rows = ["name,email,linkedin,phone,title,company,domain,location"]
    for i in range(40):
        domain = f"corp{i % 3}.example"
        rows.append(f"Person{i} Lee,p{i}@{domain},person-{i},+33 1 42 68 00 {i:02d},T1,Corp,{domain},Paris")
        if i >= 2:  # by LinkedIn id, a batch or two later: a new title and a second phone
            j = i - 2
            rows.append(f"Person{j} Lee,,person-{j},+33 1 42 68 01 {j:02d},T2,Corp,corp{j % 3}.example,")
        if i >= 3:  # by address only: a new location; and someone else's address on a new profile
            j = i - 3
            rows.append(f",p{j}@corp{j % 3}.example,,,,,,Berlin")
            rows.append(f"Other{j} Kim,p{j}@corp{j % 3}.example,other-{j},,,,,")  # merged by address
    path = tmp_path / "revisits.csv"
    path.write_text("\n".join(rows) + "\n")
    found = [
        imported(tmp_path / size, path, "--jobs", "1", "--batch-size", size, created=40) for size in ("3", "100000")
    ]
    assert found[0]["phones"] and len(found[0]["phones"]) == 78
    assert found[0] == found[1]


async def test_the_wal_starts_over_between_the_batches_of_an_import(tmp_path: Path) -> None:
    """SQLite: each batch's pages are copied back before the next batch begins, so the next one writes
    the WAL from its start again; it never holds much more than a batch (a million people had left a
    1.8 GB WAL, every page of it written to fresh blocks of the file)."""
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = open_database(url)
    try:
        db.start_housekeeping()
        records = []
        for i in range(6000):
            record = parse_row(
                {"name": f"Person{i} Lee", "linkedin": f"person-{i}", "email": f"p{i}@x{i % 9}.example"}, i
            )
            assert isinstance(record, Record)
            records.append(record)
        wal = tmp_path / "wal.db-wal"
        sizes: list[int] = []
        service = ImportService(db, batch_size=500)
        summary = await service.import_records(records, on_batch=lambda _: sizes.append(wal.stat().st_size))
        assert summary.people_created == 6000 and len(sizes) == 12
        # Without the restart the WAL only grows: the twelfth batch's would be twice the sixth's.
        assert max(sizes[6:]) < 1.5 * max(sizes[:6])
    finally:
        await db.close()


def _records(rows: list[dict[str, str]], first_line: int = 2) -> list[Record]:
    out = []
    for line, row in enumerate(rows, first_line):
        record = parse_row(row, line)
        assert isinstance(record, Record)
        out.append(record)
    return out


async def test_an_import_into_an_empty_store_meets_another_writer_and_merges_what_it_wrote(tmp_path: Path) -> None:
    """An import into an empty store looks up only keys it has written itself. Another writer may write
    between its batches: the keys it wrote meet theirs in the unique indexes, and the batch is merged
    again with every look-up, as any import into a store with people would merge it."""
    with temporary_database(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        first = [{"name": f"Person{i} Lee", "linkedin": f"person-{i}", "email": f"p{i}@corp.example"} for i in range(6)]
        # Another writer's people: one by LinkedIn id, one by address, as the import's second batch has them.
        theirs = _records(
            [
                {"name": "Person3 Lee", "linkedin": "person-3", "title": "Theirs"},
                {"name": "Someone Else", "email": "p4@corp.example", "phone": "+33 1 42 68 00 04"},
            ]
        )

        def other_writer() -> None:
            async def write() -> None:
                other = open_database(url)
                try:
                    summary = await ImportService(other).import_records(theirs)
                    assert summary.people_created == 2
                finally:
                    await other.close()

            asyncio.run(write())

        def rows() -> Iterator[Record]:
            records = _records(first)
            yield from records[:3]  # the first batch
            thread = threading.Thread(target=other_writer)  # between the batches, as a second process would
            thread.start()
            thread.join()
            yield from records[3:]

        db = open_database(url)
        try:
            summary = await ImportService(db, batch_size=3).import_records(rows())
        finally:
            await db.close()
        assert (summary.people_created, summary.people_updated, summary.emails_added) == (4, 2, 5)
        snap = await snapshot(url)
        by_key = {p[2]: p for p in snap["people"]}
        assert sorted(by_key) == [f"person-{i}" for i in range(6)] and len(snap["people"]) == 6
        assert by_key["person-3"][7] == "Theirs"  # their person, found by LinkedIn id and kept
        owner = {e[3]: e[1] for e in snap["emails"]}
        assert owner["p4@corp.example"] == by_key["person-4"][0]  # their person, found by address
        assert snap["phones"][0][1] == by_key["person-4"][0]
        assert await index_names(url) >= {str(i.name) for i in DEFERRABLE_INDEXES}


@given(st.sets(st.text(max_size=30), max_size=200), st.sets(st.text(max_size=30), max_size=200))
def test_written_keys_are_always_told_written(written: set[str], others: set[str]) -> None:
    keys = _Written(bits=1 << 12)
    keys.add(written)
    assert keys.maybe(written | others) >= written
    assert keys.maybe(written) == written


async def test_a_file_with_an_unterminated_quote_lands_every_other_row_and_says_so(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = store
    path = tmp_path / "damaged.csv"
    rows = "".join(f"Person{i} Tester,p{i}@acme.example,Engineer\n" for i in range(1000))
    path.write_text('name,email,title\n"Ann Broken,ann@acme.example,CEO\n' + rows)
    out = cli(env, "import", str(path), check=False)
    assert out.returncode == 3, out.stderr
    summary = counts(out.stdout)
    assert summary["rows"] == 1001 and summary["skipped"] == 1 and summary["people created"] == 1000
    assert "line 2: skipped: unterminated quote" in out.stderr
    assert "damaged file" in out.stderr and "(2)" in out.stderr
    assert len((await snapshot(url))["people"]) == 1000


async def test_a_file_with_no_column_it_reads_is_refused_before_anything_is_written(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = store
    for name, text in (("foo.csv", "foo,bar,baz\n1,2,3\n4,5,6\n"), ("foo.jsonl", '{"foo": 1}\n{"bar": 2}\n')):
        path = tmp_path / name
        path.write_text(text)
        out = cli(env, "import", str(path), check=False)
        assert out.returncode == 2, out.stdout
        message = " ".join(out.stderr.split())
        assert "no column the import reads" in message and "'foo'" in message
        assert "linkedin (" in message and "emails (email" in message and "Nothing was imported" in message
    assert (await snapshot(url))["people"] == []


def test_a_file_whose_every_row_is_refused_exits_non_zero(store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    _, env = store
    path = tmp_path / "bad.csv"
    path.write_text("name,email\nAnn,not-an-address\nBob,\n")
    out = cli(env, "import", str(path), check=False)
    assert out.returncode == 1 and "every one of the 2 rows was refused" in " ".join(out.stderr.split())


def test_credits_grant_takes_a_negative_amount_back(store: tuple[str, dict[str, str]]) -> None:
    _, env = store
    cli(env, "accounts", "create", "neg@acme.example", "--credits", "10")
    out = cli(env, "credits", "grant", "neg@acme.example", "-5", check=False)
    assert out.returncode == 0, out.stderr
    assert "balance now 5" in out.stdout
    refused = cli(env, "credits", "grant", "neg@acme.example", "-50", check=False)
    assert refused.returncode == 1 and "cannot take 50 credits from a balance of 5" in refused.stderr


async def test_keeps_asked_together_are_written_together_and_one_bad_one_spoils_no_other(
    store: tuple[str, dict[str, str]],
) -> None:
    """Upstream answers kept concurrently: one transaction for the group, each ``then`` in it; a keep
    whose ``then`` fails is refused alone, the others land; a keep whose caller went away still lands."""
    db = open_database(store[0])
    try:
        service = ImportService(db)
        commits = 0
        # SQLite: the statements of the store's write connection seen, its commits counted
        raw = getattr(db, "_writer_raw", None)
        if raw is not None:

            def traced(sql: str) -> None:
                nonlocal commits
                commits += sql == "COMMIT"

            raw.set_trace_callback(traced)

        def record(n: int) -> Record:
            parsed = parse_row({"linkedin": f"kept-{n}", "name": f"Kept Person{n}", "email": f"k{n}@kept.example"}, n)
            assert isinstance(parsed, Record)
            return parsed

        ran: list[int] = []

        def then_of(n: int):  # type: ignore[no-untyped-def]
            async def then(tx: object) -> None:
                if n == 7:
                    raise ValueError("this one cannot be kept")
                ran.append(n)

            return then

        keeps = [asyncio.ensure_future(service.keep([record(n)], "provider:test", then_of(n))) for n in range(20)]
        await asyncio.sleep(0)
        keeps[3].cancel()  # its caller went away
        outcomes = await asyncio.gather(*keeps, return_exceptions=True)
        assert isinstance(outcomes[7], ValueError)
        assert isinstance(outcomes[3], asyncio.CancelledError)
        assert all(not isinstance(o, BaseException) for i, o in enumerate(outcomes) if i not in (3, 7))
        assert sorted(set(ran)) == [n for n in range(20) if n != 7]
        kept = {r.linkedin_key for r in await db.fetch_all(sa.select(people.c.linkedin_key))}
        assert kept == {f"kept-{n}" for n in range(20) if n != 7}
        if raw is not None:
            # the group (failed, rolled back), then each of its 20 alone: 19 commits, not more
            assert commits == 19
            commits = 0
            await asyncio.gather(*(service.keep([record(n)], "provider:test") for n in range(100, 130)))
            assert commits == 1  # thirty keeps of one turn of the event loop: one transaction
            raw.set_trace_callback(None)
    finally:
        await db.close()
