"""The waterfall: when the store cannot answer, ask the configured providers in order, keep what they
say, and never pay twice for the same thing.

- Order and stop rule: providers are asked in the providers file's order, and the first answer that
  satisfies the request ends it (an e-mail already known to be undeliverable satisfies nothing).
- Keep: every answer is merged into the store with the import's rules (``ImportService.keep``), its
  addresses' verdicts and confidences kept, provenance in each address's and phone's ``source``
  (``provider:<name>``) and first-seen time; its domains' patterns are re-learned in the background.
  The caller then reads the store as for any look-up, and is charged by the same rules.
- Pay once: what no provider knew is remembered (``LEADSMITH_UPSTREAM_MISS_TTL_HOURS``); concurrent
  asks for the same thing make one upstream call, across workers (a flight: flights.py).
- Faults: a timeout, a 5xx or a 429 skips the provider for this request; Retry-After is honoured; a
  provider failing again and again is left alone for a cool-down (a circuit breaker); a refused key or
  no credits left is said once in the log and the provider rested; an exhausted monthly budget skips it.
  None of it becomes an error for the caller, and no provider holds a request past its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsmith.clock import HOUR_MS, Clock, now_ms
from leadsmith.contacts.records import Record, parse_row
from leadsmith.db.database import Database, Executor
from leadsmith.engine.emails import email_kind
from leadsmith.engine.identifiers import ProfileRef
from leadsmith.loops import FLUSH_ROWS, every
from leadsmith.privacy.identity import Identity, linkedin_value
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.providers import repository
from leadsmith.providers.base import Answer, FoundPerson, Lookup, ProfileQuery, ProviderError, lookups_of
from leadsmith.providers.config import ProviderConfig, load
from leadsmith.providers.flights import Flights
from leadsmith.providers.registry import build
from leadsmith.verification import repository as verification_repository

log = logging.getLogger("leadsmith.providers")

FAILURES_TO_OPEN = 3  # consecutive failures that open a provider's circuit
COOL_DOWN_SECONDS = 30.0
RATE_LIMITED_SECONDS = 30.0  # a 429 that did not say how long
REST_SECONDS = {"auth": 600.0, "payment": 3600.0}  # a refused key, no credits left: said once, asked again later
# A domain whose answers were kept is learned again once they are this share of what it knows, or after
# this long (see ``Upstream._learn_now``).
RELEARN_SHARE = 0.1
RELEARN_AFTER_SECONDS = 600.0
POLL_SECONDS = 0.01  # how often a worker waiting for another's flight looks again

Then = Callable[[Executor], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Need:
    """What a request lacks: an e-mail (of these kinds: "pro", "personal"), a phone."""

    email_kinds: frozenset[str] = frozenset()
    phone: bool = False

    @property
    def empty(self) -> bool:
        return not self.email_kinds and not self.phone

    def label(self) -> str:
        return "+".join([*sorted(self.email_kinds), *(["phone"] if self.phone else [])])


@dataclass
class Slot:
    """One configured provider with its state in this worker."""

    config: ProviderConfig
    provider: Any
    lookups: frozenset[Lookup]
    gate: asyncio.Semaphore
    blocked_until: float = 0.0
    blocked_why: str = ""
    failures: int = 0
    said: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    latency_sum: float = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    def usable(self, lookup: Lookup) -> bool:
        wanted = self.config.lookups
        return self.config.enabled and lookup in self.lookups and (wanted is None or lookup in wanted)


@dataclass
class Upstream:
    db: Database
    slots: list[Slot]
    keep: Callable[[list[Record], str, Callable[[Executor], Awaitable[None]]], Awaitable[Any]]
    miss_ttl_hours: float = 24.0
    default_region: str | None = None
    clock: Clock = now_ms
    # Learns the patterns of these domains; what it is given as well: how many addresses ``known`` just
    # counted at some of them (not counted again there).
    learn: Callable[[set[str], dict[str, int]], Awaitable[Any]] | None = None
    # How many addresses the store knows at a domain: a domain is learned again only once what came back
    # since adds a tenth to that (see ``_learn_now``). None: every domain touched is learned every round.
    known: Callable[[str], Awaitable[int]] | None = None
    # Several processes serve this store: where an ask is held between them (see flights.py); None
    # for one process, whose concurrent asks are joined in memory only.
    flights: Flights | None = None
    # Who opted out (see privacy/): never asked about.
    suppressions: SuppressionList | None = None
    _unwritten: list[dict[str, Any]] = field(default_factory=list)
    _local: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _to_learn: dict[str, int] = field(default_factory=dict)  # domain: addresses kept there since it was learned
    _waiting: dict[str, float] = field(default_factory=dict)  # domain: when the first of those came
    _full: asyncio.Event = field(default_factory=asyncio.Event)  # set: the calls' ledger is to be written now

    @staticmethod
    def configs(path: Path) -> list[ProviderConfig]:
        return load(path)

    @classmethod
    def from_file(
        cls,
        path: Path,
        db: Database,
        keep: Callable[[list[Record], str, Callable[[Executor], Awaitable[None]]], Awaitable[Any]],
        **options: Any,
    ) -> Upstream:
        slots = []
        for config in load(path):
            key = config.api_key()
            if key is None:
                log.warning(
                    "provider %s: %s is not set in the environment, so it is not asked", config.name, config.api_key_env
                )
                continue
            provider = build(config, key)
            slots.append(Slot(config, provider, lookups_of(provider), asyncio.Semaphore(config.concurrency)))
        return cls(db, slots, keep, **options)

    def offers(self, lookup: Lookup) -> bool:
        return any(s.usable(lookup) for s in self.slots)

    async def _suppressed(self, identity: Identity) -> bool:
        if self.suppressions is None:
            return False
        shield = await self.suppressions.current()
        return shield.hides(identity)

    # --- the look-ups

    async def profile(
        self, account_id: int, ref: ProfileRef, name: str | None, need: Need, then: Then | None = None
    ) -> None:
        """Ask for a lead the store lacks ``need`` for; what comes back is in the store when this returns.

        ``then`` runs in the transaction that keeps the answer satisfying ``need``, if one comes back for
        this ask (not for one joined to another's): the caller's reading and charging of the lead, so that
        a miss commits once. It must not raise: what it cannot do there, its caller does after."""
        if need.empty or not self.offers("profile"):
            return
        if await self._suppressed(Identity("linkedin", linkedin_value(ref))):
            return
        slug = ref.value
        url = (
            f"https://www.linkedin.com/in/{slug}"
            if ref.kind == "public"
            else f"https://www.linkedin.com/sales/lead/{slug}"
        )
        query = ProfileQuery(slug, url, name or None, need.phone)

        async def ask(slot: Slot) -> Answer:
            answer: Answer = await slot.provider.profile(query)
            return answer

        linkedin = {"linkedin": url}
        await self._once(f"profile:{ref.key}:{need.label()}", "profile", account_id, ask, need, linkedin, then)

    async def email(self, account_id: int, first: str, last: str, domain: str) -> None:
        if not self.offers("email") or await self._suppressed(Identity("domain", domain)):
            return

        async def ask(slot: Slot) -> Answer:
            answer: Answer = await slot.provider.email(first, last, domain)
            return answer

        key = f"email:{domain}:{first.lower()}:{last.lower()}"
        await self._once(key, "email", account_id, ask, Need(frozenset({"pro"})), {"domain": domain})

    async def employees(self, account_id: int, domain: str, limit: int) -> None:
        if not self.offers("employees") or await self._suppressed(Identity("domain", domain)):
            return

        async def ask(slot: Slot) -> Answer:
            answer: Answer = await slot.provider.employees(domain, limit)
            return answer

        await self._once(
            f"employees:{domain}", "employees", account_id, ask, Need(frozenset({"pro"})), {"domain": domain}
        )

    async def pattern(self, account_id: int, domain: str) -> None:
        if not self.offers("pattern") or await self._suppressed(Identity("domain", domain)):
            return

        async def ask(slot: Slot) -> Answer:
            answer: Answer = await slot.provider.pattern(domain)
            return answer

        await self._once(f"pattern:{domain}", "pattern", account_id, ask, Need(frozenset({"pro"})), {"domain": domain})
        if self.learn is not None:  # the caller reads the patterns next: learn them now
            await self._learn_now(force=True)

    # --- pay once

    async def _once(
        self,
        key: str,
        lookup: Lookup,
        account_id: int,
        ask: Callable[[Slot], Awaitable[Answer]],
        need: Need,
        force: dict[str, str],
        then: Then | None = None,
    ) -> None:
        """Ask unless no provider knew ``key`` lately; one ask at a time per key in this worker (the others
        wait for it) and across workers (through a flight: see flights.py)."""
        now = self.clock()
        if await repository.missed(self.db, key, now):
            return
        running = self._local.get(key)
        if running is not None:
            await asyncio.shield(running)
            return
        done = asyncio.get_running_loop().create_future()
        self._local[key] = done
        budget = sum(s.config.timeout_seconds for s in self.slots if s.usable(lookup)) + 2.0
        flights = self.flights
        try:
            if flights is None or await flights.take(key, int(budget * 1000)):
                try:
                    outcome = await self._ask_in_order(lookup, account_id, ask, need, force, then)
                    if outcome is False:
                        expires = self.clock() + int(self.miss_ttl_hours * HOUR_MS)
                        async with self.db.transaction() as tx:
                            await repository.remember_miss(tx, key, expires)
                finally:
                    if flights is not None:
                        with contextlib.suppress(Exception):
                            await flights.end(key)
            else:
                await self._wait(flights, key, budget)
        finally:
            done.set_result(None)
            del self._local[key]

    @staticmethod
    async def _wait(flights: Flights, key: str, budget: float) -> None:
        """Wait for another worker's flight to land (or to run out of time)."""
        deadline = time.monotonic() + budget
        # Another process holds it: its flight is all there is to watch.
        while time.monotonic() < deadline and await flights.flying(key):  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)

    # --- the waterfall

    async def _ask_in_order(
        self,
        lookup: Lookup,
        account_id: int,
        ask: Callable[[Slot], Awaitable[Answer]],
        need: Need,
        force: dict[str, str],
        then: Then | None = None,
    ) -> bool | None:
        """True when an answer satisfied the request; False when every provider said it knew nothing;
        None when some could not be asked or failed (so nothing is remembered as a miss)."""
        definitive = True
        for slot in self.slots:
            if not slot.usable(lookup):
                continue
            if not await self._ready(slot):
                definitive = False
                continue
            answer = await self._call(slot, lookup, account_id, ask)
            if answer is None:
                definitive = False
                continue
            records = self._records(answer, force)
            if records:
                marks = _marks(answer.people)
                # Decided before the keep (nothing it writes changes it), so that the caller's ``then``
                # rides with the answer that ends the waterfall.
                satisfied = await self._satisfies(records, need, marks)
                await self._keep(slot, records, marks, then if satisfied else None)
                if satisfied:
                    return True
        return False if definitive else None

    async def _ready(self, slot: Slot) -> bool:
        if slot.blocked_until > time.monotonic():
            return False
        budget = slot.config.monthly_budget
        if budget is not None:
            spent = await repository.units_since(self.db, slot.name, _month_start(self.clock()))
            spent += sum(r["units"] for r in self._unwritten if r["provider"] == slot.name)
            if spent >= budget:
                self._say_once(slot, "budget", f"provider {slot.name}: its monthly budget of {budget:g} units is spent")
                return False
        return True

    async def _call(
        self, slot: Slot, lookup: Lookup, account_id: int, ask: Callable[[Slot], Awaitable[Answer]]
    ) -> Answer | None:
        started = time.monotonic()
        outcome, units, detail = "error", 0.0, None
        answer: Answer | None = None
        try:
            async with slot.gate, asyncio.timeout(slot.config.timeout_seconds):
                answer = await ask(slot)
            outcome, units = ("hit" if answer.people else "miss"), answer.units
            slot.failures = 0
        except TimeoutError:
            detail = f"no answer within {slot.config.timeout_seconds:g} s"
            self._failed(slot, detail)
        except ProviderError as exc:
            detail = exc.message
            self._fault(slot, exc)
        except Exception as exc:  # an adapter's bug must not become the caller's 500
            detail = f"{type(exc).__name__}: {exc}"
            log.exception("provider %s: unexpected error", slot.name)
            self._failed(slot, detail)
        seconds = time.monotonic() - started
        slot.calls[outcome] += 1
        slot.latency_sum += seconds
        row = {
            "provider": slot.name,
            "lookup": lookup,
            "account_id": account_id,
            "outcome": outcome,
            "units": units,
            "latency_ms": int(seconds * 1000),
            "detail": detail[:255] if detail else None,
            "created_at": self.clock(),
        }
        self._unwritten.append(row)  # written by ``flush_calls``, off the request's path
        if len(self._unwritten) >= FLUSH_ROWS:
            self._full.set()
        return answer

    async def flush_calls(self) -> None:
        """Write the calls made since the last flush to the ledger (``upstream_calls``)."""
        if not self._unwritten:
            return
        rows, self._unwritten = self._unwritten, []
        try:
            async with self.db.transaction() as tx:
                await repository.record_calls(tx, rows)
        except Exception:
            self._unwritten = rows + self._unwritten  # kept for the next flush
            raise

    def _fault(self, slot: Slot, exc: ProviderError) -> None:
        if exc.kind == "rate":
            wait = exc.retry_after if exc.retry_after is not None else RATE_LIMITED_SECONDS
            self._block(slot, wait, "rate limited")
        elif exc.kind in REST_SECONDS:
            self._say_once(slot, exc.kind, exc.message + f" (asked again in {REST_SECONDS[exc.kind]:g} s)")
            self._block(slot, REST_SECONDS[exc.kind], exc.kind)
        else:
            self._failed(slot, exc.message)

    def _failed(self, slot: Slot, why: str) -> None:
        slot.failures += 1
        if slot.failures >= FAILURES_TO_OPEN:
            if slot.blocked_why != "circuit open":
                log.warning("provider %s: %d failures in a row (%s): left alone for %g s", slot.name,
                            slot.failures, why, COOL_DOWN_SECONDS)  # fmt: skip
            self._block(slot, COOL_DOWN_SECONDS, "circuit open")

    @staticmethod
    def _block(slot: Slot, seconds: float, why: str) -> None:
        slot.blocked_until = max(slot.blocked_until, time.monotonic() + seconds)
        slot.blocked_why = why

    @staticmethod
    def _say_once(slot: Slot, kind: str, message: str) -> None:
        if kind not in slot.said:
            slot.said.add(kind)
            log.warning("%s", message)

    # --- keeping what came back

    def _records(self, answer: Answer, force: dict[str, str]) -> list[Record]:
        """The answer's people as records, as an import would read them (those it would refuse left out)."""
        records = []
        for n, person in enumerate(answer.people, start=1):
            row = {**person.row(), **{k: v for k, v in force.items() if k != "domain" or not person.domain}}
            parsed = parse_row(row, n, self.default_region)
            if isinstance(parsed, Record):
                records.append(parsed)
        return records

    async def _keep(
        self, slot: Slot, records: list[Record], marks: dict[str, tuple[bool | None, float | None]], then: Then | None
    ) -> None:
        """Merge ``records`` into the store, with the provider's verdicts on its addresses, then ``then``, in
        one transaction."""

        async def mark(tx: Executor) -> None:
            await repository.mark_addresses(tx, marks)
            if then is not None:
                await then(tx)

        await self.keep(records, f"provider:{slot.name}", mark)
        now = time.monotonic()
        for domain in (e[2] for r in records for e in r.emails if e[3] == "pro"):
            self._to_learn[domain] = self._to_learn.get(domain, 0) + 1
            self._waiting.setdefault(domain, now)

    async def _satisfies(
        self, records: list[Record], need: Need, marks: dict[str, tuple[bool | None, float | None]]
    ) -> bool:
        """Whether what came back has what was lacking: a phone; an e-mail of a kind asked for that neither
        the provider nor leadsmith's verifier knows to be undeliverable."""
        if need.phone and not any(r.phones for r in records):
            return False
        if need.email_kinds:
            keys = [key for r in records for _, key, _, kind in r.emails if kind in need.email_kinds]
            deliverable = [k for k in keys if marks.get(k, (None, None))[0] is not False]
            if not deliverable:
                return False
            verdicts = await verification_repository.statuses(self.db, deliverable)
            if all(verdicts.get(k) == "invalid" for k in deliverable):
                return False
        return True

    # --- learning the patterns of what came back

    async def _learn_now(self, force: bool = False) -> None:
        """Learn the patterns of the domains answers were kept at: those where they add a tenth or more
        to what the store knows (``force``, or after ``RELEARN_AFTER_SECONDS``: all of them). Learning
        reads every address of a domain, so a big domain answers keep coming to (a bulk job over one
        company) would otherwise be learned whole every round for what adds nothing to its statistics;
        this way the work is proportional to what is new."""
        if self.learn is None or not self._to_learn:
            return
        try:
            domains, sizes = await self._due(force)
            if domains:
                await self.learn(domains, sizes)
        except Exception:  # the learner's round, or the caller's pattern, goes on without it
            log.exception("could not learn the patterns of the domains upstream answers were kept at")

    async def _due(self, force: bool) -> tuple[set[str], dict[str, int]]:
        """The domains to learn now, taken off the list of those waiting, and how many addresses the
        store knows at those it counted to decide."""
        now = time.monotonic()
        domains = set()
        sizes: dict[str, int] = {}
        for domain, new in list(self._to_learn.items()):  # awaits: other answers may be kept meanwhile
            waiting = self._waiting.get(domain)
            if waiting is None:  # taken meanwhile by another round (a pattern asked for)
                continue
            if force or self.known is None or now - waiting >= RELEARN_AFTER_SECONDS:
                domains.add(domain)
                continue
            sizes[domain] = size = await self.known(domain)
            if new >= RELEARN_SHARE * size:
                domains.add(domain)
        for domain in domains:
            self._to_learn.pop(domain, None)
            self._waiting.pop(domain, None)
        return domains, {d: n for d, n in sizes.items() if d in domains}

    async def run_learner(self, every_seconds: float = 5.0, flush_seconds: float = 1.0) -> None:
        """Every ``flush_seconds`` (or as soon as ``loops.FLUSH_ROWS`` calls wait): the calls' ledger
        written; every ``every_seconds``: the patterns of domains upstream answers touched learned."""
        learned = time.monotonic()

        async def round_() -> None:
            nonlocal learned
            try:
                await self.flush_calls()
            finally:  # learned whether or not the ledger could be written (``_learn_now`` logs its own)
                if time.monotonic() - learned >= every_seconds:
                    learned = time.monotonic()
                    await self._learn_now()

        await every(flush_seconds, round_, log, "could not write the upstream calls' ledger; retrying", self._full)

    async def forget_old_misses(self) -> int:
        async with self.db.transaction() as tx:
            return await repository.forget_misses(tx, self.clock())

    # --- operators

    def metrics(self) -> list[str]:
        """This worker's calls and latency per provider, in the Prometheus text format."""
        worker = os.getpid()
        lines = [
            "# HELP leadsmith_upstream_calls_total Calls to upstream providers by outcome, this worker.",
            "# TYPE leadsmith_upstream_calls_total counter",
        ]
        for s in self.slots:
            for outcome in ("hit", "miss", "error"):
                lines.append(
                    f'leadsmith_upstream_calls_total{{provider="{s.name}",outcome="{outcome}",worker="{worker}"}} '
                    f"{s.calls[outcome]}"
                )
        lines += [
            "# HELP leadsmith_upstream_call_seconds Time spent calling upstream providers, this worker.",
            "# TYPE leadsmith_upstream_call_seconds summary",
        ]
        for s in self.slots:
            labels = f'provider="{s.name}",worker="{worker}"'
            lines.append(f"leadsmith_upstream_call_seconds_sum{{{labels}}} {s.latency_sum:.6f}")
            lines.append(f"leadsmith_upstream_call_seconds_count{{{labels}}} {sum(s.calls.values())}")
        return lines

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush_calls()
        if self.flights is not None:
            await self.flights.close()
        for s in self.slots:
            with contextlib.suppress(Exception):
                await s.provider.close()


def _marks(people: Iterable[FoundPerson]) -> dict[str, tuple[bool | None, float | None]]:
    out: dict[str, tuple[bool | None, float | None]] = {}
    for p in people:
        for e in p.emails:
            key = e.address.strip().lower()
            if "@" in key and email_kind(key.rsplit("@", 1)[1]) in ("pro", "personal"):
                out[key] = (e.valid, e.confidence)
    return out


def _month_start(now: int) -> int:
    d = datetime.fromtimestamp(now / 1000, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
