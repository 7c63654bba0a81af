"""Load test: the Kaspr endpoints against a no-op endpoint (/healthz) of the same server, in the same run.

    python bench/load.py [--workers 1,2] [--connections 32] [--seconds 10] [--backend sqlite|postgres]
                         [--people 1000000] [--store URL] [--only repeat]

Starts a server on a throw-away store (the demo set, or with --people a generated CSV of that many
people imported first, as bench/import_speed.py makes it), then runs wrk on loopback against
/profile/profile (new: up to 20,000 leads spread over the store, each a charged reveal the first
time; repeat: 1,000 of them this key has revealed already, warmed first), /company/domainPattern and
/company/domainEmployees (every domain) and /company/emailFinder. The profile requests rotate over
the leads asked, so the first pass pays for reveals (write transactions) and later passes are free
reveals. The e-mail finder requests rotate over made-up names at the store's domains (unknown people:
every one is charged, none is in the store). Issue 5: at 1,000,000 people, 1 and 2 workers on each
backend; >= 1,500 profile req/s with 2 workers on PostgreSQL + Redis, p99 < 50 ms at 64 connections.
Issue 2: /profile/profile ratio >= 0.5 and p99 < 25 ms at 32 connections; issue 3: /company/emailFinder
p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from common import HEADER, REDIS_URL, base_env, cli, start_server, temporary_database, wrk
from import_speed import generate

from leadsmith.db.database import open_database
from leadsmith.db.tables import companies, people


def lua_script(
    path: Path, key: str, endpoint: str, bodies: list[dict[str, str]], headers: dict[str, str] | None = None
) -> Path:
    """A wrk script that posts these bodies to ``endpoint`` in turn, with the key (and these headers)."""
    table = ",\n".join(json.dumps(json.dumps(b)) for b in bodies)
    more = "".join(f", [{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items())
    path.write_text(
        f"""
