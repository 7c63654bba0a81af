"""How long inferring one domain's patterns takes, for a domain of 10,000 known people.

    python bench/patterns_speed.py [--people 10000]

Times what an import does per domain (``domain_support``: match every known address against the
vocabulary, EM, the middle-name and cut statistics),
against a baseline measured in the same run: the obvious matcher that renders every template for
every spelling of every name and compares. Goal (issue 3): under 100 ms for 10,000 people.
"""

from __future__ import annotations

import argparse
import random
import time

from faker import Faker

from leadsmith.engine.inference import DEFAULT_PRIOR, KnownAddress, domain_support, scores
from leadsmith.engine.names import (
    _name_forms,
    _nicknames,
    _part_variants,
    _transliterated_token,
    family_name_first,
    name_forms,
    nickname_initials,
)
from leadsmith.engine.patterns import TEMPLATES, render_parts


def people(n: int) -> list[tuple[str, str, str]]:
    fake = Faker(["en_US", "fr_FR", "de_DE", "zh_CN"])
    fake.seed_instance(7)
    rng = random.Random(7)
    out = []
    for _ in range(n):
        first, last = fake.first_name(), fake.last_name()
        forms = name_forms(first, last)
        f = forms[0]
        roll = rng.random()
        if roll < 0.6:
            local = (f.first[:1] + f.last)[:8]
        elif roll < 0.8:
            local = f"{f.first}.{f.last}"
        else:
            local = f"emp{rng.randrange(100000)}"
        out.append((first, last, local))
    return out


def naive(first: str, last: str, local: str) -> set[tuple[str, int]]:
    found = set()
    for form in name_forms(first, last):
        for template in TEMPLATES:
            rendered = render_parts(template, form.first, form.last, form.middle)
            if rendered == local:
                found.add((template, 0))
            elif rendered and len(local) >= 5 and rendered.startswith(local):
                found.add((template, len(local)))
    return found


def clear_caches() -> None:
    """Every run starts cold, as an import of new people would."""
    for fn in (_name_forms, _transliterated_token, family_name_first, _part_variants, _nicknames, nickname_initials):
        fn.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    data = people(args.people)
    best = base = float("inf")
    for _ in range(args.repeat):
        clear_caches()
        t = time.perf_counter()
        support = domain_support(KnownAddress(f, l, "", local) for f, l, local in data)  # noqa: E741
        top = scores(support, DEFAULT_PRIOR)[:3]
        best = min(best, time.perf_counter() - t)
        clear_caches()
        t = time.perf_counter()
        for f, l, local in data:  # noqa: E741
            naive(f, l, local)
        base = min(base, time.perf_counter() - t)
    print(f"{args.people} people, best of {args.repeat}")
    print(f"infer patterns (match + EM):        {best * 1000:8.1f} ms")
    print(f"baseline: render every template:    {base * 1000:8.1f} ms   (ratio {best / base:.2f})")
    print(
        "top patterns:",
        ", ".join(f"{k[0]}{':' + str(k[1]) if k[1] else ''} {s:.2f}" for (k, s) in ((p.key, p.score) for p in top)),
    )


if __name__ == "__main__":
    main()
