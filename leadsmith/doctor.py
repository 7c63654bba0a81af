"""``leadsmith doctor``: what an operator gets wrong first, checked, one line each with how to fix it.

Read-only: it migrates nothing, writes nothing and calls no paid provider (a provider's key is checked
for being set; ``leadsmith providers check`` makes a real call).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from leadsmith.config import _DEV_SECRET, Settings
from leadsmith.db import migrate
from leadsmith.db.database import normalise_url, shown_url, sqlite_path, store_problem

Status = Literal["ok", "warn", "fail", "skip"]
MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str


def _revisions(url: str) -> tuple[str | None, str]:
    """(the store's revision, the code's head)."""
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head() or ""
    url = normalise_url(url)

    def current(conn: sa.Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    if url.startswith("postgresql+asyncpg"):
        from sqlalchemy.ext.asyncio import create_async_engine

        async def run() -> str | None:
            engine = create_async_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": 5})
            try:
                async with engine.connect() as conn:
                    return await conn.run_sync(current)
            finally:
                await engine.dispose()

        return asyncio.run(run()), head
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None, head
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return current(conn), head
    finally:
        engine.dispose()


def check_database(s: Settings) -> Check:
    where = shown_url(s.database_url)
    try:
        revision, head = _revisions(s.database_url)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        problem = store_problem(s.database_url, exc) or f"{type(exc).__name__}: {exc}"
        return Check("database", "fail", f"{where}: {problem} (check LEADSMITH_DATABASE_URL)")
    if revision is None:
        return Check("database", "warn", f"{where}: empty; `leadsmith migrate` (or any command) builds it")
    if revision != head:
        return Check(
            "database", "fail", f"{where}: at revision {revision}, this release needs {head}: run `leadsmith migrate`"
        )
    return Check("database", "ok", f"{where}: reachable, migrated (revision {head})")


async def check_redis(s: Settings) -> Check:
    if not s.redis_url:
        backend = s.counters_backend()
        note = " (several machines need LEADSMITH_REDIS_URL)" if backend != "redis" else ""
        return Check("redis", "skip", f"not configured: rate-limit windows in {backend}{note}")
    import redis.asyncio as redis

    client = redis.from_url(s.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        return Check(
            "redis",
            "fail",
            f"{shown_url(s.redis_url)}: {type(exc).__name__}: {exc} (rate-limited requests get 503 until it answers)",
        )
    finally:
        await client.aclose()
    return Check("redis", "ok", f"{shown_url(s.redis_url)}: answers")


def check_secret(s: Settings) -> Check:
    if s.secret_key != _DEV_SECRET:
        return Check("secret key", "ok", "LEADSMITH_SECRET_KEY is set")
    if s.environment == "production":  # the settings refuse this; kept for completeness
        return Check("secret key", "fail", "LEADSMITH_SECRET_KEY must be set in production")
    return Check(
        "secret key",
        "warn",
        "LEADSMITH_SECRET_KEY is not set: portal sessions and forms break at every restart; set it (and "
        "LEADSMITH_ENVIRONMENT=production) before real use",
    )


async def check_dns(s: Settings) -> tuple[Check, list[str]]:
    """Whether the resolver finds the canary domains' mail hosts; the hosts found (for the port 25 check)."""
    from leadsmith.verification.mail_dns import MailDns

    canary = [d.strip() for d in s.dns_canary.split(",") if d.strip()]
    if not canary:
        return Check("dns", "skip", "no LEADSMITH_DNS_CANARY domain to resolve"), []
    resolver = MailDns(s.dns_nameservers, min(s.dns_timeout_seconds, 5.0))
    for domain in canary:
        hosts = await resolver.mail_hosts(domain)
        if hosts.hosts and not hosts.undeliverable:
            servers = s.dns_nameservers or "the system's resolver"
            addresses = [a for host in hosts.hosts[:3] for a in await resolver.host_addresses(host)]
            return Check("dns", "ok", f"{servers} finds the mail hosts of {domain}"), addresses
    return (
        Check(
            "dns",
            "fail",
            f"the resolver finds no mail host for {', '.join(canary)}: verification cannot judge any domain "
            "(set LEADSMITH_DNS_NAMESERVERS to a working resolver)",
        ),
        [],
    )


