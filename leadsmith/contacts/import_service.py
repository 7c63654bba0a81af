"""Importing contacts: records are merged into people (by LinkedIn id, then by e-mail) in batched transactions.

Idempotent: a record that brings nothing new writes nothing, so importing a file twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from leadsmith.clock import DAY_MS, Clock, now_ms
from leadsmith.collector import collector_paused
from leadsmith.contacts import import_repository as repo
from leadsmith.contacts.import_repository import PersonState
from leadsmith.contacts.records import Record, RowError
from leadsmith.db.bulk import KeyTaken
from leadsmith.db.database import Batches, Database, Executor, settle
from leadsmith.db.tables import people
from leadsmith.patterns.service import PatternService
from leadsmith.privacy.identity import Traits, traits
from leadsmith.privacy.suppression import SuppressionList

_TEXT_FIELDS = ("full_name", "first_name", "last_name", "title", "location", "company_name")


COUNTS = (
    "rows",
    "skipped",
    "suppressed",
    "people_created",
    "people_updated",
    "companies_created",
    "emails_added",
    "phones_added",
)


@dataclass
class ImportSummary:
    rows: int = 0
    skipped: int = 0
    suppressed: int = 0  # rows about someone who opted out: not imported
    people_created: int = 0
    people_updated: int = 0
    companies_created: int = 0
    emails_added: int = 0
    phones_added: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)
    patterns_refreshed: int = 0
    rows_seconds: float = 0.0  # merging and writing the rows
    patterns_seconds: float = 0.0  # re-learning the domains' patterns and predictions after them

    @property
    def changed(self) -> bool:
        return any(
            (self.people_created, self.people_updated, self.companies_created, self.emails_added, self.phones_added)
        )

    def add(self, other: ImportSummary) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.domains |= other.domains
        self.patterns_refreshed += other.patterns_refreshed
        self.rows_seconds += other.rows_seconds
        self.patterns_seconds += other.patterns_seconds


class _Written:
    """The keys (LinkedIn ids, address keys) an import has written, as bits of their hashes: a key it
    has not written reads as written only by a hash collision (~1.5% of keys at two million), never the
    other way round. An import into an empty store looks up only the keys this says it may have
    written: the others cannot be there, unless another writer has been at work (see ``_Batch``)."""

    def __init__(self, bits: int = 1 << 27) -> None:
        self._bits = bytearray(bits >> 3)  # 16 MB
        self._mask = (bits >> 3) - 1

    def add(self, keys: Iterable[str]) -> None:
        bits, mask = self._bits, self._mask
        for key in keys:
            h = hash(key)
            bits[(h >> 3) & mask] |= 1 << (h & 7)

    def maybe(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` this import may have written."""
        bits, mask = self._bits, self._mask
        return {key for key in keys if bits[((h := hash(key)) >> 3) & mask] >> (h & 7) & 1}


