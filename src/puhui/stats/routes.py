"""Platform statistics over the API: ``GET /api/v1/stats`` (every figure and series),
``GET /api/v1/stats/series/{key}`` (one series, JSON or CSV), the LPR entries and the
refresh of the rollups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from puhui.core.jobs import enqueue
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, count_download, db, request_locale, require
from puhui.stats import service
from puhui.stats.errors import InvalidStatsInput
from puhui.stats.schemas import LprCreate, LprRead, SeriesRead, StatsRead

router = APIRouter(prefix="/api/v1/stats", route_class=TxRoute, tags=["stats"])

Month = Annotated[str | None, Query(alias="from", max_length=7, pattern=r"^\d{4}-\d{2}$")]
ToMonth = Annotated[str | None, Query(alias="to", max_length=7, pattern=r"^\d{4}-\d{2}$")]


@router.get("", response_model=StatsRead, summary="Every platform figure over a range of months")
def overview(
    request: Request,
    first: Month = None,
    last: ToMonth = None,
    actor: Actor = require(Action.STATS_READ),
    session: Session = Depends(db),
) -> StatsRead:
    start, stop = service.month_range(first, last)
    return service.overview(session, first=start, last=stop, locale=request_locale(request))


@router.get(
    "/series/{key}",
    response_model=SeriesRead,
    summary="One monthly series; `format=csv` for a spreadsheet",
    responses={200: {"content": {"text/csv": {}}}},
)
def series(
    request: Request,
    key: str,
    first: Month = None,
    last: ToMonth = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    actor: Actor = require(Action.STATS_READ),
    session: Session = Depends(db),
) -> SeriesRead | Response:
    if key not in service.SERIES_KEYS:
        raise InvalidStatsInput.at("key", "No such series.")
    if format == "csv":  # a spreadsheet is a download: it counts against the hourly budget
        count_download(request, actor, session)
    start, stop = service.month_range(first, last)
    stats = service.overview(session, first=start, last=stop, locale=request_locale(request))
    if format == "csv":
        return _csv(service.series_csv(stats, key), key, stats)
    return next(s for s in stats.series if s.key == key)


def _csv(body: str, key: str, stats: StatsRead) -> Response:
    name = f"puhui-{key}-{stats.from_month}-{stats.to_month}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/lpr", response_model=list[LprRead], summary="The loan prime rates entered")
def list_lpr(
    actor: Actor = require(Action.STATS_READ), session: Session = Depends(db)
) -> list[LprRead]:
    return [LprRead.model_validate(r) for r in service.list_lpr(session)]


@router.post("/lpr", status_code=201, response_model=LprRead, summary="Enter an LPR quote")
def create_lpr(
    body: LprCreate,
    actor: Actor = require(Action.STATS_MANAGE),
    session: Session = Depends(db),
) -> LprRead:
    return LprRead.model_validate(service.create_lpr(session, data=body, actor=actor))


@router.post("/refresh", status_code=202, summary="Queue a refresh of the statistics")
def queue_refresh(
    actor: Actor = require(Action.STATS_MANAGE), session: Session = Depends(db)
) -> dict[str, int]:
    job = enqueue(session, service.REFRESH_JOB, {})
    return {"job_id": job.id}
