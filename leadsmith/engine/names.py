"""Splitting a person's name and making the ASCII forms mailboxes use."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from anyascii import anyascii
from nameparser import HumanName, Lexicon
from nicknames import NickNamer

from leadsmith.engine import PER_PERSON_CACHE
from leadsmith.engine.surnames import FAMILY_FIRST, TOP, pinyin_like, vietnamese_order


@dataclass(frozen=True, slots=True)
class Name:
    full: str
    first: str
    middle: str
    last: str


_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Runs of white space as one space, none at either end."""
    # Most text is clean already: printable text has no white space but " " (tested for every code point).
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return _SPACES.sub(" ", text).strip()


# A word with no rule of its own: a capital and lower-case letters, of the ASCII and Latin-1 alphabets.
_WORD = "[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+"
_PLAIN = re.compile(f"({_WORD})(?: ({_WORD}))?(?: ({_WORD}))?")
_LEXICON = Lexicon.default()
# Every word nameparser reads as something other than a name (titles, suffixes, particles, conjunctions...),
# and the Roman numerals it reads as suffixes (Henry Viii: its pattern is X|IX|IV|V?I{0,3}).
_VOCABULARY = frozenset(
    word
    for value in (getattr(_LEXICON, f.name) for f in dataclasses.fields(_LEXICON))
    if isinstance(value, frozenset)
    for word in value
    if isinstance(word, str)
) | {"x", "ix", "iv", "i", "ii", "iii", "v", "vi", "vii", "viii"}


def _plain_name(full: str) -> Name | None:
    """The parts of a name of one to three plain capitalised words none of which nameparser has in its
    vocabulary, as nameparser would give them (given, middle, family; tested against it), or None.

    nameparser 2.6 takes ~140 us for a name it has not seen; most names are this simple, and an import
    of a million mostly distinct names would spend minutes in it."""
    match = _PLAIN.fullmatch(full)
    if match is None:
        return None
    words = [w for w in match.groups() if w is not None]
    if any(w.lower() in _VOCABULARY for w in words):
        return None
    if len(words) == 1:
        return Name(full, words[0], "", "")
    return Name(full, words[0], words[1] if len(words) == 3 else "", words[-1])


@lru_cache(maxsize=PER_PERSON_CACHE)
def parse_name(text: str) -> Name:
    """First / middle / last from a full name, as written (titles and suffixes dropped)."""
    full = clean_text(text)
    if not full:
        return Name("", "", "", "")
    if (plain := _plain_name(full)) is not None:
        return plain
    if (vietnamese := _vietnamese_name(full)) is not None:
        return vietnamese
    return _parsed_name(full)


def _vietnamese_name(full: str) -> Name | None:
    """Three plain words of a Vietnamese name, as written (Nguyen Van Trung: nameparser reads "Van Trung" as
    a family name with a Dutch particle); ``name_forms`` puts them in order."""
    match = _PLAIN.fullmatch(full)
    if match is None or match.group(3) is None:
        return None
    words = match.groups()
    if vietnamese_order(*(w.lower() for w in words)) is None:
        return None
    return Name(full, words[0], words[1], words[2])


def _parsed_name(full: str) -> Name:
    """``parse_name`` by nameparser."""
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


_NOT_TOKEN = re.compile(r"[^a-z0-9]")


def ascii_token(text: str) -> str:
    """Lower-case ASCII letters and digits only: the raw material of a mailbox name."""
    if text.isascii():
        lowered = text.lower()
        return lowered if lowered.isalnum() else _NOT_TOKEN.sub("", lowered)
    return _transliterated_token(text)


@lru_cache(maxsize=131072)
def _transliterated_token(text: str) -> str:
    return _NOT_TOKEN.sub("", anyascii(text).lower())


_NOT_HANDLE = re.compile(r"[^a-z0-9._-]")


@lru_cache(maxsize=PER_PERSON_CACHE)
def handle_token(text: str) -> str:
    """A one-part name (a handle such as ``jane.doe`` or ``jdoe@corp.com``) as the local part it most
    likely is: lower-case ASCII, its dots, hyphens and underscores kept, anything after an @ dropped."""
    lowered = (text if text.isascii() else anyascii(text)).lower().split("@", 1)[0]
    return _NOT_HANDLE.sub("", lowered).strip("._-")


