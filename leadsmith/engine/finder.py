"""The likely addresses of a person at a domain, from the domain's pattern scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadsmith.engine.inference import PatternScore
from leadsmith.engine.names import handle_readings, handle_token, name_forms
from leadsmith.engine.patterns import pretty, render_parts

# The share of a pattern's probability that goes to the spellings of each kind (see names.name_forms):
# the canonical spelling (and, when the order cannot be told, the swapped one) takes what the others
# leave; the other kinds share a fixed total however many spellings they have.
KIND_SHARES = {"variant": 0.06, "formal": 0.08, "nickname": 0.02}
# When the address a pattern gives is someone else's, the person may have the numbered one, or
# another address altogether.
NUMBERED_SHARE = 0.5
# Spelling-pattern pairs less likely than this are not worth rendering: they never reach a top five.
MIN_SHARE = 0.002
# A stored address for someone of that name at that domain: very likely theirs, unless it is a
# namesake's or an old one; verification makes it surer.
KNOWN_SCORES: dict[bool | None, float] = {True: 0.9, None: 0.6, False: 0.0}


# When the order of a name cannot be told, the order it is written in is a little likelier.
AS_WRITTEN = 0.55


def form_shares(kinds: Sequence[str]) -> list[float]:
    counts = {k: kinds.count(k) for k in set(kinds)}
    taken = sum(share for kind, share in KIND_SHARES.items() if counts.get(kind))
    main = 1 - taken
    if counts.get("swapped"):
        main_shares = {"canonical": main * AS_WRITTEN, "swapped": main * (1 - AS_WRITTEN)}
    else:
        main_shares = {"canonical": main}
    return [KIND_SHARES[k] / counts[k] if k in KIND_SHARES else main_shares[k] for k in kinds]


@dataclass(frozen=True, slots=True)
class Candidate:
    email: str
    score: float
    pattern: str | None
    valid: bool | None
    known: bool = False


def candidate_addresses(
    first: str,
    last: str,
    middle: str,
    domain: str,
    patterns: Sequence[PatternScore],
    limit: int = 5,
    handle_rate: float = 0.5,
) -> list[Candidate]:
    """Addresses the patterns give for this name, each scored by the probability it is the person's.

    A one-part name (a handle) gives the handle itself, scored by ``handle_rate``, and what the patterns
    give for each full name it may be written as one word (``handle_readings``), sharing the rest.
    """
    if not (first and last):
        return _one_part_candidates(first or last, domain, patterns, limit, handle_rate)
    forms = name_forms(first, last, middle)
    if not forms:
        return []
    shares = form_shares([f.kind for f in forms])
    by_address: dict[str, float] = {}
    best_pattern: dict[str, tuple[float, str]] = {}
    for ps in patterns:
        template, cap = ps.key
        for form, form_share in zip(forms, shares, strict=True):
            share = ps.score * form_share
            if share < MIN_SHARE:
                continue
            local = render_parts(template, form.first, form.last, form.middle)
            if not local:
                continue
            if cap and len(local) > cap:
                local = local[:cap]
                if ps.long_score is not None:
                    share = ps.long_score * form_share
            address = f"{local}@{domain}"
            by_address[address] = by_address.get(address, 0.0) + share
            if share > best_pattern.get(address, (0.0, ""))[0]:
                best_pattern[address] = (share, pretty(ps.key))
    ranked = sorted(by_address.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [Candidate(a, min(1.0, s), f"{best_pattern[a][1]}@{domain}", None) for a, s in ranked]


def _one_part_candidates(
    token: str, domain: str, patterns: Sequence[PatternScore], limit: int, handle_rate: float
) -> list[Candidate]:
    handle = handle_token(token)
    scored: dict[str, tuple[float, str]] = {}
    if handle:
        scored[f"{handle}@{domain}"] = (handle_rate, "{first}@" + domain)
    rest = 1.0 - handle_rate
    for reading in handle_readings(token):
        for c in candidate_addresses(reading.first, reading.last, reading.middle, domain, patterns, limit):
            share = c.score * reading.weight * rest
            before, pattern = scored.get(c.email, (0.0, c.pattern or ""))
            scored[c.email] = (before + share, pattern if before >= share else c.pattern or pattern)
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [Candidate(a, min(1.0, s), p, None) for a, (s, p) in ranked]


def with_suffixes(candidates: Sequence[Candidate], taken: Mapping[str, bool]) -> list[Candidate]:
    """Where a candidate address belongs to someone else (``taken`` True), the person likely got the next
    numbered one; one known to bounce (False) is no one's, and is left out."""
    out = []
    for c in candidates:
        owned = taken.get(c.email.lower())
        if owned is None:
            out.append(c)
            continue
        if not owned:
            continue
        local, domain = c.email.rsplit("@", 1)
        n = 2
        while f"{local}{n}@{domain}".lower() in taken:
            n += 1
        out.append(Candidate(f"{local}{n}@{domain}", c.score * NUMBERED_SHARE, c.pattern, None))
    out.sort(key=lambda c: -c.score)
    return out


