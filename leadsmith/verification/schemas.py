"""``POST /email/verify``: request and response."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leadsmith.contacts.schemas import Text


class VerifyRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", str_strip_whitespace=True)

    email: Text = Field(
        min_length=1, max_length=320, description="The address to verify", examples=["jane@example.com"]
    )


class VerifyResponse(BaseModel):
    email: str = Field(description="The address, normalised (domain lower-cased, in ASCII)")
    status: Literal["valid", "invalid", "accept_all", "webmail", "disposable", "unknown"]
    valid: bool | None = Field(description="Kaspr's validity: true if valid, false if invalid, otherwise null")
    score: int = Field(ge=0, le=100, description="Deliverability confidence, 0-100")
    reasons: dict[str, Any] = Field(
        description="What the verdict rests on: syntax, mx, dns, smtp (host, code, message, reply), catch_all, "
        "disposable, webmail, role"
    )
    verified_at: int = Field(description="When it was verified, epoch milliseconds")
