"""Verification never talks SMTP to private networks unless allowed, and never believes a resolver that
answers NXDOMAIN to everything: against loopback DNS and SMTP fakes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.config import Settings
from leadsmith.db import migrate
from leadsmith.db.database import open_database
from leadsmith.db.tables import emails, people
from leadsmith.egress import is_public
from leadsmith.testing.loopback import AllNxdomain, Zone, fake_dns, fake_smtp, scripted_rule, scripted_zones
from leadsmith.verification.service import VerificationService
from leadsmith.verification.verifier import Verifier, choose_targets

PRIVATE = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "10.1.2.3",  # RFC 1918
    "172.16.5.4",
    "172.31.255.255",
    "192.168.0.10",
    "169.254.169.254",  # link-local: cloud metadata
    "0.0.0.0",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fe80::1",  # link-local
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "ff02::1",  # multicast
]
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4007:80e::200e", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_are_refused(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(address)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_mapped_form_agree(ip: object) -> None:
    assert is_public(str(ip)) == is_public(f"::ffff:{ip}")


def verifier(nameserver: str, port: int, **overrides: object) -> Verifier:
    values: dict[str, object] = {
        "dns_nameservers": nameserver,
        "dns_timeout_seconds": 1.0,
        "smtp_port": port,
        "smtp_ehlo_name": "verifier.leadsmith.test",
        "smtp_mail_from": "probe@leadsmith.test",
        "smtp_command_timeout_seconds": 1.0,
        "verify_test_domains": True,
        "dns_canary": "known.test",
        **overrides,
    }
    return Verifier.from_settings(Settings(**values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("zone", "address"),
    [
        (Zone(a=["127.0.0.1"]), "127.0.0.1"),
        (Zone(aaaa=["::1"]), "::1"),
        (Zone(a=["169.254.169.254"]), "169.254.169.254"),
        (Zone(a=["10.0.0.25"]), "10.0.0.25"),
        (Zone(aaaa=["::ffff:7f00:1"]), "::ffff:127.0.0.1"),
        (Zone(aaaa=["fd00::25"]), "fd00::25"),
        (Zone(a=["0.0.0.0"]), "0.0.0.0"),
    ],
)
async def test_a_domain_whose_mail_host_is_private_is_not_probed(zone: Zone, address: str) -> None:
    zones = {**scripted_zones(), "inside.test": Zone(mx=[(10, "mx.inside.test")]), "mx.inside.test": zone}
    with fake_dns(zones) as (nameserver, _), fake_smtp(scripted_rule()) as (port, log):
        before = log.sessions  # the fake's own readiness check is a session
        r = await verifier(nameserver, port).verify("jane@inside.test")
        assert r.status == "unknown" and r.valid is None
        error = r.reasons["smtp"]["error"]
        assert address in error and "not a public address" in error and "VERIFY_PRIVATE_NETWORKS" in error
        assert r.recheck_at is None  # asking again would change nothing
        assert log.sessions == before
        allowed = await verifier(nameserver, port, verify_private_networks=True).verify("jane@known.test")
        assert allowed.status == "valid" and log.sessions == before + 1


def test_a_public_address_beside_a_private_one_is_the_one_tried() -> None:
    hosts = ["mx1.mixed.test", "mx2.mixed.test"]
    addresses = {"mx1.mixed.test": ("10.9.9.9",), "mx2.mixed.test": ("fd00::1", "93.184.216.34", "8.8.8.8")}
    targets, refused = choose_targets(hosts, addresses, private_networks=False)
    assert targets == [("mx2.mixed.test", "93.184.216.34")]
    assert len(refused) == 2 and "10.9.9.9" in refused[0] and "fd00::1" in refused[1]
    everything, none = choose_targets(hosts, addresses, private_networks=True)
    assert everything == [("mx1.mixed.test", "10.9.9.9"), ("mx2.mixed.test", "fd00::1")] and none == []


async def test_a_resolver_that_answers_nxdomain_to_everything_judges_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with fake_dns(AllNxdomain()) as (nameserver, _), fake_smtp(scripted_rule()) as (port, _log):
        v = verifier(nameserver, port)
        with caplog.at_level(logging.WARNING, logger="leadsmith.verification"):
            results = await v.verify_many([f"person{i}@company{i}.test" for i in range(20)])
            results += await v.verify_many(["jane@known.test"])
    assert {r.status for r in results} == {"unknown"}
    assert all(r.valid is None and "resolver" in r.reasons["dns"] for r in results)
    assert all(r.recheck_at is not None for r in results)  # asked again later
    failing = [m for m in caplog.messages if "DNS is failing" in m]
    assert len(failing) == 1, caplog.messages  # said once, clearly
    assert "LEADSMITH_DNS_NAMESERVERS" in failing[0]


async def test_a_broken_resolver_hides_no_stored_address_and_a_real_absence_is_confirmed_first(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    db = open_database(url)
    try:
        async with db.transaction() as tx:
            pid = await tx.scalar(
                sa.insert(people).values(full_name="Jane", created_at=0, updated_at=0).returning(people.c.id)
            )
            for address in ("jane@known.test", "jane@gone.test"):
                await tx.execute(
                    sa.insert(emails).values(
                        person_id=pid, address=address, address_key=address, domain=address.split("@")[1],
                        kind="pro", valid=True, source="t", first_seen=0, last_seen=0,
                    )
                )  # fmt: skip
        settings = Settings(database_url=url)

        async def valid() -> dict[str, bool | None]:
            rows = await db.fetch_all(sa.select(emails.c.address_key, emails.c.valid))
            return {r.address_key: r.valid for r in rows}

        with fake_dns(AllNxdomain()) as (nameserver, _):
            service = VerificationService(db, verifier(nameserver, 1), settings)
            await service.verify_many(["jane@known.test", "jane@gone.test"])
        assert await valid() == {"jane@known.test": True, "jane@gone.test": True}

        with fake_dns(scripted_zones()) as (nameserver, _), fake_smtp(scripted_rule()) as (port, _log):
            quick = verifier(nameserver, port, verify_recheck_minutes=0.0001)  # a re-check is due at once
            service = VerificationService(db, quick, settings)
            first = await service.verify_many(["jane@gone.test"])
            assert first[0].status == "invalid" and first[0].recheck_at is not None
            assert (await valid())["jane@gone.test"] is True  # not hidden on one answer
            await asyncio.sleep(0.05)
            assert await service.verify_due() >= 1  # due again at once here; still missing: confirmed
        assert await valid() == {"jane@known.test": True, "jane@gone.test": False}
    finally:
        await db.close()
