"""Service quality, data quality and coverage over the API: `/api/v1/quality/service`,
`/api/v1/quality/data`, `/api/v1/quality/coverage`, each also as `.csv`, and
`POST /api/v1/quality/refresh` (operators queue a refresh of the rollups)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from puhui.core.jobs import enqueue
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, limited_download, request_locale, require
from puhui.quality import service
from puhui.quality.schemas import Coverage, DataQuality, ServiceQuality

router = APIRouter(prefix="/api/v1/quality", route_class=TxRoute, tags=["quality"])

Months = Annotated[int, Query(ge=1, le=36, description="Calendar months back, this one included")]
Days = Annotated[int, Query(ge=1, le=3660, description="Days back for batches and rejections")]
CSV = "text/csv; charset=utf-8"


def _csv(body: bytes, name: str) -> Response:
    return Response(
        body, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/service",
    response_model=ServiceQuality,
    summary="Banks' service quality: the league and its monthly trend",
)
def service_quality(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_SERVICE_READ),
    session: Session = Depends(db),
) -> ServiceQuality:
    return service.service_quality(session, actor=actor, months=months)


@router.get(
    "/service.csv",
    summary="Banks' service quality as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def service_quality_csv(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_SERVICE_READ),
    _limit: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    body = service.service_csv(service.service_quality(session, actor=actor, months=months))
    service.record_export(session, actor=actor, report="service", months=months)
    return _csv(body, "service-quality.csv")


@router.get(
    "/data",
    response_model=DataQuality,
    summary="Data quality: freshness and rejections per source, coverage per category",
)
def data_quality(
    request: Request,
    days: Days = 90,
    actor: Actor = require(Action.QUALITY_DATA_READ),
    session: Session = Depends(db),
) -> DataQuality:
    return service.data_quality(session, days=days, locale=request_locale(request))


@router.get(
    "/data.csv",
    summary="Data quality as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def data_quality_csv(
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


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="Coverage of inclusive finance by district and industry, with its monthly trend",
)
def coverage(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_COVERAGE_READ),
    session: Session = Depends(db),
) -> Coverage:
    return service.coverage(session, months=months)


@router.get(
    "/coverage.csv",
    summary="Coverage of inclusive finance as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def coverage_csv(
    months: Months = 12,
    actor: Actor = require(Action.QUALITY_COVERAGE_READ),
    _limit: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    body = service.coverage_csv(service.coverage(session, months=months))
    service.record_export(session, actor=actor, report="coverage", months=months)
    return _csv(body, "coverage.csv")


@router.post(
    "/refresh", status_code=202, summary="Queue a refresh of the service and coverage rollups"
)
def queue_refresh(
    actor: Actor = require(Action.STATS_MANAGE), session: Session = Depends(db)
) -> dict[str, int]:
    job = enqueue(session, service.REFRESH_JOB, {})
    return {"job_id": job.id}
