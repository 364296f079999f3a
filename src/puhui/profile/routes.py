"""The panorama profile and the credit report over the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.orm import Session

from puhui.consent.schemas import CATEGORIES
from puhui.core.errors import field_error
from puhui.core.i18n import N_, gettext
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, limited_download, public, request_locale, require
from puhui.profile import pdf, service
from puhui.profile.schemas import CreditReport, Profile, ReportCheck

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["profile"])
Uscc = Annotated[str, Path(max_length=40, description="Unified social credit code")]


def parse_categories(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    wanted = [c.strip() for c in raw.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise field_error(
            "categories",
            N_("Unknown categories: {unknown}. Use any of {known}."),
            unknown=",".join(unknown),
            known=",".join(CATEGORIES),
        )
    return wanted


@router.get(
    "/entities/{uscc}/profile",
    response_model=Profile,
    summary="Panorama profile (needs a live `query` authorization for the categories read)",
)
def get_profile(
    request: Request,
    uscc: Uscc,
    categories: Annotated[
        str | None,
        Query(max_length=200, description="Comma-separated categories (default: all covered)"),
    ] = None,
    reveal_reason: Annotated[
        str | None,
        Query(max_length=200, description="Why you need personal values unmasked (audited)"),
    ] = None,
    actor: Actor = require(Action.PROFILE_READ),
    session: Session = Depends(db),
) -> Profile:
    reading = service.read_profile(
        session,
        actor,
        uscc=uscc,
        categories=parse_categories(categories),
        reveal_reason=reveal_reason,
        locale=request_locale(request),
        settings=request.app.state.settings,
    )
    return reading.profile


@router.get(
    "/entities/{uscc}/report",
    response_model=CreditReport,
    summary="Credit report as JSON (same content as the PDF)",
)
def get_report(
    request: Request,
    uscc: Uscc,
    actor: Actor = require(Action.PROFILE_READ),
    session: Session = Depends(db),
) -> CreditReport:
    return service.credit_report(
        session,
        actor,
        uscc=uscc,
        locale=request_locale(request),
        settings=request.app.state.settings,
    )


@router.get(
    "/entities/{uscc}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Credit report as PDF (Chinese, embedded CJK font)",
)
def get_report_pdf(
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
    body = pdf.render(report, lambda message: gettext(locale, message))
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{report.report.number}.pdf"'},
    )


@router.get(
    "/reports/{number}/verify",
    response_model=ReportCheck,
    summary="Check a credit report's number and verification code",
)
def verify_report(
    request: Request,
    number: Annotated[str, Path(max_length=40)],
    code: Annotated[str, Query(min_length=1, max_length=40)],
    session: Session = Depends(db),
    _: Actor | None = public(),
) -> ReportCheck:
    return service.check_report(
        session, number=number, code=code, settings=request.app.state.settings
    )
