"""Pages: banks' service quality (`/quality/service`), data quality (`/quality/data`) and
the coverage of inclusive finance with its district map (`/quality/coverage`), each with
a CSV download (`….csv`) and charts drawn from JSON blocks by static/puhui.js."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from puhui.core.i18n import N_
from puhui.core.policy import Action, Actor, Role
from puhui.core.web import (
    TxRoute,
    db,
    limited_download,
    register_nav,
    render,
    request_locale,
    require,
    translate,
)
from puhui.quality import service
from puhui.quality.schemas import Coverage, ServiceQuality

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Service quality"), "/quality/service", Action.QUALITY_SERVICE_READ, order=63)
register_nav(N_("Data quality"), "/quality/data", Action.QUALITY_DATA_READ, order=64)
register_nav(N_("Inclusive coverage"), "/quality/coverage", Action.QUALITY_COVERAGE_READ, order=65)

Months = Annotated[int, Query(ge=1, le=36)]
Days = Annotated[int, Query(ge=1, le=3660)]
MONTH_CHOICES = (3, 6, 12, 24, 36)
DAY_CHOICES = (30, 90, 180, 365)


def _csv(body: bytes, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- service quality ------------------------------------------------------------------


def _service_chart(request: Request, report: ServiceQuality) -> dict[str, Any]:
    """{months, metrics, series}: the platform first, then each visible institution."""
    metrics = [
        ("within_sla", N_("Contacted within deadline"), 100),
        ("median_contact_hours", N_("Median hours to contact"), 1),
        ("grant_rate", N_("Grant rate"), 100),
        ("satisfaction", N_("Satisfaction"), 1),
        ("complaints", N_("Complaints"), 1),
        ("claims", N_("Claims"), 1),
    ]
    names = {r.institution_id: r.institution_name for r in report.rows if r.institution_id}
    by_inst: dict[int | None, dict[str, Any]] = {}
    for m in report.trend:
        by_inst.setdefault(m.institution_id, {})[m.month] = m
    series = []
    order = [None, *[r.institution_id for r in report.rows if r.institution_id]]
    for inst in order:
        months = by_inst.get(inst, {})
        values: dict[str, list[float | None]] = {}
        for key, _label, scale in metrics:
            row = []
            for month in report.months:
                v = getattr(months[month], key) if month in months else None
                row.append(None if v is None else round(v * scale, 2))
            values[key] = row
        name = translate(request, N_("All institutions")) if inst is None else names[inst]
        series.append({"name": name, "values": values})
    return {
        "months": report.months,
        "metrics": [{"key": k, "label": translate(request, lbl)} for k, lbl, _ in metrics],
        "series": series,
    }


@router.get("/quality/service", response_class=HTMLResponse)
def service_page(
    request: Request,
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_SERVICE_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    report = service.service_quality(session, actor=actor, months=months)
    ctx = {
        "r": report,
        "months": months,
        "choices": MONTH_CHOICES,
        "chart": _service_chart(request, report),
        "anonymised": actor.role is Role.INSTITUTION_ADMIN,
    }
    return render(request, "quality/service.html", ctx, actor=actor)


@router.get("/quality/service.csv")
def service_csv(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_SERVICE_READ),
    _limit: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    body = service.service_csv(service.service_quality(session, actor=actor, months=months))
    service.record_export(session, actor=actor, report="service", months=months)
    return _csv(body, "service-quality.csv")


# --- data quality ---------------------------------------------------------------------


@router.get("/quality/data", response_class=HTMLResponse)
def data_page(
    request: Request,
    days: Days = 90,
    actor: Actor = require(Action.QUALITY_DATA_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    report = service.data_quality(session, days=days, locale=request_locale(request))
    charts = [
        {
            "name": translate(request, N_("Entities with a value, by category (%)")),
            "type": "bar",
            "unit_label": "%",
            "periods": [c.label for c in report.categories],
            "values": [
                None if c.share is None else round(c.share * 100, 2) for c in report.categories
            ],
        },
        {
            "name": translate(request, N_("Rejected values, by source (%)")),
            "type": "bar",
            "unit_label": "%",
            "periods": [s.code for s in report.sources],
            "values": [
                None if s.rejection_rate is None else round(s.rejection_rate * 100, 2)
                for s in report.sources
            ],
        },
    ]
    ctx = {"r": report, "days": days, "choices": DAY_CHOICES, "charts": charts}
    return render(request, "quality/data.html", ctx, actor=actor)


@router.get("/quality/data.csv")
def data_csv(
    request: Request,
    days: Days = 90,
    actor: Actor = require(Action.QUALITY_DATA_READ),
    _limit: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    body = service.data_csv(
        service.data_quality(session, days=days, locale=request_locale(request))
    )
    service.record_export(session, actor=actor, report="data", days=days)
    return _csv(body, "data-quality.csv")


# --- coverage -------------------------------------------------------------------------


def _coverage_charts(request: Request, report: Coverage) -> tuple[dict[str, Any], dict[str, Any]]:
    tiles = {
        "tiles": [
            {
                "name": d.name,
                "x": d.column,
                "y": d.row,
                "share": None if d.share is None else round(d.share * 100, 2),
                "entities": d.entities,
                "borrowers": d.borrowers,
            }
            for d in report.districts
            if d.column is not None
        ],
        "labels": {
            "share": translate(request, N_("Share with a loan (%)")),
            "entities": translate(request, N_("Entities")),
            "borrowers": translate(request, N_("With a loan")),
        },
    }
    names = {d.code: d.name for d in report.districts}
    by_place: dict[str | None, list[Any]] = {}
    for t in report.trend:
        by_place.setdefault(t.district, []).append(t)
    series = []
    for place, points in by_place.items():
        name = translate(request, N_("Whole city")) if place is None else names[place]
        series.append(
            {
                "name": name,
                "values": {
                    "share": [None if p.share is None else round(p.share * 100, 3) for p in points],
                    "borrowers": [p.borrowers for p in points],
                    "new_borrowers": [p.new_borrowers for p in points],
                },
            }
        )
    trend = {
        "months": report.months,
        "metrics": [
            {"key": "share", "label": translate(request, N_("Share with a loan (%)"))},
            {"key": "borrowers", "label": translate(request, N_("Entities with a loan"))},
            {"key": "new_borrowers", "label": translate(request, N_("First loans in the month"))},
        ],
        "series": series,
    }
    return tiles, trend


@router.get("/quality/coverage", response_class=HTMLResponse)
def coverage_page(
    request: Request,
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_COVERAGE_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    report = service.coverage(session, months=months)
    tiles, trend = _coverage_charts(request, report)
    ctx = {
        "r": report,
        "months": months,
        "choices": MONTH_CHOICES,
        "tiles": tiles,
        "trend": trend,
    }
    return render(request, "quality/coverage.html", ctx, actor=actor)


@router.get("/quality/coverage.csv")
def coverage_csv(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_COVERAGE_READ),
    _limit: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    body = service.coverage_csv(service.coverage(session, months=months))
    service.record_export(session, actor=actor, report="coverage", months=months)
    return _csv(body, "coverage.csv")
