"""What the access feature hands to the rest of the service, and its one response model."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from leadsmith.metering.schemas import Purse


@dataclass(frozen=True, slots=True)
class Prices:
    email: int
    phone: int
    employee: int
    verify: int = 1

    def of(self, kind: str) -> int:
        """The price of one item of ``kind`` on the general balance (work and direct e-mails are both
        priced as an e-mail)."""
        price: int = getattr(self, "email" if kind in ("work_email", "direct_email") else kind)
        return price


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's key and account."""

    key_id: int
    account_id: int
    email: str
    rate_limit: int
    prices: Prices
    key_prefix: str = ""
    daily_limit: int | None = None
    minutely_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    credits: int
    rate_limit: int | None
    disabled: bool
    created_at: int
    daily_limit: int | None = None
    minutely_limit: int | None = None
    pools: Purse = field(default_factory=lambda: Purse(0))


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    account_id: int
    name: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    info: KeyInfo
    key: str


class VerifyKeyResponse(BaseModel):
    user: str = Field(
        description="The e-mail of the account that owns the key",
        examples=["email@adress"],
    )
