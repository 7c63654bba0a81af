"""E-mail verification throughput against loopback SMTP servers that add 50 ms to every command.

    python bench/verify_speed.py [--addresses 2000] [--domains 20] [--delay 0.05] [--per-host 2]

Each of the domains has its own MX host on its own loopback address (127.0.0.2, 127.0.0.3, ...),
served by a scripted SMTP server in a separate process, which counts sessions and the most open at
once. The verifier (the real one, with a loopback DNS server) verifies the addresses spread over the
domains; half are real mailboxes. Baseline, in the same run: the same verifier opening one session
per address (recipients_per_session=1), as a naive verifier would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from leadsmith.config import Settings
from leadsmith.testing.loopback import Zone, fake_dns, fake_smtp, free_port
from leadsmith.verification.verifier import Verifier


def serve(port: int, domains: int, delay: float) -> None:
    """Child process: one SMTP server per domain, each on its own loopback address; stats on request."""
    from contextlib import ExitStack

    def rule(local: str, domain: str) -> str:
        return "250 2.1.5 OK" if local.startswith("ok") else "550 5.1.1 user unknown"

    with ExitStack() as stack:
        logs = [
            stack.enter_context(fake_smtp(rule, host=f"127.0.0.{i + 2}", port=port, delay=delay))[1]
            for i in range(domains)
        ]
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                stats = [
                    {"sessions": log.sessions, "most_open": log.most_open, "rcpts": len(log.rcpts)} for log in logs
                ]
                print(json.dumps(stats), flush=True)
                for log in logs:
                    log.sessions = log.most_open = 0
                    log.rcpts.clear()


async def run(verifier: Verifier, emails: list[str]) -> tuple[float, dict[str, int]]:
    t = time.perf_counter()
    results = await verifier.verify_many(emails)
    elapsed = time.perf_counter() - t
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addresses", type=int, default=2000)
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.domains, args.delay)
        return

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--domains", str(args.domains), "--delay", str(args.delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline().strip() == "ready"

    def stats() -> list[dict[str, int]]:
        assert child.stdout is not None
        assert child.stdin is not None
        child.stdin.write("stats\n")
        child.stdin.flush()
        return list(json.loads(child.stdout.readline()))

    zones = {}
    for i in range(args.domains):
        zones[f"d{i}.test"] = Zone(mx=[(10, f"mx.d{i}.test")])
        zones[f"mx.d{i}.test"] = Zone(a=[f"127.0.0.{i + 2}"])
    emails = [f"{'ok' if n % 2 else 'no'}{n}@d{n % args.domains}.test" for n in range(args.addresses)]
    try:
        with fake_dns(zones) as (nameserver, _):
            print(
                f"{args.addresses} addresses over {args.domains} domains, {args.delay * 1000:.0f} ms per SMTP command, "
                f"at most {args.per_host} sessions per MX host"
            )
            print(f"{'run':<36} {'seconds':>8} {'addr/s':>8} {'sessions':>9} {'most open/host':>15}  statuses")
            rows = {}
            for name, per_session in (("baseline: a session per address", 1), ("leadsmith: batched sessions", 20)):
                settings = Settings(
                    dns_nameservers=nameserver,
                    smtp_port=port,
                    smtp_ehlo_name="bench.leadsmith.test",
                    smtp_mail_from="probe@bench.leadsmith.test",
                    smtp_sessions_per_host=args.per_host,
                    smtp_recipients_per_session=per_session,
                    verify_concurrency=args.domains,
                    verify_test_domains=True,
                    verify_private_networks=True,
                    dns_canary="d0.test",
                )
                elapsed, counts = asyncio.run(run(Verifier.from_settings(settings), emails))
                s = stats()
                rate = args.addresses / elapsed
                rows[name] = rate
                most = max(x["most_open"] for x in s)
                sessions = sum(x["sessions"] for x in s)
                print(f"{name:<36} {elapsed:>8.2f} {rate:>8.0f} {sessions:>9} {most:>15}  {counts}")
                assert most <= args.per_host, "the per-host session limit was exceeded"
            base, ours = rows.values()
            print(f"ratio to baseline: {ours / base:.1f}x")
    finally:
        child.stdin.close()
        child.wait(10)


if __name__ == "__main__":
    main()