async def check_port_25(s: Settings, hosts: list[str]) -> Check:
    """Whether a TCP connection to the canary's mail hosts (their addresses, as our resolver found them)
    opens on the SMTP port."""
    if not s.smtp_probe:
        return Check("smtp", "skip", "LEADSMITH_SMTP_PROBE=false: verification stops at DNS")
    if not hosts:
        return Check("smtp", "skip", "no mail host to try (DNS found none)")
    last = ""
    for host in hosts[:3]:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, s.smtp_port), timeout=5)
        except (OSError, TimeoutError) as exc:
            last = f"{host}:{s.smtp_port}: {type(exc).__name__} {exc}".strip()
            continue
        writer.close()
        return Check("smtp", "ok", f"outbound port {s.smtp_port} reaches {host}")
    return Check(
        "smtp",
        "fail",
        f"outbound port {s.smtp_port} is closed ({last}): set LEADSMITH_SMTP_PROBE=false, or open it (many "
        "clouds block port 25 by default)",
    )


def check_providers(s: Settings) -> Check:
    if s.providers_file is None:
        return Check("providers", "skip", "no LEADSMITH_PROVIDERS_FILE: answers come from the store only")
    from leadsmith.providers.config import ProvidersFileError, load

    try:
        configs = load(s.providers_file)
    except ProvidersFileError as exc:
        return Check("providers", "fail", str(exc))
    missing = [f"{c.name} ({c.api_key_env})" for c in configs if c.api_key() is None]
    if missing:
        return Check("providers", "fail", f"no key in the environment for {', '.join(missing)}: they are not asked")
    names = ", ".join(c.name for c in configs)
    return Check(
        "providers", "ok", f"{len(configs)} provider(s) with keys set: {names} (`leadsmith providers check` calls them)"
    )


def check_disk(s: Settings) -> Check:
    path = sqlite_path(s.database_url)
    if path is None:
        return Check("disk", "skip", "not a SQLite store on disk")
    where = path.parent if path.parent.exists() else path.parent.parent
    usage = shutil.disk_usage(where)
    free_gb = usage.free / (1 << 30)
    size = path.stat().st_size if path.exists() else 0
    if usage.free < max(MIN_FREE_BYTES, size):
        return Check(
            "disk",
            "fail",
            f"{free_gb:.1f} GB free beside {path} ({size / (1 << 30):.1f} GB store): an import, a VACUUM or the WAL "
            "can need as much again",
        )
    return Check("disk", "ok", f"{free_gb:.1f} GB free beside {path}")


async def check_mail(s: Settings) -> Check:
    if not s.mail_url:
        return Check("mail", "skip", "no LEADSMITH_MAIL_URL: removal requests wait for `leadsmith privacy requests`")
    from leadsmith.privacy.mail import relay_of, safe_url

    try:
        host, port, _, _, _ = relay_of(s.mail_url)
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5)
        writer.close()
    except (OSError, TimeoutError, ValueError) as exc:
        return Check("mail", "fail", f"{safe_url(s.mail_url)}: {exc}")
    if not s.public_url:
        return Check(
            "mail", "warn", f"{safe_url(s.mail_url)} answers; set LEADSMITH_PUBLIC_URL, or links point at {s.link_base}"
        )
    return Check("mail", "ok", f"{safe_url(s.mail_url)} answers; links point at {s.public_url}")


async def run_checks(s: Settings, on_check: Callable[[Check], None] | None = None) -> list[Check]:
    out: list[Check] = []

    def add(check: Check) -> None:
        out.append(check)
        if on_check is not None:
            on_check(check)

    add(await asyncio.to_thread(check_database, s))
    add(await check_redis(s))
    add(check_secret(s))
    dns_check, hosts = await check_dns(s)
    add(dns_check)
    add(await check_port_25(s, hosts))
    add(check_providers(s))
    add(await check_mail(s))
    add(check_disk(s))
    return out