class _Batch:
    """One transaction's worth of records, merged against what the store already holds.

    With ``written`` (an import into an empty store), only the keys the import may have written are
    looked up, and its new rows go in strictly: a key another writer has written since meets its row
    in the unique index and raises ``bulk.KeyTaken``, and the batch is done again with every look-up."""

    def __init__(self, tx: Executor, source: str, now: int, written: _Written | None = None) -> None:
        self.tx, self.source, self.now, self.written = tx, source, now, written
        self.summary = ImportSummary()
        self.by_linkedin: dict[str, PersonState] = {}
        self.by_sales_nav: dict[str, PersonState] = {}
        self.by_id: dict[int, PersonState] = {}
        self.owners: dict[str, int] = {}
        self.companies: dict[str, tuple[int, str | None]] = {}
        self.new_people: dict[int, PersonState] = {}
        self.dirty: set[int] = set()
        # Who gets what, by reference: new people's ids change once before the write (``_renumber``).
        self.new_emails: list[tuple[PersonState, str, str, str, str]] = []
        self.new_phones: dict[tuple[int, str], tuple[PersonState, str, str]] = {}
        self.known_phones: set[tuple[int, str]] = set()
        self.matched: set[int] = set()  # people already in the store that a record named

    async def load(self, records: list[Record]) -> None:
        tx = self.tx
        domains = {r.domain for r in records if r.domain}
        self.companies = await repo.companies_by_domain(tx, domains)
        missing: list[dict[str, Any]] = [
            {
                "domain": d,
                "name": next((r.company_name for r in records if r.domain == d and r.company_name), None),
                "created_at": self.now,
            }
            for d in sorted(domains - self.companies.keys())
        ]
        if missing:
            await repo.insert_companies(tx, missing)
            self.summary.companies_created += len(missing)
            self.companies.update(await repo.companies_by_domain(tx, {m["domain"] for m in missing}))
        # A record has a LinkedIn kind exactly when it has a LinkedIn key.
        public = {r.linkedin_key or "" for r in records if r.linkedin_kind == "public"}
        sales = {r.linkedin_key or "" for r in records if r.linkedin_kind == "sales_navigator"}
        addresses = {e[1] for r in records for e in r.emails}
        if self.written is not None:
            public, sales, addresses = map(self.written.maybe, (public, sales, addresses))
        self.by_linkedin = await repo.people_where(tx, "linkedin_key", public)
        self.by_sales_nav = await repo.people_where(tx, "sales_nav_id", sales)
        self.owners = await repo.owners_of(tx, addresses)
        for state in (*self.by_linkedin.values(), *self.by_sales_nav.values()):
            self.by_id[state.id] = state
        unknown = set(self.owners.values()) - self.by_id.keys()
        for state in (await repo.people_where(tx, "id", unknown)).values():
            self.by_id[state.id] = state
        self.known_phones = await repo.phones_of(tx, self.by_id.keys())

    def _find(self, r: Record) -> PersonState | None:
        if r.linkedin_key is not None:
            index = self.by_linkedin if r.linkedin_kind == "public" else self.by_sales_nav
            if (found := index.get(r.linkedin_key)) is not None:
                return found
        for _, key, _, _ in r.emails:
            owner = self.owners.get(key)
            if owner is not None:
                return self.by_id[owner]
        return None

    def apply(self, r: Record, new_id: Callable[[], int]) -> None:
        self.summary.rows += 1
        if r.warnings:
            self.summary.warnings.extend(RowError(r.line, w) for w in r.warnings)
        state = self._find(r)
        if state is None:
            self._add_new(r, new_id())
            return
        self.matched.add(state.id)
        changed = self._take_linkedin(r, state)
        for name in _TEXT_FIELDS:
            value = getattr(r, name)
            if value and getattr(state, name) != value:
                setattr(state, name, value)
                changed = True
        if r.domain and r.domain in self.companies:
            company_id = self.companies[r.domain][0]
            if state.company_id != company_id:
                state.company_id, changed = company_id, True
        if changed and state.id not in self.new_people:
            self.dirty.add(state.id)
        self._add_contacts(r, state)

    def _add_new(self, r: Record, person_id: int) -> None:
        """A record no one in the store or the batch matches: a new person, made in one go (what
        ``apply`` does field by field to a person already there; most records of an import are new)."""
        company = self.companies.get(r.domain) if r.domain else None
        state = PersonState(
            person_id,
            None,
            None,
            None,
            r.full_name or None,
            r.first_name or None,
            r.last_name or None,
            r.title or None,
            r.location or None,
            r.company_name or None,
            company[0] if company is not None else None,
        )
        self._take_linkedin(r, state)
        self.new_people[person_id] = state
        self.by_id[person_id] = state
        self._add_contacts(r, state)

    def _take_linkedin(self, r: Record, state: PersonState) -> bool:
        """Give ``state`` the record's LinkedIn id, if it has none of that kind and no one else has this
        one; True if it did."""
        key = r.linkedin_key
        if key is None:
            return False
        if r.linkedin_kind == "public":
            if state.linkedin_key is None and key not in self.by_linkedin:
                state.linkedin_id, state.linkedin_key = r.linkedin_id, key
                self.by_linkedin[key] = state
                return True
        elif state.sales_nav_id is None and key not in self.by_sales_nav:
            state.sales_nav_id = key
            self.by_sales_nav[key] = state
            return True
        return False

    def _add_contacts(self, r: Record, state: PersonState) -> None:
        """The record's addresses and numbers, for ``state``."""
        for address, key, domain, kind in r.emails:
            owner = self.owners.get(key)
            if owner is None:
                self.owners[key] = state.id
                self.new_emails.append((state, address, key, domain, kind))
            elif owner != state.id:
                self.summary.warnings.append(
                    RowError(r.line, f"email: {address} already belongs to another person; left there")
                )
        for e164, phone_type in r.phones:
            pk = (state.id, e164)
            if pk not in self.known_phones and pk not in self.new_phones:
                self.new_phones[pk] = (state, e164, phone_type)

    async def write(self) -> None:
        now, source = self.now, self.source
        values = repo.person_values
        await repo.insert_people(self.tx, [(*values(s), now, now, now) for s in self.new_people.values()])
        await repo.update_people(self.tx, [(*values(self.by_id[i]), now) for i in sorted(self.dirty)])
        # Everyone the batch named is seen now (retention counts from it), once a day at most.
        named = [i for i in self.by_id if i not in self.new_people and i in self.matched]
        await repo.mark_seen(self.tx, named, now, now - DAY_MS)
        await repo.insert_emails(
            self.tx,
            [
                (s.id, address, key, domain, kind, None, source, now, now)
                for s, address, key, domain, kind in self.new_emails
            ],
            strict=self.written is not None,
        )
        await repo.insert_phones(
            self.tx, [(s.id, e164, kind, source, now, now) for s, e164, kind in self.new_phones.values()]
        )
        await repo.name_companies(self.tx, self._names_for_unnamed_companies())
        s = self.summary
        s.people_created += len(self.new_people)
        s.people_updated += len(self.dirty)
        s.emails_added += len(self.new_emails)
        s.domains |= {domain for _, _, _, domain, kind in self.new_emails if kind == "pro"}
        s.phones_added += len(self.new_phones)

    def remember(self) -> None:
        """Once committed: the keys the batch wrote, in ``written``."""
        if self.written is not None:
            for keys in (self.by_linkedin, self.by_sales_nav, self.owners):
                self.written.add(keys)

    def _names_for_unnamed_companies(self) -> dict[int, str]:
        """A name for each company of the batch that has none yet: the first its people give (one pass)."""
        unnamed = {cid for cid, name in self.companies.values() if name is None}
        found: dict[int, str] = {}
        if unnamed:
            for p in self.by_id.values():
                if p.company_id in unnamed and p.company_name and p.company_id not in found:
                    found[p.company_id] = p.company_name
        return found


