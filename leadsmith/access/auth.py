"""The authentication dependency: who is calling, counted against the key's hourly window."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from leadsmith.access.schemas import Caller
from leadsmith.errors import RateLimited
from leadsmith.metering.service import RequestContext, check_idempotency_key
from leadsmith.services import get_services


async def authenticate(request: Request) -> Caller:
    services = get_services(request)
    caller = await services.access.authenticate(request.headers.get("authorization"))
    hit = await services.metering.hit(caller)
    request.state.rate = hit
    if not hit.allowed:
        seconds = max(1, -(-hit.reset_ms // 1000))
        raise RateLimited(
            f"this key has used its {hit.limit} requests for the hour; it is unblocked in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    return caller


def request_context(request: Request) -> RequestContext:
    state = request.state
    return RequestContext(
        request_id=state.request_id,
        endpoint=request.url.path,
        idempotency_key=check_idempotency_key(request.headers.get("idempotency-key")),
        started=state.started,
    )


Authenticated = Annotated[Caller, Depends(authenticate)]
Context = Annotated[RequestContext, Depends(request_context)]
