"""``GET /keys/verifyKey`` (v1), and v2.0's ``GET /keys/remainingCredits`` and ``GET /keys/rateLimits``.

They need a valid key but draw no credit and do not count against the key's windows: they answer even
when a window is spent, since they are how a client learns when it may call again.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadsmith.access.auth import SECURITY, authenticate
from leadsmith.access.schemas import VerifyKeyResponse
from leadsmith.contacts.schemas import RateLimits, RemainingCredits
from leadsmith.errors import error_docs
from leadsmith.http import JSONResponse
from leadsmith.openapi import RATE_HEADERS, VERSION_PARAMETER

router = APIRouter(tags=["Keys"])
_EXTRA = {**SECURITY, "parameters": [VERSION_PARAMETER]}


@router.get(
    "/keys/verifyKey",
    response_model=VerifyKeyResponse,
    summary="verifyKey",
    description="Verifies that the API key is valid and returns the e-mail of its account. Free; not counted "
    "against the key's windows.",
    responses={200: {"headers": RATE_HEADERS}, **error_docs(401, 403, 500)},
    openapi_extra=SECURITY,
)
async def verify_key(request: Request) -> Response:
    call = await authenticate(request, count=False)
    return JSONResponse({"user": call.caller.email})


@router.get(
    "/keys/remainingCredits",
    response_model=RemainingCredits,
    summary="Remaining credits (v2.0)",
    description="The credits left of each kind: the account's pool of that kind (-1: unlimited), or, for a kind "
    "with no pool of its own, the general balance it draws on. Free; not counted against the key's windows.",
    responses={200: {"headers": RATE_HEADERS}, **error_docs(401, 403, 500)},
    openapi_extra=_EXTRA,
)
async def remaining_credits(request: Request) -> Response:
    call = await authenticate(request, count=False)
    return JSONResponse(await call.services.metering.remaining_credits(call.caller))


@router.get(
    "/keys/rateLimits",
    response_model=RateLimits,
    summary="Rate limits (v2.0)",
    description="The key's requests per day, hour and minute (null for a window it does not have). Free; not "
    "counted against the windows, and answered even when one is spent.",
    responses={200: {"headers": RATE_HEADERS}, **error_docs(401, 403, 500)},
    openapi_extra=_EXTRA,
)
async def rate_limits(request: Request) -> Response:
    call = await authenticate(request, count=False)
    return JSONResponse(call.services.metering.rate_limits(call.caller))
