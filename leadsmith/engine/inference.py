"""Inferring a domain's e-mail patterns from its known (name, address) pairs, with calibrated scores.

Each address at a domain is taken to follow one convention (a pattern) or none ("other": nicknames,
employee ids, another name). For a domain we estimate the share of each convention by EM over the
pairs (a pair several patterns explain is shared between them) and keep the expected counts as
sufficient statistics. A score is then

    score(p) = (support(p) + strength * prior(p)) / (n + strength)

where the prior is the average share of each pattern across all domains of the store, so a domain
with one or two known addresses still gets sensible scores, and the score is the probability that a
new employee's address follows ``p``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from leadsmith.collector import collector_paused
from leadsmith.engine.names import name_forms
from leadsmith.engine.patterns import (
    HANDLE_HIT,
    HANDLE_MISS,
    LONG_PAIRS,
    LONG_SUPPORT,
    MIDDLE_PAIRS,
    OTHER,
    SPECIAL,
    NameParts,
    PatternKey,
    is_statistic,
    match_name,
    rendered_length,
    uses_middle,
)

# Shares across companies before any data is seen (a store with no addresses yet).
DEFAULT_PRIOR: dict[PatternKey, float] = {
    ("{first}.{last}", 0): 0.30,
    ("{f}{last}", 0): 0.14,
    ("{first}", 0): 0.06,
    ("{first}{last}", 0): 0.04,
    ("{first}_{last}", 0): 0.02,
    ("{last}.{first}", 0): 0.02,
    ("{f}.{last}", 0): 0.02,
    ("{first}{l}", 0): 0.015,
    ("{last}{f}", 0): 0.01,
    ("{first}-{last}", 0): 0.01,
    ("{last}", 0): 0.01,
    OTHER: 0.355,
}
DEFAULT_STRENGTH = 1.0
# The share of people with a middle name, before any data is seen.
DEFAULT_MIDDLE_SHARE = 0.15
# However strongly a domain writes middle names, some of its people with one will not use it.
MAX_MIDDLE_SHARE = 0.95
MIN_DOMAIN_PAIRS = 3


@dataclass(frozen=True, slots=True)
class PatternScore:
    key: PatternKey
    score: float
    support: float
    # For a cut pattern: the score for a person whose name the template renders longer than the cut.
    long_score: float | None = None


def consistent_with_cuts(pairs: Sequence[tuple[frozenset[PatternKey], int]]) -> list[frozenset[PatternKey]]:
    """Add to each pair the cut patterns it is consistent with: a domain that cuts ``{f}{last}`` at
    8 characters gives ``jsmith`` to John Smith, so his address supports the cut pattern too."""
    caps: dict[str, set[int]] = {}
    for keys, _ in pairs:
        for template, cap in keys:
            if cap:
                caps.setdefault(template, set()).add(cap)
    if not caps:
        return [keys for keys, _ in pairs]
    # Many pairs share their patterns and length: each combination is worked out once.
    done: dict[tuple[frozenset[PatternKey], int], frozenset[PatternKey]] = {}
    out = []
    for pair in pairs:
        expanded = done.get(pair)
        if expanded is None:
            keys, length = pair
            extra = {(t, c) for t, cap in keys if cap == 0 for c in caps.get(t, ()) if length <= c}
            expanded = done[pair] = keys | extra if extra else keys
        out.append(expanded)
    return out


def expected_counts(
    matches: Iterable[frozenset[PatternKey]], iterations: int = 50, middle_pairs: int = 0
) -> dict[PatternKey, float]:
    """EM over one domain's pairs: how many of its addresses each pattern (or "other") accounts for.

    ``middle_pairs`` (how many of the pairs have a middle name) is kept beside the counts.
    """
    groups = Counter(matches)
    handles = {key: float(groups.pop(frozenset({key}), 0)) for key in (HANDLE_HIT, HANDLE_MISS)}
    handles = {k: v for k, v in handles.items() if v}
    if middle_pairs:
        handles[MIDDLE_PAIRS] = float(middle_pairs)
    n = sum(groups.values())
    if n == 0:
        return handles
    keys = {k for m in groups for k in m}
    theta = dict.fromkeys(keys, 1.0 / (len(keys) or 1))
    counts: dict[PatternKey, float] = {}
    for _ in range(iterations):
        counts = dict.fromkeys(keys, 0.0)
        counts[OTHER] = 0.0
        for group, times in groups.items():
            if not group:
                counts[OTHER] += times
                continue
            z = sum(theta[k] for k in group)
            for k in group:
                counts[k] += times * theta[k] / z
        new = {k: counts[k] / n for k in keys}
        if all(abs(new[k] - theta[k]) < 1e-6 for k in keys):
            theta = new
            break
        theta = new
    return {**{k: v for k, v in counts.items() if v > 1e-9}, **handles}


def cut_statistics(
    pairs: Sequence[tuple[frozenset[PatternKey], NameParts]], counts: Mapping[PatternKey, float]
) -> dict[PatternKey, float]:
    """For each cut pattern of a domain, how many of its pairs have a name the template renders longer
    than the cut, and how much of those the cut pattern explains (the EM shares, from ``counts``).

    A short name gives the same address cut or not, so it says nothing about whether long names are
    cut; without this, a domain that cut one long name would look as if it cut them all."""
    cut_keys = [k for k in counts if k[1] > 0 and not is_statistic(k)]
    out: dict[PatternKey, float] = {}
    for key in cut_keys:
        template, cap = key
        share = counts[key]
        long_pairs = explained = 0.0
        shares: dict[frozenset[PatternKey], float] = {}
        for keys, name in pairs:
            length = rendered_length(template, name)
            if length <= cap:
                continue
            long_pairs += 1
            if key in keys:
                part = shares.get(keys)
                if part is None:
                    z = sum(counts.get(k, 0.0) for k in keys)
                    part = shares[keys] = share / z if z else 0.0
                explained += part
        out[(template + LONG_PAIRS, cap)] = long_pairs
        out[(template + LONG_SUPPORT, cap)] = explained
    return out


class KnownAddress(NamedTuple):
    """One known (name, address) pair of a domain: the name's parts as written and the local part."""

    first: str
    last: str
    middle: str
    local: str