def find_emails(
    first: str,
    last: str,
    middle: str,
    domain: str,
    patterns: Sequence[PatternScore],
    known: Sequence[tuple[str, bool | None]] = (),
    taken: Mapping[str, bool] | None = None,
    limit: int = 5,
    handle_rate: float = 0.5,
) -> list[Candidate]:
    """The person's known addresses first, then the likeliest predicted ones, at most ``limit``."""
    out = [Candidate(email, KNOWN_SCORES[valid], None, valid, known=True) for email, valid in known]
    seen = {c.email.lower() for c in out}
    predicted = with_suffixes(
        candidate_addresses(first, last, middle, domain, patterns, limit + len(out), handle_rate), taken or {}
    )
    for c in predicted:
        if c.email.lower() not in seen and len(out) < limit:
            seen.add(c.email.lower())
            out.append(c)
    return out


# What an SMTP server's answer about each candidate makes of the finder's list (``checked``).
# A mailbox the domain's own server accepts (the domain not accepting everything) is the person's
# unless a namesake holds it: as sure as a verified stored address.
CONFIRMED_SCORE = 0.95
CHECKS = ("valid", "invalid", "accept_all", "unknown")


@dataclass(frozen=True, slots=True)
class Check:
    """What the probe said about one candidate: a verifier status (``CHECKS``) and, unless it was
    decisive, why not."""

    status: str
    reason: str | None = None


def checked(candidates: Sequence[Candidate], checks: Mapping[str, Check]) -> list[tuple[Candidate, Check]]:
    """The finder's candidates after their SMTP probe (``checks`` by address, lower-cased): those the
    server accepts first (``valid: true``), those it rejects dropped, the rest in the model's order
    (``valid: null``, with the check's reason). Scores follow Bayes: an accepted address takes
    ``CONFIRMED_SCORE`` (or its own when higher) and the others share what it leaves in proportion to
    their model scores; a rejection takes its candidate's share away from the list and gives it to the
    rest in the same proportions."""
    judged = [(c, checks.get(c.email.lower(), Check("unknown", "not probed"))) for c in candidates]
    kept = [(c, k) for c, k in judged if k.status != "invalid"]
    accepted = [(c, k) for c, k in kept if k.status == "valid"]
    others = [(c, k) for c, k in kept if k.status != "valid"]
    rejected_mass = sum(c.score for c, k in judged if k.status == "invalid")
    room = max(1.0 - rejected_mass, 1e-9)
    out: list[tuple[Candidate, Check]] = []
    if accepted:
        top = max(CONFIRMED_SCORE, max(c.score for c, _ in accepted))
        left = 1.0 - top
        rest_mass = sum(c.score for c, _ in others) + sum(c.score for c, _ in accepted[1:])
        scale = left / rest_mass if rest_mass > 0 else 0.0
        first, first_check = accepted[0]
        out.append((Candidate(first.email, top, first.pattern, True, first.known), first_check))
        for c, k in [*accepted[1:], *others]:
            out.append((Candidate(c.email, min(c.score * scale, top), c.pattern, k.status == "valid" or None,
                                  c.known), k))  # fmt: skip
        return out
    for c, k in others:
        out.append((Candidate(c.email, min(c.score / room, CONFIRMED_SCORE), c.pattern, None, c.known), k))
    return out
