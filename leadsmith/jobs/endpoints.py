"""``POST /bulk/profile``, ``/bulk/emailFinder``, ``/bulk/verify``; ``GET /bulk/jobs`` (and one, and its
results); ``DELETE /bulk/jobs/{id}``.

Starting a job is one request against the key's windows, and each item one more when it is worked on;
watching jobs (listing, reading, their results, cancelling) is not counted: a client polling its job
never starves it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from leadsmith.access.auth import SECURITY, authenticate
from leadsmith.body import body_openapi, parse_body
from leadsmith.errors import error_docs
from leadsmith.http import JSONResponse
from leadsmith.jobs.schemas import BulkRequest, JobList, JobResponse, Kind
from leadsmith.openapi import RATE_HEADERS

router = APIRouter(tags=["Bulk"])

_ITEMS = {
    "profile": "each {id, name, isPhoneRequired?, ref?}, as /profile/profile takes it",
    "emailFinder": "each {domain, name | firstName + lastName, ref?}, as /company/emailFinder takes it",
    "verify": "each {email, ref?}, as /email/verify takes it",
}


def _create(kind: Kind, path: str) -> None:
    @router.post(
        path,
        status_code=202,
        response_model=JobResponse,
        summary=f"Bulk {kind}",
        description=f"Starts a job over a list of items ({_ITEMS[kind]}); 202 with the job and a Location header. "
        "Each item is charged as its single call would be (free again within the reveal window), and counts as one "
        "request against the key's windows when it is worked on. A bad item is reported in its result line.",
        responses={202: {"headers": RATE_HEADERS}, **error_docs(400, 401, 403, 413, 429, 500)},
        openapi_extra={**body_openapi(BulkRequest), **SECURITY},
        name=f"bulk_{kind}",
    )
    async def create(request: Request) -> Response:
        call = await authenticate(request)
        body = await parse_body(request, BulkRequest)
        assert call.services.jobs is not None
        job = await call.services.jobs.create(call.caller, kind, body)
        return JSONResponse({"job": job}, status_code=202, headers={"Location": f"/bulk/jobs/{job['id']}"})


_create("profile", "/bulk/profile")
_create("emailFinder", "/bulk/emailFinder")
_create("verify", "/bulk/verify")


@router.get(
    "/bulk/jobs",
    response_model=JobList,
    summary="List bulk jobs",
    description="The account's jobs, newest first.",
    responses=error_docs(400, 401, 403, 500),
    openapi_extra=SECURITY,
)
async def list_jobs(request: Request, limit: int = 20, offset: int = 0) -> Response:
    call = await authenticate(request, count=False)
    assert call.services.jobs is not None
    return JSONResponse(await call.services.jobs.list_jobs(call.caller, limit, offset))


@router.get(
    "/bulk/jobs/{job_id}",
    response_model=JobResponse,
    summary="A bulk job",
    description="A job's status and counts. Another account's job is not found.",
    responses=error_docs(401, 403, 404, 500),
    openapi_extra=SECURITY,
)
async def get_job(request: Request, job_id: str) -> Response:
    call = await authenticate(request, count=False)
    assert call.services.jobs is not None
    return JSONResponse({"job": await call.services.jobs.get(call.caller, job_id)})


@router.get(
    "/bulk/jobs/{job_id}/results",
    summary="A bulk job's results",
    description="One line per finished item, in input order: JSON Lines {index, ref, status, profile | emails | "
    "verification | error}, or with format=csv a CSV with one column per field. While the job runs: the lines "
    "finished so far.",
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **error_docs(400, 401, 403, 404, 500)},
    openapi_extra=SECURITY,
)
async def job_results(request: Request, job_id: str, format: str = "jsonl") -> Response:
    call = await authenticate(request, count=False)
    assert call.services.jobs is not None
    stream = await call.services.jobs.results(call.caller, job_id, format)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(stream, media_type=media)


@router.delete(
    "/bulk/jobs/{job_id}",
    response_model=JobResponse,
    summary="Cancel a bulk job",
    description="Stops a job: items already done stay done (and charged); the others are not worked on.",
    responses=error_docs(401, 403, 404, 500),
    openapi_extra=SECURITY,
)
async def cancel_job(request: Request, job_id: str) -> Response:
    call = await authenticate(request, count=False)
    assert call.services.jobs is not None
    return JSONResponse({"job": await call.services.jobs.cancel(call.caller, job_id)})
