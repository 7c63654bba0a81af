"""Keeping each domain's pattern statistics up to date, and answering with scores and likely addresses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from leadsmith.access.schemas import Caller
from leadsmith.body import domain_field
from leadsmith.clock import Clock, now_ms
from leadsmith.contacts import import_repository
from leadsmith.contacts import repository as contacts_repository
from leadsmith.contacts.records import Record, parse_row
from leadsmith.db.database import Database, open_database, sqlite_path
from leadsmith.db.database import Executor as DbExecutor
from leadsmith.engine.finder import Candidate, Check, checked, find_emails
from leadsmith.engine.inference import (
    DEFAULT_PRIOR,
    DEFAULT_STRENGTH,
    KnownAddress,
    PatternScore,
    domain_support,
    handle_rate,
    learn_prior,
    scores,
)
from leadsmith.engine.names import parse_name
from leadsmith.engine.patterns import PatternKey, is_statistic
from leadsmith.errors import field_error
from leadsmith.metering.schemas import Charged, Item, Work
from leadsmith.metering.service import MeteringService, RequestContext
from leadsmith.patterns import repository
from leadsmith.patterns.schemas import FinderRequest
from leadsmith.privacy.identity import Identity
from leadsmith.privacy.suppression import SuppressionList
from leadsmith.verification import repository as verification_repository
from leadsmith.verification.rules import Result, valid_of


@dataclass(frozen=True, slots=True)
class DomainScores:
    domain: str
    patterns: list[PatternScore]
    handle_rate: float
    known_pairs: float
    # The scores for a person without a middle name, and with one (patterns that use it are theirs alone).
    plain_patterns: list[PatternScore] = field(default_factory=list)
    middle_patterns: list[PatternScore] = field(default_factory=list)

    def for_name(self, middle: str) -> list[PatternScore]:
        return (self.middle_patterns if middle else self.plain_patterns) or self.patterns


@dataclass(frozen=True, slots=True)
class Found:
    candidates: list[Candidate]
    person_id: int | None


def _plain_work(found: Found) -> Work:
    payload = {
        "emails": [
            {"email": c.email, "score": round(c.score, 4), "pattern": c.pattern, "valid": c.valid}
            for c in found.candidates
        ]
    }
    return Work(payload, (Item(found.person_id, "work_email"),) if found.candidates else ())


def check_of(result: Result) -> Check:
    """A verification's result as the finder reports it: the status, and why it is not decisive."""
    if result.status in ("valid", "invalid"):
        return Check(result.status)
    if result.status == "accept_all":
        return Check("accept_all", "the domain's mail server accepts every address: no proof either way")
    reasons = result.reasons
    smtp = reasons.get("smtp")
    if isinstance(smtp, dict):
        why = f"smtp: {smtp['error']}" if smtp.get("error") else f"smtp: {smtp.get('code')} {smtp.get('message', '')}"
    elif reasons.get("smtp_skipped"):
        why = str(reasons["smtp_skipped"])
    elif result.status in ("webmail", "disposable"):
        why = f"a {result.status} domain: its server says nothing about who has an address"
    else:
        why = f"dns: {reasons.get('dns', 'no answer')}"
    return Check("unknown", why.strip())


def learn_support(pairs: list[tuple[str | None, str | None, str | None, str]]) -> dict[PatternKey, float]:
    """A domain's statistics from its known pairs (full, first and last name, address): pure, so it
    runs in a pool worker during an import, where the pairs arrive as plain tuples."""
    return domain_support(
        KnownAddress(first or "", last or "", parse_name(full).middle if full else "", address.rsplit("@", 1)[0])
        for full, first, last, address in pairs
    )


