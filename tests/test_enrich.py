"""``leadsmith enrich`` and ``leadsmith verify --server`` against real server processes: found columns,
the output, pacing by a server's limits, and a client killed mid-run that goes on without asking twice."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from leadsmith.contacts.demo import demo_rows
from leadsmith.enrich import EnrichError, plan_of
from tests.support import Server, base_env, cli, start_server, temporary_database


def demo_leads() -> list[dict[str, str]]:
    out = []
    for row in demo_rows():
        if row.get("emails") and str(row["linkedin"]).startswith("https"):
            name = f"{row.get('first_name', '')} {row.get('last_name', '')}".strip()
            out.append({"crm_id": f"c{len(out)}", "LinkedIn URL": str(row["linkedin"]), "Full Name": name})
    return out


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@contextmanager
def enrich_server(tmp: Path, **env: str) -> Iterator[tuple[Server, str]]:
    with temporary_database(tmp) as url:
        server_env = base_env(url, **env)
        cli(server_env, "demo")
        key = cli(server_env, "accounts", "create", "enrich@acme.example", "--credits", "100000").stdout.split()[-1]
        server = start_server(server_env, tmp / "server.log")
        try:
            yield server, key
        finally:
            server.stop()


def test_columns_are_found_as_the_import_finds_them() -> None:
    assert plan_of(["Id", "LinkedIn URL", "Full Name"]).mode == "profile"
    finder = plan_of(["First Name", "last_name", "Company Domain"])
    assert (finder.mode, finder.first, finder.last, finder.domain) == (
        "finder",
        "First Name",
        "last_name",
        "Company Domain",
    )
    with pytest.raises(EnrichError, match="no columns to ask by"):
        plan_of(["foo", "bar"])


def test_enrich_writes_the_input_and_what_was_found(tmp_path: Path) -> None:
    nobody = {"crm_id": "x", "LinkedIn URL": "https://www.linkedin.com/in/nobody-zz", "Full Name": "N"}
    rows = [*demo_leads()[:40], nobody]
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, rows)
    with enrich_server(tmp_path) as (server, key):
        done = cli(server.env, "enrich", str(source), "--server", server.url, "--key", key, "--output", str(output))
    assert "written to" in done.stdout
    out = read_csv(output)
    assert [r["crm_id"] for r in out] == [r["crm_id"] for r in rows]  # the input's order and columns
    assert list(out[0])[:3] == ["crm_id", "LinkedIn URL", "Full Name"]
    assert {"email", "emails", "phone", "phones", "title", "company", "status"} <= set(out[0])
    assert out[-1]["status"] == "not_found" and all(r["status"] == "found" for r in out[:-1])
    assert all("@" in r["email"] for r in out[:-1])
    assert "credits spent" in done.stdout and not output.with_name("out.csv.journal").exists()


def test_the_finder_mode_and_verify_through_a_server(tmp_path: Path) -> None:
    source, output = tmp_path / "names.csv", tmp_path / "found.csv"
    write_csv(source, [{"first_name": "Jane", "last_name": "Doe", "domain": "domain"}])
    listing = tmp_path / "list.txt"
    listing.write_text("jane@known.test\nnobody@known.test\n")
    with enrich_server(tmp_path) as (server, key):
        cli(server.env, "enrich", str(source), "--server", server.url, "--key", key, "--output", str(output))
        verified = cli(server.env, "verify", "--server", server.url, "--key", key, "--file", str(listing), "--json")
    assert read_csv(output)[0]["email"] == "jane.doe@domain"
    assert [json.loads(line)["status"] for line in verified.stdout.splitlines()] == ["valid", "invalid"]


def test_enrich_waits_for_the_servers_windows_and_loses_no_row(tmp_path: Path) -> None:
    rows = (demo_leads() * 3)[:300]
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, rows)
    with enrich_server(tmp_path, LEADSMITH_RATE_LIMIT_PER_HOUR="100", LEADSMITH_RATE_WINDOW_SECONDS="3") as (
        server,
        key,
    ):
        done = cli(server.env, "enrich", str(source), "--server", server.url, "--key", key, "--output", str(output),
                   "--concurrency", "8", timeout=120)  # fmt: skip
    out = read_csv(output)
    assert len(out) == 300 and {r["status"] for r in out} == {"found"}
    waited = float(re.search(r"seconds waiting for the rate limit\D+([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert waited > 0  # it waited for the windows rather than failing rows


def test_a_client_killed_mid_run_goes_on_without_asking_a_row_twice(tmp_path: Path) -> None:
    rows = demo_leads()
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, rows)
    with enrich_server(tmp_path, LEADSMITH_RATE_LIMIT_PER_HOUR="100000") as (server, key):
        args = [sys.executable, "-m", "leadsmith", "enrich", str(source), "--server", server.url, "--key", key,
                "--output", str(output), "--concurrency", "2"]  # fmt: skip
        first = subprocess.Popen(args, env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = output.with_name("out.csv.journal")
        deadline = time.monotonic() + 60
        while not journal.exists() or journal.read_text().count('"result"') < 20:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert not output.exists()
        cli(server.env, "enrich", str(source), "--server", server.url, "--key", key, "--output", str(output))
        spent = 100000 - int(cli(server.env, "credits", "show", "enrich@acme.example").stdout.split(": ")[1].split()[0])
        requests = sum(
            float(line.rsplit(" ", 1)[1])
            for line in httpx.get(server.url + "/metrics").text.splitlines()
            if line.startswith('leadsmith_requests_total{endpoint="/profile/linkedin"')
        )
    out = read_csv(output)
    assert len(out) == len(rows) and {r["status"] for r in out} == {"found"}
    # Each lead was paid for once, and no row was asked again, but the two in flight at the kill (which
    # the server answered again from its first answer, free).
    assert spent == sum(1 + (r["phone"] != "") * 2 for r in out)
    assert len(rows) <= requests <= len(rows) + 2