@dataclass
class ImportService:
    db: Database
    default_region: str | None = None
    batch_size: int = 20_000
    clock: Clock = now_ms
    patterns: PatternService | None = None
    # Who opted out (see privacy/): a row about them is counted and left out.
    suppressions: SuppressionList | None = None
    _keeps: Batches[_Keep] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._keeps = Batches(self._write_keeps, "shutting down: the answer was not kept")

    async def import_records(
        self,
        items: Iterable[Record | RowError],
        *,
        source: str = "import",
        on_batch: Callable[[ImportSummary], None] | None = None,
    ) -> ImportSummary:
        total = ImportSummary()
        started = time.perf_counter()
        iterator = iter(items)
        deferred = await repo.defer_deferrables(self.db)
        try:
            # Into an empty store, only what this import has written can be looked up and found.
            written = _Written() if deferred else None
            await self._import_batches(iterator, source, on_batch, total, written)
        except BaseException:
            if deferred:  # the store keeps its indexes and keys whatever happened (else ``migrate.upgrade`` would)
                with contextlib.suppress(Exception):
                    await repo.restore_deferrables(self.db)
            raise
        refresh = self.patterns is not None and bool(total.domains)
        restored: asyncio.Future[None] | None = None
        if deferred and refresh and self.db.dialect == "postgresql":
            # PostgreSQL's refresh reads in scans that need none of the deferred indexes and keys: they
            # are built beside it, on other connections, while it waits for its first sorted rows
            # (the builds ran with half the machine idle, ~3 s at a million people).
            await self._analyze(total)  # its plans need the statistics of the rows
            restored = asyncio.ensure_future(self._restore(total, deferred))
        else:
            await self._restore(total, deferred)
        try:
            total.rows_seconds = time.perf_counter() - started
            if refresh:
                assert self.patterns is not None
                started = time.perf_counter()
                with collector_paused():  # a million rows' tuples pass through, in no cycles
                    total.patterns_refreshed = await self.patterns.refresh(total.domains)
                total.patterns_seconds = time.perf_counter() - started
        finally:
            if restored is not None:
                await restored
        return total

    async def _restore(self, total: ImportSummary, deferred: bool) -> None:
        """Build the deferred indexes and keys (if they were), then refresh the planner's statistics."""
        if deferred:
            await repo.restore_deferrables(self.db)
        await self._analyze(total)

    async def _analyze(self, total: ImportSummary) -> None:
        if total.changed:
            await repo.analyze(self.db)

    async def _import_batches(
        self,
        iterator: Iterator[Record | RowError],
        source: str,
        on_batch: Callable[[ImportSummary], None] | None,
        total: ImportSummary,
        written: _Written | None,
    ) -> None:
        next_analyze = 4 * self.batch_size
        # No cycle collection while records arrive and batches are merged and written: all of it makes
        # millions of small objects and no cycles, and the collector would rescan every live one again
        # and again (merging: 5.8 -> 2.2 us a record; receiving the pool's records: 8% of the process).
        copied: Awaitable[None] = self.db.checkpoint_soon()
        with collector_paused():
            while batch := list(islice(iterator, self.batch_size)):  # while the last batch is copied back
                await copied
                records = [r for r in batch if isinstance(r, Record)]
                errors = [r for r in batch if isinstance(r, RowError)]
                summary = ImportSummary()
                if records:
                    try:
                        summary = await self._merge_and_write(records, source, written)
                    except KeyTaken:
                        if written is None:
                            raise
                        written = None  # another writer is at work: every key is looked up from now on
                        summary = await self._merge_and_write(records, source, written)
                copied = self.db.checkpoint_soon()
                summary.skipped += len(errors)
                summary.rows += len(errors)
                summary.errors.extend(errors)
                total.add(summary)
                if on_batch is not None:
                    on_batch(summary)
                if total.rows >= next_analyze:
                    # The planner's statistics must keep up with tables that grow from nothing in one import.
                    await repo.analyze(self.db)
                    next_analyze *= 4
            await copied

    async def keep(
        self, records: list[Record], source: str, then: Callable[[Executor], Awaitable[None]] | None = None
    ) -> ImportSummary:
        """Merge a few records into a live store with the import's rules, in one durable transaction (an
        upstream provider's answer: paid for, so never left to an asynchronous commit), then ``then`` in
        the same transaction. Leaves the patterns to be re-learned by the caller.

        Keeps asked for together are written together (a group commit): those of one turn of the event
        loop, and those asked while a group is being written, go in one transaction of one merge, their
        ``then``s in it too. Under load (upstream answers arriving in bursts) that is one set of look-ups,
        inserts and one commit for many answers instead of each its own. If a group's write fails, its
        keeps are written one by one, so one bad answer spoils no other. The summary is the group's. A
        keep whose caller went away is still written: it was paid for."""
        summary: ImportSummary = await self._keeps.ask(_Keep(records, source, then))
        return summary

    async def _write_keeps(self, group: list[tuple[_Keep, asyncio.Future[Any]]]) -> None:
        for source in dict.fromkeys(k.source for k, _ in group):
            await self._write_group([(k, done) for k, done in group if k.source == source], source)

    async def _write_group(self, group: list[tuple[_Keep, asyncio.Future[Any]]], source: str) -> None:
        thens = [k.then for k, _ in group if k.then is not None]

        async def then_all(tx: Executor) -> None:
            for then in thens:
                await then(tx)

        records = [r for k, _ in group for r in k.records]
        try:
            summary = await self._merge_and_write(records, source, None, durable=True, then=then_all)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting callers
            if len(group) == 1:
                settle(group[0][1], False, exc)
                return
            for k, done in group:  # one by one: which of them could not be kept
                try:
                    alone = await self._merge_and_write(k.records, source, None, durable=True, then=k.then)
                except Exception as one:  # noqa: BLE001 - handed to its caller
                    settle(done, False, one)
                else:
                    settle(done, True, alone)
            return
        for _, done in group:
            settle(done, True, summary)

    async def _merge_and_write(
        self,
        records: list[Record],
        source: str,
        written: _Written | None,
        durable: bool = False,
        then: Callable[[Executor], Awaitable[None]] | None = None,
    ) -> ImportSummary:
        suppressed = 0
        if self.suppressions is not None:
            shield = await self.suppressions.current()
            if shield.active:
                kept = [r for r in records if not shield.hides_any(record_traits(r))]
                suppressed, records = len(records) - len(kept), kept
        async with self.db.transaction() as tx:
            if not durable:
                await repo.begin_batch(tx)
            batch = _Batch(tx, source, self.clock(), written)
            batch.summary.suppressed = suppressed
            batch.summary.rows = suppressed
            await batch.load(records)
            provisional = itertools.count(-1, -1)
            for r in records:
                batch.apply(r, lambda: next(provisional))
            if batch.new_people:
                fresh = await repo.allocate_ids(tx, people, len(batch.new_people))
                _renumber(batch, dict(zip(sorted(batch.new_people, reverse=True), fresh, strict=True)))
            await batch.write()
            if then is not None:
                await then(tx)
        batch.remember()
        return batch.summary


@dataclass(slots=True)
class _Keep:
    """A keep waiting for its group's write."""

    records: list[Record]
    source: str
    then: Callable[[Executor], Awaitable[None]] | None


def record_traits(r: Record) -> Traits:
    """The identities a row carries: its LinkedIn profile, addresses, numbers, domains."""
    public = r.linkedin_key if r.linkedin_kind == "public" else None
    sales = r.linkedin_key if r.linkedin_kind == "sales_navigator" else None
    return traits(
        linkedin_key=public,
        sales_nav_id=sales,
        emails=[key for _, key, _, _ in r.emails],
        phones=[e164 for e164, _ in r.phones],
        domains=(r.domain,),
    )


def _renumber(batch: _Batch, mapping: dict[int, int]) -> None:
    """Give the batch's new people (numbered -1, -2, ... while merging) their real ids."""
    for state in batch.new_people.values():
        state.id = mapping[state.id]
    batch.new_people = {s.id: s for s in batch.new_people.values()}