def predict_addresses(
    domain: str,
    people: list[tuple[int, str | None, str | None, str | None]],
    ranked: DomainScores,
    taken: Mapping[str, bool],
) -> list[tuple[int, str, float, str]]:
    """The likeliest work address at ``domain`` (person id, address, score, pattern: a plain tuple) of
    each of these people (id, full, first and last name), from the domain's scores, skipping addresses
    that belong to someone already and those that bounced (``taken``: see ``with_suffixes``)."""
    out = []
    # Each bounced address can take one candidate off a person's list: ask for as many more.
    limit = 1 + min(sum(1 for owned in taken.values() if not owned), 8)
    for person_id, full, first, last in people:
        middle = parse_name(full).middle if full else ""
        found = find_emails(
            first or "", last or "", middle, domain, ranked.for_name(middle), (), taken, limit, ranked.handle_rate
        )
        if found and found[0].pattern:
            out.append((person_id, found[0].email, found[0].score, found[0].pattern))
    return out


def learn_in_file(path: str, domain: str) -> dict[PatternKey, float]:
    """``learn_support`` of a domain's pairs, read by a pool worker from the SQLite store at ``path``."""
    return learn_support(repository.pairs_in_file(path, domain))


def prior_in_file(path: str) -> dict[PatternKey, float]:
    """``learn_prior`` over every domain's statistics, read by a pool worker from the SQLite store at ``path``."""
    return learn_prior(repository.all_supports_in_file(path))


def prior_in_database(url: str) -> dict[PatternKey, float]:
    """``learn_prior`` over every domain's statistics, read by a pool worker from the PostgreSQL store at
    ``url`` over a connection of its own."""

    async def read() -> list[dict[PatternKey, float]]:
        db = open_database(url, pool_size=1)
        try:
            return await repository.all_supports(db)
        finally:
            await db.close()

    return learn_prior(asyncio.run(read()))


def predict_in_file(path: str, domain: str, ranked: DomainScores) -> list[tuple[int, str, float, str]]:
    """``predict_addresses`` for a domain's people, read by a pool worker from the SQLite store at ``path``."""
    taken = repository.taken_in_file(path, domain)
    people = repository.people_without_work_address_in_file(path, domain)
    return predict_addresses(domain, people, ranked, taken)


R = TypeVar("R")
log = logging.getLogger("leadsmith.patterns")
# The source of an address the finder's probe confirmed (emails.source).
CONFIRMED_SOURCE = "finder:verified"
RETURNED = 5  # addresses the finder answers with, at most
VERIFY_CANDIDATES = 8  # candidates a verified call probes, at most


def _wordy(part: str | None) -> str:
    """A part of a name, or nothing when it holds no letter or digit (an emoji, punctuation)."""
    return part if part and any(ch.isalnum() for ch in part) else ""


class _ReadAhead:
    """Reads an async iterator of (key, value) pairs ahead, in a task of its own, at most ``ahead``
    values unclaimed, and hands each value to the task that asks for its key. Started early, its
    query runs on the server while other work goes on here.

    By key, not by turn: an asyncio.Queue hands an item put for a waiter that was woken to whichever
    task asks first, before the waiter runs, and a refresh's tasks then got each other's domains."""

    def __init__(self, items: AsyncIterator[tuple[str, Any]] | None, ahead: int = 32) -> None:
        self._items = items
        self._values: dict[str, asyncio.Future[Any]] = {}
        self._room = asyncio.Semaphore(ahead)
        self._failed: BaseException | None = None
        self._task = asyncio.create_task(self._read()) if items is not None else None

    def _value(self, key: str) -> asyncio.Future[Any]:
        future = self._values.get(key)
        if future is None:
            future = self._values[key] = asyncio.get_running_loop().create_future()
            if self._failed is not None:
                future.set_exception(self._failed)
        return future

    async def _read(self) -> None:
        assert self._items is not None
        try:
            async for key, value in self._items:
                await self._room.acquire()
                self._value(key).set_result(value)
            raise LookupError("the rows ran out before every domain had its turn")
        except Exception as exc:  # noqa: BLE001 (raised again in each task that asks)
            self._failed = exc
            for future in self._values.values():
                if not future.done():
                    future.set_exception(exc)

    async def next(self, key: str) -> Any:
        """``key``'s value, once read."""
        value = await self._value(key)
        del self._values[key]
        self._room.release()
        return value

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._items is not None:
            await self._items.aclose()  # type: ignore[attr-defined]


