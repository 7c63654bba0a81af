"""The one pure-ASGI middleware: request id and start time, body size limit, headers from request state,
and the hottest endpoints served directly.

One wrapper instead of several: each layer of ``send``/``receive`` wrapping costs on every request.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadsmith import logs
from leadsmith.errors import answer_error, error_payload

Endpoint = Callable[[Request], Awaitable[Response]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    """Gives each request an id and a start time, refuses bodies over ``max_bytes`` with a 413
    (declared or streamed), and adds the rate-limit headers that authentication left in state.

    ``direct`` maps paths to the endpoints that answer their POSTs here, ahead of the framework's
    layers: the routed app's own endpoint functions, whose errors get the app's own answers
    (``answer_error``). They take the request and nothing FastAPI injects, so nothing of theirs differs;
    what is skipped is a dozen ASGI layers (exception, body-limit and telemetry middleware, the router's
    matching of every route in turn, the dependency solver): a store miss that asks upstream took
    1.43 -> 1.21-1.27 ms of CPU with 1 worker (bench/upstream.py). Any other method on those paths is
    routed as usual (405, HEAD, OPTIONS)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        bulk_max_bytes: int | None = None,
        access_log: bool = False,
        direct: Mapping[str, Endpoint] | None = None,
    ) -> None:
        self.app = app
        self.direct = dict(direct or {})
        self.max_bytes = max_bytes
        self.bulk_max_bytes = bulk_max_bytes or max_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        request_id = ""
        max_bytes = self.bulk_max_bytes if scope["path"].startswith(("/bulk/", "/portal/bulk")) else self.max_bytes
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await self._refuse(send, max_bytes)
                return
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                request_id = incoming if _REQUEST_ID.fullmatch(incoming) else ""
        request_id = request_id or os.urandom(12).hex()
        state["request_id"] = request_id
        state["started"] = time.perf_counter()
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                hit = state.get("rate")
                if hit is not None:
                    headers.extend(hit.headers())
                message["headers"] = headers
                self._record(scope, state, message["status"], headers)
                if self.access_log:
                    caller = state.get("caller")
                    logs.request_line(
                        request_id,
                        scope["method"],
                        scope["path"],
                        message["status"],
                        time.perf_counter() - state["started"],
                        caller.account_id if caller is not None else None,
                    )
            await send(message)

        endpoint = self.direct.get(scope["path"]) if scope["method"] == "POST" else None
        try:
            if endpoint is None:
                await self.app(scope, limited_receive, send_with_headers)
            else:
                await self._serve(endpoint, scope, limited_receive, send_with_headers)
        except _TooLarge:
            if not started:
                await self._refuse(send, max_bytes)

    @staticmethod
    async def _serve(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except _TooLarge:
            raise
        except Exception as exc:  # noqa: BLE001 - answered as the app's handlers answer it
            response = await answer_error(request, exc)
        await response(scope, receive, send)

    @staticmethod
    def _record(scope: Scope, state: dict[str, Any], status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Count the request for usage and /metrics (in memory; written out every few seconds)."""
        services = getattr(getattr(scope.get("app"), "state", None), "services", None)
        if services is None:
            return
        charged = 0
        for key, value in headers:
            if key == b"decreased-credits":
                charged = int(value) if value.isdigit() else 0
        caller = state.get("caller")
        services.usage.record(
            scope["path"],
            status,
            time.perf_counter() - state["started"],
            caller.account_id if caller is not None else None,
            caller.key_id if caller is not None else None,
            charged,
        )

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = orjson.dumps(
            error_payload(413, "payload_too_large", f"the request body is larger than {max_bytes} bytes")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