# How a one-part name may be a full name written as one word (``handle_readings``): the share of the
# probability that the name is not the address itself that goes to its readings, by how it was read.
READING_WEIGHTS = {"separated": 0.9, "camel": 0.9, "joined": 0.6}
_SEPARATORS = re.compile(r"[-_.]+")
_CAMEL = re.compile(r"[A-Z][a-z]+")
_GIVEN = frozenset(
    n for pair in NickNamer.default_lookup().items() for n in (pair[0], *pair[1]) if n.isalpha() and len(n) > 2
)


class Reading(NamedTuple):
    """One way to read a one-part name as (first, middle, last), and the share of belief it gets."""

    first: str
    middle: str
    last: str
    weight: float


@lru_cache(maxsize=PER_PERSON_CACHE)
def handle_readings(text: str) -> tuple[Reading, ...]:
    """The full names a one-part name may be written as one word, most likely first, with weights that sum
    to at most 1: ``houming-wang`` and ``john_a_joyce`` (separated), ``GirishChilukuri`` (capitals),
    ``kumarkanishka`` or ``zhangguoqing`` (joined: split where one side is a known given name or family name,
    each such split weighted alike). None for a name that reads as one word."""
    token = text.split("@", 1)[0].strip()
    ascii_text = token if token.isascii() else anyascii(token)
    parts = [p for p in (re.sub(r"[^A-Za-z]", "", x) for x in _SEPARATORS.split(ascii_text)) if p]
    if len(parts) >= 2:
        words = [p.lower() for p in parts]
        return (Reading(words[0], " ".join(words[1:-1]), words[-1], READING_WEIGHTS["separated"]),)
    letters = re.sub(r"[^A-Za-z]", "", ascii_text)
    camel = _CAMEL.findall(letters)
    if len(camel) >= 2 and "".join(camel) == letters:
        words = [w.lower() for w in camel]
        return (Reading(words[0], " ".join(words[1:-1]), words[-1], READING_WEIGHTS["camel"]),)
    lowered = letters.lower()
    if len(lowered) < 5:
        return ()
    splits: list[tuple[str, str, float]] = []
    for cut in range(2, len(lowered) - 1):
        a, b = lowered[:cut], lowered[cut:]
        if a in FAMILY_FIRST and (pinyin_like(b) or b in _GIVEN):
            # The family name written first, as such handles mostly are (zhang|guoqing): read as given
            # name guoqing, family name zhang.
            splits.append((b, a, 3.0))
        elif b in FAMILY_FIRST and (pinyin_like(a) or a in _GIVEN):
            splits.append((a, b, 1.0))  # spark|liu
        elif (a in _GIVEN and len(b) > 2) or (b in _GIVEN and len(a) > 2):
            splits.append((a, b, 1.0))  # a given name beside something: sayali|lunkad
    total = sum(w for _, _, w in splits)
    return tuple(Reading(a, "", b, READING_WEIGHTS["joined"] * w / total) for a, b, w in splits)


class NameForm(NamedTuple):
    """One way a mailbox may spell a name: lower-case ASCII parts and how far it is from the name as written."""

    first: str
    last: str
    middle: str
    kind: str  # "canonical", "variant" (particles, hyphens, umlauts), "swapped", "formal" or "nickname"


_PARTICLES = frozenset("van von der den de del della di da du le la dos das du st ter ten bin al el mac".split())
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
_NICKNAMES = NickNamer()


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s\-']+", text) if w]


@lru_cache(maxsize=65536)
def _part_variants(text: str, *, is_last: bool) -> tuple[str, ...]:
    """Spellings of one name part: a hyphenated one with its hyphen first (mailboxes keep it: Hope-Morley
    as hope-morley, on people-train.tsv 3 times to none joined), then joined, German umlauts as ue, each
    word, particles dropped."""
    if text.isascii() and text.isalpha():
        return (text.lower(),)
    out: list[str] = []

    def add(value: str) -> None:
        token = ascii_token(value)
        if token and token not in out:
            out.append(token)

    if "-" in text:
        hyphenated = "-".join(t for t in (ascii_token(w) for w in text.split("-")) if t)
        if hyphenated and "-" in hyphenated:
            out.append(hyphenated)
    add(text)
    add(text.translate(_UMLAUTS))
    words = _words(text)
    if len(words) > 1:
        core = [w for w in words if w.lower() not in _PARTICLES] or words
        add("".join(core))
        add(core[-1] if is_last else core[0])
        for w in core:
            add(w)
    return tuple(out)


