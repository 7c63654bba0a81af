"""Request and response models of the admin privacy API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)

IDENT = (
    "An e-mail address, a LinkedIn URL or id, a phone number (any format the import accepts), or @domain for a "
    "whole domain"
)


class IdentitiesRequest(BaseModel):
    model_config = _STRICT
    identities: list[str] = Field(min_length=1, max_length=10_000, description=f"Each: {IDENT}")


class IdentityRequest(BaseModel):
    model_config = _STRICT
    identity: str = Field(min_length=1, max_length=2048, description=IDENT)


class EraseRequest(IdentityRequest):
    vacuumFull: bool = Field(
        default=False,
        description="Rewrite the affected tables (PostgreSQL: VACUUM FULL) or the whole file (SQLite: VACUUM) too",
    )


class SuppressResponse(BaseModel):
    added: int = Field(description="Identities newly suppressed (those already on the list are left)")
    identities: int


class UnsuppressResponse(BaseModel):
    removed: int


class SuppressionList(BaseModel):
    total: int
    suppressions: list[dict[str, Any]] = Field(description="Keyed hashes with their kind, origin and date: never who")


class ErasureResponse(BaseModel):
    people: int = Field(description="People erased")
    removed: dict[str, int] = Field(description="Rows removed or scrubbed, by table")
    suppressed: int = Field(description="Identities added to the suppression list")


class RequestList(BaseModel):
    requests: list[dict[str, Any]]
