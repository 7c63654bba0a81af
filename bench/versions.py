"""Kaspr API v2.0 against v1: /profile/linkedin and /profile/profile on the same leads, in the same run.

    python bench/versions.py [--connections 32] [--seconds 10] [--rounds 3] [--people 0]

One worker on the embedded default (SQLite), the demo set (or --people N generated people). Both
endpoints ask for the same leads' e-mails and phones (v1 with isPhoneRequired, v2 with every kind): leads
with a phone, so that every answer of both is a 200 with data, all revealed to the key first, so both
measure the look-up and its free re-reveal, the API's common case.
The runs alternate (v1, v2, v1, v2...) so a drift of the machine hits both; the ratio is of the medians.
Issue 23's goal: ratio >= 0.95 (the same work under other names).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from pathlib import Path

import sqlalchemy as sa
from common import HEADER, WrkResult, base_env, cli, start_server, wrk
from load import build_store, lua_script

from leadsmith.db.database import open_database
from leadsmith.db.tables import people, phones


async def ids_with_phones(url: str, n: int) -> list[str]:
    db = open_database(url)
    try:
        stmt = (
            sa.select(people.c.linkedin_id)
            .where(people.c.linkedin_id.is_not(None), sa.exists().where(phones.c.person_id == people.c.id))
            .order_by(people.c.id)
            .limit(n)
        )
        return [r.linkedin_id for r in await db.fetch_all(stmt)]
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--people", type=int, default=0, help="a generated store of this many people (0: the demo set)")
    args = parser.parse_args()
    os.environ["LEADSMITH_TEST_DATABASE"] = "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="100000000", LEADSMITH_SIGNUP_CREDITS="100000000")
        store = build_store(env, Path(tmp), args.people)
        ids = asyncio.run(ids_with_phones(url, 1000))
        key = cli(env, "accounts", "create", f"bench-{os.getpid()}@leadsmith.local").stdout.strip().splitlines()[-1]
        v1 = lua_script(
            Path(tmp) / "v1.lua",
            key,
            "/profile/profile",
            [{"id": i, "name": "x", "isPhoneRequired": True} for i in ids],
        )
        v2 = lua_script(
            Path(tmp) / "v2.lua",
            key,
            "/profile/linkedin",
            [{"id": i, "name": "x"} for i in ids],
            headers={"accept-version": "v2.0"},
        )
        server = start_server(env, Path(tmp) / "server.log")
        try:
            wrk("warm-up", server.url + "/healthz", connections=args.connections, seconds=2)
            for script in (v1, v2):  # every lead revealed to the key once (phones included)
                wrk("warm-up", server.url, connections=args.connections, seconds=4, script=script)
            runs: dict[str, list[WrkResult]] = {"v1": [], "v2": []}
            for _ in range(args.rounds):
                for name, script, path in (("v1", v1, "/profile/profile"), ("v2", v2, "/profile/linkedin")):
                    runs[name].append(
                        wrk(
                            f"POST {path}",
                            server.url,
                            connections=args.connections,
                            seconds=args.seconds,
                            script=script,
                        )
                    )
        finally:
            server.stop()
    print(
        f"1 worker, SQLite, {args.connections} connections, {args.seconds} s x {args.rounds} rounds, {store}, "
        f"{len(ids)} leads with a phone"
    )
    print(HEADER)
    for name in ("v1", "v2"):
        for r in runs[name]:
            print(r.row())
    med = {name: statistics.median(r.rps for r in runs[name]) for name in runs}
    p99 = {name: statistics.median(r.p99_ms for r in runs[name]) for name in runs}
    print(f"median req/s: v1 {med['v1']:.0f} (p99 {p99['v1']:.2f} ms), v2 {med['v2']:.0f} (p99 {p99['v2']:.2f} ms)")
    print(f"ratio /profile/linkedin : /profile/profile = {med['v2'] / med['v1']:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
