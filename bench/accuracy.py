"""E-mail finder accuracy and calibration, measured through a running server.

    python bench/accuracy.py [../shared/data/people-train.tsv] [--mail-world]

For each domain of a (name, email, domain) TSV, one half of the people is imported into a fresh store
and the server's /company/emailFinder is asked for the other half; then the halves swap. Prints top-1
and top-3 accuracy, and a calibration table (score bucket -> predictions, mean score, observed accuracy).
Baselines measured on the same split: always answering the domain's most common simple pattern
(first.last, flast, first, firstlast...) counted over the known half; and the share of addresses that
can be produced from the name at all.

With ``--mail-world`` the same folds are asked twice more, on fresh stores, with ``"verify": true``,
against a loopback mail world: a DNS server (dnslib) answering MX for every domain of the file, and an
SMTP server (aiosmtpd) that accepts exactly the file's real addresses and rejects every other with 550
5.1.1, as a company's own server does. Top-1 with and without verification, same run. (A confirmed
address is kept, so later asks at a domain learn from earlier ones, as they would in use.)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import hashlib
import os
import tempfile
from pathlib import Path

import httpx
from common import base_env, cli, start_server

from leadsmith.engine.names import parse_name
from leadsmith.engine.patterns import NameParts, match_name, matching_patterns, render
from leadsmith.testing.loopback import Zone, fake_dns, fake_smtp

SIMPLE = ["{first}.{last}", "{f}{last}", "{first}", "{first}{last}", "{first}_{last}", "{last}.{first}", "{last}{f}"]


def halves(path: Path) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    by_domain: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    with path.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            by_domain[row["domain"].lower()].append(row)
    out = {}
    for domain, rows in by_domain.items():
        rows.sort(key=lambda r: hashlib.sha1(r["email"].lower().encode()).hexdigest())
        out[domain] = (rows[0::2], rows[1::2])
    return out


def baseline(train: list[dict[str, str]], test: list[dict[str, str]]) -> int:
    counts: collections.Counter[str] = collections.Counter()
    for r in train:
        p = parse_name(r["name"])
        counts.update(
            t for t in matching_patterns(NameParts.of(p.first, p.last), r["email"].split("@")[0]) if t in SIMPLE
        )
    best = counts.most_common(1)[0][0] if counts else "{first}.{last}"
    hits = 0
    for r in test:
        p = parse_name(r["name"])
        hits += render(best, NameParts.of(p.first, p.last)) == r["email"].split("@")[0].lower()
    return hits


async def ask(
    url: str, key: str, tests: list[tuple[str, dict[str, str]]], verify: bool = False
) -> list[tuple[dict[str, str], list[dict[str, object]]]]:
    results: list[tuple[dict[str, str], list[dict[str, object]]]] = []
    sem = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:

        async def one(domain: str, row: dict[str, str]) -> None:
            async with sem:
                body: dict[str, object] = {"domain": domain, "name": row["name"]}
                if verify:
                    body["verify"] = True
                r = await client.post("/company/emailFinder", json=body)
                if r.status_code == 400:  # a name with nothing to build an address from ("=")
                    results.append((row, []))
                    return
                r.raise_for_status()
                results.append((row, r.json()["emails"]))

        await asyncio.gather(*(one(d, r) for d, r in tests))
    return results


Answers = list[tuple[dict[str, str], list[dict[str, object]]]]


def run_folds(
    split: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]], extra_env: dict[str, str], verify: bool
) -> tuple[Answers, int]:
    """Both folds on fresh stores: (every answer, the baseline's hits)."""
    answers: Answers = []
    base_hits = 0
    for fold in (0, 1):
        with tempfile.TemporaryDirectory() as tmp:
            train_file = Path(tmp) / "train.csv"
            tests: list[tuple[str, dict[str, str]]] = []
            with train_file.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["name", "email"])
                for domain, (a, b) in split.items():
                    train, test = (a, b) if fold == 0 else (b, a)
                    w.writerows([r["name"], r["email"]] for r in train)
                    tests += [(domain, r) for r in test]
                    base_hits += baseline(train, test)
            env = base_env(f"sqlite:///{tmp}/accuracy.db", LEADSMITH_RATE_LIMIT_PER_HOUR="1000000", **extra_env)
            cli(env, "import", str(train_file))
            key = cli(
                env, "accounts", "create", f"accuracy-{os.getpid()}@leadsmith.local", "--credits", "1000000"
            ).stdout.split()[-1]
            server = start_server(env, Path(tmp) / "server.log")
            try:
                answers += asyncio.run(ask(server.url, key, tests, verify))
            finally:
                server.stop()
    return answers, base_hits


