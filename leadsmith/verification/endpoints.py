"""``POST /email/verify``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadsmith.access.auth import SECURITY, authenticate
from leadsmith.body import body_openapi, parse_body
from leadsmith.errors import error_docs
from leadsmith.http import charged_response
from leadsmith.openapi import CREDIT_HEADERS, IDEMPOTENCY_PARAMETER
from leadsmith.verification.schemas import VerifyRequest, VerifyResponse

router = APIRouter(tags=["E-mail"])


@router.post(
    "/email/verify",
    summary="Verify E-mail",
    description="Whether an address is deliverable: syntax, DNS (MX, null MX, A fallback), disposable and webmail "
    "lists, and an SMTP probe (RCPT only, never DATA) with catch-all detection. A stored result is reused until it "
    "ages. Charged per verdict; an unknown result is free.",
    response_model=VerifyResponse,
    responses={200: {"headers": CREDIT_HEADERS}, **error_docs(400, 401, 402, 403, 413, 429, 500)},
    openapi_extra={**body_openapi(VerifyRequest), "parameters": [IDEMPOTENCY_PARAMETER], **SECURITY},
)
async def verify_email(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, VerifyRequest)
    return charged_response(await call.services.verification.email_verify(call.caller, call.ctx, body))
