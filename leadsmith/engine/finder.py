"""The likely addresses of a person at a domain, from the domain's pattern scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadsmith.engine.inference import PatternScore
from leadsmith.engine.names import handle_token, name_forms
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

    A one-part name (a handle) gives one candidate, the handle itself, scored by ``handle_rate``.
    """
    if not (first and last):
        handle = handle_token(first or last)
        return [Candidate(f"{handle}@{domain}", handle_rate, "{first}@" + domain, None)] if handle else []
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


def with_suffixes(candidates: Sequence[Candidate], taken: Mapping[str, bool]) -> list[Candidate]:
    """Where a candidate address belongs to someone else, the person likely got the next numbered one."""
    out = []
    for c in candidates:
        if not taken.get(c.email.lower()):
            out.append(c)
            continue
        local, domain = c.email.rsplit("@", 1)
        n = 2
        while taken.get(f"{local}{n}@{domain}".lower()):
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
