"""Where a domain's mail goes: MX records, null MX, the A/AAAA fallback, and what a failed look-up means."""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

HostsKind = Literal["mx", "a", "null_mx", "nxdomain", "no_mail", "unknown"]
log = logging.getLogger("leadsmith.verification")


@dataclass(frozen=True, slots=True)
class MailHosts:
    """The hosts to try, in preference order, and how they were found (``kind``)."""

    kind: HostsKind
    hosts: tuple[str, ...] = ()
    detail: str = ""

    @property
    def undeliverable(self) -> bool:
        return self.kind in ("null_mx", "nxdomain", "no_mail")


def parse_nameservers(text: str) -> list[tuple[str, int]]:
    """``"127.0.0.1:5354, [::1]:53, 10.0.0.2"`` -> [(address, port), ...]."""
    out = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, port_text = item.split(":")
            port = int(port_text)
        else:
            host, port = item, 53
        out.append((host, port))
    return out


class MailDns:
    """An async resolver (dnspython) with a small cache of answers per domain.

    A domain's absence (NXDOMAIN, or no mail record at all) is only believed when the resolver is shown
    to work: the MX of a canary domain that must exist resolves (checked at most every
    ``canary_seconds``). A resolver that answers NXDOMAIN to everything (seen on a machine whose DNS was
    broken) would otherwise make every address undeliverable; its answers then count as a DNS failure.
    """

    def __init__(
        self,
        nameservers: str = "",
        timeout: float = 5.0,
        cache_seconds: float = 300.0,
        canary: str = "",
        canary_seconds: float = 30.0,
    ) -> None:
        servers = parse_nameservers(nameservers)
        self.resolver = dns.asyncresolver.Resolver(configure=not servers)
        if servers:
            self.resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
        self.resolver.timeout = timeout
        self.resolver.lifetime = timeout
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, MailHosts]] = {}
        self._hosts: dict[str, tuple[float, tuple[str, ...]]] = {}
        self.canary = tuple(d.strip().lower() for d in canary.split(",") if d.strip())
        self.canary_seconds = canary_seconds
        self._works: tuple[float, bool] = (0.0, True)
        self._failing = False

    async def works(self) -> bool:
        """Whether the resolver answers for a domain that must exist (any one of the canaries' MX)."""
        if not self.canary:
            return True
        now = time.monotonic()
        if self._works[0] > now:
            return self._works[1]
        ok = False
        for domain in self.canary:
            try:
                await self.resolver.resolve(domain, "MX", search=False)
                ok = True
                break
            except dns.exception.DNSException:
                continue
        self._works = (now + self.canary_seconds, ok)
        if not ok and not self._failing:
            log.warning(
                "DNS is failing: the resolver could not find %s; no address is judged undeliverable from DNS "
                "until it works again (set LEADSMITH_DNS_NAMESERVERS to a working resolver)",
                " or ".join(self.canary),
            )
        elif ok and self._failing:
            log.warning("DNS works again: domains' absence from DNS is believed again")
        self._failing = not ok
        return ok

    async def mail_hosts(self, domain: str) -> MailHosts:
        now = time.monotonic()
        hit = self._cache.get(domain)
        if hit and hit[0] > now:
            return hit[1]
        found = await self._look_up(domain)
        if found.undeliverable and found.kind != "null_mx" and not await self.works():
            canaries = " or ".join(self.canary)
            return MailHosts("unknown", detail=f"DNS failure: the resolver answers for nothing (not even {canaries})")
        if found.kind != "unknown":  # a failed look-up is asked again next time
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[domain] = (now + self.cache_seconds, found)
        return found

    async def _look_up(self, domain: str) -> MailHosts:
        try:
            answer = await self.resolver.resolve(domain, "MX", search=False)
        except dns.resolver.NXDOMAIN:
            return MailHosts("nxdomain", detail="the domain does not exist")
        except dns.resolver.NoAnswer:
            return await self._address_fallback(domain)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
            return MailHosts("unknown", detail=f"DNS failure: {type(e).__name__}")
        except dns.exception.DNSException as e:
            return MailHosts("unknown", detail=f"DNS failure: {type(e).__name__}")
        records = sorted(((r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer), key=lambda r: r)
        if len(records) == 1 and records[0][1] in ("", "."):
            return MailHosts("null_mx", detail="null MX: the domain accepts no mail")
        hosts = tuple(dict.fromkeys(h.lower() for _, h in records if h not in ("", ".")))
        return MailHosts("mx", hosts) if hosts else MailHosts("null_mx", detail="null MX: the domain accepts no mail")

    async def host_addresses(self, host: str) -> tuple[str, ...]:
        """The IP addresses of a mail host (A first, then AAAA); empty when it has none or DNS fails."""
        try:
            ipaddress.ip_address(host)
            return (host,)
        except ValueError:
            pass
        now = time.monotonic()
        hit = self._hosts.get(host)
        if hit and hit[0] > now:
            return hit[1]
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(host, rdtype, search=False)
                found += [r.to_text() for r in answer]
            except dns.exception.DNSException:
                continue
        if found:
            self._hosts[host] = (now + self.cache_seconds, tuple(found))
        return tuple(found)

    async def _address_fallback(self, domain: str) -> MailHosts:
        """No MX: RFC 5321 says to deliver to the domain's own address, if it has one."""
        failed = ""
        for rdtype in ("A", "AAAA"):
            try:
                await self.resolver.resolve(domain, rdtype, search=False)
                return MailHosts("a", (domain,), detail=f"no MX; delivering to the {rdtype} record")
            except dns.resolver.NXDOMAIN:
                return MailHosts("nxdomain", detail="the domain does not exist")
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.DNSException as e:
                failed = f"DNS failure: {type(e).__name__}"
        if failed:
            return MailHosts("unknown", detail=failed)
        return MailHosts("no_mail", detail="no MX and no address record")
