"""The suppression list as each worker holds it: the keyed hashes of every opted-out identity, in memory,
reloaded when the store's ``installation.suppression_version`` moves (every change bumps it, in the
change's own transaction), so every worker follows a change within ``FOLLOW_SECONDS``.

A check is a few HMACs and set probes, and nothing at all while the list is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from leadsmith.db.database import Database
from leadsmith.privacy import repository
from leadsmith.privacy.identity import Identity, IdentityKind, Traits, digest

log = logging.getLogger("leadsmith.privacy")

FOLLOW_SECONDS = 1.0


def short(hex_digest: str) -> int:
    """What the memory holds of a hash: its first 64 bits (a million entries in ~60 MB; a collision
    hides someone who did not opt out, about once in 10^13 look-ups, and never shows one who did)."""
    return int(hex_digest[:16], 16)


@dataclass
class SuppressionList:
    db: Database
    _secret: bytes = b""
    _hashes: frozenset[int] = frozenset()
    _kinds: Counter[str] = field(default_factory=Counter)
    _version: int | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> SuppressionList:
        """This list, loaded (the first call reads it from the store)."""
        if self._version is None:
            await self.reload()
        return self

    async def reload(self) -> None:
        async with self._lock:
            secret, version = await repository.secret_and_version(self.db)
            rows = await repository.suppression_hashes(self.db)
            self._secret = secret
            self._hashes = frozenset(short(h) for h, _ in rows)
            self._kinds = Counter(kind for _, kind in rows)
            self._version = version

    async def follow(self, every_seconds: float = FOLLOW_SECONDS) -> None:
        """Reload whenever the store's version moves (a change made by another worker or the CLI)."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                version = await repository.suppression_version(self.db)
                if version != self._version:
                    await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again
                log.exception("could not reload the suppression list")

    @property
    def active(self) -> bool:
        return bool(self._hashes)

    def has(self, kind: IdentityKind) -> bool:
        """Whether any identity of ``kind`` is suppressed (a phone check needs the person's phones read)."""
        return self._kinds[kind] > 0

    def digest(self, identity: Identity) -> str:
        return digest(self._secret, identity.kind, identity.value)

    def hides(self, identity: Identity) -> bool:
        return bool(self._hashes) and short(self.digest(identity)) in self._hashes

    def hides_any(self, traits: Traits) -> bool:
        """Whether any identity of a person is suppressed (then the person is, whole)."""
        if not self._hashes:
            return False
        hashes, secret = self._hashes, self._secret
        return any(short(digest(secret, i.kind, i.value)) in hashes for i in traits.identities())
