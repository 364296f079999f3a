"""How a request is tied to an actor: a session cookie for the web, a bearer token or an
``X-API-Key`` header for the API (never a cookie there, so the API needs no CSRF).

An API key bound to a client certificate also needs the request's certificate
(:mod:`puhui.core.mtls`); a refusal is a :class:`ClientCertificateRejected`, audited by the
app's denial handler."""

from __future__ import annotations

import hashlib

from fastapi import Request
from sqlalchemy.orm import Session

from puhui.accounts import service
from puhui.core import mtls
from puhui.core.policy import Actor
from puhui.core.web import SESSION_COOKIE, client_ip, is_api


def authenticate(request: Request, session: Session) -> Actor | None:
    ip = client_ip(request)
    settings = request.app.state.settings
    if is_api(request):
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return service.resolve_token(
                session, token=auth[7:].strip(), kind="token", ip=ip, settings=settings
            )
        key = request.headers.get("x-api-key")
        if key:
            return _resolve_key(request, session, key=key.strip(), ip=ip)
        return None
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return service.resolve_token(session, token=token, kind="web", ip=ip, settings=settings)


def _resolve_key(request: Request, session: Session, *, key: str, ip: str | None) -> Actor | None:
    der = mtls.client_certificate(request, request.app.state.settings)
    fingerprint = hashlib.sha256(der).hexdigest() if der else None
    return service.resolve_api_key(session, key=key, ip=ip, certificate=fingerprint)
