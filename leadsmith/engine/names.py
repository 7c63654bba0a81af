"""Splitting a person's name and making the ASCII forms mailboxes use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from nameparser import HumanName


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
