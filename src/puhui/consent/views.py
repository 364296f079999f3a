"""Pages: authorizations for both sides, and "who looked at me"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.consent import service
from puhui.consent.schemas import CATEGORIES, ConsentDecision, ConsentGrant, ConsentRequest, Purpose
from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor, Role
from puhui.core.web import (
    TxRoute,
    db,
    field_messages,
    page_params,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Authorizations"), "/consents", Action.CONSENT_READ, order=40)
register_nav(N_("Query records"), "/query-records", Action.QUERY_RECORDS_READ, order=41)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _expiry(raw: str) -> datetime | None:
    """A date typed in a form: the end of that day in Shanghai."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59, 59), SHANGHAI).astimezone(UTC)


def _context(
    session: Session, actor: Actor, params: PageParams, status: str | None
) -> dict[str, Any]:
    default_expiry = (datetime.now(SHANGHAI) + timedelta(days=365)).date().isoformat()
    return {
        "page": service.list_consents(session, actor=actor, status=status, params=params),
        "status": status or "",
        "institutions": (
            service.institution_choices(session) if actor.can(Action.CONSENT_GRANT) else []
        ),
        "purposes": [p.value for p in Purpose],
        "categories": CATEGORIES,
        "form": {
            "expires_on": default_expiry,
            "purposes": ["query"],
            "categories": list(CATEGORIES),
        },
        "errors": {},
    }


@router.get("/consents", response_class=HTMLResponse)
def consents_page(
    request: Request,
    status: Annotated[str, Query(max_length=12)] = "",
    uscc: Annotated[str, Query(max_length=40)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.CONSENT_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    wanted = status if status in {"requested", "granted", "declined", "revoked"} else None
    ctx = _context(session, actor, params, wanted)
    ctx["form"]["uscc"] = uscc
    return render(request, "consent/consents.html", ctx, actor=actor)


@router.post("/consents", response_class=HTMLResponse)
def consents_submit(
    request: Request,
    institution_id: Annotated[str, Form(max_length=12)] = "",
    uscc: Annotated[str, Form(max_length=40)] = "",
    purposes: Annotated[list[str] | None, Form()] = None,
    categories: Annotated[list[str] | None, Form()] = None,
    expires_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=300)] = "",
    actor: Actor = require(Action.CONSENT_READ),
    session: Session = Depends(db),
) -> Response:
    """An enterprise grants; an institution requests (one form, by role)."""
    form = {
        "institution_id": institution_id,
        "uscc": uscc,
        "purposes": purposes or [],
        "categories": categories or [],
        "expires_on": expires_on,
        "note": note,
    }
    data: dict[str, Any] = {
        "purposes": purposes or [],
        "categories": categories or [],
        "expires_at": _expiry(expires_on),
        "note": note,
    }
    try:
        if actor.role is Role.ENTERPRISE:
            data["institution_id"] = int(institution_id) if institution_id.isdigit() else 0
            service.grant(session, actor=actor, data=ConsentGrant.model_validate(data))
        elif actor.can(Action.CONSENT_REQUEST):
            data["uscc"] = uscc
            service.request(session, actor=actor, data=ConsentRequest.model_validate(data))
        else:
            return redirect("/consents")
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        if isinstance(exc, ValidationError):
            errors = field_messages(request, validation_details(exc.errors()))
        else:
            errors = field_messages(request, exc.details) or {
                "form": translate(request, exc.message, **exc.params)
            }
        if data["expires_at"] is None:
            errors["expires_at"] = translate(request, N_("Give the expiry as a date, YYYY-MM-DD."))
        ctx = _context(session, actor, PageParams(page=1, per_page=20), None)
        ctx.update(form=form, errors=errors)
        return render(request, "consent/consents.html", ctx, status_code=422, actor=actor)
    return redirect("/consents")


@router.post("/consents/{consent_id}/approve", response_class=HTMLResponse)
def consent_approve(
    consent_id: int,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> Response:
    service.approve(session, actor=actor, consent_id=consent_id, data=ConsentDecision())
    return redirect("/consents")


@router.post("/consents/{consent_id}/decline", response_class=HTMLResponse)
def consent_decline(
    consent_id: int,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> Response:
    service.decline(session, actor=actor, consent_id=consent_id, data=ConsentDecision())
    return redirect("/consents")


@router.post("/consents/{consent_id}/revoke", response_class=HTMLResponse)
def consent_revoke(
    consent_id: int,
    actor: Actor = require(Action.CONSENT_GRANT, obj="consent"),
    session: Session = Depends(db),
) -> Response:
    service.revoke(session, actor=actor, consent_id=consent_id)
    return redirect("/consents")


@router.get("/query-records", response_class=HTMLResponse)
def query_records_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.QUERY_RECORDS_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    ctx = {
        "page": service.query_records(session, actor=actor, params=params),
        "counts": service.query_counts(session) if actor.can(Action.QUERY_STATS_READ) else [],
    }
    return render(request, "consent/query_records.html", ctx, actor=actor)
