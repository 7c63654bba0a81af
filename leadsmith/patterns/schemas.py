"""The e-mail finder's request and response."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from leadsmith.contacts.schemas import Text


class FinderRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", str_strip_whitespace=True)

    domain: Text = Field(
        min_length=1, max_length=2048, description="The company's e-mail domain", examples=["example.com"]
    )
    name: Text | None = Field(default=None, min_length=1, max_length=512, description="The person's full name")
    firstName: Text | None = Field(default=None, min_length=1, max_length=255)
    lastName: Text | None = Field(default=None, min_length=1, max_length=255)
    verify: bool | None = Field(
        default=None,
        description="Probe the candidates over SMTP before answering (default: LEADSMITH_FINDER_VERIFY): an "
        "address the server accepts comes first with valid: true, rejected ones are dropped; answered within "
        "LEADSMITH_FINDER_VERIFY_TIMEOUT_SECONDS",
    )


class Verification(BaseModel):
    status: str = Field(description="valid | accept_all | unknown (rejected candidates are not returned)")
    reason: str | None = Field(description="Why the probe was not decisive; null for valid")


class FoundEmail(BaseModel):
    email: str
    score: float = Field(ge=0, le=1, description="Probability that this is the person's address (calibrated)")
    pattern: str | None = Field(description="The pattern that gives it, null for a known address")
    valid: bool | None = Field(description="Known or verified validity; null when not verified (or not decisive)")
    verification: Verification | None = Field(
        default=None, description='What the SMTP probe said (only with "verify": true)'
    )


class FinderResponse(BaseModel):
    emails: list[FoundEmail]