def top(answers: Answers, n: int = 1) -> float:
    hits = sum(row["email"].lower() in [str(e["email"]).lower() for e in found[:n]] for row, found in answers)
    return hits / len(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "people-train.tsv"
    parser.add_argument("tsv", nargs="?", type=Path, default=default)
    parser.add_argument("--mail-world", action="store_true", help="Also ask with verify: true (see above)")
    args = parser.parse_args()
    split = halves(args.tsv)
    answers, base_hits = run_folds(split, {}, verify=False)
    report(args.tsv, split, answers, base_hits, "")
    if args.mail_world:
        mail_world(args.tsv, split)


def mail_world(tsv: Path, split: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]) -> None:
    mailboxes = {r["email"].lower() for a, b in split.values() for r in (*a, *b)}
    zones = {}
    for domain in split:
        zones[domain] = Zone(mx=[(10, f"mx.{domain}")])
        zones[f"mx.{domain}"] = Zone(a=["127.0.0.1"])

    def rule(local: str, domain: str) -> str:
        return "250 2.1.5 OK" if f"{local}@{domain}".lower() in mailboxes else "550 5.1.1 <x>: user unknown"

    with fake_dns(zones) as (nameserver, _), fake_smtp(rule) as (port, log):
        env = {
            "LEADSMITH_DNS_NAMESERVERS": nameserver,
            "LEADSMITH_SMTP_PORT": str(port),
            "LEADSMITH_VERIFY_PRIVATE_NETWORKS": "true",  # the mail world lives on loopback
            "LEADSMITH_DNS_CANARY": next(iter(split)),
            "LEADSMITH_SMTP_EHLO_NAME": "bench.leadsmith.test",
        }
        plain, _ = run_folds(split, env, verify=False)
        verified, _ = run_folds(split, env, verify=True)
        sessions = log.sessions
    print()
    print(f"mail world: {len(mailboxes)} mailboxes at {len(split)} domains, fresh stores, same folds")
    print(f"top-1 without verify {top(plain):.3f}   top-3 {top(plain, 3):.3f}")
    print(f"top-1 with verify    {top(verified):.3f}   top-3 {top(verified, 3):.3f}")
    answered = [found for _, found in verified if found]
    confirmed = sum(bool(found) and found[0].get("valid") is True for found in answered)
    print(f"verified answers: {len(answered)} with something, {confirmed} with the first address confirmed")
    print(f"SMTP sessions: {sessions} for {len(verified)} calls ({sessions / len(verified):.2f} a call)")
    report(tsv, split, verified, None, "verified ")


def report(
    tsv: Path,
    split: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]],
    answers: Answers,
    base_hits: int | None,
    label: str,
) -> None:
    n = len(answers)
    producible = 0
    buckets: dict[int, list[float]] = collections.defaultdict(lambda: [0, 0, 0.0])
    one_word: dict[int, list[float]] = collections.defaultdict(lambda: [0, 0, 0.0])
    for row, found in answers:
        p = parse_name(row["name"])
        producible += bool(match_name(p.first, p.last, p.middle, row["email"].split("@")[0]) - {("{handle}", -1)})
        for e in found:
            score = float(e["score"])  # type: ignore[arg-type]
            b = min(9, int(score * 10))
            hit = str(e["email"]).lower() == row["email"].lower()
            for table in (buckets, one_word) if not (p.first and p.last) else (buckets,):
                table[b][0] += 1
                table[b][1] += hit
                table[b][2] += score
    if base_hits is not None:
        print(f"{n} people at {len(split)} domains ({tsv.name}), two folds")
        print(f"top-1 accuracy {top(answers):.3f}   top-3 accuracy {top(answers, 3):.3f}")
        print(f"baseline (the domain's most common simple pattern) top-1 {base_hits / n:.3f}")
        print(f"addresses producible from the name by the vocabulary {producible / n:.3f}")
    for title, table in ((f"{label}every prediction", buckets), (f"{label}one-part names only", one_word)):
        print(f"calibration, {title}: expected calibration error {ece(table):.3f}")
        print("  bucket   predictions   mean score   observed   |diff|")
        for b in sorted(table):
            count, hits, total = table[b]
            mean, observed = total / count, hits / count
            flag = "  <- off by more than 0.08" if count >= 30 and abs(mean - observed) > 0.08 else ""
            gap = abs(mean - observed)
            bucket = f"{b / 10:.1f}-{(b + 1) / 10:.1f}"
            print(f"  {bucket}   {int(count):>11}   {mean:>10.3f}   {observed:>8.3f}   {gap:.3f}{flag}")


def ece(table: dict[int, list[float]]) -> float:
    """Expected calibration error: the mean |score - observed| over buckets, weighted by their predictions."""
    n = sum(count for count, _, _ in table.values())
    return sum(abs(total - hits) for _, hits, total in table.values()) / n if n else 0.0


if __name__ == "__main__":
    main()
