"""Web plumbing shared by every domain: one transaction per request, the caller's
identity, the one-permission-per-route declaration, CSRF, templates and error rendering.

Invariants
- Every route is a :class:`TxRoute`: it opens one session before the handler, commits it
  after the handler returns (before the response leaves) and rolls it back if the handler
  raises. Services only flush.
- Every route declares its policy with :func:`require` (one action) or :func:`public`;
  the route × role test fails on a route that declares neither.
- Every unsafe web (non-``/api``) request carries a CSRF token bound to the caller's
  session (or, before log-in, to an anonymous cookie). The API takes bearer tokens and
  API keys only, never cookies, so it needs none.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from puhui.core import i18n, idempotency, limits
from puhui.core.errors import NotAuthenticated, PermissionDenied, PuhuiError
from puhui.core.i18n import N_
from puhui.core.masking import mask_mobile
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor

SESSION_COOKIE = "puhui_session"
ANON_COOKIE = "puhui_anon"
LANG_COOKIE = "puhui_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SHANGHAI = ZoneInfo("Asia/Shanghai")

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


# --- policy declarations ---------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    action: Action | None  # None: public
    obj: str | None = None  # the kind of object a path parameter names, for the 404 test


PUBLIC = Policy(action=None)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def db(request: Request) -> Session:
    """The request's session (opened and committed by :class:`TxRoute`)."""
    session: Session = request.state.db
    return session


def optional_actor(request: Request, session: Session = Depends(db)) -> Actor | None:
    if "actor" not in request.state._state:
        authenticate = request.app.state.authenticate
        request.state.actor = authenticate(request, session)
    actor: Actor | None = request.state.actor
    return actor


def require(action: Action, *, obj: str | None = None) -> Any:
    """Declare the one action a route needs; resolves to the calling :class:`Actor`."""

    def dependency(actor: Actor | None = Depends(optional_actor)) -> Actor:
        if actor is None:
            raise NotAuthenticated()
        if not actor.can(action):
            raise PermissionDenied(action=str(action))
        return actor

    dependency.__puhui_policy__ = Policy(action, obj)  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{action.value.replace('.', '_')}"
    return Depends(dependency)


def public() -> Any:
    """Declare a route public; resolves to the caller if one is logged in, else None."""

    def dependency(actor: Actor | None = Depends(optional_actor)) -> Actor | None:
        return actor

    dependency.__puhui_policy__ = PUBLIC  # type: ignore[attr-defined]
    return Depends(dependency)


# --- abuse limits on routes --------------------------------------------------------------

EXPORT_RATE_MESSAGE = N_("Too many downloads; try again in {seconds} seconds.")


def count_download(request: Request, actor: Actor, session: Session) -> None:
    """Count one download (CSV, XLSX, PDF, JSON export, file) against the caller's and its
    institution's hourly budgets (``PUHUI_LIMIT_EXPORT_PER_USER`` / ``_PER_INSTITUTION``);
    429 with ``Retry-After`` beyond. For a route that is a download only sometimes (a
    ``format`` parameter); otherwise declare :func:`limited_download`."""
    settings = request.app.state.settings
    limits.for_actor(
        session,
        actor,
        name="export",
        per_user=settings.limit_export_per_user,
        per_institution=settings.limit_export_per_institution,
        seconds=3600,
        secret=settings.secret_key,
        message=EXPORT_RATE_MESSAGE,
    )


def limited_download() -> Any:
    """Count every call of the route as a download (:func:`count_download`). Declare it
    after the route's :func:`require`, so only callers the policy lets through are counted.
    Marked ``__puhui_download__``: a test finds every file route without it."""

    def dependency(
        request: Request,
        actor: Actor | None = Depends(optional_actor),
        session: Session = Depends(db),
    ) -> None:
        if actor is None:
            return  # the route's policy answers 401
        count_download(request, actor, session)

    dependency.__puhui_download__ = True  # type: ignore[attr-defined]
    return Depends(dependency)