def domain_support(known: Iterable[KnownAddress]) -> dict[PatternKey, float]:
    """A domain's statistics from its known addresses: what ``scores`` and ``learn_prior`` read.

    Matches each address against the vocabulary, shares the addresses between the patterns by EM,
    and adds the middle-name and cut statistics. The work allocates many small objects and no
    cycles, so the cycle collector is held off until it is done (it would otherwise rescan the
    whole heap several times over a domain of 10,000 people).
    """
    with collector_paused():
        pairs: list[tuple[frozenset[PatternKey], int]] = []
        names: list[NameParts] = []
        middles = 0
        for first, last, middle, local in known:
            plain = name_forms(first, last, middle, nicknames=False)
            pairs.append((match_name(first, last, middle, local, plain), len(local)))
            canonical = plain[0]  # the name as the patterns read it (given name first)
            names.append(NameParts(canonical.first, canonical.last, canonical.middle))
            middles += bool(first and last and middle)
        matches = consistent_with_cuts(pairs)
        support = expected_counts(matches, middle_pairs=middles)
        support.update(cut_statistics(list(zip(matches, names, strict=True)), support))
        return support


def _split(support: Mapping[PatternKey, float]) -> tuple[dict[PatternKey, float], dict[PatternKey, float]]:
    """The domain's conventions (with "other"), and the statistics kept beside them."""
    conventions = {k: v for k, v in support.items() if not is_statistic(k)}
    rest = {k: v for k, v in support.items() if is_statistic(k)}
    return conventions, rest


# The patterns that write a person's address as one word: a one-part name is one of those words.
SINGLE_WORD = frozenset({("{first}", 0), ("{last}", 0), ("{first}{last}", 0), ("{last}{first}", 0)})
# How many one-part names the domain's patterns count for, against its own one-part names, and the most
# a lone word starts at before the domain's own one-part names say more: chosen on held-out halves of
# people-train.tsv (calibration error of one-part names: 0.092 with the store-wide rate alone, 0.064
# with these; bench/accuracy.py prints it).
HANDLE_STRENGTH = 3.0
MAX_HANDLE_RATE = 0.6


def handle_rate(support: Mapping[PatternKey, float], prior: Mapping[PatternKey, float]) -> float:
    """The probability that a one-part name's address is the name itself.

    From the domain's own one-part names (hits and misses), smoothed towards the store-wide rate scaled
    by how much more (or less) the domain writes addresses as one word than domains do on average: at a
    domain of first.last, a lone word is rarely the whole address."""
    hits, misses = support.get(HANDLE_HIT, 0.0), support.get(HANDLE_MISS, 0.0)
    typical = sum(prior.get(k, 0.0) for k in SINGLE_WORD)
    here = sum(ps.score for ps in scores(support, prior) if ps.key in SINGLE_WORD)
    ratio = here / typical if typical > 0 else 1.0
    start = min(MAX_HANDLE_RATE, prior.get(HANDLE_HIT, 0.0) * ratio)
    return (hits + HANDLE_STRENGTH * start) / (hits + misses + HANDLE_STRENGTH)


