"""Load test: /profile/profile against a no-op endpoint (/healthz) of the same server, in the same run.

    python bench/load.py [--workers 1] [--connections 32] [--seconds 10]

Starts a server on a throw-away store (the demo set on the embedded default unless
LEADSMITH_DATABASE_URL is set), then runs wrk on loopback. The profile requests rotate over every
demo lead, so the first pass pays for reveals (write transactions) and later passes are free reveals.
Goal (issue 2): ratio >= 0.5 and p99 < 25 ms at 32 connections on a 2-core machine.
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
from leadsmith.db.tables import people


async def linkedin_ids(url: str) -> list[str]:
    db = open_database(url)
    try:
        rows = await db.fetch_all(sa.select(people.c.linkedin_id).where(people.c.linkedin_id.is_not(None)))
        return [r.linkedin_id for r in rows]
    finally:
        await db.close()


def profile_script(path: Path, key: str, ids: list[str]) -> Path:
    bodies = ",\n".join(json.dumps(json.dumps({"id": i, "name": "x"})) for i in ids)
    path.write_text(
        f"""
local bodies = {{
{bodies}
}}
local n = 0
local headers = {{ ["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json" }}
request = function()
  n = n + 1
  return wrk.format("POST", "/profile/profile", headers, bodies[(n % #bodies) + 1])
end
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("LEADSMITH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="100000000", LEADSMITH_SIGNUP_CREDITS="100000000")
        cli(env, "demo")
        key = cli(env, "accounts", "create", f"bench-{os.getpid()}@leadsmith.local").stdout.strip().splitlines()[-1]
        ids = asyncio.run(linkedin_ids(url))
        script = profile_script(Path(tmp) / "profile.lua", key, ids)
        server = start_server(env, Path(tmp) / "server.log", workers=args.workers)
        try:
            wrk("warm-up", server.url + "/healthz", connections=args.connections, seconds=2)
            noop = wrk(
                "GET /healthz (no-op)", server.url + "/healthz", connections=args.connections, seconds=args.seconds
            )
            profile = wrk(
                "POST /profile/profile", server.url, connections=args.connections, seconds=args.seconds, script=script
            )
        finally:
            server.stop()
    print(
        f"{args.workers} worker(s), {args.connections} connections, {args.seconds} s each, "
        f"{len(ids)} leads, {url.split(':')[0]}"
    )
    print(HEADER)
    print(noop.row())
    print(profile.row(noop))


if __name__ == "__main__":
    main()
