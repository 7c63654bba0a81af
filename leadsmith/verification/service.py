"""Verification as a service: stored results reused until they age, charged verification for API users,
operator runs, and the background worker that verifies imported and predicted addresses."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from leadsmith.access.schemas import Caller
from leadsmith.clock import DAY_MS, Clock, now_ms
from leadsmith.config import Settings
from leadsmith.db.database import Database
from leadsmith.metering.schemas import Charged, Item, Work
from leadsmith.metering.service import MeteringService, RequestContext
from leadsmith.privacy.identity import traits
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.verification import repository
from leadsmith.verification.rules import Result, parse_address
from leadsmith.verification.schemas import VerifyRequest
from leadsmith.verification.verifier import Verifier

log = logging.getLogger("leadsmith.verification")
BACKGROUND_LEASE = "verify-background"


@dataclass
class VerificationService:
    db: Database
    verifier: Verifier
    settings: Settings
    metering: MeteringService | None = None
    clock: Clock = now_ms
    # Who opted out (see privacy/): their addresses are checked when asked, but no result is kept.
    suppressions: SuppressionList | None = None
    # Told the domains where a predicted address was found undeliverable (a confirmed verdict), so that
    # their patterns are learned again and those people predicted the next candidate (``Services.build``
    # joins it to the pattern learner; the CLI learns them at the end of its run).
    on_bounced: Callable[[set[str]], None] | None = None
    _holder: str = field(default_factory=lambda: f"{os.getpid()}-{secrets.token_hex(4)}")

    def _cutoff(self, now: int) -> int:
        return now - int(self.settings.verify_max_age_days * DAY_MS)

    async def verify(self, email: str, *, reuse: bool = True) -> Result:
        """One address: the stored result while it is fresh, otherwise verified now and stored."""
        address = parse_address(email, self.settings.verify_test_domains)
        if reuse and not isinstance(address, str):
            now = self.clock()
            found = await repository.stored(self.db, address.key)
            if (
                found is not None
                and found.verified_at >= self._cutoff(now)
                and (found.recheck_at is None or found.recheck_at > now)
            ):
                return found
        return (await self.verify_many([email]))[0]

    async def verify_many(self, emails: Sequence[str], progress: Callable[[int], None] | None = None) -> list[Result]:
        results = await self.verifier.verify_many(emails, progress)
        await self._confirm_absences(results)
        kept = results
        if self.suppressions is not None:
            shield = await self.suppressions.current()
            if shield.active:
                kept = [r for r in results if not shield.hides_any(traits(emails=[r.email] if "@" in r.email else []))]
        # A confirmed "invalid" (not one still to be asked again): what hides an address, and what a
        # domain's next learning leaves out of its people's predictions.
        bounced = [r.email.lower() for r in kept if r.status == "invalid" and r.recheck_at is None and "@" in r.email]
        async with self.db.transaction() as tx:
            await repository.save(tx, kept)
            domains = await repository.predicted_domains(tx, bounced) if bounced and self.on_bounced else set()
        if domains and self.on_bounced is not None:
            self.on_bounced(domains)
        return results

    async def _confirm_absences(self, results: Sequence[Result]) -> None:
        """A domain missing from DNS makes its addresses undeliverable only when it was missing the time
        before too: the first such verdict is due to be asked again (``recheck_at``), and only the second,
        confirming it, hides the address (a resolver's passing fault must not hide an address for good)."""
        absent = [r for r in results if r.status == "invalid" and r.recheck_at is not None]
        if not absent:
            return
        before = await repository.stored_many(self.db, [r.email.lower() for r in absent])
        for r in absent:
            earlier = before.get(r.email.lower())
            if (
                earlier is not None
                and earlier.status == "invalid"
                and str(earlier.reasons.get("dns", "")).startswith(("nxdomain", "no_mail"))
            ):
                r.recheck_at = None
                r.reasons["recheck"] = "not found in DNS twice: confirmed"

    async def verify_batch(self, emails: Sequence[str]) -> list[Result]:
        """Many addresses (a bulk job's batch): each stored result that is still fresh, the rest verified
        together (grouped by domain, as ``verify_many`` does) and stored."""
        now = self.clock()
        out: dict[int, Result] = {}
        asked: list[tuple[int, str]] = []
        for n, email in enumerate(emails):
            address = parse_address(email, self.settings.verify_test_domains)
            found = None if isinstance(address, str) else await repository.stored(self.db, address.key)
            if (
                found is not None
                and found.verified_at >= self._cutoff(now)
                and (found.recheck_at is None or found.recheck_at > now)
            ):
                out[n] = found
            else:
                asked.append((n, email))
        if asked:
            for (n, _), result in zip(asked, await self.verify_many([e for _, e in asked]), strict=True):
                out[n] = result
        return [out[n] for n in range(len(emails))]

    @staticmethod
    def verdict_items(result: Result) -> tuple[Item, ...]:
        """What a verification is charged as: one verification when it reached a verdict."""
        verdict = result.status != "unknown" and result.reasons.get("syntax") == "ok"
        return (Item(None, "verify"),) if verdict else ()

    async def verify_due(self, limit: int | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Verify stored and predicted addresses that were never verified, have aged, or are due a re-check."""
        batch = self.settings.verify_background_batch
        done, after = 0, ""
        while limit is None or done < limit:
            now = self.clock()
            keys = await repository.due(self.db, now, self._cutoff(now), batch, after)
            if not keys:
                break
            if limit is not None:
                keys = keys[: limit - done]
            await self.verify_many(keys, progress)
            done += len(keys)
            after = keys[-1]
        return done

    async def count_due(self) -> int:
        now = self.clock()
        return await repository.count_due(self.db, now, self._cutoff(now))

    async def email_verify(self, caller: Caller, ctx: RequestContext, req: VerifyRequest) -> Charged:
        """``POST /email/verify``: charged per verdict; an unknown result, or text that is no address, is free."""
        assert self.metering is not None

        async def work() -> Work:
            result = await self.verify(req.email)
            return Work(result.as_dict(), self.verdict_items(result))

        return await self.metering.charged(caller, ctx, {"email": req.email.lower()}, work)

    async def run_background(self, interval_seconds: float = 10.0) -> None:
        """Keep imported and predicted addresses verified; one worker at a time holds the lease."""
        while True:
            try:
                async with self.db.transaction() as tx:
                    holding = await repository.take_lease(
                        tx, BACKGROUND_LEASE, self._holder, self.clock(), int(interval_seconds * 6_000)
                    )
                if holding:
                    done = await self.verify_due(self.settings.verify_background_batch)
                    if done:
                        log.info("verified %d stored addresses in the background", done)
                        continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background verification failed; retrying")
            await asyncio.sleep(interval_seconds)
