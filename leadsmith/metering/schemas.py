"""Plain records passed between metering and the features it charges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RevealKind = Literal["email", "phone", "employee", "verify"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One request counted against a key's window."""

    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The three rate-limit headers (a refusal's Retry-After travels with its error)."""
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_ms).encode()),
        ]


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
    # The account's balance and which of the items it revealed lately, when the work read them along
    # with its own rows (one round trip fewer): they spare the look-up before charging.
    standing: Standing | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """An account's balance, and the (person, kind) reveals it made since the start of the reveal
    window; read no earlier than the window's start the charge uses, so never fresher than it."""

    balance: int
    fresh: frozenset[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Charged:
    """A charged endpoint's answer: the body as bytes and the two credit headers."""

    body: bytes
    status: int
    decreased: int
    remaining: int
    replayed: bool = False

    def headers(self) -> dict[str, str]:
        h = {
            "Decreased-Credits": str(self.decreased),
            "Remaining-Credits": str(self.remaining),
        }
        if self.replayed:
            h["Idempotent-Replayed"] = "true"
        return h