def learn_prior(
    domains: Iterable[Mapping[PatternKey, float]], min_pairs: int = MIN_DOMAIN_PAIRS
) -> dict[PatternKey, float]:
    """The average share of each pattern over domains with enough pairs, blended with the default prior."""
    total: defaultdict[PatternKey, float] = defaultdict(float)
    used = 0
    hits = misses = middles = pairs = 0.0
    for support in domains:
        conventions, handles = _split(support)
        hits += handles.get(HANDLE_HIT, 0.0)
        misses += handles.get(HANDLE_MISS, 0.0)
        n = sum(conventions.values())
        middles += handles.get(MIDDLE_PAIRS, 0.0)
        pairs += n
        if n < min_pairs:
            continue
        used += 1
        for k, v in conventions.items():
            total[k] += v / n
    weight = used / (used + 5.0)
    keys = sorted(set(total) | set(DEFAULT_PRIOR))  # sorted: the same sums, to the last bit, in every process
    prior = {k: weight * (total[k] / used if used else 0.0) + (1 - weight) * DEFAULT_PRIOR.get(k, 0.0) for k in keys}
    z = sum(prior.values())
    out = {k: v / z for k, v in prior.items() if v / z > 1e-5}
    out[HANDLE_HIT] = (hits + 1.0) / (hits + misses + 2.0)
    out[MIDDLE_PAIRS] = (middles + DEFAULT_MIDDLE_SHARE) / (pairs + 1.0)
    return out


def scores(
    support: Mapping[PatternKey, float],
    prior: Mapping[PatternKey, float],
    strength: float = DEFAULT_STRENGTH,
    middle: bool | None = None,
) -> list[PatternScore]:
    """Calibrated scores for every pattern the domain or the prior knows, best first ("other" excluded):
    over all of the domain's people (``middle`` None), or for a person with a middle name or without one.

    Patterns that use the middle name are open only to people who have one, so their share among those
    people is their support over the domain's pairs with a middle name (smoothed by the prior's share
    scaled the same way); the other patterns share what is left in the proportions they have overall.
    """
    conventions, rest = _split(support)
    n = sum(conventions.values())
    keys = {k for k in set(conventions) | set(prior) if k not in SPECIAL and not is_statistic(k)}
    base = {k: (conventions.get(k, 0.0) + strength * prior.get(k, 0.0)) / (n + strength) for k in keys}
    mid_keys = {k for k in keys if uses_middle(k[0])}
    mid_total = sum(base[k] for k in mid_keys)
    if middle is None:
        values = base
    elif middle:
        share = prior.get(MIDDLE_PAIRS, DEFAULT_MIDDLE_SHARE) or DEFAULT_MIDDLE_SHARE
        n_mid = rest.get(MIDDLE_PAIRS, 0.0)
        cond = {
            k: (conventions.get(k, 0.0) + strength * prior.get(k, 0.0) / share) / (n_mid + strength) for k in mid_keys
        }
        total = sum(cond.values())
        if total > MAX_MIDDLE_SHARE:
            cond = {k: v * MAX_MIDDLE_SHARE / total for k, v in cond.items()}
            total = MAX_MIDDLE_SHARE
        scale = (1 - total) / (1 - mid_total) if mid_total < 1 else 0.0
        values = {k: cond[k] if k in mid_keys else base[k] * scale for k in keys}
    else:
        scale = 1 / (1 - mid_total) if mid_total < 1 else 1.0
        values = {k: base[k] * scale for k in keys - mid_keys}
    out = [PatternScore(k, v, conventions.get(k, 0.0), _long_score(k, v, rest, strength)) for k, v in values.items()]
    out.sort(key=lambda s: (-s.score, s.key))
    return out


def _long_score(key: PatternKey, score: float, rest: Mapping[PatternKey, float], strength: float) -> float | None:
    template, cap = key
    long_pairs = rest.get((template + LONG_PAIRS, cap))
    if not cap or long_pairs is None:
        return None
    return (rest.get((template + LONG_SUPPORT, cap), 0.0) + strength * score) / (long_pairs + strength)


def infer_patterns(
    matches: Sequence[frozenset[PatternKey]],
    prior: Mapping[PatternKey, float] | None = None,
    strength: float = DEFAULT_STRENGTH,
) -> list[PatternScore]:
    return scores(expected_counts(matches), prior if prior is not None else DEFAULT_PRIOR, strength)