@dataclass
class PatternService:
    db: Database
    clock: Clock = now_ms
    prior_cache_seconds: float = 30.0
    strength: float = DEFAULT_STRENGTH
    metering: MeteringService | None = None
    # Where the pure work of a refresh runs (a process pool for big imports); None: in this process.
    executor: Executor | None = None
    # Domains in flight in a refresh: enough that the pool's workers always have the next domain's
    # work queued while this process reads and stores (with 4, a refresh on PostgreSQL left them idle
    # for a sixth of the time: 2,000 domains 21.7-30.7 -> 18.7-19.7 s).
    ahead: int = 32
    # Domains stored per transaction in a refresh: one delete and one insert for them all.
    store_every: int = 64
    # In a server (no ``executor``): where the pure work of a domain with ``aside_from`` known addresses
    # or more runs (one process of its own, ``SidePool``), so that no request waits while it is learned.
    aside: Executor | None = None
    aside_from: int = 500
    # ... and from how many rows of statistics (~450 domains) the prior is learned there (``refresh_prior``).
    prior_aside_rows: int = 5_000
    # Upstream providers asked for a person's address when the store knows none (see providers/).
    upstream: Any = None
    # Who opted out (see privacy/): never offered, even as a guess.
    suppressions: SuppressionList | None = None
    # For ``"verify": true`` (joined by ``Services.build``): the verification service, and the import's
    # keep, through which a confirmed address becomes a known one.
    verification: Any = None
    keep: Callable[[list[Record], str, Callable[[DbExecutor], Awaitable[None]]], Awaitable[Any]] | None = None
    finder_verify: bool = False
    finder_verify_timeout: float = 10.0
    _to_learn: set[str] = field(default_factory=set, repr=False)
    _probes: set[asyncio.Future[Any]] = field(default_factory=set, repr=False)
    _prior: tuple[float, dict[PatternKey, float]] | None = field(default=None, repr=False)
    _scores: dict[str, tuple[float, DomainScores]] = field(default_factory=dict, repr=False)

    async def known_addresses(self, domain: str) -> int:
        """How many addresses at ``domain`` the store knows: what a refresh learns from."""
        return await repository.pair_count(self.db, domain)

    async def refresh(self, domains: Iterable[str], sizes: Mapping[str, int] | None = None) -> int:
        """Relearn the statistics of these domains from their known addresses, then the prior, then
        the predicted addresses of their people. With an executor, the pure work of one domain runs
        there while the next domain's rows are read. ``sizes``: how many addresses the caller just
        counted at some of them (``known_addresses``), not counted again here."""
        ordered = sorted(set(domains))
        # On a SQLite file, pool workers read the rows themselves: the reads (most of a refresh's time
        # in this process) then run on every core, beside the writes here.
        path = sqlite_path(self.db.url) if self.executor is not None and self.db.dialect == "sqlite" else None

        # On PostgreSQL each phase reads its rows for all the domains in one scan, in domain order.
        scan = self.db.dialect == "postgresql"

        # In a server (no executor), a big domain's work goes to the side process (``aside``), read from
        # the file there on SQLite: on the event loop, learning 10,000 addresses held every request
        # for ~150 ms.
        own_file = self._side_file()
        big: set[str] = set()

        async def learn(domain: str) -> asyncio.Future[dict[PatternKey, float]]:
            if path is not None:
                return self._compute(learn_in_file, str(path), domain)
            if own_file is not None:
                size = sizes.get(domain) if sizes else None
                if size is None:
                    size = await self.known_addresses(domain)
                if size >= self.aside_from:
                    big.add(domain)
                    return self._put_aside(learn_in_file, str(own_file), domain)
            pairs = await all_pairs.next(domain) if scan else await repository.pairs(self.db, domain)
            if self.aside is not None and len(pairs) >= self.aside_from:
                big.add(domain)
                return self._put_aside(learn_support, pairs)
            return self._compute(learn_support, pairs)

        async def store_support(done: list[tuple[str, dict[PatternKey, float]]]) -> None:
            async with self.db.transaction() as tx:
                await repository.replace_supports(tx, dict(done), self.clock())

        async def predict(domain: str) -> asyncio.Future[list[tuple[int, str, float, str]]]:
            if scan:  # before anything else is awaited: the tasks take their turns in domain order
                taken, people = repository.taken_of(await all_taken.next(domain)), await all_people.next(domain)
            ranked = await self.scores(domain)
            if path is not None:
                return self._compute(predict_in_file, str(path), domain, ranked)
            if own_file is not None and domain in big:
                return self._put_aside(predict_in_file, str(own_file), domain, ranked)
            if not scan:
                taken = await repository.taken_at(self.db, domain)
                people = await repository.people_without_work_address(self.db, domain)
            if domain in big:
                return self._put_aside(predict_addresses, domain, people, ranked, taken)
            return self._compute(predict_addresses, domain, people, ranked, taken)

        predicted: dict[str, list[tuple[int, str, float, str]]] = {}

        async def store_predictions(done: list[tuple[str, list[tuple[int, str, float, str]]]]) -> None:
            predicted.update(done)

        # The three scans start together: the second phase's rows (which the first does not change)
        # are sorted on the server while the first phase learns.
        all_pairs = _ReadAhead(repository.pairs_by_domain(self.db, ordered) if scan else None)
        all_taken = _ReadAhead(repository.taken_by_domain(self.db, ordered) if scan else None)
        all_people = _ReadAhead(repository.without_work_address_by_domain(self.db, ordered) if scan else None)
        try:
            await self._pipeline(ordered, learn, store_support)
            await self.refresh_prior()
            self._scores.clear()
            await self._pipeline(ordered, predict, store_predictions)
            # The predictions are replaced in one transaction: forgetting the old ones of a company's
            # people walks them all (on PostgreSQL, a scan of the people), once instead of per group.
            async with self.db.transaction() as tx:
                await repository.replace_predictions(tx, predicted, self.clock())
        finally:
            for reader in (all_pairs, all_taken, all_people):
                await reader.close()
        return len(ordered)

    async def _pipeline(
        self,
        domains: list[str],
        start: Callable[[str], Awaitable[asyncio.Future[R]]],
        store: Callable[[list[tuple[str, R]]], Awaitable[None]],
    ) -> None:
        """For each domain in order: ``start`` (read its rows, hand the pure work to ``_compute``), and
        ``store`` the results ``store_every`` domains at a time (one transaction), up to ``ahead``
        domains behind, so reading overlaps the computing and the storing."""

        async def begin(domain: str) -> R:
            return await (await start(domain))

        pending: deque[tuple[str, asyncio.Task[R]]] = deque()
        done: list[tuple[str, R]] = []

        async def finish_one() -> None:
            domain, task = pending.popleft()
            done.append((domain, await task))
            if len(done) >= self.store_every or not pending:
                await store(done.copy())
                done.clear()

        try:
            for domain in domains:
                pending.append((domain, asyncio.create_task(begin(domain))))
                if len(pending) > self.ahead:
                    await finish_one()
            while pending:
                await finish_one()
        finally:
            for _, task in pending:
                task.cancel()

    def _side_file(self) -> Path | None:
        """The SQLite file the side process reads from itself, when there is a side process and a file."""
        return sqlite_path(self.db.url) if self.aside is not None and self.db.dialect == "sqlite" else None

    def _put_aside(self, fn: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """``fn(*args)`` (a pure function) in the side process."""
        assert self.aside is not None
        return asyncio.get_running_loop().run_in_executor(self.aside, fn, *args)

    def _compute(self, fn: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """``fn(*args)`` (a pure function) in the executor, or here and now without one."""
        loop = asyncio.get_running_loop()
        if self.executor is not None:
            return loop.run_in_executor(self.executor, fn, *args)
        future: asyncio.Future[R] = loop.create_future()
        future.set_result(fn(*args))
        return future

    async def refresh_prior(self) -> None:
        """The prior learned again from every domain's statistics. In a server, once they are
        ``prior_aside_rows`` rows or more, read and learned in the side process (from the SQLite file, or
        over a PostgreSQL connection of its own): on the event loop, 50,000 domains' (550,000 rows) held
        every request for ~3 s, and every round of learning that upstream answers start ends here."""
        own_file = self._side_file()
        aside: tuple[Callable[[str], dict[PatternKey, float]], str] | None = None
        if own_file is not None:
            aside = prior_in_file, str(own_file)
        elif self.aside is not None and self.db.dialect == "postgresql":
            aside = prior_in_database, self.db.url
        if aside is not None and await repository.support_rows(self.db) >= self.prior_aside_rows:
            prior = await self._put_aside(*aside)
        else:
            prior = learn_prior(await repository.all_supports(self.db))
        async with self.db.transaction() as tx:
            await repository.replace_support(tx, repository.PRIOR_DOMAIN, prior, self.clock())
        self._prior = None

    async def prior(self) -> dict[PatternKey, float]:
        now = time.monotonic()
        if self._prior is None or self._prior[0] < now:
            stored = await repository.support(self.db, repository.PRIOR_DOMAIN)
            self._prior = (now + self.prior_cache_seconds, stored or dict(DEFAULT_PRIOR))
        return self._prior[1]

    async def scores(self, domain: str, fresh: bool = False) -> DomainScores:
        """A domain's pattern scores; cached as long as the prior, since both only change on import
        (``fresh``: computed again, after upstream answers were learned)."""
        now = time.monotonic()
        cached = self._scores.get(domain)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1]
        computed = await self._compute_scores(domain)
        if len(self._scores) > 10_000:
            self._scores.clear()
        self._scores[domain] = (now + self.prior_cache_seconds, computed)
        return computed

    async def _compute_scores(self, domain: str) -> DomainScores:
        prior = await self.prior()
        support = await repository.support(self.db, domain)
        return DomainScores(
            domain=domain,
            patterns=scores(support, prior, self.strength),
            handle_rate=handle_rate(support, prior),
            known_pairs=sum(v for k, v in support.items() if not is_statistic(k)),
            plain_patterns=scores(support, prior, self.strength, middle=False),
            middle_patterns=scores(support, prior, self.strength, middle=True),
        )

    async def find(
        self,
        domain: str,
        first: str,
        last: str,
        middle: str = "",
        limit: int = 5,
        ranked: DomainScores | None = None,
    ) -> Found:
        """The person's known addresses at the domain first, then the likeliest predicted ones."""
        ranked = ranked or await self.scores(domain)
        known_rows = await repository.known_person(self.db, domain, first, last) if first and last else []
        person_id = int(known_rows[0].id) if known_rows else None
        known = [(r.address, r.valid) for r in known_rows if person_id is None or r.id == person_id]
        patterns = ranked.for_name(middle)
        draft = find_emails(first, last, middle, domain, patterns, known, None, limit, ranked.handle_rate)
        taken = await repository.taken(self.db, [c.email for c in draft if not c.known])
        if taken:
            owned = {a.lower() for a, _ in known}
            clashes = {t: True for t in taken if t not in owned}
            draft = find_emails(first, last, middle, domain, patterns, known, clashes, limit, ranked.handle_rate)
        verified = await verification_repository.statuses(self.db, [c.email.lower() for c in draft if not c.known])
        if verified:
            draft = [
                replace(c, valid=valid_of(verified[c.email.lower()])) if c.email.lower() in verified else c
                for c in draft
            ]
        return Found(draft, person_id)

    async def finder_work(self, account_id: int, ask: FinderAsk, verify: bool = False) -> Work:
        """What the finder answers for ``ask`` (the store's, then the upstream providers' when the store
        knows no address of the person there) and what that reveals: one e-mail, when anything is found.
        With ``verify``, the candidates are probed over SMTP first (``checked``)."""
        return (await self.finder_works(account_id, [ask], verify))[0]

    async def finder_works(self, account_id: int, asks: Sequence[FinderAsk], verify: bool = False) -> list[Work]:
        """``finder_work`` for many asks (a bulk job's batch): with ``verify``, every candidate of every ask
        probed together, so that the addresses at one domain share SMTP sessions."""
        if not verify or self.verification is None:
            return [_plain_work(await self._found(account_id, ask)) for ask in asks]
        # More candidates are probed than are returned: a guess the model ranks sixth is often the one
        # the server knows, and no more than VERIFY_CANDIDATES rejections (and the catch-all probe) reach
        # one server per person, under what mail servers tolerate in a session.
        founds = [await self._found(account_id, ask, VERIFY_CANDIDATES) for ask in asks]
        to_probe = list(
            dict.fromkeys(c.email.lower() for f in founds for c in f.candidates if not (c.known and c.valid is True))
        )
        checks = await self._probe(to_probe) if to_probe else {}
        out = []
        for ask, found in zip(asks, founds, strict=True):
            mine = {c.email.lower(): Check("valid") for c in found.candidates if c.known and c.valid is True}
            mine |= {c.email.lower(): checks[c.email.lower()] for c in found.candidates if c.email.lower() in checks}
            judged = checked(found.candidates, mine)[:RETURNED]
            emails = [
                {
                    "email": c.email,
                    "score": round(c.score, 4),
                    "pattern": c.pattern,
                    "valid": c.valid,
                    "verification": {"status": k.status, "reason": k.reason},
                }
                for c, k in judged
            ]
            items: tuple[Item, ...] = ()
            if judged:
                items = (Item(found.person_id, "work_email"),)
                if judged[0][1].status == "valid":
                    items += (Item(None, "verify"),)
                    if not judged[0][0].known:
                        await self._keep_confirmed(ask, found.person_id, judged[0][0].email)
            out.append(Work({"emails": emails}, items))
        return out

    async def _found(self, account_id: int, ask: FinderAsk, limit: int = RETURNED) -> Found:
        shield = await self.suppressions.current() if self.suppressions is not None else None
        if shield is not None and shield.active and shield.hides(Identity("domain", ask.domain)):
            return Found([], None)
        found = await self.find(ask.domain, ask.first, ask.last, ask.middle, limit)
        if self.upstream is not None and ask.first and ask.last and not any(c.known for c in found.candidates):
            await self.upstream.email(account_id, ask.first, ask.last, ask.domain)
            found = await self.find(ask.domain, ask.first, ask.last, ask.middle, limit)
        if shield is not None and shield.active:
            found = await self._unsuppressed(shield, found)
        return found

    async def _probe(self, addresses: list[str]) -> dict[str, Check]:
        """What the domains' mail servers say of ``addresses``, within the finder's time budget. A probe
        still running at the deadline goes on in the background (its results are stored, so asking again
        finds them) and its addresses are answered ``unknown``."""
        task = asyncio.ensure_future(self.verification.verify_batch(addresses))
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)
        budget = self.finder_verify_timeout
        try:
            results = await asyncio.wait_for(asyncio.shield(task), budget)
        except TimeoutError:
            reason = f"timeout: no answer from the mail server within {budget:g} s (it goes on: ask again later)"
            return {a: Check("unknown", reason) for a in addresses}
        except Exception:  # the finder still answers, unverified
            log.exception("could not verify the finder's candidates")
            return {a: Check("unknown", "verification failed (see the server's log)") for a in addresses}
        return {a: check_of(r) for a, r in zip(addresses, results, strict=True)}

    async def _keep_confirmed(self, ask: FinderAsk, person_id: int | None, address: str) -> None:
        """An address the domain's server confirmed becomes the person's known address there (a new
        person when the store knew none of that name), and the domain's patterns learn from it."""
        try:
            if person_id is not None:
                now = self.clock()
                key = address.lower()
                async with self.db.transaction() as tx:
                    await import_repository.insert_emails(
                        tx, [(person_id, address, key, ask.domain, "pro", True, CONFIRMED_SOURCE, now, now)]
                    )
            elif self.keep is not None:
                row = {"first_name": ask.first, "last_name": ask.last, "email": address, "domain": ask.domain}
                record = parse_row(row, 1)
                if isinstance(record, Record):

                    async def deliverable(tx: DbExecutor) -> None:
                        await repository.confirm_address(tx, address.lower())

                    await self.keep([record], CONFIRMED_SOURCE, deliverable)
            self._to_learn.add(ask.domain)
        except Exception:  # the answer stands; the store learns it another time
            log.exception("could not keep a confirmed address at %s", ask.domain)

    def learn_soon(self, domains: Iterable[str]) -> None:
        """Have these domains learned again at the learner's next round (``run_learner``)."""
        self._to_learn.update(domains)

    async def run_learner(self, every_seconds: float = 5.0) -> None:
        """Every few seconds, the patterns of the domains where the finder confirmed addresses, or the
        verifier found a predicted one undeliverable, re-learned."""
        while True:
            await asyncio.sleep(every_seconds)
            if self._to_learn:
                domains, self._to_learn = self._to_learn, set()
                try:
                    await self.refresh(domains)
                except Exception:
                    log.exception("could not learn the patterns of %d domains", len(domains))

    async def _unsuppressed(self, shield: SuppressionList, found: Found) -> Found:
        """``found`` without a suppressed address; nothing at all for a known person who is suppressed."""
        if found.person_id is not None:
            person = await contacts_repository.traits_of(self.db, found.person_id)
            if shield.hides_any(person):
                return Found([], None)
        kept = [c for c in found.candidates if not shield.hides(Identity("email", c.email.lower()))]
        return Found(kept, found.person_id if kept else None)

    async def email_finder(self, caller: Caller, ctx: RequestContext, req: FinderRequest) -> Charged:
        """``POST /company/emailFinder``: charged like an e-mail reveal, only when something is returned."""
        assert self.metering is not None
        ask = finder_ask(req)

        verify = self.finder_verify if req.verify is None else req.verify

        async def work() -> Work:
            return await self.finder_work(caller.account_id, ask, verify)

        params = {"domain": ask.domain, "first": ask.first, "last": ask.last, "middle": ask.middle, "verify": verify}
        return await self.metering.charged(caller, ctx, params, work)


@dataclass(frozen=True, slots=True)
class FinderAsk:
    """A finder request, read: the domain and the parts of the name to build addresses from."""

    domain: str
    first: str
    last: str
    middle: str


def finder_ask(req: FinderRequest) -> FinderAsk:
    """The finder's request read as the endpoint reads it (a 400 naming the field for a bad one)."""
    domain = domain_field(req.domain)
    if req.firstName or req.lastName:
        first, last, middle = _wordy(req.firstName), _wordy(req.lastName), ""
        field_name = "firstName" if req.firstName else "lastName"
    elif req.name:
        parsed = parse_name(req.name)
        first, last, middle = _wordy(parsed.first), _wordy(parsed.last), _wordy(parsed.middle)
        field_name = "name"
    else:
        raise field_error("name", "give the person's name, or firstName and lastName")
    if not (first or last):
        raise field_error(field_name, "has no letter or digit to build an address from (nothing is charged)")
    return FinderAsk(domain, first, last, middle)
