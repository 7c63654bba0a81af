"""Predictions are derived on import, and forgotten when a real work address arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.db.tables import predicted_emails
from leadsmith.verification import repository as verifications
from leadsmith.verification.rules import Result
from tests.support import base_env, cli, temporary_database

STAFF = "\n".join(
    f"{first} {last},{first.lower()}.{last.lower()}@acme.example,acme.example"
    for first, last in [
        ("Ada", "Lovelace"),
        ("Alan", "Turing"),
        ("Grace", "Hopper"),
        ("Edsger", "Dijkstra"),
        ("Barbara", "Liskov"),
    ]
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        yield base_env(url)


async def predictions(url: str) -> dict[int, tuple[str, float, str]]:
    db = open_database(url)
    try:
        rows = await db.fetch_all(sa.select(predicted_emails))
        return {r.person_id: (r.address, r.score, r.pattern) for r in rows}
    finally:
        await db.close()


async def test_prediction_is_stored_then_replaced_by_a_real_address(env: dict[str, str], tmp_path: Path) -> None:
    first = tmp_path / "staff.csv"
    first.write_text("name,email,domain\n" + STAFF + "\nDonald Knuth,don.knuth@gmail.com,acme.example\n")
    out = cli(env, "import", str(first))
    assert any(
        line.split("│")[1:3] and "domains re-learned" in line and line.split("│")[2].strip() == "1"
        for line in out.stdout.splitlines()
    ), out.stdout
    stored = await predictions(env["LEADSMITH_DATABASE_URL"])
    assert len(stored) == 1
    ((address, score, pattern),) = stored.values()
    assert address == "donald.knuth@acme.example"
    assert pattern == "{first}.{last}@acme.example"
    assert 0.5 < score < 1

    later = tmp_path / "later.csv"
    later.write_text("name,email,domain\nDonald Knuth,don.knuth@gmail.com;dek@acme.example,acme.example\n")
    cli(env, "import", str(later))
    assert await predictions(env["LEADSMITH_DATABASE_URL"]) == {}


async def test_a_prediction_that_bounced_gives_way_to_the_next_candidate(env: dict[str, str], tmp_path: Path) -> None:
    """A predicted address the verifier found undeliverable is not predicted again when the domain is
    learned again: the person gets the next candidate."""
    url = env["LEADSMITH_DATABASE_URL"]
    first = tmp_path / "staff.csv"
    first.write_text("name,email,domain\n" + STAFF + "\nDonald Knuth,don.knuth@gmail.com,acme.example\n")
    cli(env, "import", str(first))
    ((bounced, _, _),) = (await predictions(url)).values()
    assert bounced == "donald.knuth@acme.example"

    db = open_database(url)
    try:
        async with db.transaction() as tx:
            await verifications.save(tx, [Result(bounced, "invalid", 0, {"smtp": {"code": 550}}, 1)])
    finally:
        await db.close()
    later = tmp_path / "later.csv"
    later.write_text("name,email,domain\nKen Thompson,ken.thompson@acme.example,acme.example\n")
    cli(env, "import", str(later))  # acme.example is learned again
    ((address, score, pattern),) = (await predictions(url)).values()
    # The next candidate: not the bounced one, nor a numbered one (as if a namesake had it).
    assert address != bounced
    assert address.endswith("@acme.example")
    assert not any(ch.isdigit() for ch in address)
    assert pattern.endswith("@acme.example")
    assert 0 < score < 1
