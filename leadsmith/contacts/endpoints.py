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
    LinkedinRequest,
    LinkedinResponse,
    PatternsResponse,
    ProfileRequest,
    ProfileResponse,
)
from leadsmith.errors import error_docs
from leadsmith.http import charged_response
from leadsmith.openapi import CREDIT_HEADERS, IDEMPOTENCY_PARAMETER, POOL_HEADERS, VERSION_PARAMETER

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
    "/profile/linkedin",
    tags=["Leads (v2.0)"],
    summary="Get Lead (v2.0)",
    description="Kaspr API v2.0: the work e-mails, direct e-mails and phones of a lead by LinkedIn id, as many kinds "
    "as dataToGet asks for (omitted: all; []: a free key check). A lead not known, or lacking a kind requiredData "
    "names, is a 200 with an empty profile, charged nothing. One credit of each kind newly revealed, from the "
    "account's pool of that kind (or its general balance). Every field comes in v2's naming and the older one.",
    response_model=LinkedinResponse,
    responses={200: {"headers": {**CREDIT_HEADERS, **POOL_HEADERS}}, **_ERRORS},
    openapi_extra={
        **body_openapi(LinkedinRequest),
        "parameters": [IDEMPOTENCY_PARAMETER, VERSION_PARAMETER],
        **SECURITY,
    },
)
async def get_linkedin(request: Request) -> Response:
    call = await authenticate(request)
    body = await parse_body(request, LinkedinRequest)
    return charged_response(await call.services.contacts.linkedin(call.caller, call.ctx, body), pools=True)


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


# Served by EdgeMiddleware ahead of the router (see there): the look-ups every client makes most.
DIRECT = {
    "/profile/profile": get_profile,
    "/profile/linkedin": get_linkedin,
    "/company/domainPattern": get_pattern,
    "/company/domainEmployees": get_employees,
}
