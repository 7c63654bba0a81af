"""mkdocs hooks: the pages that must not drift from the code are generated from it at build time.

- ``<!-- leadsmith:settings -->``: every field of ``leadsmith.config.Settings`` (variable, type, default,
  description);
- ``<!-- leadsmith:cli -->``: every command of the ``leadsmith`` console script, its arguments and options;
- ``<!-- leadsmith:endpoints -->``: every operation of the OpenAPI document the server serves.
"""

from __future__ import annotations

import os
import re
import tempfile
import typing
from typing import Any

import typer
from pydantic_core import PydanticUndefined


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return ", ".join(f"`{a}`" for a in args)
    if args:
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else ""
        )
    return {"str": "text", "int": "integer", "float": "number", "bool": "true/false", "Path": "path"}.get(
        getattr(annotation, "__name__", str(annotation)), str(annotation)
    )


def settings_table() -> str:
    from leadsmith.config import DEFAULT_DATABASE_URL, Settings

    rows = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default: Any = field.default
        if name == "secret_key":
            shown = "random at each start"
        elif default is PydanticUndefined or default is None:
            shown = "—"
        elif default == "":
            shown = '""'
        elif name == "database_url":
            shown = f"`{DEFAULT_DATABASE_URL}`"
        else:
            shown = f"`{str(default).lower() if isinstance(default, bool) else default}`"
        kind = _type_name(field.annotation)
        rows.append(
            f"| `LEADSMITH_{name.upper()}` | {_cell(kind)} | {_cell(shown)} | {_cell(field.description or '')} |"
        )
    return "\n".join(rows)


def _commands(group: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every leaf command under ``group`` (typer vendors its own click: matched by shape, not class)."""
    out: list[tuple[list[str], Any]] = []
    if getattr(group, "commands", None):
        for name in sorted(group.commands):
            out.extend(_commands(group.commands[name], [*path, name]))
    else:
        out.append((path, group))
    return out


def cli_reference() -> str:
    from leadsmith.cli import app

    root = typer.main.get_command(app)
    parts: list[str] = []
    for path, command in _commands(root, ["leadsmith"]):
        if getattr(command, "hidden", False):
            continue
        ctx = command.context_class(command, info_name=" ".join(path))
        parts.append(f"### `{' '.join(path)}`\n")
        parts.append((command.help or "").strip().replace("\n", " ") + "\n")
        usage = re.sub(r"\{([\w-]+)\}", lambda m: m.group(1).upper(), command.get_usage(ctx))
        parts.append(f"```\n{usage}\n```\n")
        rows = []
        for param in command.params:
            if param.param_type_name == "argument":
                name = (param.name or "").upper()
                rows.append(f"| `{name}` | argument | {_cell(getattr(param, 'help', '') or '')} |")
            elif param.param_type_name == "option" and param.name != "help":
                names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
                default = param.default
                extra = ""
                if default not in (None, False, "", ()) and not callable(default) and not param.is_flag:
                    extra = f" (default: `{default}`)"
                if param.envvar:
                    extra += f" (env: `{param.envvar}`)"
                rows.append(f"| {names} | option | {_cell((param.help or '') + extra)} |")
        if rows:
            parts.append("| Name | Kind | Meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def endpoints_table() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LEADSMITH_DATABASE_URL", f"sqlite:///{tmp}/docs.db")
        from leadsmith.app import create_app

        spec = create_app().openapi()
    rows = ["| Method | Path | Summary | Group |", "|---|---|---|---|"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            rows.append(
                f"| {method.upper()} | `{path}` | {_cell(op.get('summary', ''))} | {', '.join(op.get('tags', []))} |"
            )
    return "\n".join(rows)


_MARKERS = {
    "<!-- leadsmith:settings -->": settings_table,
    "<!-- leadsmith:cli -->": cli_reference,
    "<!-- leadsmith:endpoints -->": endpoints_table,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, make in _MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
