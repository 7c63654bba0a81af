"""The patterns of a domain upstream answers were kept at are learned again once those answers are a tenth
of what the store knows there (or when asked for, or after a while): learning reads every address of the
domain, and a big one would otherwise be learned whole every few seconds for what adds nothing."""

from __future__ import annotations

import time

from leadsmith.contacts.import_service import ImportService
from leadsmith.db.database import Database
from leadsmith.patterns.service import PatternService
from leadsmith.providers.waterfall import RELEARN_AFTER_SECONDS, Upstream
from tests.support import biggest_domain


async def test_a_domain_is_learned_again_once_what_came_back_adds_a_tenth(db: Database, demo_key: str) -> None:
    del demo_key  # the demo set loaded
    domain, known = await biggest_domain(db)
    assert known >= 20
    patterns = PatternService(db)
    learned: list[set[str]] = []
    counted: list[dict[str, int]] = []

    async def learn(domains: set[str], sizes: dict[str, int]) -> None:
        learned.append(set(domains))
        counted.append(sizes)
        await patterns.refresh(domains, sizes)

    up = Upstream(db, [], ImportService(db).keep, learn=learn, known=patterns.known_addresses)

    def kept(at: str, n: int, ago: float = 0.0) -> None:
        up._to_learn[at] = up._to_learn.get(at, 0) + n
        up._waiting.setdefault(at, time.monotonic() - ago)

    kept(domain, 1)
    kept("nobody-known-yet.example", 1)
    await up._learn_now()
    assert learned == [{"nobody-known-yet.example"}]  # the big domain waits for more
    assert counted == [{"nobody-known-yet.example": 0}]  # counted once, to decide: handed on, not counted again
    kept(domain, known // 10)
    await up._learn_now()
    assert learned[-1] == {domain} and not up._to_learn
    assert counted[-1] == {domain: known}

    kept(domain, 1)
    await up._learn_now(force=True)  # a domain pattern asked for: learned now, however little is new
    assert learned[-1] == {domain} and counted[-1] == {}  # not counted to decide

    kept(domain, 1, ago=RELEARN_AFTER_SECONDS)
    await up._learn_now()  # waited long enough
    assert learned[-1] == {domain} and len(learned) == 4 and not up._waiting
