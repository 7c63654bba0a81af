"""Loopback stand-ins for the internet's mail infrastructure: a DNS server (dnslib) and scripted SMTP
servers (aiosmtpd). Used by the verification tests and by bench/verify_speed.py; only ever on 127.x."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from dnslib import AAAA, MX, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import DNSServer

from leadsmith.testing.processes import free_port


class _Quiet:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *a, **k: None


@dataclass
class Zone:
    """What the fake DNS knows about one name."""

    mx: list[tuple[int, str]] = field(default_factory=list)
    a: list[str] = field(default_factory=list)
    aaaa: list[str] = field(default_factory=list)
    rcode: str = "NOERROR"  # or NXDOMAIN, SERVFAIL
    delay: float = 0.0  # seconds before answering (longer than the client's timeout: a timeout)


class AllNxdomain(dict[str, Zone]):
    """Zones of a broken resolver: NXDOMAIN for every name, well-known ones included."""

    def get(self, key: str, default: Zone | None = None) -> Zone | None:  # type: ignore[override]
        return None


class _Resolver:
    def __init__(self, zones: Mapping[str, Zone]) -> None:
        self.zones = zones
        self.queries: Counter[tuple[str, str]] = Counter()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.queries[name, qtype] += 1
        zone = self.zones.get(name)
        if zone is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if zone.delay:
            time.sleep(zone.delay)
        if zone.rcode != "NOERROR":
            reply.header.rcode = getattr(RCODE, zone.rcode)
            return reply
        if qtype == "MX":
            for pref, host in zone.mx:
                reply.add_answer(RR(name, QTYPE.MX, rdata=MX(host, pref), ttl=60))
        elif qtype == "A":
            for ip in zone.a:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(ip), ttl=60))
        elif qtype == "AAAA":
            for ip in zone.aaaa:
                reply.add_answer(RR(name, QTYPE.AAAA, rdata=AAAA(ip), ttl=60))
        return reply


@contextmanager
def fake_dns(zones: Mapping[str, Zone]) -> Iterator[tuple[str, _Resolver]]:
    """A UDP DNS server on 127.0.0.1; yields its ``host:port`` and the resolver (which counts queries)."""
    port = free_port(kind=socket.SOCK_DGRAM)
    resolver = _Resolver(zones)
    server = DNSServer(resolver, address="127.0.0.1", port=port, logger=_Quiet())
    server.server.handle_error = lambda *a: None  # a slow answer finishing after shutdown is no failure
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}", resolver
    finally:
        server.stop()
        server.server.server_close()


Rule = Callable[[str, str], Any]  # (local, domain) -> reply line, or "drop", or ("sleep", seconds, line)


@dataclass
class ServerLog:
    """What one fake SMTP server saw: sessions, the most at once (per recipient domain), commands."""

    sessions: int = 0
    open_now: int = 0
    most_open: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    rcpts: list[str] = field(default_factory=list)
    ehlo_names: list[str] = field(default_factory=list)
    mail_from: list[str] = field(default_factory=list)
    domain_open: Counter[str] = field(default_factory=Counter)
    domain_most: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _CountingSMTP(SMTP):
    def __init__(self, *args: Any, log: ServerLog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log = log
        self._domain: str | None = None

    def connection_made(self, transport: Any) -> None:
        with self._log.lock:
            self._log.sessions += 1
            self._log.open_now += 1
            self._log.most_open = max(self._log.most_open, self._log.open_now)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with self._log.lock:
            self._log.open_now -= 1
            if self._domain:
                self._log.domain_open[self._domain] -= 1
        super().connection_lost(exc)

    def note_domain(self, domain: str) -> None:
        if self._domain is None:
            self._domain = domain
            with self._log.lock:
                self._log.domain_open[domain] += 1
                self._log.domain_most[domain] = max(self._log.domain_most[domain], self._log.domain_open[domain])


class _Handler:
    def __init__(self, rule: Rule, log: ServerLog, delay: float, max_rcpts: int) -> None:
        self.rule = rule
        self.log = log
        self.delay = delay
        self.max_rcpts = max_rcpts

    async def _pause(self, command: str) -> None:
        with self.log.lock:
            self.log.commands[command] += 1
        if self.delay:
            await asyncio.sleep(self.delay)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        await self._pause("EHLO")
        self.log.ehlo_names.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await self._pause("MAIL")
        self.log.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await self._pause("RCPT")
        local, _, domain = address.rpartition("@")
        server.note_domain(domain.lower())
        self.log.rcpts.append(address)
        if self.max_rcpts and len(envelope.rcpt_tos) >= self.max_rcpts:
            return "452 4.5.3 Too many recipients"
        answer = self.rule(local.lower(), domain.lower())
        if answer == "drop":
            server.transport.close()
            return "421 4.4.2 closing"
        if isinstance(answer, tuple) and answer[0] == "sleep":
            await asyncio.sleep(answer[1])
            answer = answer[2]
        if str(answer).startswith("25"):
            envelope.rcpt_tos.append(address)
        return str(answer)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        await self._pause("QUIT")
        return "221 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.log.lock:
            self.log.commands["DATA"] += 1
        return "554 5.5.1 this fake takes no mail"


class _Controller(Controller):
    def __init__(self, handler: _Handler, log: ServerLog, **kwargs: Any) -> None:
        self._log = log
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, log=self._log, **self.SMTP_kwargs)


@contextmanager
def fake_smtp(
    rule: Rule, host: str = "127.0.0.1", port: int | None = None, delay: float = 0.0, max_rcpts: int = 0
) -> Iterator[tuple[int, ServerLog]]:
    """A scripted SMTP server on loopback; ``delay`` seconds are added to every command."""
    log = ServerLog()
    port = port or free_port(host)
    controller = _Controller(
        _Handler(rule, log, delay, max_rcpts), log, hostname=host, port=port, ready_timeout=10, decode_data=True
    )
    controller.start()
    try:
        yield port, log
    finally:
        controller.stop()


def scripted_rule() -> Rule:
    """The behaviours the verifier must tell apart, one per test domain."""
    greylisted: defaultdict[str, int] = defaultdict(int)

    def rule(local: str, domain: str) -> Any:
        if domain == "known.test":
            return "250 2.1.5 OK" if local in ("jane", "john", "info") else "550 5.1.1 <x>: user unknown"
        if domain == "catchall.test":
            return "250 2.1.5 OK"
        if domain == "grey.test":
            greylisted[local] += 1
            if greylisted[local] == 1:
                return "451 4.7.1 Greylisted, please try again later"
            return "250 2.1.5 OK" if local == "jane" else "550 5.1.1 user unknown"
        if domain == "full.test":
            return "452 4.2.2 Mailbox full" if local == "jane" else "550 5.1.1 user unknown"
        if domain == "policy.test":
            return "550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
        if domain == "slow.test":
            return ("sleep", 3.0, "250 OK")
        if domain == "drop.test":
            return "drop" if local == "jane" else "550 5.1.1 user unknown"
        if domain == "limit.test":
            return "250 2.1.5 OK" if local.startswith("ok") else "550 5.1.1 user unknown"
        return "550 5.1.1 user unknown"

    return rule


def scripted_zones() -> dict[str, Zone]:
    zones = {}
    for name in ("known", "catchall", "grey", "full", "policy", "slow", "drop", "limit"):
        zones[f"{name}.test"] = Zone(mx=[(10, f"mx.{name}.test")])
        zones[f"mx.{name}.test"] = Zone(a=["127.0.0.1"])
    zones["nullmx.test"] = Zone(mx=[(0, ".")])
    zones["amail.test"] = Zone(a=["127.0.0.1"])  # no MX: mail goes to the A record
    zones["nomail.test"] = Zone()  # exists, but no MX and no address
    zones["timeout.test"] = Zone(delay=3.0)
    zones["servfail.test"] = Zone(rcode="SERVFAIL")
    # Two MX hosts: the preferred one refuses connections (nothing listens on 127.0.0.9), the backup answers.
    zones["backup.test"] = Zone(mx=[(5, "mx1.backup.test"), (10, "mx2.backup.test")])
    zones["mx1.backup.test"] = Zone(a=["127.0.0.9"])
    zones["mx2.backup.test"] = Zone(a=["127.0.0.1"])
    return zones