local bodies = {{
{table}
}}
local n = 0
local headers = {{ ["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json"{more} }}
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


async def sample_ids(url: str, n: int) -> list[str]:
    """Up to ``n`` LinkedIn ids of the store, spread over it (the Lua table of a million would be 40 MB)."""
    db = open_database(url)
    try:
        total = int(await db.scalar(sa.select(sa.func.max(people.c.id))) or 0)
        step = max(1, total // n)
        stmt = (
            sa.select(people.c.linkedin_id).where(people.c.linkedin_id.is_not(None), (people.c.id % step) == 0).limit(n)
        )
        return [r.linkedin_id for r in await db.fetch_all(stmt)]
    finally:
        await db.close()


def build_store(env: dict[str, str], tmp: Path, n: int) -> str:
    """The demo set (n == 0), or a generated CSV of ``n`` people imported with ``leadsmith import``."""
    if n == 0:
        cli(env, "demo")
        return "demo set"
    path = tmp / "people.csv"
    generate(path, n)
    t = time.perf_counter()
    cli(env, "import", str(path), timeout=None)
    took = time.perf_counter() - t
    path.unlink()
    return f"{n:,} generated people (imported in {took:.0f} s)"


def cpu_ticks() -> dict[str, int]:
    """CPU time (clock ticks) used so far, per program: leadsmith workers, postgres, redis-server, wrk."""
    out: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if b"spawn_main" in cmd or b"leadsmith.cli" in cmd or b"-mleadsmith" in cmd.replace(b"\0", b""):
            name = "leadsmith workers"
        elif b"fake_upstream" in cmd:
            name = "fake upstream"
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def cpu_per_request(before: dict[str, int], after: dict[str, int], requests: float) -> str:
    """Microseconds of CPU per request, per program, for those that used any."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {k: (v - before.get(k, 0)) / tick for k, v in after.items()}
    top = sorted(((v, k) for k, v in used.items() if v > 0.05), reverse=True)[:5]
    return ", ".join(f"{k} {v / requests * 1e6:.0f} us" for v, k in top)


@contextlib.contextmanager
def _store(url: str | None, tmp: Path) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with temporary_database(tmp) as fresh:
        yield fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1", help="worker counts to run, comma-separated: 1,2")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--quiet-connections", type=int, default=4, help="a second finder run at low concurrency")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite", help="postgres: PostgreSQL and Redis counters"
    )
    parser.add_argument("--people", type=int, default=0, help="a generated store of this many people (0: the demo set)")
    parser.add_argument(
        "--store", help="run on this existing store (a database URL) instead of building one; it gains a bench account"
    )
    parser.add_argument(
        "--only",
        choices=["all", "repeat"],
        default="all",
        help="repeat: only repeat profile look-ups (after the no-op and a warm-up), with CPU per request per program",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], help="the server's event loop (default: asyncio)")
    parser.add_argument(
        "--compare-audit",
        action="store_true",
        help="issue 17: /profile/profile with the reveal log on (the default) against off "
        "(LEADSMITH_AUDIT_RETENTION_DAYS=0), in alternating rounds",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each with --compare-audit")
    args = parser.parse_args()

    os.environ["LEADSMITH_TEST_DATABASE"] = args.backend
    with tempfile.TemporaryDirectory() as tmp, _store(args.store, Path(tmp)) as url:
        extra = {"LEADSMITH_RATE_LIMIT_PER_HOUR": "100000000", "LEADSMITH_SIGNUP_CREDITS": "100000000"}
        if args.loop:
            extra["LEADSMITH_LOOP"] = args.loop
        if args.backend == "postgres":
            extra |= {"LEADSMITH_REDIS_URL": REDIS_URL, "LEADSMITH_REDIS_PREFIX": f"bench-{os.getpid()}:"}
        env = base_env(url, **extra)
        store = f"the store at {args.store}" if args.store else build_store(env, Path(tmp), args.people)
        if args.store:
            cli(env, "migrate")
        ids = asyncio.run(sample_ids(url, 20_000))
        domains = asyncio.run(domains_of(url))
        if args.compare_audit:
            compare_audit(args, env, Path(tmp), ids, store)
            return
        for workers in [int(w) for w in args.workers.split(",")]:
            # A fresh account per run, so that "new" reveals are new to it.
            email = f"bench-{os.getpid()}-{workers}@leadsmith.local"
            key = cli(env, "accounts", "create", email).stdout.strip().splitlines()[-1]
            leads = [{"id": i, "name": "x"} for i in ids]
            script = lua_script(Path(tmp) / "profile.lua", key, "/profile/profile", leads)
            # Leads this key has already revealed (warmed before the run): look-ups that charge nothing.
            repeat = lua_script(Path(tmp) / "repeat.lua", key, "/profile/profile", leads[:1000])
            bodies = [{"domain": d} for d in domains]
            patterns = lua_script(Path(tmp) / "pattern.lua", key, "/company/domainPattern", bodies)
            employees = lua_script(Path(tmp) / "employees.lua", key, "/company/domainEmployees", bodies)
            people_bodies = [{"domain": d, "name": n} for d in domains[:500] for n in FINDER_NAMES]
            finder = lua_script(Path(tmp) / "finder.lua", key, "/company/emailFinder", people_bodies)
            server = start_server(env, Path(tmp) / f"server-{workers}.log", workers=workers)
            try:
                run = functools.partial(wrk, connections=args.connections, seconds=args.seconds)
                run("warm-up", server.url + "/healthz", seconds=2)
                noop = run("GET /healthz (no-op)", server.url + "/healthz")
                run("warm-up", server.url, script=repeat, seconds=8)
                if args.only == "repeat":
                    before = cpu_ticks()
                    alone = run("POST /profile/profile (repeat)", server.url, script=repeat)
                    cpu = cpu_per_request(before, cpu_ticks(), alone.rps * args.seconds)
                    print(f"{workers} worker(s), {args.connections} connections, {args.seconds} s, {store}")
                    print(HEADER)
                    print(noop.row())
                    print(alone.row(noop))
                    print(f"CPU per request: {cpu}", flush=True)
                    continue
                results = [
                    run("POST /profile/profile (new)", server.url, script=script),
                    run("POST /profile/profile (repeat)", server.url, script=repeat),
                    run("POST /company/domainPattern", server.url, script=patterns),
                    run("POST /company/domainEmployees", server.url, script=employees),
                    run("POST /company/emailFinder", server.url, script=finder),
                ]
                quiet = wrk(
                    f"  finder, {args.quiet_connections} connections",
                    server.url,
                    connections=args.quiet_connections,
                    seconds=args.seconds,
                    threads=1,
                    script=finder,
                )
            finally:
                server.stop()
            print(
                f"{workers} worker(s), {args.connections} connections, {args.seconds} s each, {store}, "
                f"{len(ids)} leads asked, {args.backend}{' + redis' if args.backend == 'postgres' else ''}"
            )
            print(HEADER)
            print(noop.row())
            for result in results:
                print(result.row(noop))
            print(quiet.row())
            print(flush=True)


def compare_audit(args: argparse.Namespace, env: dict[str, str], tmp: Path, ids: list[str], store: str) -> None:
    """/profile/profile (new reveals, then repeat ones) on a server with the reveal log and one without,
    alternating, each round with a fresh account; the medians and their ratio."""
    import statistics

    leads = [{"id": i, "name": "x"} for i in ids]
    figures: dict[tuple[str, str], list[float]] = {}
    p99s: dict[tuple[str, str], list[float]] = {}
    workers = int(args.workers.split(",")[0])
    for n in range(args.rounds):
        for label, days in (("log off", "0"), ("log on", "365")):
            run_env = {**env, "LEADSMITH_AUDIT_RETENTION_DAYS": days}
            email = f"audit-{os.getpid()}-{n}-{days}@leadsmith.local"
            key = cli(run_env, "accounts", "create", email).stdout.strip().splitlines()[-1]
            new = lua_script(tmp / "audit-new.lua", key, "/profile/profile", leads)
            repeat = lua_script(tmp / "audit-repeat.lua", key, "/profile/profile", leads[:1000])
            server = start_server(run_env, tmp / f"audit-{n}-{days}.log", workers=workers)
            try:
                run = functools.partial(wrk, connections=args.connections, seconds=args.seconds)
                run("warm-up", server.url + "/healthz", seconds=2)
                fresh = run(f"new reveals, {label}", server.url, script=new)
                run("warm-up", server.url, script=repeat, seconds=3)
                again = run(f"repeat reveals, {label}", server.url, script=repeat)
            finally:
                server.stop()
            for kind, result in (("new", fresh), ("repeat", again)):
                figures.setdefault((kind, label), []).append(result.rps)
                p99s.setdefault((kind, label), []).append(result.p99_ms)
    print(f"{workers} worker(s), {args.connections} connections, {args.seconds} s each, {args.rounds} rounds, {store}")
    for kind in ("new", "repeat"):
        off = statistics.median(figures[kind, "log off"])
        on = statistics.median(figures[kind, "log on"])
        p99_off, p99_on = statistics.median(p99s[kind, "log off"]), statistics.median(p99s[kind, "log on"])
        print(
            f"/profile/profile ({kind}): log off {off:,.0f} req/s (p99 {p99_off:.1f} ms), "
            f"log on {on:,.0f} req/s (p99 {p99_on:.1f} ms): ratio {on / off:.3f}"
        )
        rounds = zip(figures[kind, "log off"], figures[kind, "log on"], strict=True)
        print("  rounds (off, on): " + ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in rounds))


if __name__ == "__main__":
    main()
