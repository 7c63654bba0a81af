"""Request and response models of the Kaspr endpoints, field for field as the reference names them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

_STRICT = ConfigDict(strict=True, extra="ignore", str_strip_whitespace=True)

Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]
"""Text without control characters, checked by pydantic-core rather than in Python."""


class ProfileRequest(BaseModel):
    model_config = _STRICT

    id: Text = Field(
        min_length=1,
        max_length=2048,
        description='The lead\'s LinkedIn id: a slug ("john-doe") or any profile URL '
        '("https://fr.linkedin.com/in/john-doe/?locale=fr_FR"), or a Sales Navigator id',
        examples=["linkedinId"],
    )
    name: Text = Field(
        min_length=1,
        max_length=512,
        description="The lead's LinkedIn name",
        examples=["Linkedin Name"],
    )
    isPhoneRequired: bool = Field(
        default=False,
        description="true: phones are revealed (and charged), and a lead with no known phone returns no data. "
        "false: phones are not revealed.",
    )


class DomainRequest(BaseModel):
    model_config = _STRICT

    domain: Text = Field(
        min_length=1,
        max_length=2048,
        description="A company domain: example.com, company@example.com, @example.com or https://www.example.com/about",
        examples=["company@domain"],
    )


class EmployeesRequest(DomainRequest):
    contactsNumberLimit: int | None = Field(
        default=None,
        description="Maximum number of employees to return (default 5, at most the server's maximum)",
    )
    isPhoneRequired: bool = Field(
        default=False,
        description="true: only employees with a known phone are returned, with their phones. "
        "false: phones are not revealed.",
    )


class EmailItem(BaseModel):
    email: str
    valid: bool | None = Field(description="true: deliverable; false: undeliverable; null: not verified")


class Source(BaseModel):
    type: str = Field(description="email or phone")
    value: str
    source: str = Field(description='"import", the upstream provider\'s name, or "prediction" (derived here)')
    since: int | None = Field(description="When it was first seen, epoch ms")


class Profile(BaseModel):
    id: str
    name: str
    firstName: str
    lastName: str
    emails: list[EmailItem]
    currentProEmails: list[str]
    currentPersonalEmails: list[str]
    phones: list[str] = Field(description="International format, e.g. +33 6 12 34 56 78")
    location: str | None
    title: str | None
    companyName: str | None
    fetchedAt: int = Field(description="When this profile's data was last updated, epoch milliseconds")
    currentProEmail: str | None
    processingTime: float = Field(description="Seconds spent answering")
    currentEmail: str | None
    sources: list[Source] = Field(
        default_factory=list, description="leadsmith's own: where each e-mail and phone came from, and since when"
    )


class ProfileResponse(BaseModel):
    profile: Profile


class PatternItem(BaseModel):
    pattern: str = Field(examples=["{first}.{last}@example.com"])
    score: float = Field(ge=0, le=1, description="Probability that a new employee's address follows this pattern")
    maxLength: int | None = Field(default=None, description="Present when the local part is cut at this length")


class PatternsResponse(BaseModel):
    patterns: list[PatternItem]


class Employee(BaseModel):
    firstName: str
    lastName: str
    name: str
    company: str | None
    job: str | None
    email: str | None
    emails: list[EmailItem]
    phones: list[str]
    phone: str | None
    location: str | None


class EmployeesResponse(BaseModel):
    employees: list[Employee]


DATA_KINDS_V2 = ("workEmail", "directEmail", "personalEmail", "phone")


class LinkedinRequest(BaseModel):
    """``POST /profile/linkedin`` (Kaspr API v2.0)."""

    model_config = _STRICT

    id: Text = Field(
        min_length=1,
        max_length=2048,
        description="The lead's LinkedIn public id (slug), or any profile URL, or a Sales Navigator id",
        examples=["john-doe"],
    )
    name: Text | None = Field(default=None, max_length=512, description="The lead's full name (optional here)")
    dataToGet: list[Text] | None = Field(
        default=None,
        description="What to reveal: workEmail, directEmail (personalEmail is its other name), phone. "
        "Omitted: all of them. []: nothing (a free key check).",
        examples=[["workEmail", "phone"]],
    )
    requiredData: list[Text] | None = Field(
        default=None,
        description="Answer only if every one of these is known for the lead (each is also revealed); "
        "otherwise an empty profile, nothing charged",
    )
    isPhoneRequired: bool = Field(default=False, description="true: phone is both asked for and required (v1's flag)")


class V2Email(BaseModel):
    email: str
    valid: bool | None = Field(description="true: deliverable; false: undeliverable; null: not verified")
    isCurrent: bool = Field(description="false for a work address at a company the lead no longer works for")


class MainAddress(BaseModel):
    line1: str | None
    city: str | None
    postalCode: str | None
    country: str | None


class V2Company(BaseModel):
    name: str | None
    domains: list[str]
    companyPageUrl: str | None
    industryName: str | None
    industries: list[str]
    staffCount: int | None
    universalName: str | None
    mainAddress: MainAddress


class V2Profile(BaseModel):
    id: str
    name: str | None
    firstName: str | None
    lastName: str | None
    title: str | None
    location: str | None
    companyName: str | None
    company: V2Company | None
    workEmails: list[str]
    starryWorkEmail: str | None
    directEmails: list[str]
    starryDirectEmail: str | None
    phones: list[str] = Field(description="International format, e.g. +33 6 12 34 56 78")
    starryPhone: str | None
    emails: list[V2Email]
    fetchedAt: int | None = Field(description="When the lead's data was last updated (epoch ms); null: not found")
    professionalEmails: list[str] = Field(description="= workEmails (the naming of clients that send no version)")
    professionalEmail: str | None
    starryProfessionalEmail: str | None
    personalEmails: list[str] = Field(description="= directEmails")
    personalEmail: str | None
    starryPersonalEmail: str | None
    phone: str | None = Field(description="= starryPhone")
    sources: list[Source] = Field(
        default_factory=list, description="leadsmith's own: where each e-mail and phone came from, and since when"
    )


class LinkedinResponse(BaseModel):
    profile: V2Profile


class RemainingCredits(BaseModel):
    workEmailCredits: int = Field(description="-1: unlimited. Without a pool of its own: the general balance")
    directEmailCredits: int
    personalEmailCredits: int = Field(description="= directEmailCredits (the other name clients use)")
    phoneCredits: int
    exportCredits: int = Field(description="-1: unlimited (also when the account has no export pool)")


class RateLimits(BaseModel):
    dailyLimit: int | None = Field(description="Requests a day per key; null: no daily window")
    hourlyLimit: int | None
    minutelyLimit: int | None
