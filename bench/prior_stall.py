"""How long learning the pattern prior holds a server's event loop, on a store with many domains.

    python bench/prior_stall.py [--domains 50000] [--backend sqlite|postgres]

Every learning round a server runs (upstream answers kept, a pattern asked of a domain upstream) ends
with the prior: the average over every domain's statistics. This writes ``--domains`` domains'
statistics (11 rows each, the default prior's conventions plus the handle and middle-name counts)
into a throw-away store (SQLite, or a PostgreSQL database of its own with ``--backend postgres``), then
runs ``PatternService.refresh_prior`` twice while a task on the loop ticks every millisecond: learned
in the server's process (the baseline) and in its side process (``SidePool``, from
``prior_aside_rows`` rows: it reads the SQLite file, or PostgreSQL over a connection of its own), and
prints each one's time and the loop's longest stall, and the ratio of the stalls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import asyncpg
from common import base_env, cli, temporary_database

from leadsmith.contacts.parallel import SidePool
from leadsmith.db.database import open_database
from leadsmith.engine.inference import DEFAULT_PRIOR, HANDLE_HIT, HANDLE_MISS, MIDDLE_PAIRS
from leadsmith.patterns.service import PatternService


def build(url: str, domains: int) -> int:
    keys = [*DEFAULT_PRIOR, HANDLE_HIT, HANDLE_MISS, MIDDLE_PAIRS]
    rng = random.Random(7)
    rows = [(f"d{i}.example", t, c, rng.uniform(0, 20), 0) for i in range(domains) for t, c in keys]
    if not url.startswith("sqlite"):
        asyncio.run(build_postgres(url, rows))
        return len(rows)
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        conn.executemany(
            "INSERT OR REPLACE INTO domain_patterns (domain, template, cap, support, updated_at) VALUES (?,?,?,?,?)",
            rows,
        )
        conn.commit()
    finally:
        conn.close()
    return len(rows)


async def build_postgres(url: str, rows: list[tuple[str, str, int, float, int]]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        columns = ["domain", "template", "cap", "support", "updated_at"]
        await conn.copy_records_to_table("domain_patterns", records=rows, columns=columns)
    finally:
        await conn.close()


async def stall_during(work: Awaitable[None]) -> tuple[float, float]:
    """How long ``work`` took, and the longest the loop went without running a 1 ms ticker."""
    worst = 0.0
    done = False

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work
    took = time.perf_counter() - started
    done = True
    await ticker
    return took, worst


async def measure(url: str) -> list[tuple[str, float, float]]:
    db = open_database(url)
    aside = SidePool()
    try:
        await PatternService(db, aside=aside).refresh_prior()  # the side process started, its reader opened
        out = []
        for label, service in (
            ("in the server's process", PatternService(db)),
            ("aside", PatternService(db, aside=aside)),
        ):
            took, worst = await stall_during(service.refresh_prior())
            out.append((label, took, worst))
        return out
    finally:
        aside.shutdown()
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    os.environ["LEADSMITH_TEST_DATABASE"] = args.backend
    with tempfile.TemporaryDirectory() as tmp, temporary_database(Path(tmp)) as url:
        cli(base_env(url), "migrate")
        rows = build(url, args.domains)
        results = asyncio.run(measure(url))
    print(f"{args.domains} domains' statistics ({rows} rows), {'SQLite' if args.backend == 'sqlite' else 'PostgreSQL'}")
    print(f"{'prior learned':<28} {'took s':>8} {'longest stall ms':>17}")
    for label, took, worst in results:
        print(f"{label:<28} {took:>8.2f} {worst * 1000:>17.1f}")
    print(f"stall aside : in the server's process = {results[1][2] / results[0][2]:.3f}")


if __name__ == "__main__":
    main()
