"""Shared by the bench scripts: a throw-away store and server, and wrk runs parsed into figures."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from leadsmith.testing.processes import REDIS_URL, Server, cli, free_port, start_server, temporary_database
from leadsmith.testing.processes import quiet_env as base_env

__all__ = [
    "REDIS_URL",
    "Server",
    "WrkResult",
    "base_env",
    "cli",
    "free_port",
    "stand_in",
    "start_server",
    "temporary_database",
    "wrk",
]


@dataclass
class WrkResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def row(self, baseline: WrkResult | None = None) -> str:
        ratio = f"{self.rps / baseline.rps:.2f}" if baseline else "-"
        return f"{self.name:<32} {self.rps:>10.0f} {self.p50_ms:>9.2f} {self.p99_ms:>9.2f} {ratio:>7} {self.errors:>7}"


HEADER = f"{'endpoint':<32} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'ratio':>7} {'non-2xx':>7}"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match.group(2)]


def wrk(
    name: str, url: str, *, connections: int, seconds: int, threads: int = 2, script: Path | None = None
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(name, rps, p50, p99, int(bad.group(1)) if bad else 0)


@contextlib.contextmanager
def stand_in(
    delay: float, jitter: float = 0.0, python: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The loopback Kaspr v2.0 stand-in (bench/fake_upstream.py) answering after ``delay`` s (+- ``jitter``),
    once it answers: its URL and process, stopped on leaving. ``python``: the interpreter it runs on (this
    one unless given: the ruler leadsmith's CPU is compared with, kept the same when the server's
    interpreter is what is compared)."""
    port = free_port()
    fake = subprocess.Popen(
        [
            python or sys.executable,
            str(Path(__file__).with_name("fake_upstream.py")),
            *("--port", str(port), "--delay", str(delay), "--jitter", str(jitter)),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(50):
            try:
                httpx.get(url + "/calls", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, fake
    finally:
        fake.terminate()
        fake.wait(5)


def stand_in_providers(path: Path, url: str, **more: int) -> Path:
    """A providers file with the stand-in as its one provider (key in BENCH_UPSTREAM_KEY), and ``more``."""
    extra = "".join(f"{k} = {v}\n" for k, v in more.items())
    path.write_text(
        "[[providers]]\nname = 'stand-in'\nkind = 'kaspr'\n"
        f"base_url = '{url}'\napi_key_env = 'BENCH_UPSTREAM_KEY'\ntimeout_seconds = 5\n{extra}"
    )
    return path
