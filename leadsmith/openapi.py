"""Response headers as documented in OpenAPI."""

from __future__ import annotations

from typing import Any


def _h(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


RATE_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": _h(
        "The limit of the key's window nearest to refusing (the hourly one unless the key has more)"
    ),
    "X-RateLimit-Remaining": _h("Requests left in that window"),
    "X-RateLimit-Reset": _h("Milliseconds until that window resets"),
    "X-Hourly-RateLimit-Remaining": _h("Requests left this hour (X-Hourly-RateLimit-Limit: the limit)"),
    "X-Minutely-RateLimit-Remaining": _h("Requests left this minute, for a key with a minute's window"),
    "X-Daily-RateLimit-Remaining": _h("Requests left today, for a key with a daily window"),
}
CREDIT_HEADERS: dict[str, Any] = {
    **RATE_HEADERS,
    "Decreased-Credits": _h("Credits charged for this request (0 for data already revealed or a replay)"),
    "Remaining-Credits": _h("Credits left on the account"),
}

POOL_HEADERS: dict[str, Any] = {
    f"Remaining-{kind}-Credits": _h(f"{kind.replace('-', ' ')} credits left (-1: unlimited), as /keys/remainingCredits")
    for kind in ("Work-Email", "Direct-Email", "Phone", "Export")
}

VERSION_PARAMETER: dict[str, Any] = {
    "name": "accept-version",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "example": "v2.0"},
    "description": "Kaspr clients send v2.0; any other value, or none, changes nothing (both namings are always sent)",
}

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Retrying with the same key returns the first response, free of charge (kept 24 hours)",
}
