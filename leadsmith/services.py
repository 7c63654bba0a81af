"""The long-lived objects one worker shares across requests, built once at start-up."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from leadsmith.access.service import AccessService
from leadsmith.admin.service import AdminService
from leadsmith.config import Settings
from leadsmith.contacts.import_service import ImportService
from leadsmith.contacts.parallel import SidePool
from leadsmith.contacts.service import ContactsService
from leadsmith.db.database import Database, open_database, sqlite_path
from leadsmith.jobs.service import JobsService
from leadsmith.metering.counters import (
    Counters,
    DatabaseCounters,
    FileCounters,
    MemoryCounters,
    RedisCounters,
)
from leadsmith.metering.service import MeteringService
from leadsmith.patterns.service import PatternService
from leadsmith.portal.service import PortalService
from leadsmith.privacy.audit import RevealLog
from leadsmith.privacy.service import PrivacyService
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.providers.flights import open_flights
from leadsmith.providers.waterfall import Upstream
from leadsmith.usage.recorder import UsageRecorder
from leadsmith.verification.service import VerificationService
from leadsmith.verification.verifier import Verifier

# The paths usage is counted under by name; anything else is counted as "other".
API_ENDPOINTS = frozenset(
    {
        "/keys/verifyKey",
        "/keys/remainingCredits",
        "/keys/rateLimits",
        "/profile/profile",
        "/profile/linkedin",
        "/company/domainPattern",
        "/company/domainEmployees",
        "/company/emailFinder",
        "/email/verify",
        "/bulk/profile",
        "/bulk/emailFinder",
        "/bulk/verify",
        "/bulk/jobs",
    }
)


def open_upstream(
    settings: Settings, db: Database, patterns: PatternService, suppressions: SuppressionList
) -> Upstream | None:
    """The providers of ``LEADSMITH_PROVIDERS_FILE`` (None without one), keeping answers with the import's rules."""
    if settings.providers_file is None:
        return None
    importer = ImportService(db, settings.default_phone_region, suppressions=suppressions)
    return Upstream.from_file(
        settings.providers_file,
        db,
        importer.keep,
        miss_ttl_hours=settings.upstream_miss_ttl_hours,
        default_region=settings.default_phone_region,
        learn=patterns.refresh,
        known=patterns.known_addresses,
        flights=open_flights(settings, db),
        suppressions=suppressions,
    )


def open_counters(settings: Settings, db: Database) -> Counters:
    backend = settings.counters_backend()
    if backend == "redis":
        if not settings.redis_url:
            raise ValueError("LEADSMITH_COUNTERS=redis needs LEADSMITH_REDIS_URL")
        return RedisCounters(settings.redis_url, settings.redis_prefix)
    if backend == "file":
        path = sqlite_path(settings.database_url)
        if path is None:
            raise ValueError("LEADSMITH_COUNTERS=file needs a SQLite store on disk")
        return FileCounters(f"{path}.counters")
    if backend == "database":
        return DatabaseCounters(db)
    return MemoryCounters()


@dataclass
class Services:
    settings: Settings
    db: Database
    counters: Counters
    access: AccessService
    metering: MeteringService
    contacts: ContactsService
    patterns: PatternService
    verification: VerificationService
    usage: UsageRecorder
    portal: PortalService
    jobs: JobsService | None = None
    upstream: Upstream | None = None
    privacy: PrivacyService | None = None
    admin: AdminService | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = open_database(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.db_pool_size,
        )
        counters = open_counters(settings, db)
        suppressions = SuppressionList(db)
        reveal_log = RevealLog(db, settings.audit_retention_days)
        metering = MeteringService(db, settings, counters, on_reveal=reveal_log.record)
        patterns = PatternService(db, metering=metering, suppressions=suppressions, aside=SidePool())
        access = AccessService(db, settings)
        upstream = open_upstream(settings, db, patterns, suppressions)
        patterns.upstream = upstream
        contacts = ContactsService(db, settings, metering, patterns, upstream, suppressions)
        verification = VerificationService(
            db, Verifier.from_settings(settings), settings, metering, suppressions=suppressions
        )
        patterns.verification = verification
        verification.on_bounced = patterns.learn_soon
        patterns.keep = ImportService(db, settings.default_phone_region, suppressions=suppressions).keep
        patterns.finder_verify = settings.finder_verify
        patterns.finder_verify_timeout = settings.finder_verify_timeout_seconds
        privacy = PrivacyService(db, settings, suppressions, reveal_log, counters, patterns)
        jobs = JobsService(db, settings, access, metering, contacts, patterns, verification)
        return cls(
            settings=settings,
            db=db,
            counters=counters,
            access=access,
            metering=metering,
            contacts=contacts,
            patterns=patterns,
            upstream=upstream,
            jobs=jobs,
            verification=verification,
            usage=UsageRecorder(db, API_ENDPOINTS),
            portal=PortalService(db, settings, access, counters, metering, jobs),
            privacy=privacy,
            admin=AdminService(db),
        )

    def start_background(self) -> None:
        self.db.start_housekeeping()
        self._tasks.append(asyncio.create_task(self.access.run_flusher()))
        self._tasks.append(asyncio.create_task(self.usage.run_flusher()))
        self._tasks.append(asyncio.create_task(self.metering.run_purger()))
        if self.settings.verify_background:
            self._tasks.append(asyncio.create_task(self.verification.run_background()))
        if self.upstream is not None:
            self._tasks.append(asyncio.create_task(self.upstream.run_learner()))
        self._tasks.append(asyncio.create_task(self.patterns.run_learner()))
        if self.jobs is not None:
            for loop in (self.jobs.run(), self.jobs.run_webhooks(), self.jobs.run_purger()):
                self._tasks.append(asyncio.create_task(loop))
        if self.privacy is not None:
            for loop in (
                self.privacy.suppressions.follow(),
                self.privacy.reveal_log.run_flusher(),
                self.privacy.run_housekeeping(),
            ):
                self._tasks.append(asyncio.create_task(loop))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.access.flush_last_used()
        await self.usage.flush()
        if self.privacy is not None:
            await self.privacy.close()
        await self.counters.close()
        if self.upstream is not None:
            await self.upstream.close()
        if self.patterns.aside is not None:
            self.patterns.aside.shutdown(wait=False, cancel_futures=True)
        await self.db.close()


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """Async, like every dependency here: a plain ``def`` dependency costs a threadpool hop per request."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
