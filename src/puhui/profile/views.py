"""Pages: the panorama profile, the report download, and the enterprise's own data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.consent.errors import ConsentRequired
from puhui.core.i18n import N_, gettext
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    limited_download,
    redirect,
    register_nav,
    render,
    request_locale,
    require,
)
from puhui.entities import service as entities
from puhui.profile import pdf, service

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("My data"), "/me/data", Action.CONSENT_GRANT, order=35)
Uscc = Annotated[str, Path(max_length=40)]


@router.get("/me/data", response_class=HTMLResponse)
def my_data(
    request: Request,
    actor: Actor = require(Action.CONSENT_GRANT),
    session: Session = Depends(db),
) -> Response:
    """The enterprise's own profile: all 7 categories, unmasked, free."""
    code = actor.entity_uscc or ""
    if not entities.ids_for(session, [code]):
        # registered on the platform before the departments' registry lists the entity
        return render(request, "profile/not_listed.html", {"uscc": code}, actor=actor)
    return redirect(f"/entities/{code}/profile")


@router.get("/entities/{uscc}/profile", response_class=HTMLResponse)
def profile_page(
    request: Request,
    uscc: Uscc,
    reveal_reason: Annotated[str, Query(max_length=200)] = "",
    otp: Annotated[str, Query(max_length=32)] = "",
    actor: Actor = require(Action.PROFILE_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    locale = request_locale(request)
    if reveal_reason and otp:
        # a reveal needs a recent second-factor check: the code is checked here first
        actor = accounts.step_up_on_page(session, actor=actor, code=otp)
    try:
        reading = service.read_profile(
            session,
            actor,
            uscc=uscc,
            reveal_reason=reveal_reason or None,
            locale=locale,
            settings=request.app.state.settings,
        )
    except ConsentRequired as exc:
        # the page still shows the public facts and how to ask; the denial is recorded
        entity = entities.get_public(session, code=uscc)
        service.audit_denied_view(session, actor, entity.uscc, exc)
        return render(
            request,
            "profile/denied.html",
            {"entity": entity, "reason": exc.params.get("reason", "none")},
            status_code=403,
            actor=actor,
        )
    profile = reading.profile
    trends = [t.model_dump(mode="json") for t in profile.trends]
    return render(
        request,
        "profile/profile.html",
        {"p": profile, "trends": trends, "own": reading.scope.own, "revealed": bool(reveal_reason)},
        actor=actor,
    )


@router.get("/entities/{uscc}/report.pdf")
def report_pdf(
    request: Request,
    uscc: Uscc,
    actor: Actor = require(Action.PROFILE_READ),
    session: Session = Depends(db),
    _: None = limited_download(),
) -> Response:
    locale = request_locale(request)
    report = service.credit_report(
        session, actor, uscc=uscc, locale=locale, settings=request.app.state.settings
    )
    return Response(
        pdf.render(report, lambda message: gettext(locale, message)),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{report.report.number}.pdf"'},
    )
