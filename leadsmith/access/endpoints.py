"""``GET /keys/verifyKey``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadsmith.access.auth import SECURITY, authenticate
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
    openapi_extra=SECURITY,
)
async def verify_key(request: Request) -> Response:
    call = await authenticate(request)
    return JSONResponse({"user": call.caller.email})
