"""The Kaspr lead and company endpoints: parse, one service call, respond."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from leadsmith.access.auth import SECURITY, authenticate
from leadsmith.body import body_openapi, parse_body
from leadsmith.contacts.schemas import (
    DomainRequest,
    EmployeesRequest,
    EmployeesResponse,
    PatternsResponse,
    ProfileRequest,
    ProfileResponse,
)
from leadsmith.errors import error_docs
from leadsmith.http import charged_response
from leadsmith.openapi import CREDIT_HEADERS, IDEMPOTENCY_PARAMETER

router = APIRouter()
_ERRORS = error_docs(400, 401, 402, 403, 404, 413, 429, 500)


def _extra(model: type, **more: object) -> dict[str, object]:
    return {**body_openapi(model), "parameters": [IDEMPOTENCY_PARAMETER], **SECURITY, **more}


@router.post(
    "/profile/profile",
    tags=["Leads"],
    summary="Get Lead",
    description="Retrieves the e-mails and, with isPhoneRequired, the phones of a lead by LinkedIn id.",
    response_model=ProfileResponse,
    responses={200: {"headers": CREDIT_HEADERS}, **_ERRORS},
    openapi_extra=_extra(ProfileRequest),
)
async def get_profile(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, ProfileRequest)
    return charged_response(await call.services.contacts.profile(call.caller, call.ctx, body))


@router.post(
    "/company/domainPattern",
    tags=["Company"],
    summary="Get Pattern",
    description="Retrieves a company's e-mail patterns, best first, each with the probability it is right.",
    response_model=PatternsResponse,
    responses={200: {"headers": CREDIT_HEADERS}, **_ERRORS},
    openapi_extra=_extra(DomainRequest),
)
async def get_pattern(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, DomainRequest)
    return charged_response(await call.services.contacts.domain_pattern(call.caller, call.ctx, body))


@router.post(
    "/company/domainEmployees",
    tags=["Company"],
    summary="Get Employees",
    description="Retrieves the employees of a company by domain.",
    response_model=EmployeesResponse,
    responses={200: {"headers": CREDIT_HEADERS}, **_ERRORS},
    openapi_extra=_extra(EmployeesRequest),
)
async def get_employees(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, EmployeesRequest)
    return charged_response(await call.services.contacts.domain_employees(call.caller, call.ctx, body))
