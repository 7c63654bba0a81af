"""The admin privacy API: ``/admin/privacy/*``, on admin tokens (``Authorization: Bearer lsa_...``).

Identities go in request bodies, never in URLs (which end up in access logs and proxies' logs): an export
is a POST for that reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from leadsmith.body import body_openapi, parse_body
from leadsmith.errors import BadRequest, coded, error_docs
from leadsmith.http import JSONResponse
from leadsmith.privacy.schemas import (
    EraseRequest,
    ErasureResponse,
    IdentitiesRequest,
    IdentityRequest,
    RequestList,
    SuppressionList,
    SuppressResponse,
    UnsuppressResponse,
)
from leadsmith.privacy.service import PrivacyService
from leadsmith.services import services_of

router = APIRouter(prefix="/admin/privacy", tags=["Admin: privacy"])
ADMIN_SECURITY: dict[str, Any] = {"security": [{"AdminToken": []}]}
ADMIN_SCHEME = {
    "AdminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer lsa_... (an admin token: `leadsmith admin token create NAME`)",
    }
}


async def _privacy(request: Request) -> PrivacyService:
    services = services_of(request)
    assert services.admin is not None
    assert services.privacy is not None
    await services.admin.authenticate(request.headers.get("authorization"))
    return services.privacy


RequestId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The removal request's id")]


@router.post(
    "/suppressions",
    response_model=SuppressResponse,
    summary="Suppress identities",
    description="Add identities to the suppression list: nobody they name is served, imported, predicted or "
    "asked about upstream again. Every worker follows within a second.",
    responses=error_docs(400, 401, 500),
    openapi_extra={**body_openapi(IdentitiesRequest), **ADMIN_SECURITY},
)
async def suppress(request: Request) -> Response:
    privacy = await _privacy(request)
    body = await parse_body(request, IdentitiesRequest)
    identities = privacy.identities(body.identities)
    added = await privacy.suppress(identities, origin="api")
    return JSONResponse({"added": added, "identities": len(identities)})


@router.post(
    "/suppressions/remove",
    response_model=UnsuppressResponse,
    summary="Lift suppressions",
    responses=error_docs(400, 401, 500),
    openapi_extra={**body_openapi(IdentitiesRequest), **ADMIN_SECURITY},
)
async def unsuppress(request: Request) -> Response:
    privacy = await _privacy(request)
    body = await parse_body(request, IdentitiesRequest)
    return JSONResponse({"removed": await privacy.unsuppress(privacy.identities(body.identities))})


@router.get(
    "/suppressions",
    response_model=SuppressionList,
    summary="The suppression list",
    description="Keyed hashes (HMAC-SHA256 under the store's own secret), their kind, origin and date: the list "
    "names nobody. To ask whether someone is on it, export them.",
    responses=error_docs(400, 401, 500),
    openapi_extra=ADMIN_SECURITY,
)
async def suppressions(request: Request, kind: str | None = None) -> Response:
    privacy = await _privacy(request)
    if kind is not None and kind not in ("email", "linkedin", "phone", "domain"):
        raise coded(BadRequest, "invalid_kind", "kind: one of email, linkedin, phone, domain")
    found = await privacy.suppressed(kind)
    return JSONResponse({"total": len(found), "suppressions": found})


@router.post(
    "/erase",
    response_model=ErasureResponse,
    summary="Erase a person",
    description="Remove the person an identity names and everything derived from or about them (addresses, "
    "phones, predictions, verification results, kept upstream answers, stored responses and bulk result lines "
    "that contain them), then suppress them. The reveal log keeps its rows without the person.",
    responses=error_docs(400, 401, 500),
    openapi_extra={**body_openapi(EraseRequest), **ADMIN_SECURITY},
)
async def erase(request: Request) -> Response:
    privacy = await _privacy(request)
    body = await parse_body(request, EraseRequest)
    done = await privacy.erase(privacy.identity(body.identity), full=body.vacuumFull, origin="api")
    return JSONResponse(done.as_dict())


@router.post(
    "/export",
    summary="Export what is stored about a person",
    description="One JSON document: everything stored about the person (with sources and dates), whether they "
    "are suppressed, and the reveal log (which accounts received what, when).",
    responses=error_docs(400, 401, 500),
    openapi_extra={**body_openapi(IdentityRequest), **ADMIN_SECURITY},
)
async def export(request: Request) -> Response:
    privacy = await _privacy(request)
    body = await parse_body(request, IdentityRequest)
    return JSONResponse(await privacy.export(privacy.identity(body.identity)))


@router.get(
    "/requests",
    response_model=RequestList,
    summary="Removal requests",
    description="Requests made on the portal's Remove my data page: pending (waiting for an operator), mailed "
    "(waiting for the person to confirm), done or rejected (their identity no longer kept).",
    responses=error_docs(400, 401, 500),
    openapi_extra=ADMIN_SECURITY,
)
async def requests(request: Request, state: str | None = None) -> Response:
    privacy = await _privacy(request)
    states = [s.strip() for s in state.split(",")] if state else None
    if states and not set(states) <= {"pending", "mailed", "done", "rejected"}:
        raise coded(BadRequest, "invalid_state", "state: pending, mailed, done or rejected (comma-separated)")
    return JSONResponse({"requests": await privacy.requests(states)})


@router.post(
    "/requests/{request_id}/approve",
    response_model=ErasureResponse,
    summary="Approve a removal request (erase)",
    responses=error_docs(400, 401, 404, 500),
    openapi_extra=ADMIN_SECURITY,
)
async def approve(request: Request, request_id: RequestId) -> Response:
    privacy = await _privacy(request)
    return JSONResponse((await privacy.approve(request_id)).as_dict())


@router.post(
    "/requests/{request_id}/reject",
    summary="Reject a removal request",
    responses=error_docs(400, 401, 404, 500),
    openapi_extra=ADMIN_SECURITY,
)
async def reject(request: Request, request_id: RequestId) -> Response:
    privacy = await _privacy(request)
    await privacy.reject(request_id)
    return JSONResponse({"id": request_id, "state": "rejected"})
