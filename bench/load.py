"""Load test: the Kaspr endpoints against a no-op endpoint (/healthz) of the same server, in the same run.

    python bench/load.py [--workers 1] [--connections 32] [--seconds 10]

Starts a server on a throw-away store (the demo set on the embedded default unless
LEADSMITH_DATABASE_URL is set), then runs wrk on loopback. The profile requests rotate over every
demo lead, so the first pass pays for reveals (write transactions) and later passes are free reveals.
The e-mail finder requests rotate over made-up names at the demo domains (unknown people: every
one is charged, none is in the store). Goals: /profile/profile ratio >= 0.5 and p99 < 25 ms at 32
connections (issue 2); /company/emailFinder p99 < 10 ms (issue 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from common import HEADER, base_env, cli, start_server, wrk

from leadsmith.db.database import open_database
from leadsmith.db.tables import companies, people
from tests.support import REDIS_URL, temporary_database


async def linkedin_ids(url: str) -> list[str]:
    db = open_database(url)
    try:
        rows = await db.fetch_all(sa.select(people.c.linkedin_id).where(people.c.linkedin_id.is_not(None)))
        return [r.linkedin_id for r in rows]
    finally:
        await db.close()


def lua_script(path: Path, key: str, endpoint: str, bodies: list[dict[str, str]]) -> Path:
    """A wrk script that posts these bodies to ``endpoint`` in turn, with the key."""
    table = ",\n".join(json.dumps(json.dumps(b)) for b in bodies)
    path.write_text(
        f"""
local bodies = {{
{table}
}}
local n = 0
local headers = {{ ["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json" }}
request = function()
  n = n + 1
  return wrk.format("POST", "{endpoint}", headers, bodies[(n % #bodies) + 1])
end
"""
    )
    return path


FINDER_NAMES = ["Ada Lovelace", "Grace Hopper", "Jürgen Müller", "Jean-Luc van der Berg", "Zhao Lei", "Wei Wang"]


async def domains_of(url: str) -> list[str]:
    db = open_database(url)
    try:
        return [r.domain for r in await db.fetch_all(sa.select(companies.c.domain).order_by(companies.c.id))]
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--quiet-connections", type=int, default=4, help="a second finder run at low concurrency")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite", help="postgres: PostgreSQL and Redis counters"
    )
    args = parser.parse_args()

    os.environ["LEADSMITH_TEST_DATABASE"] = args.backend
    with tempfile.TemporaryDirectory() as tmp, temporary_database(Path(tmp)) as url:
        extra = {"LEADSMITH_RATE_LIMIT_PER_HOUR": "100000000", "LEADSMITH_SIGNUP_CREDITS": "100000000"}
        if args.backend == "postgres":
            extra |= {"LEADSMITH_REDIS_URL": REDIS_URL, "LEADSMITH_REDIS_PREFIX": f"bench-{os.getpid()}:"}
        env = base_env(url, **extra)
        cli(env, "demo")
        key = cli(env, "accounts", "create", f"bench-{os.getpid()}@leadsmith.local").stdout.strip().splitlines()[-1]
        ids = asyncio.run(linkedin_ids(url))
        script = lua_script(Path(tmp) / "profile.lua", key, "/profile/profile", [{"id": i, "name": "x"} for i in ids])
        people = [{"domain": d, "name": n} for d in asyncio.run(domains_of(url)) for n in FINDER_NAMES]
        finder = lua_script(Path(tmp) / "finder.lua", key, "/company/emailFinder", people)
        server = start_server(env, Path(tmp) / "server.log", workers=args.workers)
        try:
            wrk("warm-up", server.url + "/healthz", connections=args.connections, seconds=2)
            noop = wrk(
                "GET /healthz (no-op)", server.url + "/healthz", connections=args.connections, seconds=args.seconds
            )
            profile = wrk(
                "POST /profile/profile", server.url, connections=args.connections, seconds=args.seconds, script=script
            )
            found = wrk(
                "POST /company/emailFinder",
                server.url,
                connections=args.connections,
                seconds=args.seconds,
                script=finder,
            )
            quiet = wrk(
                f"  same, {args.quiet_connections} connections",
                server.url,
                connections=args.quiet_connections,
                seconds=args.seconds,
                threads=1,
                script=finder,
            )
        finally:
            server.stop()
    print(
        f"{args.workers} worker(s), {args.connections} connections, {args.seconds} s each, "
        f"{len(ids)} leads, {args.backend}{' + redis' if args.backend == 'postgres' else ''}"
    )
    print(HEADER)
    print(noop.row())
    print(profile.row(noop))
    print(found.row(noop))
    print(quiet.row())


if __name__ == "__main__":
    main()
