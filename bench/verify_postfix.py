"""Verification against a real Postfix (Debian's package, default anti-abuse settings) on loopback,
leadsmith beside py3-validate-email, same run.

    sudo python bench/verify_postfix.py [--unknown 97] [--catch-all 100] [--threads 8]

The list: 3 real and ``--unknown`` unknown addresses at known.test, ``--catch-all`` at catchall.test
(200 by default). Postfix answers as it does on the internet: after 10 rejected recipients in one
session it waits 1 s before every further reply (``smtpd_soft_error_limit``, ``smtpd_error_sleep_time``)
and drops the session at 20.

1. leadsmith's batch path (the verifier ``leadsmith verify --file`` and bulk jobs use), in this process;
2. leadsmith's single-address endpoint, ``POST /email/verify``, from ``--threads`` client threads
   (one address a request) against a leadsmith server;
3. the peer: py3-validate-email's SMTP check, ``--threads`` threads, one session per address (its own
   code, pointed at the Postfix port; DNS is skipped for it, its MX being given).

Each prints addresses per second, the verdicts, the most SMTP sessions open at once (from Postfix's log)
and whether any session met the error tarpit (a reply delayed by ``smtpd_error_sleep_time``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import base_env, cli, start_server

from leadsmith.config import Settings
from leadsmith.testing.loopback import Zone, fake_dns
from leadsmith.testing.postfix import Postfix, available, postfix_server
from leadsmith.verification.verifier import Verifier

REAL = ["jane@known.test", "john@known.test", "info@known.test"]


def addresses(unknown: int, catch_all: int) -> list[str]:
    return [
        *REAL,
        *(f"nobody{n}@known.test" for n in range(unknown)),
        *(f"who{n}@catchall.test" for n in range(catch_all)),
    ]


def report(label: str, seconds: float, verdicts: collections.Counter[str], n: int, postfix: Postfix, since: int,
           tarpitted: int) -> None:  # fmt: skip
    sessions, most = postfix.sessions(since)
    print(f"{label:<44} {seconds:>7.2f} {n / seconds:>8.1f} {sessions:>9} {most:>6} {tarpitted:>9}   {dict(verdicts)}")


def settings_for(nameserver: str, port: int) -> Settings:
    return Settings(
        dns_nameservers=nameserver,
        smtp_port=port,
        verify_test_domains=True,
        verify_private_networks=True,
        dns_canary="known.test",
        smtp_ehlo_name="bench.leadsmith.test",
        smtp_mail_from="probe@leadsmith.test",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unknown", type=int, default=97)
    parser.add_argument("--catch-all", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    problem = available()
    if problem:
        raise SystemExit(f"cannot run Postfix here: {problem}")
    todo = addresses(args.unknown, args.catch_all)
    zones = {}
    for d in ("known", "catchall"):
        zones[f"{d}.test"] = Zone(mx=[(10, f"mx.{d}.test")])
        zones[f"mx.{d}.test"] = Zone(a=["127.0.0.1"])
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_dns(zones) as (nameserver, _),
        postfix_server(REAL) as postfix,
    ):
        print(f"{len(todo)} addresses ({len(REAL)} real and {args.unknown} unknown at one domain, "
              f"{args.catch_all} at a catch-all domain), Debian Postfix on 127.0.0.1:{postfix.port}")  # fmt: skip
        print(f"{'run':<44} {'seconds':>7} {'addr/s':>8} {'sessions':>9} {'most':>6} {'tarpitted':>9}   verdicts")
        s = settings_for(nameserver, postfix.port)

        # 1. The batch path.
        since = len(postfix.log_text())
        verifier = Verifier.from_settings(s)
        started = time.perf_counter()
        results = asyncio.run(verifier.verify_many(todo))
        seconds = time.perf_counter() - started
        verdicts = collections.Counter(r.status for r in results)
        report("leadsmith, batch (verify --file)", seconds, verdicts, len(todo), postfix, since,
               tarpit_count(postfix, since))  # fmt: skip

        # 2. The single-address endpoint, --threads clients.
        db = Path(tmp) / "endpoint.db"
        env = base_env(
            f"sqlite:///{db}",
            LEADSMITH_DNS_NAMESERVERS=nameserver,
            LEADSMITH_SMTP_PORT=str(postfix.port),
            LEADSMITH_VERIFY_TEST_DOMAINS="true",
            LEADSMITH_VERIFY_PRIVATE_NETWORKS="true",
            LEADSMITH_DNS_CANARY="known.test",
            LEADSMITH_RATE_LIMIT_PER_HOUR="1000000",
        )
        key = cli(env, "accounts", "create", "bench@verify.test", "--credits", "1000000").stdout.split()[-1]
        server = start_server(env, Path(tmp) / "server.log")
        try:
            since = len(postfix.log_text())
            local = threading.local()

            def one(address: str) -> str:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(base_url=server.url, timeout=120,
                                                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                return str(client.post("/email/verify", json={"email": address}).json()["status"])

            started = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                statuses = list(pool.map(one, todo))
            seconds = time.perf_counter() - started
            report(f"leadsmith, POST /email/verify x {args.threads} threads", seconds, collections.Counter(statuses),
                   len(todo), postfix, since, tarpit_count(postfix, since))  # fmt: skip
        finally:
            server.stop()

        # 3. The peer, its SMTP check pointed at the Postfix port.
        from validate_email.email_address import EmailAddress
        from validate_email.exceptions import SMTPTemporaryError
        from validate_email.smtp_check import _SMTPChecker, smtp_check

        _SMTPChecker.default_port = postfix.port  # type: ignore[attr-defined]
        since = len(postfix.log_text())

        def peer(address: str) -> str:
            try:
                ok = smtp_check(
                    email_address=EmailAddress(address),
                    mx_records=["127.0.0.1"],
                    timeout=30,
                    helo_host="peer.bench.test",
                    from_address=EmailAddress("probe@peer.bench.test"),
                    skip_tls=True,
                )
                return "valid" if ok else "invalid"
            except SMTPTemporaryError:
                return "unknown"
            except Exception as exc:  # the peer's verdict for a refusal
                return type(exc).__name__

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            statuses = list(pool.map(peer, todo))
        seconds = time.perf_counter() - started
        report(f"py3-validate-email x {args.threads} threads", seconds, collections.Counter(statuses), len(todo),
               postfix, since, tarpit_count(postfix, since))  # fmt: skip


def tarpit_count(postfix: Postfix, since: int) -> int:
    """Sessions Postfix slowed down or dropped for too many errors (its log says so)."""
    text = postfix.log_text()[since:]
    return len(re.findall(r"too many errors|sleep_time|hard error limit|error limit", text, re.IGNORECASE))


if __name__ == "__main__":
    main()
