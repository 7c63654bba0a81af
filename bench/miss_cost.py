"""What one store miss that asks upstream costs the server, asked one at a time (no queueing, no batching).

    python bench/miss_cost.py [--misses 3000] [--workers 1] [--loop asyncio|uvloop] [--strace | --callgrind]
                              [--stand-in-python PATH]

Starts the loopback Kaspr v2.0 stand-in (bench/fake_upstream.py) answering at once and a leadsmith server
on a throw-away SQLite store whose providers file points at it, then asks /profile/profile for
``--misses`` leads nobody asked for before, one after another over one keep-alive connection: each is
a store miss that leadsmith forwards, keeps, charges and answers. Prints the server's CPU a miss, the
stand-in's, and their ratio (the figure that compares across days: this machine's speed moves by half
from one to the next); with ``--strace``, the server's system calls a miss by kind (``strace -c``,
which slows it: its CPU figures are then not the server's own).

With ``--callgrind`` (1 worker; valgrind, which runs it ~50x slower: ``--misses 500`` is plenty) the server
runs under valgrind's callgrind, counting instructions only while the misses are asked, then while the
same leads are asked again (store hits, already revealed: free): instructions a miss and a hit, and
their ratio. Unlike CPU time these move little with the machine's speed (within ~3% from run to run:
the background rounds, the ledger's flushes, fall differently), so two versions of the code compare
in two runs.

The server runs on the interpreter that runs this script, and so does the stand-in unless
``--stand-in-python`` names another: to compare two interpreters for the server, run this from a
virtualenv of each with the stand-in on the same one, and compare the server's CPU over the stand-in's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from common import base_env, cli, stand_in, stand_in_providers, start_server, temporary_database
from load import build_store


def cpu_ticks(pid: int) -> int:
    """User and system clock ticks of a process and its waited-for children."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15])


def family(pid: int) -> list[int]:
    """A process and its descendants (a server's workers and side processes)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def per_miss(table: str, misses: int) -> str:
    """``strace -c``'s table as calls a miss, the busiest first."""
    rows = []
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total",):
            calls = int(parts[3])
            rows.append((calls / misses, parts[-1]))
    rows.sort(reverse=True)
    return "\n".join(f"  {name:<16} {n:7.1f}" for n, name in rows[:15] if n >= 0.1)


def asker(client: httpx.Client) -> Callable[[str], None]:
    """Ask the server for one lead by LinkedIn id (stopping the bench on anything but a 200)."""

    def ask(lead: str) -> None:
        answer = client.post("/profile/profile", json={"id": lead, "name": "x"})
        if answer.status_code != 200:
            raise SystemExit(f"{lead}: {answer.status_code} {answer.text[:200]}")

    return ask


def callgrind(env: dict[str, str], tmp: Path, key: str, misses: int) -> None:
    """Instructions a miss and a hit, the server under callgrind (see the module's docstring)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    out = tmp / "callgrind.out"
    wrapper = ("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}")
    server = start_server(env, tmp / "server.log", wrapper=wrapper, start_seconds=600)

    def control(*what: str) -> None:
        subprocess.run(["callgrind_control", *what, str(server.process.pid)], check=True, capture_output=True)

    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": key}, timeout=120) as client:
            ask = asker(client)
            for n in range(50):
                ask(f"warm-{os.getpid()}-{n}")
            for _ in ("misses", "hits"):  # the same leads twice: asked upstream, then kept
                control("--instr=on")
                for n in range(misses):
                    ask(f"lead-{os.getpid()}-{n}")
                control("--instr=off")
                control("--dump")
    finally:
        server.stop()
    dumps = sorted(tmp.glob("callgrind.out.*"), key=lambda f: int(f.name.rsplit(".", 1)[1]))
    totals = [int(re.search(r"^totals: (\d+)", f.read_text(), re.M).group(1)) for f in dumps]  # type: ignore[union-attr]
    if len(totals) != 2:
        raise SystemExit(f"expected two dumps, found {len(dumps)}")
    miss, hit = (t / misses for t in totals)
    print(f"{misses} misses one at a time, then the same leads again (store hits), 1 worker, sqlite, callgrind")
    print(f"instructions a miss {miss / 1e6:8.3f} M")
    print(f"instructions a hit  {hit / 1e6:8.3f} M")
    print(f"miss / hit          {miss / hit:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument(
        "--stand-in-python",
        help="the interpreter the stand-in runs on (default: this one, as the server): keep it the same to compare "
        "two interpreters of the server by its CPU over the stand-in's",
    )
    parser.add_argument("--strace", action="store_true", help="count the server's system calls (strace -c)")
    parser.add_argument("--callgrind", action="store_true", help="count the server's instructions (valgrind)")
    args = parser.parse_args()
    if args.callgrind and (args.strace or args.workers != 1):
        raise SystemExit("--callgrind counts one worker, without --strace")
    if args.strace and shutil.which("strace") is None:
        raise SystemExit("strace is not installed: apt-get install strace")
    with (
        stand_in(0.0, python=args.stand_in_python) as (upstream, fake),
        tempfile.TemporaryDirectory() as tmp,
        temporary_database(Path(tmp)) as url,
    ):
        providers = stand_in_providers(Path(tmp) / "providers.toml", upstream)
        env = base_env(
            url,
            LEADSMITH_RATE_LIMIT_PER_HOUR="100000000",
            LEADSMITH_SIGNUP_CREDITS="100000000",
            LEADSMITH_PROVIDERS_FILE=str(providers),
            LEADSMITH_LOOP=args.loop,
            BENCH_UPSTREAM_KEY="bench",
        )
        build_store(env, Path(tmp), 0)
        key = cli(env, "accounts", "create", f"miss-cost-{os.getpid()}@leadsmith.local").stdout.split()[-1]
        if args.callgrind:
            callgrind(env, Path(tmp), key, args.misses)
            return
        server = start_server(env, Path(tmp) / "server.log", workers=args.workers)
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": key}, timeout=30) as client:
                ask = asker(client)
                for n in range(300):  # warm: the stand-in's domain known, the caches filled
                    ask(f"warm-{os.getpid()}-{n}")
                pids = family(server.process.pid)
                tracer = None
                out = Path(tmp) / "strace.txt"
                if args.strace:
                    tracer = subprocess.Popen(
                        ["strace", "-c", "-f", "-o", str(out), *(a for p in pids for a in ("-p", str(p)))],
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1)
                mine, theirs = sum(cpu_ticks(p) for p in pids), cpu_ticks(fake.pid)
                started = time.perf_counter()
                for n in range(args.misses):
                    ask(f"lead-{os.getpid()}-{n}")
                wall = time.perf_counter() - started
                mine = sum(cpu_ticks(p) for p in pids) - mine
                theirs = cpu_ticks(fake.pid) - theirs
                if tracer is not None:
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(30)
        finally:
            server.stop()
        tick = os.sysconf("SC_CLK_TCK")
        print(f"{args.misses} misses one at a time, {args.workers} worker(s), {args.loop}, sqlite")
        print(f"server CPU a miss   {mine / tick / args.misses * 1e6:8.0f} us")
        print(f"stand-in CPU a call {theirs / tick / args.misses * 1e6:8.0f} us")
        print(f"server / stand-in   {mine / max(theirs, 1):8.2f}x")
        print(f"wall time a miss    {wall / args.misses * 1e6:8.0f} us")
        if args.strace:
            print("system calls a miss (strace -c; the figures above are slowed by it):")
            print(per_miss(out.read_text(), args.misses))


if __name__ == "__main__":
    main()