def file_response(content: bytes, *, media_type: str, filename: str) -> Response:
    """A file to save (any filename, non-ASCII included, RFC 5987), never cached."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=utf-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


# --- request bodies --------------------------------------------------------------------

_large_bodies: list[re.Pattern[str]] = []


def allow_large_bodies(path_pattern: str) -> None:
    """Requests to paths matching ``path_pattern`` (a regex) may carry up to the upload cap
    (``PUHUI_MAX_UPLOAD_BYTES``) whatever their content type (a PSI list is JSON)."""
    compiled = re.compile(path_pattern)
    if all(p.pattern != compiled.pattern for p in _large_bodies):
        _large_bodies.append(compiled)


class BodyTooLarge(PuhuiError):
    default_code = "body_too_large"
    default_status = 413
    default_message = "The request is too large: at most {limit} are accepted here."


def _human_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} B"


class BodyLimitMiddleware:
    """413 for a request body over its cap: ``PUHUI_MAX_BODY_BYTES`` in general, the larger
    ``PUHUI_MAX_UPLOAD_BYTES`` for multipart uploads, octet streams and paths registered with
    :func:`allow_large_bodies`. A declared ``Content-Length`` over the cap is refused before
    a byte is read; a body without one (chunked) is counted as it arrives and refused when it
    passes the cap, so no body over the cap is ever held in memory."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def _cap(self, scope: dict[str, Any]) -> int:
        settings = scope["app"].state.settings
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        large = content_type.startswith(("multipart/form-data", "application/octet-stream"))
        if large or any(p.search(scope.get("path", "")) for p in _large_bodies):
            return int(settings.max_upload_bytes)
        return int(settings.max_body_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > cap
            except ValueError:
                too_big = False  # the server rejects a malformed length itself
            if too_big:
                await self._refuse(scope, receive, send, cap)
                return
        seen = 0

        async def counting() -> Any:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    # an HTTPException: FastAPI's body parsing re-raises those as they are
                    # (any other error would become a 400); the app renders it as BodyTooLarge
                    raise StarletteHTTPException(413, detail=_human_bytes(cap))
            return message

        await self.app(scope, counting, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, cap: int) -> None:
        from starlette.requests import Request as StarletteRequest

        request = StarletteRequest(scope, receive)
        response = error_response(request, BodyTooLarge(limit=_human_bytes(cap)))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


# --- security headers -------------------------------------------------------------------

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(request: Request, response: Response) -> None:
    """The headers every response carries. HSTS only over TLS (a plain-HTTP answer cannot
    set it meaningfully, and a development server on http://localhost must not pin it).
    The API docs page loads Swagger UI from its CDN and gets no CSP."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.url.path.startswith("/api/docs"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if request.url.scheme == "https":
        headers["Strict-Transport-Security"] = HSTS


# --- one transaction per request -------------------------------------------------------


class TxRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tx_handler(request: Request) -> Response:
            if request.method in UNSAFE_METHODS and not is_api(request):
                await check_csrf(request)
            async with request_slot(request.app):
                return await _in_transaction(request, handler)

        return tx_handler


def request_slot(app: Any) -> asyncio.Semaphore:
    """At most as many requests hold a database session as the pool has connections.

    A request's session keeps its connection from the first query (authentication, a
    dependency run in one worker thread) to the commit (after the endpoint, run in
    another). Without a bound, a burst of requests can take every worker thread waiting
    for a connection while the requests holding the connections wait for a thread to
    finish in: the pool times out for everyone. Requests beyond the bound wait here,
    without a thread or a connection."""
    slots: asyncio.Semaphore | None = getattr(app.state, "request_slots", None)
    if slots is None:
        settings = app.state.settings
        slots = app.state.request_slots = asyncio.Semaphore(
            settings.db_pool_size + settings.db_max_overflow
        )
    return slots


async def _in_transaction(
    request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    """One transaction per request: the services flush, this commits (or rolls back)."""
    session: Session = request.app.state.session_factory()
    request.state.db = session
    try:
        key = request.headers.get(idempotency.HEADER)
        if key is not None and request.method == "POST" and is_api(request):
            response = await _idempotent(request, session, handler, key)
        else:
            response = await handler(request)
        await run_in_threadpool(session.commit)
        return response
    except BaseException:
        await run_in_threadpool(session.rollback)
        raise
    finally:
        await run_in_threadpool(session.close)


async def _idempotent(
    request: Request,
    session: Session,
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
    raw_key: str,
) -> Response:
    """Answer a replayed POST from the stored first answer; store a new one."""
    key = idempotency.check_key(raw_key)
    body = await request.body()
    digest = idempotency.request_digest(request.method, request.url.path, body)

    def _scope() -> str:
        actor = optional_actor(request, session)
        if actor is None:
            return "anonymous"
        return f"key:{actor.api_key_id}" if actor.api_key_id else f"user:{actor.user_id}"

    scope = await run_in_threadpool(_scope)
    replay = await run_in_threadpool(
        lambda: idempotency.lookup(session, scope=scope, key=key, digest=digest)
    )
    if replay is not None:
        return Response(
            replay.body,
            status_code=replay.status_code,
            media_type=replay.content_type,
            headers={"Idempotent-Replayed": "true"},
        )
    response = await handler(request)
    stored_body = getattr(response, "body", None)
    if response.status_code < 500 and isinstance(stored_body, bytes):
        await run_in_threadpool(
            lambda: idempotency.store(
                session,
                scope=scope,
                key=key,
                digest=digest,
                status_code=response.status_code,
                body=stored_body,
                content_type=response.media_type or "application/json",
            )
        )
    return response


# --- CSRF -----------------------------------------------------------------------------


def csrf_seed(request: Request) -> str:
    return (
        request.cookies.get(SESSION_COOKIE)
        or request.cookies.get(ANON_COOKIE)
        or request.state._state.get("anon_seed", "")
    )


def csrf_token_for(request: Request) -> str:
    seed = request.state._state.get("csrf_seed_override") or csrf_seed(request)
    key = request.app.state.settings.secret_key.encode()
    return hmac.new(key, f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


async def check_csrf(request: Request) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    expected = csrf_token_for(request)
    if not sent or not csrf_seed(request) or not hmac.compare_digest(sent, expected):
        raise PermissionDenied(
            "The form has expired or did not come from this site. Reload the page and try again.",
            code="csrf_failed",
        )


def new_anon_seed() -> str:
    return secrets.token_urlsafe(24)


# --- locale ---------------------------------------------------------------------------


def request_locale(request: Request) -> str:
    cached = request.state._state.get("locale")
    if cached:
        return str(cached)
    default = request.app.state.settings.default_locale
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen:
        loc = i18n.normalize_locale(chosen, default)
    elif is_api(request):
        loc = i18n.locale_from_accept_language(request.headers.get("accept-language"), default)
    else:
        loc = default
    request.state.locale = loc
    return loc


def translate(request: Request, message: str, **params: Any) -> str:
    return i18n.gettext(request_locale(request), message, **params)


# --- navigation -----------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    action: Action
    order: int = 100


_nav: list[NavItem] = []


def register_nav(label: str, path: str, action: Action, order: int = 100) -> None:
    if not any(item.path == path for item in _nav):
        _nav.append(NavItem(label, path, action, order))
        _nav.sort(key=lambda item: (item.order, item.path))


def nav_for(actor: Actor | None) -> list[NavItem]:
    if actor is None:
        return []
    return [item for item in _nav if actor.can(item.action)]


def current_nav(path: str, items: list[NavItem]) -> str | None:
    """The navigation entry a page belongs to: the longest one its path starts with."""
    best = None
    for item in items:
        inside = path == item.path or (
            item.path != "/" and path.startswith(item.path.rstrip("/") + "/")
        )
        if inside and (best is None or len(item.path) > len(best)):
            best = item.path
    return best


# --- templates ------------------------------------------------------------------------

ContextProcessor = Callable[[Request, Actor | None], dict[str, Any]]
_context_processors: list[ContextProcessor] = []


def register_context(processor: ContextProcessor) -> None:
    """Add values to every page's context (a domain's badge in the header) without the
    core knowing the domain. Processors must be cheap: they run on every page."""
    if processor not in _context_processors:
        _context_processors.append(processor)


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime(fmt)


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.filters["local"] = format_local
templates.env.filters["mask_mobile"] = mask_mobile
templates.env.globals["nav_for"] = nav_for


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    actor: Actor | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    if actor is None:
        actor = request.state._state.get("actor")
    ctx: dict[str, Any] = {
        "request": request,
        "actor": actor,
        "locale": locale,
        "_": lambda message, **params: i18n.gettext(locale, message, **params),
        "csrf_token": csrf_token_for(request),
        "nav": nav_for(actor),
        "current_nav": current_nav(request.url.path, nav_for(actor)),
        "next_path": quote(request.url.path),
    }
    for processor in _context_processors:
        ctx.update(processor(request, actor))
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


def redirect(path: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(path, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def error_response(request: Request, exc: PuhuiError) -> Response:
    """Render the one error type as JSON, an HTMX partial or a page."""
    message = translate(request, exc.message, **exc.params)
    details = _translate_details(request, exc.details)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if is_api(request):
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(
            {"error": {"code": exc.code, "message": message, "details": details}},
            status_code=exc.status,
            headers=headers or None,
        )
    if isinstance(exc, NotAuthenticated) and request.method == "GET" and not is_htmx(request):
        return redirect(f"/login?next={quote(request.url.path)}")
    context = {"error": exc, "message": message, "details": details}
    template = "_error.html" if is_htmx(request) else "error.html"
    response = render(request, template, context, status_code=exc.status)
    response.headers.update(headers)
    return response


def _translate_details(request: Request, details: Any) -> Any:
    if isinstance(details, list):
        out = []
        for item in details:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                params = item.get("params") or {}
                shown = {k: v for k, v in item.items() if k != "params"}
                shown["message"] = translate(request, item["message"], **params)
                out.append(shown)
            else:
                out.append(item)
        return out
    return details


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def page_params(
    page: int = Query(1, ge=1, description="Page number, from 1."),
    per_page: int = Query(20, ge=1, le=100, description="Items a page, at most 100."),
) -> PageParams:
    return PageParams(page=page, per_page=per_page)


_PYDANTIC_MESSAGES = {
    "missing": "This field is required.",
    "string_too_short": "This value is too short.",
    "string_too_long": "This value is too long.",
    "string_pattern_mismatch": "The format of this value is not valid.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "float_parsing": "Enter a number.",
    "bool_parsing": "Enter true or false.",
    "enum": "Choose one of the offered values.",
    "literal_error": "Choose one of the offered values.",
    "greater_than_equal": "This value is too small.",
    "greater_than": "This value is too small.",
    "less_than_equal": "This value is too large.",
    "less_than": "This value is too large.",
    "extra_forbidden": "This field is not accepted here.",
    "datetime_parsing": "Enter a date and time (ISO 8601).",
    "datetime_from_date_parsing": "Enter a date and time (ISO 8601).",
    "date_parsing": "Enter a date (YYYY-MM-DD).",
    "json_invalid": "The request body is not valid JSON.",
    "model_attributes_type": "A JSON object is expected here.",
    "dict_type": "A JSON object is expected here.",
    "string_type": "Text is expected here.",
}


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"field", "message", "params"}]`` with translatable ids."""
    details: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        kind = err.get("type", "")
        if kind == "value_error":
            ctx_error = (err.get("ctx") or {}).get("error")
            message = str(ctx_error) if ctx_error else N_("This value is not valid.")
        else:
            message = _PYDANTIC_MESSAGES.get(kind, N_("This value is not valid."))
        details.append({"field": ".".join(loc) or "body", "message": message, "params": {}})
    return details


def field_messages(request: Request, details: Any) -> dict[str, str]:
    """``{field: translated message}`` for re-rendering a form."""
    out: dict[str, str] = {}
    for item in _translate_details(request, details) or []:
        if isinstance(item, dict) and "field" in item:
            out.setdefault(str(item["field"]), str(item["message"]))
    return out


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local paths: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