@lru_cache(maxsize=65536)
def _formal_names(first: str) -> tuple[str, ...]:
    """The formal names a short form stands for (rich -> richard), which work addresses often use."""
    return tuple(sorted({ascii_token(n) for n in _NICKNAMES.canonicals_of(first)} - {first, ""}))


@lru_cache(maxsize=65536)
def _nicknames(first: str) -> tuple[str, ...]:
    names = _NICKNAMES.nicknames_of(first) | _NICKNAMES.canonicals_of(first)
    return tuple(sorted({ascii_token(n) for n in names} - {first, ""}))


@lru_cache(maxsize=65536)
def nickname_initials(first: str) -> frozenset[str]:
    return frozenset(n[:1] for n in _nicknames(first))


@lru_cache(maxsize=PER_PERSON_CACHE)
def family_name_first(first: str, last: str) -> bool | None:
    """True when a two-part name reads family name first (YAMADA Hideki, Zhao Lei); None when it cannot be told.

    A part written in capitals in a mixed-case name is the family name; otherwise East Asian
    family-name lists decide, the commonest family names first, and only when the other part reads
    as a romanised given name (so Lee Smith and Bo Ray keep their order).
    """
    return _family_name_first(first, last, ascii_token(first), ascii_token(last))


def _family_name_first(first: str, last: str, a: str, b: str) -> bool | None:
    """``family_name_first`` given the parts' ASCII tokens ``a`` and ``b``."""
    if first.isupper() != last.isupper() and len(first) > 1 and len(last) > 1:
        return first.isupper()
    for names in (TOP, FAMILY_FIRST):
        if (a in names) != (b in names):
            return a in names and pinyin_like(b)
    return None if a in FAMILY_FIRST and pinyin_like(b) else False


def name_forms(first: str, last: str, middle: str = "", nicknames: bool = True) -> tuple[NameForm, ...]:
    """The spellings of a name an address may use: canonical first, nicknames last.

    A name written family name first (by East Asian family-name lists) is turned round, so that
    ``{first}`` is always the given name; when that cannot be told, the swapped order is offered too.
    """
    if not nicknames and first.isalpha() and last.isalpha() and first.isascii() and last.isascii():
        # The common case (two plain ASCII words, no nicknames): one form, quicker made than cached.
        a, b = first.lower(), last.lower()
        order = _family_name_first(first, last, a, b)
        if order is not None:
            mid = "" if not middle else middle.lower() if middle.isalpha() and middle.isascii() else ascii_token(middle)
            if mid and (vietnamese := vietnamese_order(a, mid, b)) is not None:
                return (NameForm(vietnamese[0], vietnamese[2], vietnamese[1], "canonical"),)
            return (NameForm(b, a, mid, "canonical") if order else NameForm(a, b, mid, "canonical"),)
    return _name_forms(first, last, middle, nicknames)


@lru_cache(maxsize=PER_PERSON_CACHE)
def _name_forms(first: str, last: str, middle: str, nicknames: bool) -> tuple[NameForm, ...]:
    single = first and last and " " not in first.strip() and " " not in last.strip()
    order = family_name_first(first, last) if single else False
    if single and middle and " " not in middle.strip():
        vietnamese = vietnamese_order(ascii_token(first), ascii_token(middle), ascii_token(last))
        if vietnamese is not None:
            first, middle, last = vietnamese
            order = False
    if order:
        first, last = last, first
    firsts = _part_variants(first, is_last=False) or ("",)
    lasts = _part_variants(last, is_last=True) or ("",)
    mid = ascii_token(middle)
    canonical = NameForm(firsts[0], lasts[0], mid, "canonical")
    if len(firsts) == 1 and len(lasts) == 1 and order is not None and not nicknames:
        return (canonical,)
    forms: list[NameForm] = [canonical]
    seen = {(firsts[0], lasts[0])}

    def add(f: str, l: str, kind: str) -> None:  # noqa: E741
        if (f, l) not in seen and (f or l):
            seen.add((f, l))
            forms.append(NameForm(f, l, mid, kind))

    for f in firsts:
        for l in lasts:  # noqa: E741
            add(f, l, "variant")
    if order is None and firsts[0] and lasts[0]:
        add(lasts[0], firsts[0], "swapped")
    if nicknames and firsts[0]:
        for formal in _formal_names(firsts[0]):
            add(formal, lasts[0], "formal")
        for nick in _nicknames(firsts[0]):
            add(nick, lasts[0], "nickname")
    return tuple(forms)
