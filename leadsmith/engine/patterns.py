"""E-mail patterns in the reference's notation (``{first}.{last}``), matched against known addresses.

The vocabulary: ``{first}``, ``{last}``, ``{f}``, ``{l}``, ``{middle}``, ``{m}``; separators ``.``
``_`` ``-`` or none; both orders; an optional cut of the whole local part at a maximum length
(``{f}{last}`` cut at 8 characters); and numeric suffixes for duplicates (``jsmith2``). A pattern
is a ``(template, cap)`` pair; ``cap`` 0 means no cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple

from leadsmith.engine.names import NameForm, ascii_token, handle_token, name_forms, nickname_initials

PatternKey = tuple[str, int]
OTHER: PatternKey = ("*", 0)
# One-part names (handles like "jsmith42"): whether the address is the handle itself. Kept apart from
# the domain's conventions, which they say nothing about.
HANDLE_HIT: PatternKey = ("{handle}", 0)
HANDLE_MISS: PatternKey = ("{handle}", -1)
# How many of a domain's pairs have a middle name (in the prior: the share of pairs that do). Patterns
# that use the middle name are only open to those people, so their scores are conditioned on it.
MIDDLE_PAIRS: PatternKey = ("{middle?}", 0)
SPECIAL = frozenset({OTHER, HANDLE_HIT, HANDLE_MISS, MIDDLE_PAIRS})
# Beside a cut pattern ``(template, cap)``, statistics over the pairs whose name the template renders
# longer than the cap: how many there are (``template + LONG_PAIRS``) and how many of them the cut
# pattern explains (``template + LONG_SUPPORT``). Those are the people for whom the cut matters.
LONG_PAIRS = "|long-pairs"
LONG_SUPPORT = "|long-support"


def is_statistic(key: PatternKey) -> bool:
    """Whether a support key is a statistic kept beside the patterns rather than a pattern (or "other")."""
    return (key in SPECIAL and key != OTHER) or "|" in key[0]


SEPARATORS = ("", ".", "_", "-")
MIN_CAP = 5

_FIRST_PART = ("first", "f")
_LAST_PART = ("last", "l")
_TOKEN = re.compile(r"\{(first|last|f|l|middle|m)\}")


# The given name, then the family name's and the middle name's initials (``trungnv`` for Nguyen Van Trung).
_INITIALS = {sep: f"{{first}}{sep}{{l}}{{m}}" for sep in SEPARATORS}


def _templates() -> tuple[str, ...]:
    out = ["{first}", "{last}"]
    for sep in SEPARATORS:
        for a in _FIRST_PART:
            for b in _LAST_PART:
                out.append(f"{{{a}}}{sep}{{{b}}}")
                out.append(f"{{{b}}}{sep}{{{a}}}")
        for a in _FIRST_PART:
            for m in ("m", "middle"):
                out.append(f"{{{a}}}{sep}{{{m}}}{sep}{{last}}")
        out.append(_INITIALS[sep])
    return tuple(dict.fromkeys(out))


TEMPLATES = _templates()


class NameParts(NamedTuple):
    """A name as a mailbox spells it: lower-case ASCII parts."""

    first: str
    last: str
    middle: str = ""

    @classmethod
    def of(cls, first: str, last: str, middle: str = "") -> NameParts:
        return cls(ascii_token(first), ascii_token(last), ascii_token(middle))


def _values(first: str, last: str, middle: str) -> dict[str, str]:
    """What each token of a template stands for."""
    return {"first": first, "last": last, "middle": middle, "f": first[:1], "l": last[:1], "m": middle[:1]}


@lru_cache(maxsize=4096)
def _parts(template: str) -> tuple[str, ...]:
    return tuple(p for p in _TOKEN.split(template) if p is not None)


def render_parts(template: str, first: str, last: str, middle: str = "", cap: int = 0) -> str | None:
    """The local part ``template`` gives for a name, or None when the name lacks a part it needs."""
    values = _values(first, last, middle)
    out = []
    for i, piece in enumerate(_parts(template)):
        if i % 2:
            value = values[piece]
            if not value:
                return None
            out.append(value)
        else:
            out.append(piece)
    local = "".join(out)
    return local[:cap] if cap else local


_LENGTHS: dict[str, Callable[[NameParts], int]] = {
    "first": lambda n: len(n.first),
    "last": lambda n: len(n.last),
    "middle": lambda n: len(n.middle),
    "f": lambda n: 1 if n.first else 0,
    "l": lambda n: 1 if n.last else 0,
    "m": lambda n: 1 if n.middle else 0,
}


@lru_cache(maxsize=4096)
def _length_parts(template: str) -> tuple[int, tuple[Callable[[NameParts], int], ...]]:
    pieces = _parts(template)
    return sum(len(p) for p in pieces[::2]), tuple(_LENGTHS[p] for p in pieces[1::2])


def rendered_length(template: str, name: NameParts) -> int:
    """``len(render(template, name))`` without rendering it; -1 when the name lacks a part it needs."""
    total, parts = _length_parts(template)
    for part in parts:
        size = part(name)
        if not size:
            return -1
        total += size
    return total


def uses_middle(template: str) -> bool:
    return "{m" in template


def render(template: str, name: NameParts, cap: int = 0) -> str | None:
    return render_parts(template, name.first, name.last, name.middle, cap)


def pretty(key: PatternKey) -> str:
    template, cap = key
    return template if not cap else f"{template}:{cap}"


_SINGLE = {"first": "{first}", "last": "{last}"}
_PAIR = {
    (h, sep, t): f"{{{h}}}{sep}{{{t}}}"
    for sep in SEPARATORS
    for h, t in [(a, b) for a in _FIRST_PART for b in _LAST_PART] + [(b, a) for a in _FIRST_PART for b in _LAST_PART]
}
_TRIPLE = {
    (h, sep, m): f"{{{h}}}{sep}{{{m}}}{sep}{{last}}" for sep in SEPARATORS for h in _FIRST_PART for m in ("m", "middle")
}


def _match_form(form: NameForm, local: str, out: set[PatternKey]) -> None:
    first, last, middle = form.first, form.last, form.middle
    head = local[:1]
    f, l = first[:1], last[:1]  # noqa: E741
    # Every template starts with a name part, so only heads with the address's first letter are tried.
    if head and head == f:
        _match_head(local, "first", first, "f", f, "last", last, "l", l, middle, out)
    if head and head == l:
        _match_head(local, "last", last, "l", l, "first", first, "f", f, "", out)


def _match_head(
    local: str,
    whole: str,
    value: str,
    initial: str,
    letter: str,
    tail_whole: str,
    tail_value: str,
    tail_initial: str,
    tail_letter: str,
    middle: str,
    out: set[PatternKey],
) -> None:
    """The patterns that start with one name part (written whole or as its initial) and give ``local``;
    ``middle`` is only passed when the head is the given name (middle-name templates end with the last name)."""
    n = len(local)
    for head, hv in ((whole, value), (initial, letter)):
        if not local.startswith(hv):
            if head == whole and n >= MIN_CAP and hv.startswith(local):
                out.add((_SINGLE[head], n))
            continue
        rest = local[len(hv) :]
        if not rest:
            if head == whole:
                out.add((_SINGLE[head], 0))
            continue
        for sep in (rest[0], "") if rest[0] in ".-_" else ("",):
            rest2 = rest[len(sep) :] if sep else rest
            if not rest2:
                continue
            if rest2 == tail_value:
                out.add((_PAIR[head, sep, tail_whole], 0))
            elif n >= MIN_CAP and len(rest2) > 1 and tail_value.startswith(rest2):
                out.add((_PAIR[head, sep, tail_whole], n))
            if rest2 == tail_letter:
                out.add((_PAIR[head, sep, tail_initial], 0))
            if middle:
                if head == whole and rest2 == tail_letter + middle[:1]:
                    out.add((_INITIALS[sep], 0))
                for mid, mv in (("m", middle[:1]), ("middle", middle)):
                    if rest2.startswith(mv + sep):
                        rest3 = rest2[len(mv) + len(sep) :]
                        if rest3 == tail_value:
                            out.add((_TRIPLE[head, sep, mid], 0))
                        elif len(rest3) > 1 and n >= MIN_CAP and tail_value.startswith(rest3):
                            out.add((_TRIPLE[head, sep, mid], n))


def match_forms(forms: Iterable[NameForm], local: str) -> frozenset[PatternKey]:
    """Every pattern that turns one of these spellings of a name into ``local`` (a numeric suffix allowed)."""
    local = local.lower()
    out: set[PatternKey] = set()
    base = local.rstrip("0123456789")
    candidates = [local]
    if base and base != local and len(local) - len(base) <= 3:
        candidates.append(base)
    for form in forms:
        for candidate in candidates:
            _match_form(form, candidate, out)
    return frozenset(out)


def match_name(
    first: str, last: str, middle: str, local: str, plain: tuple[NameForm, ...] | None = None
) -> frozenset[PatternKey]:
    """The patterns that explain an address; for a one-part name, whether it is the handle itself.
    ``plain``: the name's ``name_forms(first, last, middle, nicknames=False)``, if already made."""
    if not (first and last):
        handle = handle_token(first or last)
        return frozenset({HANDLE_HIT if handle and handle == local.lower() else HANDLE_MISS})
    if plain is None:
        plain = name_forms(first, last, middle, nicknames=False)
    found = match_forms(plain, local)
    if found or not local:
        return found
    # A nickname is only an explanation when the name itself is none, and only one whose initial
    # (or the family name's) starts the address.
    if local[0].lower() not in nickname_initials(plain[0].first) and local[0].lower() != plain[0].last[:1]:
        return found
    return match_forms(name_forms(first, last, middle)[len(plain) :], local)


def matching_patterns(name: NameParts, local: str) -> list[str]:
    """Uncut templates that give ``local`` for the name exactly as written (no variants)."""
    form = NameForm(name.first, name.last, name.middle, "canonical")
    return sorted(t for t, cap in match_forms([form], local) if cap == 0)
