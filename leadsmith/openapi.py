"""Response headers as documented in OpenAPI."""

from __future__ import annotations

from typing import Any


def _h(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


RATE_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": _h("Maximum number of requests per hour for this key"),
    "X-RateLimit-Remaining": _h("Requests left in the current window"),
    "X-RateLimit-Reset": _h("Milliseconds until the window resets"),
}
CREDIT_HEADERS: dict[str, Any] = {
    **RATE_HEADERS,
    "Decreased-Credits": _h("Credits charged for this request (0 for data already revealed or a replay)"),
    "Remaining-Credits": _h("Credits left on the account"),
}

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Retrying with the same key returns the first response, free of charge (kept 24 hours)",
}
