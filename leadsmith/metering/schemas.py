"""Plain records passed between metering and the features it charges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

RevealKind = Literal["work_email", "direct_email", "phone", "employee", "verify"]
PoolKind = Literal["work_email", "direct_email", "phone", "export"]
POOL_KINDS: tuple[PoolKind, ...] = ("work_email", "direct_email", "phone", "export")
EMAIL_KINDS: frozenset[str] = frozenset({"work_email", "direct_email"})
UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class Purse:
    """An account's general balance and its pools per kind (None: no pool of its own, the kind draws on
    the general balance; -1: unlimited)."""

    credits: int
    work_email: int | None = None
    direct_email: int | None = None
    phone: int | None = None
    export: int | None = None

    def pool(self, kind: str) -> int | None:
        value: int | None = getattr(self, kind, None) if kind in POOL_KINDS else None
        return value

    def with_credits(self, credits: int) -> Purse:
        """This purse with another general balance (``dataclasses.replace`` without its introspection: every
        charge makes one)."""
        return Purse(credits, self.work_email, self.direct_email, self.phone, self.export)

    @property
    def has_pools(self) -> bool:
        return any(self.pool(k) is not None for k in POOL_KINDS)

    def shown(self, kind: PoolKind) -> int:
        """What a client is told is left for ``kind``: its pool, or the general balance it draws on (export,
        which draws nothing without a pool of its own, is then unlimited)."""
        pool = self.pool(kind)
        if pool is not None:
            return pool
        return UNLIMITED if kind == "export" else self.credits


@dataclass(frozen=True, slots=True)
class Quota:
    """One of a key's windows as a request left it."""

    name: Literal["minutely", "hourly", "daily"]
    limit: int
    remaining: int
    reset_ms: int


@dataclass(frozen=True, slots=True)
class Hit:
    """One request counted against a key's windows (or only looked at, for the /keys/* calls)."""

    allowed: bool
    windows: tuple[Quota, ...]

    @property
    def nearest(self) -> Quota:
        """The window nearest to refusing (the fewest requests left; of those, the one that resets last)."""
        return min(self.windows, key=lambda w: (w.remaining, -w.reset_ms))

    @property
    def limit(self) -> int:
        return self.nearest.limit

    @property
    def remaining(self) -> int:
        return self.nearest.remaining

    @property
    def reset_ms(self) -> int:
        return self.nearest.reset_ms

    def retry_after_seconds(self) -> int:
        """Seconds until every spent window has reset."""
        spent = [w.reset_ms for w in self.windows if w.remaining <= 0] or [self.nearest.reset_ms]
        return max(1, -(-max(spent) // 1000))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The reference's three headers (for the window nearest to refusing), and each window's own."""
        nearest = self.nearest
        out = [
            (b"x-ratelimit-limit", str(nearest.limit).encode()),
            (b"x-ratelimit-remaining", str(nearest.remaining).encode()),
            (b"x-ratelimit-reset", str(nearest.reset_ms).encode()),
        ]
        for w in self.windows:
            out.append((_WINDOW_HEADERS[w.name][0], str(w.limit).encode()))
            out.append((_WINDOW_HEADERS[w.name][1], str(w.remaining).encode()))
        return out


_WINDOW_HEADERS = {
    name: (f"x-{name}-ratelimit-limit".encode(), f"x-{name}-ratelimit-remaining".encode())
    for name in ("minutely", "hourly", "daily")
}


@dataclass(frozen=True, slots=True)
class Item:
    """Something a response reveals about one person, priced by kind.

    ``person_id`` is None for a prediction about someone not in the store: it is always charged,
    there being no person to remember the reveal against.
    """

    person_id: int | None
    kind: RevealKind


@dataclass(frozen=True, slots=True)
class Work:
    """What a charged endpoint computed: the JSON payload and the items it reveals."""

    payload: object
    items: tuple[Item, ...] = ()
    status: int = 200
    # The account's purse and which of the items it revealed lately, when the work read them along
    # with its own rows (one round trip fewer): they spare the look-up before charging.
    standing: Standing | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's purse, and the (person, kind) reveals it made since the start of the reveal
    window; read no earlier than the window's start the charge uses, so never fresher than it."""

    purse: Purse
    fresh: frozenset[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Charged:
    """A charged endpoint's answer: the body as bytes, what was drawn, and what is left."""

    body: bytes
    status: int
    decreased: int
    purse: Purse
    replayed: bool = False

    @property
    def remaining(self) -> int:
        return self.purse.credits

    def headers(self, pools: bool = False) -> dict[str, str]:
        """``Decreased-Credits`` (everything drawn, pools included) and ``Remaining-Credits`` (the general
        balance); with ``pools``, v2's ``Remaining-<Kind>-Credits`` as ``/keys/remainingCredits`` shows them."""
        h = {
            "Decreased-Credits": str(self.decreased),
            "Remaining-Credits": str(self.purse.credits),
        }
        if pools:
            h.update(pool_headers(self.purse))
        if self.replayed:
            h["Idempotent-Replayed"] = "true"
        return h


_POOL_HEADERS: Mapping[PoolKind, str] = {
    "work_email": "Remaining-Work-Email-Credits",
    "direct_email": "Remaining-Direct-Email-Credits",
    "phone": "Remaining-Phone-Credits",
    "export": "Remaining-Export-Credits",
}


def pool_headers(purse: Purse) -> dict[str, str]:
    return {header: str(purse.shown(kind)) for kind, header in _POOL_HEADERS.items()}
