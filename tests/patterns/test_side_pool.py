"""In a server, a big domain's patterns are learned in a process of its own (``SidePool``), with exactly
what this process would have learned, and no request waits while it is."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import sqlalchemy as sa

from leadsmith.contacts.parallel import SidePool
from leadsmith.db.database import Database
from leadsmith.db.tables import predicted_emails
from leadsmith.patterns import repository
from leadsmith.patterns.service import PatternService
from tests.support import biggest_domain


async def test_a_big_domain_is_learned_aside_and_to_the_same_figures(db: Database, demo_key: str) -> None:
    del demo_key  # the demo set loaded
    domain, known = await biggest_domain(db)
    assert known >= 5
    here = PatternService(db)
    assert await here.known_addresses(domain) == known
    await here.refresh([domain])
    learned = await repository.support(db, domain)
    predicted = sorted(
        tuple(r) for r in await db.fetch_all(sa.select(predicted_emails.c.person_id, predicted_emails.c.address))
    )

    aside = SidePool()
    try:
        # A bar above the domain: learned here, the pool never started.
        await PatternService(db, aside=aside, aside_from=known + 1).refresh([domain])
        assert aside._pool is None
        # A count handed in (the waterfall's, just taken) is used instead of one taken here: at the bar
        # (on SQLite, where the side process reads the file; PostgreSQL's rows are read here, and counted).
        await PatternService(db, aside=aside, aside_from=known + 1).refresh([domain], {domain: known + 1})
        assert (aside._pool is not None) == (db.dialect == "sqlite")
        assert await repository.support(db, domain) == learned
        aside.shutdown()
        # At the bar: learned in the side process, to the same statistics and predictions.
        await PatternService(db, aside=aside, aside_from=known).refresh([domain])
        assert aside._pool is not None
        assert await repository.support(db, domain) == learned
        again = sorted(
            tuple(r) for r in await db.fetch_all(sa.select(predicted_emails.c.person_id, predicted_emails.c.address))
        )
        assert again == predicted
    finally:
        aside.shutdown()


def test_the_side_pool_runs_below_the_server_and_starts_again_when_its_process_died() -> None:
    import os
    import signal

    aside = SidePool()
    try:
        first = aside.submit(os.getpid).result(60)
        assert first != os.getpid()
        assert aside.submit(os.nice, 0).result(60) == os.nice(0) + 10  # requests come first
        os.kill(first, signal.SIGKILL)
        second = None
        for _ in range(3):  # the pool may see its worker gone only on the next submit
            try:
                second = aside.submit(os.getpid).result(60)
                break
            except BrokenProcessPool:  # work handed over as it died
                continue
        assert second is not None and second not in (first, os.getpid())
    finally:
        aside.shutdown()


async def test_the_prior_of_many_domains_is_learned_aside_and_to_the_same_figures(db: Database, demo_key: str) -> None:
    del demo_key  # the demo set loaded: domains with statistics
    rows = await repository.support_rows(db)
    assert rows > 0
    await PatternService(db).refresh_prior()
    here = await repository.support(db, repository.PRIOR_DOMAIN)
    assert here

    aside = SidePool()
    try:
        await PatternService(db, aside=aside, prior_aside_rows=rows + 1).refresh_prior()  # below the bar: here
        assert aside._pool is None
        # At the bar: aside, the side process reading the SQLite file, or PostgreSQL over its own connection.
        await PatternService(db, aside=aside, prior_aside_rows=rows).refresh_prior()
        assert aside._pool is not None
        assert await repository.support(db, repository.PRIOR_DOMAIN) == here  # to the last bit
    finally:
        aside.shutdown()
