"""Predictions are derived on import, and forgotten when a real work address arrives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.db.tables import predicted_emails
from leadsmith.verification import repository as verifications
from leadsmith.verification.rules import Result
from tests.support import base_env, cli, start_server, temporary_database

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


KNOWN_TEST = (
    "name,email,linkedin,domain\n"
    "Jane Known,jane@known.test,,known.test\n"
    "John Known,john@known.test,,known.test\n"
    "Ada Lovelace,,https://www.linkedin.com/in/ada-lovelace-ls,known.test\n"
)


async def test_the_verifier_finding_a_prediction_undeliverable_has_it_predicted_again(
    env: dict[str, str], tmp_path: Path
) -> None:
    """``leadsmith verify --stored`` against the loopback mail server, which knows only jane@ and john@
    at known.test: Ada's predicted ada@known.test bounces, and the same run predicts her the next
    candidate (no import, no other learning of the domain needed)."""
    url = env["LEADSMITH_DATABASE_URL"]
    data = tmp_path / "staff.csv"
    data.write_text(KNOWN_TEST)
    cli(env, "import", str(data))
    ((first, _, _),) = (await predictions(url)).values()
    assert first == "ada@known.test"  # the domain writes {first}

    out = cli(env, "verify", "--stored").stdout
    assert "re-verified 3 stored addresses" in out
    assert "predicted again at 1 domain(s) where a predicted address bounced" in out
    ((address, score, _),) = (await predictions(url)).values()
    assert address != first
    assert address.endswith("@known.test")
    assert not any(ch.isdigit() for ch in address)  # the next candidate, not a namesake's numbered one
    assert 0 < score < 1

    # An imported address that bounces changes no prediction.
    data.write_text("name,email,domain\nNobody Known,nobody@known.test,known.test\n")
    cli(env, "import", str(data))
    before = await predictions(url)
    out = cli(env, "verify", "nobody@known.test").stdout
    assert "predicted again" not in out
    assert await predictions(url) == before


def test_a_server_verifying_in_the_background_predicts_the_next_candidate(tmp_path: Path) -> None:
    """The same in a server: its background verifier finds ada@known.test undeliverable, and its pattern
    learner's next round predicts her another address."""
    with temporary_database(tmp_path) as url:
        migrate.upgrade(url)
        env = base_env(url)
        data = tmp_path / "staff.csv"
        data.write_text(KNOWN_TEST)
        cli(env, "import", str(data))
        server = start_server({**env, "LEADSMITH_VERIFY_BACKGROUND": "true"}, tmp_path / "server.log")
        try:
            deadline = time.monotonic() + 30
            while True:
                ((address, _, _),) = asyncio.run(predictions(url)).values()
                if address != "ada@known.test":
                    break
                assert time.monotonic() < deadline, server.log.read_text()
                time.sleep(0.3)
        finally:
            server.stop()
        assert address.endswith("@known.test")
        assert not any(ch.isdigit() for ch in address)
