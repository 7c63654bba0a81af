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


def charged_response(charged: Charged, *, pools: bool = False) -> Response:
    """A charged endpoint's answer with its credit headers (and, with ``pools``, v2's per-kind ones)."""
    return Response(
        charged.body, status_code=charged.status, media_type="application/json", headers=charged.headers(pools)
    )
