"""Pages of platform statistics: the figures with their monthly charts (`/stats`), one series
as CSV (`/stats/csv/{key}`), the LPR entries (`/stats/lpr`) and a refresh on demand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.jobs import enqueue
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    field_messages,
    limited_download,
    redirect,
    register_nav,
    render,
    request_locale,
    require,
    translate,
    validation_details,
)
from puhui.stats import service
from puhui.stats.errors import InvalidStatsInput
from puhui.stats.schemas import LprCreate, StatsRead, Unit

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Platform statistics"), "/stats", Action.STATS_READ, order=90)
register_nav(N_("Loan prime rate"), "/stats/lpr", Action.STATS_MANAGE, order=91)

MonthParam = Annotated[str, Query(max_length=7)]


def _errors(request: Request, exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        return field_messages(request, validation_details(exc.errors())) or {
            "form": translate(request, N_("This value is not valid."))
        }
    assert isinstance(exc, PuhuiError)
    return field_messages(request, exc.details) or {
        "form": translate(request, exc.message, **exc.params)
    }


def human(value: float | None, unit: str, locale: str) -> str:  # noqa: PLR0911
    """A figure for people: 万 and 亿 for yuan, % for rates, bp, days."""
    if value is None:
        return "—"
    if unit == Unit.YUAN:
        if abs(value) >= 1e8:
            return f"{value / 1e8:,.2f} " + ("亿元" if locale.startswith("zh") else "× 100 M yuan")
        if abs(value) >= 1e4:
            return f"{value / 1e4:,.2f} " + ("万元" if locale.startswith("zh") else "× 10 k yuan")
        return f"{value:,.2f} " + ("元" if locale.startswith("zh") else "yuan")
    if unit == Unit.PERCENT:
        return f"{value:.2f}%"
    if unit == Unit.BASIS_POINTS:
        return f"{value:+.0f} bp"
    if unit == Unit.DAYS:
        return f"{value:g}"
    return f"{value:,.0f}"


@router.get("/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    first: Annotated[str, Query(alias="from", max_length=7)] = "",
    last: Annotated[str, Query(alias="to", max_length=7)] = "",
    actor: Actor = require(Action.STATS_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    locale = request_locale(request)
    errors: dict[str, str] = {}
    try:
        start, stop = service.month_range(first or None, last or None)
    except PuhuiError as exc:
        errors = _errors(request, exc)
        start, stop = service.month_range(None, None)
    stats = service.overview(session, first=start, last=stop, locale=locale)
    ctx = _context(stats, locale)
    ctx.update(
        {
            "errors": errors,
            "first": first or stats.from_month,
            "last": last or stats.to_month,
            "can_manage": actor.can(Action.STATS_MANAGE),
        }
    )
    return render(
        request, "stats/overview.html", ctx, status_code=422 if errors else 200, actor=actor
    )


def _context(stats: StatsRead, locale: str) -> dict[str, Any]:
    charts = [
        {
            "name": s.name,
            "unit_label": s.unit.value,
            "periods": s.months,
            "values": s.values,
        }
        for s in stats.series
    ]
    figures = [
        {"key": f.key, "name": f.name, "text": human(f.value, f.unit, locale)}
        for f in stats.figures
    ]
    return {"s": stats, "charts": charts, "figures": figures}


@router.get("/stats/csv/{key}")
def stats_csv(
    request: Request,
    key: str,
    first: Annotated[str, Query(alias="from", max_length=7)] = "",
    last: Annotated[str, Query(alias="to", max_length=7)] = "",
    actor: Actor = require(Action.STATS_READ),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    if key not in service.SERIES_KEYS:
        raise InvalidStatsInput.at("key", N_("No such series."))
    start, stop = service.month_range(first or None, last or None)
    stats = service.overview(session, first=start, last=stop, locale=request_locale(request))
    name = f"puhui-{key}-{stats.from_month}-{stats.to_month}.csv"
    return Response(
        service.series_csv(stats, key),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _lpr_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "rates": service.list_lpr(session),
        "errors": errors or {},
        "form": form or {"tenor": "1y"},
    }
    return render(request, "stats/lpr.html", ctx, status_code=status_code, actor=actor)


@router.get("/stats/lpr", response_class=HTMLResponse)
def lpr_page(
    request: Request,
    actor: Actor = require(Action.STATS_MANAGE),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _lpr_page(request, session, actor)


@router.post("/stats/lpr", response_class=HTMLResponse)
def lpr_add(
    request: Request,
    tenor: Annotated[str, Form(max_length=2)] = "",
    effective_on: Annotated[str, Form(max_length=10)] = "",
    rate_pct: Annotated[str, Form(max_length=10)] = "",
    actor: Actor = require(Action.STATS_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {"tenor": tenor, "effective_on": effective_on, "rate_pct": rate_pct}
    try:
        errors: dict[str, str] = {}
        try:
            day = date.fromisoformat(effective_on.strip())
        except ValueError:
            errors["effective_on"] = translate(request, N_("Enter a date (YYYY-MM-DD)."))
        try:
            rate = Decimal(rate_pct.strip())
            if not rate.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors["rate_pct"] = translate(
                request,
                N_("Enter the rate in percent, above 0 and at most 20, two decimals."),
            )
        if errors:
            return _lpr_page(request, session, actor, errors=errors, form=form, status_code=422)
        data = LprCreate.model_validate({"tenor": tenor, "effective_on": day, "rate_pct": rate})
        service.create_lpr(session, data=data, actor=actor)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _lpr_page(
            request, session, actor, errors=_errors(request, exc), form=form, status_code=422
        )
    return redirect("/stats/lpr")


@router.post("/stats/refresh")
def refresh_now(
    actor: Actor = require(Action.STATS_MANAGE), session: Session = Depends(db)
) -> Response:
    enqueue(session, service.REFRESH_JOB, {})
    return redirect("/stats?queued=1")
