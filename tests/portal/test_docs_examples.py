"""Every example of the portal's API reference, in its four languages, run against a server process
with only the host and key changed, as the reference's own examples are (tests/test_reference_examples.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from leadsmith.portal import docs
from tests.support import Server

LANGS = ("shell", "python", "ruby", "javascript")
CASES = [pytest.param(doc, lang, id=f"{lang}-{doc.anchor}") for doc in docs.ENDPOINTS for lang in LANGS]


def test_the_reference_covers_both_versions() -> None:
    paths = {d.path for d in docs.ENDPOINTS}
    assert {"/profile/profile", "/profile/linkedin", "/keys/remainingCredits", "/keys/rateLimits"} <= paths


def test_the_page_shows_every_endpoint_and_the_move_from_kaspr(server: Server) -> None:
    page = httpx.get(server.url + "/portal/docs").text
    for doc in docs.ENDPOINTS:
        assert doc.path in page
    assert "Moving a Kaspr integration to leadsmith" in page and server.url in page


@pytest.mark.parametrize(("doc", "lang"), CASES)
def test_every_example_runs(server: Server, demo_key: str, doc: docs.EndpointDoc, lang: str, tmp_path: Path) -> None:
    code = docs.examples(doc, server.url, demo_key)[lang]
    if lang == "shell":
        out = _run(["bash", "-c", code + " --silent --show-error --write-out '\\n%{http_code}'"])
        body, status = out.rsplit("\n", 1)
    elif lang == "python":
        scope: dict[str, Any] = {}
        exec(compile(code, "portal-example.py", "exec"), scope)
        status, body = str(scope["response"].status_code), scope["response"].text
    elif lang == "ruby":
        if shutil.which("ruby") is None:
            pytest.skip("ruby is not installed (.ci/run installs it)")
        script = tmp_path / "example.rb"
        script.write_text(code)
        status, body = _run(["ruby", str(script)]).split("\n", 1)
    else:
        if shutil.which("node") is None:
            pytest.skip("node is not installed (.ci/run installs it)")
        script = tmp_path / "example.mjs"
        script.write_text(code)
        status, body = _run(["node", str(script)]).split("\n", 1)
    assert status.strip() == "200", body
    answer = json.loads(body)
    if doc.response is not None:
        assert set(doc.response) <= set(answer), (doc.path, answer)


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
