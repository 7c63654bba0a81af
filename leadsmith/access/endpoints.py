"""``GET /keys/verifyKey``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from leadsmith.access.auth import Authenticated
from leadsmith.access.schemas import VerifyKeyResponse
from leadsmith.errors import error_docs
from leadsmith.http import JSONResponse
from leadsmith.openapi import RATE_HEADERS

router = APIRouter(tags=["Keys"])


@router.get(
    "/keys/verifyKey",
    response_model=VerifyKeyResponse,
    summary="verifyKey",
    description="Verifies that the API key is valid and returns the e-mail of its account.",
    responses={200: {"headers": RATE_HEADERS}, **error_docs(401, 403, 429, 500)},
)
async def verify_key(caller: Authenticated) -> Response:
    return JSONResponse({"user": caller.email})
