"""Verifying addresses: syntax, lists, DNS, then SMTP, grouped by domain so each domain's mail servers
are asked once per batch. Knows nothing of the database (``service`` stores what it finds)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadsmith.clock import now_ms
from leadsmith.config import Settings
from leadsmith.egress import is_public, refusal
from leadsmith.verification.mail_dns import MailDns, MailHosts
from leadsmith.verification.rules import Address, Lists, Reply, Result, Status, parse_address, score_of, verdict
from leadsmith.verification.smtp_probe import Answer, Probe, SmtpProber

CATCH_ALL_CACHE_SECONDS = 24 * 3600.0


def choose_targets(
    hosts: Sequence[str], addresses: Mapping[str, Sequence[str]], private_networks: bool
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (host, address) to probe for each mail host, in preference order: its first address the server
    may reach (public, unless private networks are allowed); and why each other address was refused."""
    targets, refused = [], []
    for host in hosts:
        ips = addresses.get(host, ())
        allowed = [ip for ip in ips if private_networks or is_public(ip)]
        refused += [refusal(host, ip, "VERIFY_PRIVATE_NETWORKS") for ip in ips if ip not in allowed]
        targets += [(host, ip) for ip in allowed[:1]]
    return targets, refused


@dataclass
class _Gathering:
    """Addresses at one domain waiting to be probed together, and the probe's result when it is done."""

    addresses: dict[str, None]
    done: asyncio.Future[Probe | None]  # None: the leading call was cancelled before it could probe


