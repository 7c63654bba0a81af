"""The one look-up of a lead under both API versions: what is asked (``LeadQuery``) and what is known
(``Lead``). Each version parses its own body into a query and maps the lead onto its own names."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from leadsmith.contacts.repository import EmailRow, PersonRow, shown_source
from leadsmith.engine.identifiers import ProfileRef
from leadsmith.metering.schemas import Item

DataKind = Literal["work_email", "direct_email", "phone"]
ALL_KINDS: frozenset[DataKind] = frozenset({"work_email", "direct_email", "phone"})
EMAIL_ONLY: frozenset[DataKind] = frozenset({"work_email", "direct_email"})


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """A lead asked for: by its LinkedIn reference (None: an id that is none, so nobody), the name sent,
    the kinds of data asked for and those without which nothing is to be returned (always asked for)."""

    ref: ProfileRef | None
    id_text: str
    name: str
    want: frozenset[DataKind]
    require: frozenset[DataKind] = frozenset()


@dataclass(frozen=True, slots=True)
class Lead:
    """What is known of the lead, cut to what was asked: ``person`` is None for a lead not known;
    ``missing`` names the required kinds it lacks (then nothing is revealed)."""

    query: LeadQuery
    person: PersonRow | None = None
    emails: tuple[EmailRow, ...] = ()
    phones: tuple[str, ...] = ()
    missing: frozenset[DataKind] = frozenset()
    phone_origins: tuple[tuple[str, int], ...] = ()  # (source, first seen) of each phone, in order

    @property
    def found(self) -> bool:
        return self.person is not None and not self.missing

    def usable(self, kind: DataKind) -> list[str]:
        """The addresses of a kind that are asked for and not known to be undeliverable, best first."""
        if kind not in self.query.want or not self.found:
            return []
        wanted = "pro" if kind == "work_email" else "personal"
        return [e.address for e in self.emails if e.kind == wanted and e.valid is not False]

    def shown_emails(self) -> list[EmailRow]:
        """Every address of the kinds asked for, whatever its validity: known work, known personal, predicted."""
        if not self.found:
            return []
        kinds = {"pro"} if "work_email" in self.query.want else set()
        if "direct_email" in self.query.want:
            kinds.add("personal")
        rows = [e for e in self.emails if e.kind in kinds]
        known_pro = [e for e in rows if e.kind == "pro" and not e.predicted]
        personal = [e for e in rows if e.kind != "pro" and not e.predicted]
        return known_pro + personal + [e for e in rows if e.predicted]

    def sources(self, international: Callable[[str], str]) -> list[dict[str, object]]:
        """Where each e-mail and phone shown came from ("import", or the provider's name; "prediction" for
        an address leadsmith derived) and since when: the one field beyond Kaspr's."""
        out: list[dict[str, object]] = []
        for e in self.shown_emails():
            origin = "prediction" if e.predicted else shown_source(e.source)
            out.append({"type": "email", "value": e.address, "source": origin, "since": e.since})
        if self.shown_phones():
            for e164, (source, since) in zip(self.phones, self.phone_origins, strict=False):
                out.append(
                    {"type": "phone", "value": international(e164), "source": shown_source(source), "since": since}
                )
        return out

    def shown_phones(self) -> list[str]:
        return list(self.phones) if self.found and "phone" in self.query.want else []

    def items(self) -> tuple[Item, ...]:
        """What the answer reveals, one item per kind known and asked for: what is charged."""
        if self.person is None or self.missing:
            return ()
        kinds = known_kinds(self.emails, self.phones) & self.query.want
        return tuple(Item(self.person.id, kind) for kind in _ORDER if kind in kinds)


_ORDER: tuple[DataKind, ...] = ("work_email", "direct_email", "phone")


def known_kinds(emails: Sequence[EmailRow], phones: Sequence[str]) -> set[DataKind]:
    """The kinds of data known (and usable) for a person."""
    kinds: set[DataKind] = set()
    if any(e.kind == "pro" and e.valid is not False for e in emails):
        kinds.add("work_email")
    if any(e.kind != "pro" and e.valid is not False for e in emails):
        kinds.add("direct_email")
    if phones:
        kinds.add("phone")
    return kinds
