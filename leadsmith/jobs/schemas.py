"""Bulk jobs' requests and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["profile", "emailFinder", "verify"]
JobStatus = Literal["queued", "running", "done", "cancelled", "failed"]
# What one item came to, in its result line.
ItemStatus = Literal["found", "not_found", "invalid", "insufficient_credits", "cancelled", "error"]


class BulkRequest(BaseModel):
    """``POST /bulk/profile``, ``/bulk/emailFinder``, ``/bulk/verify``: each item is what the single
    endpoint takes (plus an optional ``ref`` echoed in its result line); a bad item is reported in its
    line, it does not fail the job."""

    model_config = ConfigDict(extra="ignore")

    items: list[dict[str, Any]] = Field(min_length=1, description="The items, in the order results come back")
    callbackUrl: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed the job (signed: Leadsmith-Signature) when it ends",
        examples=["https://crm.example.com/hooks/leadsmith"],
    )
    verify: bool | None = Field(default=None, description="emailFinder only: check the candidates over SMTP")


class Job(BaseModel):
    id: str
    kind: Kind
    status: JobStatus
    total: int
    processed: int
    found: int
    creditsSpent: int
    counts: dict[str, int] = Field(description="Items by result status")
    createdAt: int
    startedAt: int | None
    finishedAt: int | None
    callbackUrl: str | None = None
    error: str | None = None


class JobResponse(BaseModel):
    job: Job


class JobList(BaseModel):
    jobs: list[Job]
    total: int
    limit: int
    offset: int