class Verifier:
    def __init__(
        self,
        dns: MailDns,
        prober: SmtpProber | None,
        lists: Lists,
        *,
        concurrency: int = 32,
        recheck_ms: int = 15 * 60_000,
        test_domains: bool = False,
        private_networks: bool = False,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.dns = dns
        self.prober = prober
        self.lists = lists
        self.concurrency = concurrency
        self.recheck_ms = recheck_ms
        self.test_domains = test_domains
        self.private_networks = private_networks
        self.clock = clock
        self._catch_all: dict[str, tuple[float, bool]] = {}
        # Coalescing (``_probe``): per domain, the batch still gathering addresses, and how many probes of
        # the domain may run at once (the prober's sessions per host).
        self._gathering: dict[str, _Gathering] = {}
        self._running: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(prober.sessions_per_host if prober is not None else 1)
        )

    @classmethod
    def from_settings(cls, s: Settings) -> Verifier:
        ehlo = s.smtp_ehlo_name or socket.getfqdn() or "localhost"
        prober = (
            SmtpProber(
                port=s.smtp_port,
                ehlo_name=ehlo,
                mail_from=s.smtp_mail_from or f"verify@{ehlo}",
                connect_timeout=s.smtp_connect_timeout_seconds,
                command_timeout=s.smtp_command_timeout_seconds,
                sessions_per_host=s.smtp_sessions_per_host,
                recipients_per_session=s.smtp_recipients_per_session,
                rejections_per_session=s.smtp_rejections_per_session,
            )
            if s.smtp_probe
            else None
        )
        lists = Lists.from_text(
            disposable_allow=s.disposable_allow,
            disposable_deny=s.disposable_deny,
            webmail_allow=s.webmail_allow,
            webmail_deny=s.webmail_deny,
            role_allow=s.role_allow,
            role_deny=s.role_deny,
        )
        return cls(
            MailDns(s.dns_nameservers, s.dns_timeout_seconds, canary=s.dns_canary),
            prober,
            lists,
            concurrency=s.verify_concurrency,
            recheck_ms=int(s.verify_recheck_minutes * 60_000),
            test_domains=s.verify_test_domains,
            private_networks=s.verify_private_networks,
        )

    async def verify(self, email: str) -> Result:
        return (await self.verify_many([email]))[0]

    async def verify_many(self, emails: Sequence[str], progress: Callable[[int], None] | None = None) -> list[Result]:
        """One result per input, in order (a repeated address is verified once)."""
        results: dict[str, Result] = {}
        by_domain: defaultdict[str, list[tuple[Address, dict[str, Any]]]] = defaultdict(list)
        parsed: list[Address | None] = []
        seen: set[str] = set()
        for text in emails:
            address = parse_address(text, self.test_domains)
            if isinstance(address, str):
                parsed.append(None)
                results[text] = self._result(text.strip(), "invalid", {"syntax": address})
                continue
            parsed.append(address)
            if address.key in seen:
                continue
            seen.add(address.key)
            reasons: dict[str, Any] = {
                "syntax": "ok",
                "role": self.lists.is_role(address.local),
                "disposable": self.lists.is_disposable(address.domain),
            }
            reasons["webmail"] = not reasons["disposable"] and self.lists.is_webmail(address.domain)
            if reasons["disposable"]:
                results[address.key] = self._result(address.email, "disposable", reasons)
            elif reasons["webmail"]:
                results[address.key] = self._result(address.email, "webmail", reasons)
            else:
                by_domain[address.domain].append((address, reasons))
        done = len(results)
        if progress and done:
            progress(done)
        gate = asyncio.Semaphore(self.concurrency)

        async def one_domain(domain: str, items: list[tuple[Address, dict[str, Any]]]) -> None:
            async with gate:
                for r in await self._verify_domain(domain, items):
                    results[r.email.lower()] = r
            if progress:
                progress(len(items))

        await asyncio.gather(*(one_domain(d, items) for d, items in by_domain.items()))
        return [results[a.key] if a is not None else results[t] for a, t in zip(parsed, emails, strict=True)]

    async def _verify_domain(self, domain: str, items: list[tuple[Address, dict[str, Any]]]) -> list[Result]:
        hosts = await self.dns.mail_hosts(domain)
        for _, reasons in items:
            reasons["mx"] = list(hosts.hosts) or None
            reasons["dns"] = hosts.kind if not hosts.detail else f"{hosts.kind}: {hosts.detail}"
        if hosts.undeliverable:
            results = [self._result(a.email, "invalid", r) for a, r in items]
            if hosts.kind != "null_mx":
                # The domain's absence is asked about again before the address is hidden for good
                # (``VerificationService`` confirms it the second time).
                for result in results:
                    result.recheck_at = result.verified_at + self.recheck_ms
                    result.reasons["recheck"] = "not found in DNS: asked again before the address is hidden"
            return results
        if hosts.kind == "unknown":
            results = [self._result(a.email, "unknown", r) for a, r in items]
            for result in results:  # DNS failed: asked again later
                result.recheck_at = result.verified_at + self.recheck_ms
            return results
        if self.prober is None:
            for _, r in items:
                r["smtp"] = None
                r["smtp_skipped"] = "SMTP probing is disabled (LEADSMITH_SMTP_PROBE=false): verified to DNS level"
            return [self._result(a.email, "unknown", r) for a, r in items]
        return self._from_probe(items, await self._probe(domain, hosts, [a.email for a, _ in items]))

    async def _probe(self, domain: str, hosts: MailHosts, addresses: list[str]) -> Probe:
        """The probe of ``addresses``, sharing its sessions with every other call for the same domain that
        comes while it waits: a call that finds the domain's probes all busy joins the batch gathering
        behind them (or starts it), and that batch goes as one probe when a slot frees. Single-address
        calls that arrive together (``POST /email/verify``, the finder, bulk jobs) so share sessions
        instead of each opening its own."""
        batch = self._gathering.get(domain)
        if batch is not None:
            batch.addresses.update(dict.fromkeys(addresses))
            joined = await asyncio.shield(batch.done)
            if joined is None:  # the call that led the batch was cancelled: this one asks for itself
                return await self._probe(domain, hosts, addresses)
            probe = joined
        else:
            batch = self._gathering[domain] = _Gathering(
                dict.fromkeys(addresses), asyncio.get_running_loop().create_future()
            )
            try:
                async with self._running[domain]:
                    if self._gathering.get(domain) is batch:
                        del self._gathering[domain]  # closed: later calls gather a batch of their own
                    probe = await self._probe_now(domain, hosts, list(batch.addresses))
            except BaseException as exc:
                if self._gathering.get(domain) is batch:
                    del self._gathering[domain]
                if not batch.done.done():
                    if isinstance(exc, asyncio.CancelledError):
                        batch.done.set_result(None)  # not the followers' cancellation: they ask again
                    else:
                        batch.done.set_exception(exc)
                        batch.done.exception()  # retrieved here: followers re-raise it themselves
                raise
            batch.done.set_result(probe)
        return Probe({a: probe.answers[a] for a in addresses}, probe.catch_all, probe.sessions)

    async def _probe_now(self, domain: str, hosts: MailHosts, addresses: list[str]) -> Probe:
        assert self.prober is not None
        now = time.monotonic()
        cached = self._catch_all.get(domain)
        known = cached[1] if cached and cached[0] > now else None
        addresses_of = {host: await self.dns.host_addresses(host) for host in hosts.hosts}
        targets, refused = choose_targets(hosts.hosts, addresses_of, self.private_networks)
        if not targets and refused:
            return Probe({a: Answer(hosts.hosts[0], error=refused[0]) for a in addresses}, known)
        probe = await self.prober.probe(domain, targets, addresses, known)
        if probe.catch_all is not None:
            self._catch_all[domain] = (now + CATCH_ALL_CACHE_SECONDS, probe.catch_all)
        return probe

    def _from_probe(self, items: list[tuple[Address, dict[str, Any]]], probe: Probe) -> list[Result]:
        out = []
        for address, reasons in items:
            answer = probe.answers[address.email]
            smtp = answer.as_dict()
            if answer.reply is Reply.FULL:
                smtp["full"] = True
            reasons["smtp"] = smtp
            reasons["catch_all"] = probe.catch_all
            status: Status = "unknown" if answer.error else verdict(answer.reply, probe.catch_all)
            result = self._result(address.email, status, reasons)
            retry = answer.error and answer.error != "connection refused" and "not a public address" not in answer.error
            if answer.reply is Reply.GREYLISTED or retry:
                result.recheck_at = result.verified_at + self.recheck_ms
                reasons["recheck"] = "greylisted: asked again later" if not answer.error else "asked again later"
            out.append(result)
        return out

    def _result(self, email: str, status: Status, reasons: dict[str, Any]) -> Result:
        return Result(email, status, score_of(status, reasons), reasons, self.clock())
