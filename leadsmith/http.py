"""The responses endpoints return: orjson for plain JSON, and a charged endpoint's answer with its headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from leadsmith.metering.schemas import Charged


class JSONResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers)

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _Prebuilt(Response):
    """A response whose headers are built here as bytes: Starlette's ``init_headers`` lower-cases and encodes
    each one on every response (the credit headers of a v2 answer: ~1.5 us of a ~300 us request)."""

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


_POOL_NAMES = tuple(
    (kind, f"remaining-{kind.replace('_', '-')}-credits".encode())
    for kind in ("work_email", "direct_email", "phone", "export")
)


def charged_response(charged: Charged, *, pools: bool = False) -> Response:
    """A charged endpoint's answer with its credit headers (and, with ``pools``, v2's per-kind ones)."""
    raw = [
        (b"content-length", str(len(charged.body)).encode()),
        (b"content-type", b"application/json"),
        (b"decreased-credits", str(charged.decreased).encode()),
        (b"remaining-credits", str(charged.purse.credits).encode()),
    ]
    if pools:
        purse = charged.purse
        raw += [(name, str(purse.shown(kind)).encode()) for kind, name in _POOL_NAMES]  # type: ignore[arg-type]
    if charged.replayed:
        raw.append((b"idempotent-replayed", b"true"))
    return _Prebuilt(charged.body, charged.status, raw)
