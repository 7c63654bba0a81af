"""The hand-written pages cannot name a setting or a command the code does not have (the reference pages
are generated from the code, so they cannot drift at all)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from leadsmith.cli import app
from leadsmith.config import Settings

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
# Variables the pages name that are not settings of the server: the tests' own, the enrich client's key.
NOT_SETTINGS = {
    "LEADSMITH_TEST_DATABASE",
    "LEADSMITH_TEST_REDIS",
    "LEADSMITH_REQUIRE_SHARED",
    "LEADSMITH_ENRICH_KEY",
    "LEADSMITH_REQUIRE_POSTFIX",
}


def _commands() -> set[str]:
    found: set[str] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            if path:
                found.add(" ".join(path))
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
        else:
            found.add(" ".join(path))

    walk(typer.main.get_command(app), ())
    return found


def test_every_setting_named_in_the_docs_exists() -> None:
    known = {f"LEADSMITH_{name.upper()}" for name in Settings.model_fields}
    for page in PAGES:
        named = set(re.findall(r"LEADSMITH_[A-Z0-9_]*[A-Z0-9]", page.read_text()))
        unknown = named - known - NOT_SETTINGS
        assert not unknown, f"{page.name} names settings that do not exist: {sorted(unknown)}"


def test_every_command_named_in_the_docs_exists() -> None:
    commands = _commands()
    for page in PAGES:
        text = page.read_text()
        inline = re.finditer(r"`leadsmith ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", text)
        blocks = "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL))
        in_blocks = re.finditer(r"^leadsmith ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", blocks, re.MULTILINE)
        for match in (*inline, *in_blocks):
            words = match.group(1).split()
            # `leadsmith privacy erase` or `leadsmith doctor` (a command's first word, then maybe its subcommand)
            assert words[0] in commands or " ".join(words) in commands, f"{page.name}: no command {match.group(0)}`"
            if words[0] in {"accounts", "keys", "credits", "providers", "privacy", "admin"} and len(words) > 1:
                assert any(c.startswith(" ".join(words)) for c in commands), f"{page.name}: no command {words}"
