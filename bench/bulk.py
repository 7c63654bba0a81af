"""Bulk jobs, measured: a job's rate against the same leads asked one by one, its memory, what it does to
interactive requests, and `leadsmith enrich` against a server whose windows it must wait for.

    python bench/bulk.py [--people 1000000] [--items 100000] [--store URL] [--connections 32]

1. The same leads (``--items`` of a store of ``--people``), as new reveals: asked one by one over HTTP at
   ``--connections`` with wrk, and through one bulk job; items per second of each (issue 21's goal: the
   job at least 3x faster), and the worker's peak resident memory during the job.
2. /profile/profile p50/p99 at 4 connections (repeat look-ups) with no job running, then while the job
   runs.
3. ``leadsmith enrich`` of 10,000 rows against a server limited to 1,000 requests per 10-second window:
   rows written, statuses (goal: every row found, none left at 429), and the time spent waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import HEADER, base_env, cli, start_server, temporary_database, wrk
from load import build_store, lua_script, sample_ids


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--store", help="an existing store (a database URL) instead of building one")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--enrich-rows", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["LEADSMITH_TEST_DATABASE"] = "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        with temporary_database(Path(tmp)) if args.store is None else _given(args.store) as url:
            env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="100000000", LEADSMITH_SIGNUP_CREDITS="100000000")
            store = f"the store at {args.store}" if args.store else build_store(env, Path(tmp), args.people)
            cli(env, "migrate")
            ids = asyncio.run(sample_ids(url, args.items))
            singly = cli(env, "accounts", "create", f"single-{os.getpid()}@bench.local").stdout.split()[-1]
            bulk = cli(env, "accounts", "create", f"bulk-{os.getpid()}@bench.local").stdout.split()[-1]
            watcher = cli(env, "accounts", "create", f"watch-{os.getpid()}@bench.local").stdout.split()[-1]
            items = [{"id": i, "name": "x"} for i in ids]
            one_by_one = lua_script(Path(tmp) / "single.lua", singly, "/profile/profile", items)
            repeat = lua_script(Path(tmp) / "repeat.lua", watcher, "/profile/profile", items[:1000])
            server = start_server(env, Path(tmp) / "server.log")
            try:
                wrk("warm-up", server.url, connections=4, seconds=5, script=repeat)
                quiet = wrk("interactive, no job", server.url, connections=4, seconds=10, threads=1, script=repeat)
                single = wrk(f"one by one, {args.connections} connections", server.url, connections=args.connections,
                             seconds=args.seconds, script=one_by_one)  # fmt: skip
                started = time.perf_counter()
                r = httpx.post(server.url + "/bulk/profile", json={"items": items},
                               headers={"Authorization": bulk}, timeout=300)  # fmt: skip
                r.raise_for_status()
                job_id = r.json()["job"]["id"]
                created = time.perf_counter() - started
                during: list = []
                thread = threading.Thread(
                    target=lambda: during.append(
                        wrk("interactive, during the job", server.url, connections=4, seconds=10, threads=1,
                            script=repeat)))  # fmt: skip
                thread.start()
                while True:
                    job = httpx.get(f"{server.url}/bulk/jobs/{job_id}", headers={"Authorization": bulk}).json()["job"]
                    if job["status"] != "queued" and job["status"] != "running":
                        break
                    time.sleep(0.2)
                elapsed = time.perf_counter() - started
                thread.join()
                rss = peak_rss_mb(server.process.pid)
            finally:
                server.stop()
        print(f"1 worker, SQLite, {store}, {len(ids):,} leads")
        print(HEADER)
        for result in (quiet, during[0], single):
            print(result.row())
        rate = len(ids) / elapsed
        spent = f"{job['status']}, {job['found']:,} found, {job['creditsSpent']:,} credits"
        print(f"bulk job: {len(ids):,} items in {elapsed:.1f} s (the POST itself {created:.1f} s): "
              f"{rate:,.0f} items/s, {spent}")  # fmt: skip
        print(f"job : one by one = {rate / single.rps:.2f} (goal >= 3); the worker's peak RSS {rss:.0f} MB")
        print(f"interactive p99 during the job {during[0].p99_ms:.2f} ms against {quiet.p99_ms:.2f} ms without")
        enrich_run(Path(tmp), args.enrich_rows)


def _given(url: str):  # type: ignore[no-untyped-def]
    from contextlib import nullcontext

    return nullcontext(url)


def enrich_run(tmp: Path, rows: int) -> None:
    with temporary_database(tmp) as url:
        env = base_env(url, LEADSMITH_RATE_LIMIT_PER_HOUR="1000", LEADSMITH_RATE_WINDOW_SECONDS="10")
        cli(env, "demo")
        key = cli(
            env, "accounts", "create", f"enrich-{os.getpid()}@bench.local", "--credits", "1000000"
        ).stdout.split()[-1]
        ids = asyncio.run(sample_ids(url, 500))
        source, output = tmp / "enrich.csv", tmp / "enriched.csv"
        with source.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["row", "linkedin", "name"])
            writer.writerows([n, ids[n % len(ids)], "x"] for n in range(rows))
        server = start_server(env, tmp / "enrich-server.log")
        try:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "leadsmith", "enrich", str(source), "--server", server.url,
                                   "--key", key, "--output", str(output), "--concurrency", "8"], env=env,
                                  capture_output=True, text=True, check=True)  # fmt: skip
            took = time.perf_counter() - started
        finally:
            server.stop()
        with output.open(newline="") as f:
            out = list(csv.DictReader(f))
        statuses: dict[str, int] = {}
        for r in out:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        waited = done.stdout.split("seconds waiting for the rate limit")[1].split("\n")[0].strip(" │")
        print(f"enrich: {len(out):,} of {rows:,} rows written in {took:.0f} s against 1,000 requests per 10 s; "
              f"statuses {statuses}; {waited} s spent waiting for windows")  # fmt: skip


if __name__ == "__main__":
    main()
