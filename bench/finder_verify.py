"""The latency of a verified finder call (``"verify": true``) against mail servers that add 50 ms to every
SMTP command, and how many SMTP sessions a call opens.

    python bench/finder_verify.py [--calls 200] [--domains 10] [--delay 0.05] [--concurrency 1,8]

A store of ``--domains`` loopback companies (.test domains, each writing {first}.{last} for 20 known
people), a DNS server answering their MX, and one scripted SMTP server adding ``--delay`` seconds to
every command, which accepts the {f}{last} address of anyone (so the model's first guess is always
wrong and the probe must find the second) and rejects every other. Each call asks for a new person.
Baseline, same run: the same calls without verification. Also printed: the SMTP commands each verified
call sent (EHLO, MAIL, a RCPT per candidate probed, QUIT), whose delays are the floor of its latency.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import base_env, cli, start_server

from leadsmith.testing.loopback import Zone, fake_dns, fake_smtp

FIRST = ["ada", "alan", "grace", "ken", "barbara", "edsger", "donald", "margaret", "linus", "radia"]
LAST = ["lovelace", "turing", "hopper", "thompson", "liskov", "dijkstra", "knuth", "hamilton", "torvalds"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(
    url: str, key: str, asks: list[dict[str, Any]], concurrency: int
) -> list[tuple[float, dict[str, Any], Any]]:
    """Each call's (seconds, what was asked, the answer)."""
    out: list[tuple[float, dict[str, Any], Any]] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:

        async def one(body: dict[str, Any]) -> None:
            async with gate:
                started = time.perf_counter()
                r = await client.post("/company/emailFinder", json=body)
                out.append((time.perf_counter() - started, body, r.json()))

        await asyncio.gather(*(one(b) for b in asks))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--domains", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()
    domains = [f"company{n}.test" for n in range(args.domains)]
    zones = {}
    for d in domains:
        zones[d] = Zone(mx=[(10, f"mx.{d}")])
        zones[f"mx.{d}"] = Zone(a=["127.0.0.1"])

    mailboxes: set[str] = set()

    def accepts(local: str, domain: str) -> str:
        return "250 2.1.5 OK" if f"{local}@{domain}" in mailboxes else "550 5.1.1 <x>: user unknown"

    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_dns(zones) as (nameserver, _),
        fake_smtp(accepts, delay=args.delay) as (port, log),
    ):
        people = Path(tmp) / "people.csv"
        with people.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["first_name", "last_name", "email", "domain"])
            for d in domains:
                for n in range(20):
                    first, last = FIRST[n % len(FIRST)], f"{LAST[n % len(LAST)]}{n}"
                    w.writerow([first, last, f"{first}.{last}@{d}", d])
        env = base_env(
            f"sqlite:///{tmp}/finder-verify.db",
            LEADSMITH_RATE_LIMIT_PER_HOUR="1000000",
            LEADSMITH_DNS_NAMESERVERS=nameserver,
            LEADSMITH_SMTP_PORT=str(port),
            LEADSMITH_VERIFY_TEST_DOMAINS="true",
            LEADSMITH_VERIFY_PRIVATE_NETWORKS="true",
            LEADSMITH_DNS_CANARY=domains[0],
            LEADSMITH_FINDER_VERIFY_TIMEOUT_SECONDS="10",
        )
        cli(env, "import", str(people))
        key = cli(env, "accounts", "create", "bench@finder.test", "--credits", "10000000").stdout.split()[-1]
        server = start_server(env, Path(tmp) / "server.log")
        try:
            print(f"{args.domains} domains, {args.calls} calls each run, {args.delay * 1000:.0f} ms per SMTP command")
            print("run                               conc.   p50 ms   p99 ms  sessions/call  RCPT/call  right first")
            serial = 0
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                for verify in (False, True):
                    asks = []
                    for n in range(args.calls):
                        serial += 1
                        first, last = f"person{serial}", f"family{serial}"
                        domain = domains[n % len(domains)]
                        mailboxes.add(f"{first[0]}{last}@{domain}")
                        asks.append({"domain": domain, "firstName": first, "lastName": last, "verify": verify})
                    before, rcpts_before = log.sessions, log.commands["RCPT"]
                    timings = asyncio.run(run(server.url, key, asks, concurrency))
                    sessions = (log.sessions - before) / len(asks)
                    rcpts = (log.commands["RCPT"] - rcpts_before) / len(asks)
                    right = sum(
                        bool(answer["emails"])
                        and answer["emails"][0]["email"] == f"{ask['firstName'][0]}{ask['lastName']}@{ask['domain']}"
                        for _, ask, answer in timings
                    )
                    seconds = [t for t, _, _ in timings]
                    label = "verified" if verify else "baseline: not verified"
                    print(
                        f"{label:<34}{concurrency:>5} {percentile(seconds, 50) * 1000:>8.1f} "
                        f"{percentile(seconds, 99) * 1000:>8.1f} {sessions:>14.2f} {rcpts:>10.2f} "
                        f"{right:>8}/{len(asks)}"
                    )
            floor = (1 + 1 + rcpts) * args.delay  # EHLO, MAIL, the RCPTs (QUIT is not waited for)
            print(f"floor of the last run's sessions (EHLO, MAIL, {rcpts:.1f} RCPT): {floor * 1000:.0f} ms")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
