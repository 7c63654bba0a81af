"""``POST /company/emailFinder``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadsmith.access.auth import SECURITY, authenticate
from leadsmith.body import body_openapi, parse_body
from leadsmith.errors import error_docs
from leadsmith.http import charged_response
from leadsmith.openapi import CREDIT_HEADERS, IDEMPOTENCY_PARAMETER
from leadsmith.patterns.schemas import FinderRequest, FinderResponse

router = APIRouter(tags=["Company"])


@router.post(
    "/company/emailFinder",
    summary="Find E-mail",
    description="The likely work addresses of a person at a company, best first, at most 5, each with the "
    "probability that it is theirs. A known address comes first with its known validity. Send name, or "
    "firstName and lastName.",
    response_model=FinderResponse,
    responses={200: {"headers": CREDIT_HEADERS}, **error_docs(400, 401, 402, 403, 413, 429, 500)},
    openapi_extra={**body_openapi(FinderRequest), "parameters": [IDEMPOTENCY_PARAMETER], **SECURITY},
)
async def email_finder(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, FinderRequest)
    return charged_response(await call.services.patterns.email_finder(call.caller, call.ctx, body))
