"""E-mail patterns in the reference's notation (``{first}.{last}``) and counting them over known addresses."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from leadsmith.engine.names import ascii_token

_TOKEN = re.compile(r"\{(first|last|f|l|middle|m)\}")

PATTERNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            f"{a}{sep}{b}"
            for a, b in (
                ("{first}", "{last}"),
                ("{f}", "{last}"),
                ("{first}", "{l}"),
                ("{last}", "{first}"),
                ("{last}", "{f}"),
                ("{l}", "{first}"),
                ("{f}", "{l}"),
            )
            for sep in (".", "", "_", "-")
        ]
        + ["{first}", "{last}"]
    )
)


@dataclass(frozen=True, slots=True)
class NameParts:
    first: str
    last: str
    middle: str = ""

    @classmethod
    def of(cls, first: str, last: str, middle: str = "") -> NameParts:
        return cls(ascii_token(first), ascii_token(last), ascii_token(middle))


@dataclass(frozen=True, slots=True)
class PatternScore:
    pattern: str
    score: float
    support: int


def render(pattern: str, name: NameParts) -> str | None:
    """The local part a pattern gives for a name, or None when the name lacks a part it needs."""
    values = {
        "first": name.first,
        "last": name.last,
        "middle": name.middle,
        "f": name.first[:1],
        "l": name.last[:1],
        "m": name.middle[:1],
    }
    missing = False

    def sub(match: re.Match[str]) -> str:
        nonlocal missing
        value = values[match.group(1)]
        missing = missing or not value
        return value

    local = _TOKEN.sub(sub, pattern)
    return None if missing or not local else local


def matching_patterns(name: NameParts, local: str) -> list[str]:
    local = local.lower()
    return [p for p in PATTERNS if render(p, name) == local]


def count_patterns(pairs: Iterable[tuple[NameParts, str]]) -> list[PatternScore]:
    """Each pattern's share of the known addresses it reproduces, best first."""
    counts: Counter[str] = Counter()
    total = 0
    for name, local in pairs:
        total += 1
        for pattern in matching_patterns(name, local):
            counts[pattern] += 1
    if not total:
        return []
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], PATTERNS.index(kv[0])))
    return [PatternScore(pattern=p, score=n / total, support=n) for p, n in ranked]
