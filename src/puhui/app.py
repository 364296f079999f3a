"""The ASGI application: routers of every domain, error rendering, the in-process worker."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from puhui import __version__, registry
from puhui.accounts.deps import authenticate
from puhui.audit import service as audit_service
from puhui.config import Settings, get_settings
from puhui.core import jobs
from puhui.core.db import get_session_factory, ping
from puhui.core.errors import NotFound, PermissionDenied, PuhuiError, ValidationFailed
from puhui.core.web import (
    ANON_COOKIE,
    STATIC_DIR,
    BodyLimitMiddleware,
    BodyTooLarge,
    client_ip,
    error_response,
    is_api,
    new_anon_seed,
    security_headers,
    validation_details,
)

log = logging.getLogger("puhui.web")


def create_app(
    settings: Settings | None = None,
    session_factory: sessionmaker[Session] | None = None,
    *,
    start_worker: bool | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    factory = session_factory or get_session_factory(settings.effective_database_url)
    registry.load_all()
    run_worker = settings.run_in_process_worker if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = scheduler = None
        if run_worker:
            worker = jobs.Worker(factory, lease_seconds=settings.job_lease_seconds)
            thread = threading.Thread(
                target=worker.run_forever,
                args=(stop, settings.worker_poll_seconds),
                name="puhui-worker",
                daemon=True,
            )
            thread.start()
            scheduler = jobs.start_scheduler(factory)
        try:
            yield
        finally:
            stop.set()
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if thread is not None:
                thread.join(timeout=10)

    app = FastAPI(
        title="Puhui API",
        version=__version__,
        description=(
            "The JSON API of the Puhui inclusive-finance credit information platform. "
            "Authenticate with `POST /api/v1/auth/token` (bearer token) or an institution's "
            "API key in the `X-API-Key` header. Errors are "
            '`{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = factory
    app.state.authenticate = authenticate

    _install_middleware(app)
    _install_error_handlers(app, factory)

    @app.get(
        "/healthz", include_in_schema=True, tags=["health"], summary="Database and lake health"
    )
    def healthz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            with factory() as session:
                ping(session)
            checks["database"] = "ok"
        except Exception as exc:  # report, do not raise: this is the health check
            checks["database"] = f"error: {type(exc).__name__}"
        lake = settings.lake_dir
        checks["lake"] = (
            "ok" if lake.is_dir() and _writable(lake) else "error: not a writable directory"
        )
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "error", "version": __version__, **checks},
            status_code=200 if healthy else 503,
        )

    for router in registry.routers():
        app.include_router(router)
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app


def _writable(path: Any) -> bool:
    import os

    return os.access(path, os.W_OK)


def _install_middleware(app: FastAPI) -> None:
    # added first, so it runs inside request_context: its 413s get the security headers
    app.add_middleware(BodyLimitMiddleware)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        new_seed = None
        if not is_api(request) and not request.cookies.get(ANON_COOKIE):
            new_seed = new_anon_seed()
            request.state.anon_seed = new_seed
        response = await call_next(request)
        if new_seed:
            response.set_cookie(
                ANON_COOKIE,
                new_seed,
                httponly=True,
                samesite="lax",
                secure=app.state.settings.cookie_secure,
            )
        response.headers["X-Request-ID"] = request_id
        security_headers(request, response)
        if request.url.path.startswith("/api/") or request.url.path.startswith("/account"):
            response.headers["Cache-Control"] = "no-store"
        actor = request.state._state.get("actor")
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": getattr(actor, "user_id", None),
            },
        )
        return response


def _install_error_handlers(app: FastAPI, factory: sessionmaker[Session]) -> None:
    @app.exception_handler(PuhuiError)
    async def puhui_error(request: Request, exc: PuhuiError) -> Response:
        if isinstance(exc, PermissionDenied):
            # the request's own transaction was rolled back; the denial is recorded apart
            actor = request.state._state.get("actor")
            audit_service.record_detached(
                factory,
                actor=actor,
                action="permission.denied",
                target_type="route",
                target_id=f"{request.method} {request.url.path}"[:64],
                ip=client_ip(request),
                details={"code": exc.code, **{k: str(v) for k, v in exc.params.items()}},
            )
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def request_validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, ValidationFailed(details=validation_details(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(request, NotFound())
        if exc.status_code == 413:
            return error_response(request, BodyTooLarge(limit=str(exc.detail)))
        if exc.status_code == 405:
            return error_response(
                request,
                PuhuiError(
                    "This method is not allowed here.", code="method_not_allowed", status=405
                ),
            )
        return error_response(
            request, PuhuiError(str(exc.detail), code="http_error", status=exc.status_code)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(
            request,
            PuhuiError(
                "Something went wrong on our side; it has been logged.",
                code="internal_error",
                status=500,
            ),
        )
