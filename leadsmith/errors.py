"""One error base class, one JSON shape: ``{"message", "error": {"code", "message", "status"[, "details"]}}``.

The top-level ``message`` is what Kaspr clients read; ``error`` is leadsmith's own, with a stable code.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from leadsmith.http import JSONResponse

log = logging.getLogger("leadsmith")


class LeadsmithError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


class BadRequest(LeadsmithError):
    status, code = 400, "invalid_request"


class Unauthorized(LeadsmithError):
    status, code = 401, "unauthorized"


class InsufficientCredits(LeadsmithError):
    status, code = 402, "insufficient_credits"


class Forbidden(LeadsmithError):
    status, code = 403, "forbidden"


class NotFound(LeadsmithError):
    status, code = 404, "not_found"


class Conflict(LeadsmithError):
    status, code = 409, "conflict"


class PayloadTooLarge(LeadsmithError):
    status, code = 413, "payload_too_large"


class RateLimited(LeadsmithError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(LeadsmithError):
    status, code = 503, "service_unavailable"


def coded(base: type[LeadsmithError], code: str, message: str, **kwargs: Any) -> LeadsmithError:
    """An error of ``base``'s status carrying a more precise machine code."""
    err = base(message, **kwargs)
    err.code = code
    return err


def field_error(field: str, problem: str) -> BadRequest:
    """A 400 naming the request field that is wrong, in the same details shape as validation errors."""
    return BadRequest(f"{field}: {problem}", details=[{"field": field, "problem": problem, "type": "value_error"}])


class ErrorBody(BaseModel):
    code: str
    message: str
    status: int
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    message: str
    error: ErrorBody


def error_payload(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = details
    return {"message": message, "error": body}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_payload(status, code, message, details),
        status_code=status,
        headers=headers,
    )


_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def describe_validation_errors(errors: Any) -> tuple[str, list[dict[str, Any]]]:
    details: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "body"
        details.append(
            {
                "field": field,
                "problem": err.get("msg", "invalid"),
                "type": err.get("type", "invalid"),
            }
        )
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    message = f"{first['field']}: {first['problem']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return message, details


async def _leadsmith_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LeadsmithError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message, details = describe_validation_errors(exc.errors())
    return error_response(400, "invalid_request", message, details)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint"
    elif exc.status_code == 405:
        message = "method not allowed on this endpoint"
    return error_response(exc.status_code, code, message, headers=exc.headers)


# SQLSTATE classes that mean "the database cannot serve now", not "this request is wrong": connection
# exceptions, insufficient resources (too many clients), operator intervention (shutting down).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def database_unavailable(exc: BaseException) -> bool:
    """Whether an exception (or what it wraps) says the database is out of reach or out of connections,
    or, for SQLite, still locked by another writer when the busy timeout ran out."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 12:
        err = pending.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, sa_exc.OperationalError) and "locked" in str(err.orig):
            return True
        if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):  # from the driver itself
            return True
        state = getattr(err, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        for inner in (getattr(err, "orig", None), err.__cause__, err.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return False


async def _database_error(request: Request, exc: Exception) -> Response:
    """Errors from the database drivers (handled here rather than by the catch-all, which Starlette
    re-raises into the server's log after answering)."""
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return error_response(
            503,
            "database_unavailable",
            "the database cannot take this request right now; retry shortly",
            headers={"Retry-After": "1"},
        )
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error on %s %s: %r",
        request.method,
        request.url.path,
        exc,
        exc_info=exc,
    )
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up before its body arrived: nobody to answer, nothing to log as an error. The
    status is nginx's "client closed request", for /metrics."""
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return error_response(499, "client_closed_request", "the client closed the connection before its request arrived")


_Handler = Callable[[Request, Exception], Awaitable[Response]]

# Each kind of exception and the answer it gets (an exception's nearest class picks, in any order): one
# table for the app's handlers and for the endpoints served ahead of the router (``answer_error``).
_HANDLERS: dict[type[Exception], _Handler] = {
    LeadsmithError: _leadsmith_error,
    ClientDisconnect: _client_gone,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    **{
        driver_error: _database_error
        for driver_error in (sa_exc.DBAPIError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
    },
    Exception: _unexpected,
}


def install_error_handlers(app: FastAPI) -> None:
    for kind, handler in _HANDLERS.items():
        app.add_exception_handler(kind, handler)


async def answer_error(request: Request, exc: Exception) -> Response:
    """The answer the app's handlers give ``exc``: the handler of the nearest of its classes, as
    Starlette picks one."""
    for kind in type(exc).__mro__:
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return await handler(request, exc)
    return await _unexpected(request, exc)  # not reached: every exception is an Exception


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERROR_DOCS: dict[int | str, dict[str, Any]] = {
    400: _doc("Bad JSON, or a missing or wrong-typed field (the message names it)"),
    401: _doc("No API key, a mistyped key (bad checksum), an unknown or a revoked key"),
    402: _doc("Not enough credits for the data this request would reveal; nothing is returned"),
    403: _doc("The account is disabled"),
    404: _doc("Nothing is known for this lead or domain"),
    413: _doc("The request body is larger than the server accepts"),
    429: _doc("The key's hourly limit is reached; see Retry-After"),
    500: _doc("An unexpected error (logged server-side, never a traceback)"),
}


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: ERROR_DOCS[s] for s in statuses}
