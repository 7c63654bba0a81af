"""The providers file (``LEADSMITH_PROVIDERS_FILE``): one ``[[providers]]`` table each, in the waterfall's order.

[[providers]]
name = "kaspr"                 # how logs, metrics and `leadsmith providers` call it
kind = "kaspr"                 # kaspr | hunter | pdl | apollo (or a plugin's kind)
base_url = "https://api.developers.kaspr.io"
api_key_env = "KASPR_API_KEY"  # the environment variable holding the key: keys never go in files or logs
timeout_seconds = 10           # a slow provider never holds a request longer than this
concurrency = 8                # calls in flight to it at once, per worker
monthly_budget = 5000          # in the provider's own units (its credits); none: no budget
lookups = ["profile"]          # which look-ups use it (default: all it offers)
enabled = true
api_version = "v2"             # kaspr only: "v2" (Kaspr API v2.0) or "v1" (the 2020 reference)
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadsmith.providers.base import LOOKUPS, Lookup


class ProvidersFileError(ValueError):
    """The providers file cannot be used; the message says what is wrong and where."""


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str = Field(min_length=1, max_length=64)
    base_url: str = Field(min_length=1)
    api_key_env: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    concurrency: int = Field(default=8, ge=1, le=256)
    monthly_budget: float | None = Field(default=None, ge=0)
    lookups: list[Lookup] | None = None
    enabled: bool = True
    api_version: Literal["v1", "v2"] = "v2"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def api_key(self) -> str | None:
        """The key, from the environment variable the file names (None when it is not set)."""
        return os.environ.get(self.api_key_env) or None


def load(path: Path) -> list[ProviderConfig]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProvidersFileError(f"cannot read the providers file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProvidersFileError(f"{path} is not valid TOML: {exc}") from None
    tables = raw.get("providers", [])
    if not isinstance(tables, list):
        raise ProvidersFileError(f"{path}: write each provider as a [[providers]] table")
    out: list[ProviderConfig] = []
    for n, table in enumerate(tables, start=1):
        try:
            config = ProviderConfig.model_validate(table)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "table"
            raise ProvidersFileError(f"{path}: provider #{n}: {where}: {first['msg']}") from None
        if any(c.name == config.name for c in out):
            raise ProvidersFileError(f"{path}: two providers are named {config.name!r}")
        out.append(config)
    return out


__all__ = ["LOOKUPS", "ProviderConfig", "ProvidersFileError", "load"]
