"""create_app(): routers, middleware and error handlers; nothing else."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from leadsmith import __version__, logs
from leadsmith.access.auth import SECURITY_SCHEMES
from leadsmith.access.endpoints import router as access_router
from leadsmith.config import Settings, get_settings
from leadsmith.contacts.endpoints import DIRECT as contacts_direct
from leadsmith.contacts.endpoints import router as contacts_router
from leadsmith.errors import install_error_handlers
from leadsmith.http import JSONResponse
from leadsmith.jobs.endpoints import router as jobs_router
from leadsmith.middleware import EdgeMiddleware
from leadsmith.patterns.endpoints import router as patterns_router
from leadsmith.portal.endpoints import router as portal_router
from leadsmith.privacy.endpoints import ADMIN_SCHEME
from leadsmith.privacy.endpoints import router as privacy_router
from leadsmith.services import Services, ServicesDep
from leadsmith.usage.recorder import totals as usage_totals
from leadsmith.verification.endpoints import router as verification_router

PORTAL_STATIC = Path(__file__).parent / "portal" / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

DESCRIPTION = """\
A self-hosted contact-enrichment API that speaks the Kaspr public API: its 2020 version (`/profile/profile`,
`/company/*`) and v2.0 (`/profile/linkedin`, `/keys/remainingCredits`, `/keys/rateLimits`). A Kaspr integration
moves here by changing its base URL and its key, nothing else.

Send your key as `Authorization: Bearer YOUR-API-KEY` (a bare `Authorization: YOUR-API-KEY` works too).
Every authenticated response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
(the window nearest to refusing; milliseconds until it resets) and each window's own
`X-{Minutely,Hourly,Daily}-RateLimit-*`; charged endpoints add `Decreased-Credits` and `Remaining-Credits`
(v2.0's also `Remaining-{Work-Email,Direct-Email,Phone,Export}-Credits`).
Every error has one shape: `{"message": "...", "error": {"code": "...", "message": "...", "status": 400}}`.
"""


def _document_security(app: FastAPI) -> None:
    """Declare the API-key scheme the endpoints check (they authenticate explicitly, see access/auth.py)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {**SECURITY_SCHEMES, **ADMIN_SCHEME}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _serve_docs_offline(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts and styles served from here, not a CDN: a server
    with no internet (self-hosted, behind a firewall) shows them too. The assets are fastapi-offline's
    package data (Swagger UI and ReDoc, under their own licences)."""
    # ReDoc's bundle shows its "powered by" logo from its CDN: the one request it would make outside.
    redoc_js = (
        (DOCS_ASSETS / "redoc.standalone.js")
        .read_bytes()
        .replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/docs-assets/favicon.png")
    )

    @app.get("/docs-assets/redoc.js", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(redoc_js, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/docs-assets", StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")  # after its one route

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="leadsmith - Swagger UI",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="leadsmith - ReDoc",
            redoc_js_url="/docs-assets/redoc.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )


# FastAPI's own OpenTelemetry spans and metrics, off: leadsmith counts its requests itself (/metrics, the
# access log), and FastAPI otherwise asks OpenTelemetry on every request whether a provider is set (~2%
# of a store miss's time on the event loop, in py-spy's samples). FastAPI before 0.16x has no such option.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


class _App(FastAPI):
    """FastAPI with leadsmith's edge outermost: FastAPI puts its own middleware (the server-error
    handler, its exception telemetry, its body limit) outside the middleware added to it, so every
    request, the look-ups ``EdgeMiddleware`` answers itself included, went through those three layers
    first (cProfile of a store miss: ~2% of its CPU; of a store hit more). Wrapped around the whole
    stack, the edge answers its look-ups ahead of all of it; every other request goes through it all
    as before, the server-error handler included."""

    edge: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.edge is None else self.edge(stack)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.build(settings)
        app.state.services = services
        services.start_background()
        gc.collect()
        gc.freeze()
        # A request makes thousands of short-lived objects, nearly all freed by reference counting;
        # at the default thresholds the collector still ran every 700 allocations and a full pass
        # every few hundred requests, pausing the event loop (profile repeat look-ups, PostgreSQL +
        # Redis, 2 workers, 64 connections: 2,329-3,120 -> 3,666-3,752 req/s, in pairs of runs).
        gc.set_threshold(10_000, 20, 50)
        try:
            yield
        finally:
            await services.close()

    app = _App(
        title="leadsmith",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JSONResponse,
        docs_url=None,
        redoc_url=None,
        **_NO_NATIVE_TELEMETRY,
    )
    install_error_handlers(app)
    _document_security(app)
    _serve_docs_offline(app)
    app.include_router(access_router)
    app.include_router(contacts_router)
    app.include_router(patterns_router)
    app.include_router(verification_router)
    app.include_router(jobs_router)
    app.include_router(portal_router)
    app.include_router(privacy_router)
    app.mount("/portal/static", StaticFiles(directory=str(PORTAL_STATIC)), name="portal-static")

    @app.get("/metrics", tags=["Operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics(services: ServicesDep) -> Response:
        await services.usage.flush()
        if services.upstream is not None:
            await services.upstream.flush_calls()
        text = f'# TYPE leadsmith_build_info gauge\nleadsmith_build_info{{version="{__version__}"}} 1\n'
        text += services.usage.prometheus(await usage_totals(services.db))
        if services.upstream is not None:
            text += "\n".join(services.upstream.metrics()) + "\n"
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/healthz", tags=["Operations"], summary="Liveness: the process answers")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/readyz", tags=["Operations"], summary="Readiness: the database and the rate-limit counters answer")
    async def readyz(services: ServicesDep) -> Response:
        checks: dict[str, str] = {}
        for name, ping in (("database", services.db.ping), ("counters", services.counters.ping)):
            try:
                await ping()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports any failure as not ready
                checks[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ready else "unavailable", **checks, "counters_backend": services.counters.name}
        return JSONResponse(body, status_code=200 if ready else 503)

    def edge(inner: ASGIApp) -> ASGIApp:
        return EdgeMiddleware(
            inner,
            max_bytes=settings.max_body_bytes,
            bulk_max_bytes=settings.bulk_max_body_bytes,
            access_log=settings.access_log,
            direct=contacts_direct,
        )

    app.edge = edge
    return app
