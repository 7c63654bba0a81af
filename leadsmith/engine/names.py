"""Splitting a person's name and making the ASCII forms mailboxes use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from nameparser import HumanName
from nicknames import NickNamer

from leadsmith.engine.surnames import FAMILY_FIRST, TOP, pinyin_like


@dataclass(frozen=True, slots=True)
class Name:
    full: str
    first: str
    middle: str
    last: str


_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def parse_name(text: str) -> Name:
    """First / middle / last from a full name, as written (titles and suffixes dropped)."""
    full = clean_text(text)
    if not full:
        return Name("", "", "", "")
    human = HumanName(full)
    first, middle, last = (
        clean_text(human.first),
        clean_text(human.middle),
        clean_text(human.last),
    )
    if not last and " " in first:
        first, last = first.split(" ", 1)
    if not first and last and " " in last:
        first, last = last.split(" ", 1)
    if not first and not last:
        first = full
    return Name(full=full, first=first, middle=middle, last=last)


def join_name(first: str, last: str) -> str:
    return clean_text(f"{first} {last}")


def ascii_token(text: str) -> str:
    """Lower-case ASCII letters and digits only: the raw material of a mailbox name."""
    return re.sub(r"[^a-z0-9]", "", anyascii(text).lower())


@dataclass(frozen=True, slots=True)
class NameForm:
    """One way a mailbox may spell a name: lower-case ASCII parts and how far it is from the name as written."""

    first: str
    last: str
    middle: str
    kind: str  # "canonical", "variant" (particles, hyphen parts, umlauts, nicknames) or "swapped"


_PARTICLES = frozenset("van von der den de del della di da du le la dos das du st ter ten bin al el mac".split())
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
_NICKNAMES = NickNamer()


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s\-']+", text) if w]


def _part_variants(text: str, *, is_last: bool) -> list[str]:
    """Spellings of one name part: joined, German umlauts as ue, each word, particles dropped."""
    out: list[str] = []

    def add(value: str) -> None:
        token = ascii_token(value)
        if token and token not in out:
            out.append(token)

    add(text)
    add(text.translate(_UMLAUTS))
    words = _words(text)
    if len(words) > 1:
        core = [w for w in words if w.lower() not in _PARTICLES] or words
        add("".join(core))
        add(core[-1] if is_last else core[0])
        for w in core:
            add(w)
    return out


@lru_cache(maxsize=65536)
def family_name_first(first: str, last: str) -> bool | None:
    """True when a two-part name reads family name first (YAMADA Hideki, Zhao Lei); None when it cannot be told.

    A part written in capitals in a mixed-case name is the family name; otherwise East Asian
    family-name lists decide, the commonest family names first, and only when the other part reads
    as a romanised given name (so Lee Smith and Bo Ray keep their order).
    """
    if first.isupper() != last.isupper() and len(first) > 1 and len(last) > 1:
        return first.isupper()
    a, b = ascii_token(first), ascii_token(last)
    for names in (TOP, FAMILY_FIRST):
        if (a in names) != (b in names):
            return a in names and pinyin_like(b)
    return None if a in FAMILY_FIRST and pinyin_like(b) else False


@lru_cache(maxsize=65536)
def name_forms(first: str, last: str, middle: str = "") -> tuple[NameForm, ...]:
    """The spellings of a name an address may use, canonical first.

    A name written family name first (by East Asian family-name lists) is turned round, so that
    ``{first}`` is always the given name; when that cannot be told, the swapped order is offered too.
    """
    single = first and last and " " not in first.strip() and " " not in last.strip()
    order = family_name_first(first, last) if single else False
    if order:
        first, last = last, first
    firsts = _part_variants(first, is_last=False) or [""]
    lasts = _part_variants(last, is_last=True) or [""]
    mid = ascii_token(middle)
    forms: list[NameForm] = [NameForm(firsts[0], lasts[0], mid, "canonical")]
    seen = {(firsts[0], lasts[0])}

    def add(f: str, l: str, kind: str) -> None:  # noqa: E741
        if (f, l) not in seen and (f or l):
            seen.add((f, l))
            forms.append(NameForm(f, l, mid, kind))

    for f in firsts:
        for l in lasts:  # noqa: E741
            add(f, l, "variant")
    if firsts[0]:
        for nick in sorted(_NICKNAMES.nicknames_of(firsts[0]) | _NICKNAMES.canonicals_of(firsts[0])):
            add(ascii_token(nick), lasts[0], "nickname")
    if order is None and firsts[0] and lasts[0]:
        add(lasts[0], firsts[0], "swapped")
    return tuple(forms)
