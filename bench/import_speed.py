"""Bulk import at scale: generate an N-person CSV, import it on SQLite and on PostgreSQL, then import
it again (which must change nothing). Prints seconds, rows/s, peak memory of the import process, and
the ratio to a baseline from the same run: reading the same file with the csv module and nothing else.

    python bench/import_speed.py [--people 1000000] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import base_env, temporary_database

FIRST = (
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Wei Li Hiroshi Yuki Olga Ivan Ana Jose Lucia Mateo Sofia Ahmed Fatima "
    "Lars Ingrid Pierre Camille Hans Greta Priya Arjun Chen Mei Kwame Amara Noah Emma Liam Olivia"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Muller Schmidt Dubois Rossi Tanaka Suzuki Kowalski Novak Larsen Berg"
).split()
TITLES = ("Engineer", "Account Executive", "Recruiter", "VP Sales", "Data Analyst", "Product Manager", "CTO")
CITIES = ("Paris, France", "Berlin, Germany", "New York, United States", "London, United Kingdom", "Tokyo, Japan")
PATTERNS = ("{f}.{l}", "{f0}{l}", "{f}", "{f}_{l}")


# Family names of two to four syllables (~1,000,000 of them): with the given names above, most of a
# million people have a name no one else in the file has, as in a real export. A file that repeats a few
# thousand names hides what parsing and matching a name costs the first time it is seen.
SYLLABLES = (
    "ka ro lin mar ten sa vi do ber gan mo ri ste fa lo ne hu ta bel kor min sen dra to le wen ha gu pi ot".split()
)


def family_name(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(LAST)
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 4)))).title()


def generate(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    domains = [f"company{i}.com" for i in range(max(1, n // 500))]
    style = {d: PATTERNS[i % len(PATTERNS)] for i, d in enumerate(domains)}
    given: dict[str, int] = {}  # addresses given so far: a second John Smith is john.smith2, as at most companies
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "linkedin", "phone", "title", "company", "domain", "location"])
        for i in range(n):
            first, last = rng.choice(FIRST), family_name(rng)
            domain = domains[i % len(domains)]
            local = style[domain].format(f=first.lower(), l=last.lower(), f0=first[0].lower())
            address = f"{local}@{domain}"
            if address in given:
                given[address] += 1
                address = f"{local}{given[address]}@{domain}"
            given.setdefault(address, 1)
            email = address if rng.random() < 0.9 else ""
            phone = f"+1 415 {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}" if rng.random() < 0.5 else ""
            w.writerow(
                [
                    f"{first} {last}",
                    email,
                    f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i:x}",
                    phone,
                    rng.choice(TITLES),
                    domain.split(".")[0].title(),
                    domain,
                    rng.choice(CITIES),
                ]
            )


def read_only(path: Path) -> float:
    t = time.perf_counter()
    with path.open(newline="") as f:
        for _ in csv.reader(f):
            pass
    return time.perf_counter() - t


def run_import(env: dict[str, str], path: Path) -> tuple[float, int, str]:
    """Seconds, the peak RSS (MB) of the import process plus its pool's workers (an upper bound: each
    worker counted at the largest one's peak), and its summary output."""
    code = (
        "import resource, sys\n"
        "from leadsmith.cli import main\n"
        "try:\n    main()\n"
        "finally:\n"
        "    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "    print('PEAK_CHILD_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    )
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, "import", str(path)], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    peak = int(re.search(r"PEAK_RSS_KB (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    # The parsing pool's workers (one per core): the largest of them, counted once per worker.
    child = int(re.search(r"PEAK_CHILD_KB (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    return elapsed, (peak + child * (os.cpu_count() or 1)) // 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "people.csv"
        t = time.perf_counter()
        generate(data, args.people)
        print(
            f"generated {args.people:,} people ({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
        # The baseline is measured again just before each import (the best of two reads): this machine's
        # speed drifts by up to 1.7x within an hour, and a ratio is only fair against its neighbour.
        print("baseline: reading the file with the csv module only, just before each import")
        columns = ("seconds", 8), ("rows/s", 9), ("peak MB", 8), ("base s", 7), ("ratio", 6)
        print(f"{'backend':<10} {'run':<8} " + " ".join(f"{name:>{width}}" for name, width in columns) + "  summary")
        for backend in args.backends.split(","):
            os.environ["LEADSMITH_TEST_DATABASE"] = backend
            with temporary_database(Path(tmp)) as url:
                env = base_env(url)
                for run in ("first", "again"):
                    base = min(read_only(data), read_only(data))
                    seconds, peak, out = run_import(env, data)
                    counts = dict(re.findall(r"│ ([a-z: ]+?)\s+│\s+([\d.]+)\s+│", out))
                    summary = ", ".join(
                        f"{k} {counts.get(k, '?')}"
                        for k in (
                            "people created",
                            "people updated",
                            "emails added",
                            "seconds: rows",
                            "seconds: patterns",
                        )
                    )
                    print(
                        f"{backend:<10} {run:<8} {seconds:>8.1f} {args.people / seconds:>9.0f} {peak:>8} "
                        f"{base:>7.2f} {seconds / base:>6.1f}  {summary}"
                    )


if __name__ == "__main__":
    main()
