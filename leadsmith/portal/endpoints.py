"""The developer portal's pages: server-rendered (Jinja2), forms with CSRF tokens, a session cookie."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from leadsmith.access.schemas import Account
from leadsmith.errors import ERROR_DOCS, LeadsmithError
from leadsmith.portal import docs
from leadsmith.portal.security import csrf_ok, csrf_token
from leadsmith.portal.service import PortalService
from leadsmith.services import services_of

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION = "ls_session"
PRE_SESSION = "ls_pre"


def _when(ms: int | None) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["when"] = _when


def _portal(request: Request) -> PortalService:
    service: PortalService = services_of(request).portal
    return service


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _client(request: Request) -> str:
    """The address sign-in and sign-up attempts are counted against (the proxy's X-Forwarded-For is
    honoured by uvicorn's proxy_headers, for trusted proxies only)."""
    return request.client.host if request.client else "unknown"


def _basis(request: Request) -> str | None:
    return request.cookies.get(SESSION) or request.cookies.get(PRE_SESSION)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page, with the CSRF token its forms carry (and a pre-session cookie to bind it to, if needed)."""
    secret = services_of(request).settings.secret_key
    basis = _basis(request)
    new_basis = None
    if basis is None:
        basis = new_basis = secrets.token_urlsafe(24)
    context = {"csrf": csrf_token(secret, basis), "base_url": str(request.base_url).rstrip("/"), **context}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    if new_basis:
        response.set_cookie(PRE_SESSION, new_basis, httponly=True, samesite="strict", secure=_secure(request))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


async def _form(request: Request) -> dict[str, str]:
    """The posted form, refused (403) unless it carries this browser's CSRF token."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    secret = services_of(request).settings.secret_key
    if not csrf_ok(secret, _basis(request), values.get("csrf")):
        raise _CsrfRefused
    return values


class _CsrfRefused(Exception):
    pass


def _csrf_refused(request: Request) -> Response:
    return _render(
        request, "message.html", {"title": "Form expired", "message": "The form had expired; please try again."}, 403
    )


async def _account(request: Request) -> Account | None:
    return await _portal(request).session(request.cookies.get(SESSION))


def _to_login() -> Response:
    return RedirectResponse("/portal/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    account = await _account(request)
    return _render(
        request, "home.html", {"account": account, "signup_open": services_of(request).settings.portal_signup_open}
    )


@router.get("/portal/signup", response_class=HTMLResponse)
async def signup_page(request: Request) -> Response:
    return _render(request, "signup.html", {"signup_open": services_of(request).settings.portal_signup_open})


@router.post("/portal/signup")
async def signup(request: Request) -> Response:
    try:
        form = await _form(request)
        await _portal(request).sign_up(form.get("email", ""), form.get("password", ""), _client(request))
    except _CsrfRefused:
        return _csrf_refused(request)
    except LeadsmithError as e:
        context = {"error": e.message, "email": form.get("email", ""), "signup_open": True}
        return _render(request, "signup.html", context, e.status)
    return RedirectResponse("/portal/login?registered=1", status_code=303)


@router.get("/portal/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return _render(request, "login.html", {"registered": request.query_params.get("registered") == "1"})


@router.post("/portal/login")
async def login(request: Request) -> Response:
    try:
        form = await _form(request)
        token = await _portal(request).sign_in(form.get("email", ""), form.get("password", ""), _client(request))
    except _CsrfRefused:
        return _csrf_refused(request)
    except LeadsmithError as e:
        response = _render(request, "login.html", {"error": e.message, "email": form.get("email", "")}, e.status)
        for name, value in e.headers.items():
            response.headers[name] = value
        return response
    response = RedirectResponse("/portal", status_code=303)
    days = services_of(request).settings.portal_session_days
    response.set_cookie(
        SESSION, token, max_age=int(days * 86400), httponly=True, samesite="lax", secure=_secure(request)
    )
    response.delete_cookie(PRE_SESSION)
    return response


@router.post("/portal/logout")
async def logout(request: Request) -> Response:
    try:
        await _form(request)
    except _CsrfRefused:
        return _csrf_refused(request)
    await _portal(request).sign_out(request.cookies.get(SESSION))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION)
    return response


async def _dashboard(request: Request, account: Account, **extra: Any) -> Response:
    portal = _portal(request)
    services = services_of(request)
    await services.usage.flush()  # this worker's latest requests; others' arrive within seconds
    if services.upstream is not None:
        await services.upstream.flush_calls()
    data = await portal.dashboard(account)
    keys = await portal.keys(account)
    jobs = await portal.jobs_of(account)
    return _render(request, "dashboard.html", {"account": account, "keys": keys, "jobs": jobs, **data, **extra})


@router.get("/portal", response_class=HTMLResponse)
async def dashboard(request: Request) -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    return await _dashboard(request, account)


@router.post("/portal/keys")
async def create_key(request: Request) -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    try:
        form = await _form(request)
    except _CsrfRefused:
        return _csrf_refused(request)
    created = await _portal(request).create_key(account, form.get("name", "") or "default")
    return await _dashboard(request, account, new_key=created)


@router.post("/portal/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    try:
        await _form(request)
    except _CsrfRefused:
        return _csrf_refused(request)
    if not key_id.isdigit():
        return _render(request, "message.html", {"title": "Not found", "message": "No such key."}, 404)
    try:
        revoked = await _portal(request).revoke_key(account, int(key_id))
    except LeadsmithError:
        return _render(request, "message.html", {"title": "Not found", "message": "No such key."}, 404)
    return await _dashboard(request, account, revoked=revoked)


@router.get("/portal/bulk", response_class=HTMLResponse)
async def bulk_page(request: Request) -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    keys = [k for k in await _portal(request).keys(account) if k.info.revoked_at is None]
    return _render(request, "bulk.html", {"account": account, "keys": keys})


@router.post("/portal/bulk")
async def bulk_start(request: Request) -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    form = await request.form()
    secret = services_of(request).settings.secret_key
    token = form.get("csrf")
    if not csrf_ok(secret, _basis(request), token if isinstance(token, str) else None):
        return _csrf_refused(request)
    upload = form.get("file")
    keys = [k for k in await _portal(request).keys(account) if k.info.revoked_at is None]
    if upload is None or isinstance(upload, str):
        return _render(request, "bulk.html", {"account": account, "keys": keys, "error": "choose a CSV file"}, 400)
    data = await upload.read()
    mapping = {f: str(form.get(f) or "") for f in ("linkedin", "name", "first", "last", "domain")}
    key = str(form.get("key") or "")
    try:
        job_id = await _portal(request).start_job(account, int(key) if key.isdigit() else -1, data, mapping)
    except LeadsmithError as e:
        return _render(request, "bulk.html", {"account": account, "keys": keys, "error": e.message}, e.status)
    return RedirectResponse(f"/portal?job={job_id}", status_code=303)


@router.get("/portal/jobs/{job_id}/results")
async def bulk_results(request: Request, job_id: str, format: str = "csv") -> Response:
    account = await _account(request)
    if account is None:
        return _to_login()
    jobs = services_of(request).jobs
    assert jobs is not None
    try:
        stream = await jobs.results_of(account.id, job_id, "jsonl" if format == "jsonl" else "csv")
    except LeadsmithError:
        return _render(request, "message.html", {"title": "Not found", "message": "No such job."}, 404)
    name = f"{job_id}.{'jsonl' if format == 'jsonl' else 'csv'}"
    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    return StreamingResponse(
        stream, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/portal/remove-my-data", response_class=HTMLResponse)
async def remove_page(request: Request) -> Response:
    return _render(request, "remove.html", {"account": await _account(request)})


@router.post("/portal/remove-my-data")
async def remove_request(request: Request) -> Response:
    """The same page whatever was asked for and whatever the store holds: only a malformed entry (neither
    an address nor a profile) or too many requests from one place are told apart."""
    services = services_of(request)
    assert services.privacy is not None
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        await services.privacy.request_removal(form.get("identity", ""), _client(request), services.settings.link_base)
    except _CsrfRefused:
        return _csrf_refused(request)
    except LeadsmithError as e:
        response = _render(request, "remove.html", {"error": e.message, "identity": form.get("identity", "")}, e.status)
        response.headers.update(e.headers)
        return response
    return _render(request, "remove.html", {"sent": True})


@router.get("/portal/remove-my-data/confirm", response_class=HTMLResponse)
async def remove_confirm_page(request: Request, token: str = "") -> Response:
    """The link in the mail: a page with a button (a link alone erases nothing: mail scanners open links)."""
    privacy = services_of(request).privacy
    assert privacy is not None
    valid = bool(token) and await privacy.pending_confirmation(token)
    return _render(request, "remove_confirm.html", {"valid": valid, "token": token}, 200 if valid else 404)


@router.post("/portal/remove-my-data/confirm")
async def remove_confirm(request: Request) -> Response:
    privacy = services_of(request).privacy
    assert privacy is not None
    try:
        form = await _form(request)
    except _CsrfRefused:
        return _csrf_refused(request)
    done = await privacy.confirm(form.get("token", ""))
    return _render(request, "remove_confirm.html", {"done": done, "valid": False}, 200 if done else 404)


@router.get("/portal/docs", response_class=HTMLResponse)
async def reference(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    sections = [(d, docs.examples(d, base), docs.response_example(d)) for d in docs.ENDPOINTS]
    errors = [(status, doc["description"]) for status, doc in ERROR_DOCS.items()]
    return _render(
        request,
        "docs.html",
        {"sections": sections, "headers": docs.HEADERS, "errors": errors, "account": await _account(request)},
    )
