"""Risk warning over the API: `/api/v1/monitoring/watchlist`, `/rules`, `/alerts`,
`/stats` and the full re-evaluation."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    limited_download,
    page_params,
    request_locale,
    require,
)
from puhui.monitoring import downloads, service
from puhui.monitoring.schemas import (
    AlertAction,
    AlertDetailRead,
    AlertFilter,
    AlertRead,
    AlertStats,
    BulkAlertAction,
    BulkResult,
    DownloadCreate,
    DownloadCreated,
    DownloadRead,
    Queued,
    RuleCreate,
    RuleRead,
    RuleSetRead,
    RuleUpdate,
    Severity,
    SnoozeCreate,
    SnoozeRead,
    TemplateRead,
    TrendRead,
    UploadResult,
    WatchAssign,
    WatchCreate,
    WatchRead,
    WatchSource,
)

router = APIRouter(prefix="/api/v1/monitoring", route_class=TxRoute, tags=["monitoring"])


# --- watchlist ---------------------------------------------------------------------------


@router.get("/watchlist", response_model=PageRead[WatchRead], summary="My institution's watchlist")
def list_watches(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> PageRead[WatchRead]:
    return page_of(service.list_watches(session, actor=actor, params=params))


@router.post(
    "/watchlist",
    status_code=201,
    response_model=WatchRead,
    summary="Watch a borrower (monitored once a live monitoring authorization covers it)",
)
def add_watch(
    body: WatchCreate,
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> WatchRead:
    return service.add_watch(session, actor=actor, data=body, source=WatchSource.API)


@router.post(
    "/watchlist/upload",
    response_model=UploadResult,
    summary="Watch the USCCs of a CSV or XLSX file (good rows kept, errors per row)",
)
def upload_watches(
    file: Annotated[UploadFile, File()],
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> UploadResult:
    content = file.file.read(service.MAX_UPLOAD_BYTES + 1)
    return service.upload_watches(
        session, actor=actor, filename=file.filename or "upload.csv", content=content
    )


@router.put(
    "/watchlist/{watch_id}/assignees",
    response_model=WatchRead,
    summary="Assign risk managers to a watched borrower",
)
def assign_watch(
    watch_id: int,
    body: WatchAssign,
    actor: Actor = require(Action.MONITORING_WATCH, obj="watch"),
    session: Session = Depends(db),
) -> WatchRead:
    return service.assign_watch(session, actor=actor, watch_id=watch_id, user_ids=body.assignees)


@router.delete("/watchlist/{watch_id}", status_code=204, summary="Stop watching a borrower")
def remove_watch(
    watch_id: int,
    actor: Actor = require(Action.MONITORING_WATCH, obj="watch"),
    session: Session = Depends(db),
) -> Response:
    service.remove_watch(session, actor=actor, watch_id=watch_id)
    return Response(status_code=204)


# --- rules -------------------------------------------------------------------------------


@router.get("/rules", response_model=RuleSetRead, summary="My institution's rule set")
def list_rules(
    request: Request,
    actor: Actor = require(Action.MONITORING_RULES),
    session: Session = Depends(db),
) -> RuleSetRead:
    return service.list_rules(session, actor=actor, locale=request_locale(request))


@router.post(
    "/rules",
    status_code=201,
    response_model=RuleRead,
    summary="Add a rule on a warning indicator (or take a template)",
)
def create_rule(
    body: RuleCreate,
    request: Request,
    actor: Actor = require(Action.MONITORING_RULES),
    session: Session = Depends(db),
) -> RuleRead:
    return service.create_rule(session, actor=actor, data=body, locale=request_locale(request))


@router.patch(
    "/rules/{rule_id}", response_model=RuleRead, summary="Change, enable or disable a rule"
)
def update_rule(
    rule_id: int,
    body: RuleUpdate,
    request: Request,
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> RuleRead:
    return service.update_rule(
        session, actor=actor, rule_id=rule_id, data=body, locale=request_locale(request)
    )


@router.get("/rule-templates", response_model=list[TemplateRead], summary="Common rules")
def rule_templates(actor: Actor = require(Action.MONITORING_RULES)) -> list[TemplateRead]:
    return service.templates()


@router.get("/rules/{rule_id}/snoozes", response_model=list[SnoozeRead], summary="A rule's snoozes")
def list_snoozes(
    rule_id: int,
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> list[SnoozeRead]:
    return service.snoozes(session, actor=actor, rule_id=rule_id)


@router.post(
    "/rules/{rule_id}/snoozes",
    status_code=201,
    response_model=SnoozeRead,
    summary="Silence a rule for one entity until a date",
)
def snooze_rule(
    rule_id: int,
    body: SnoozeCreate,
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> SnoozeRead:
    return service.snooze_rule(session, actor=actor, rule_id=rule_id, data=body)


@router.delete("/rules/{rule_id}/snoozes", status_code=204, summary="End a snooze")
def unsnooze_rule(
    rule_id: int,
    uscc: str = Query("", max_length=40),
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> Response:
    service.unsnooze_rule(session, actor=actor, rule_id=rule_id, uscc=uscc)
    return Response(status_code=204)


@router.post(
    "/evaluate",
    status_code=202,
    response_model=Queued,
    summary="Judge every watched pair again (after a catalog change)",
)
def reevaluate(
    actor: Actor = require(Action.MONITORING_REEVALUATE), session: Session = Depends(db)
) -> Queued:
    service.queue_full_evaluation(session, actor=actor, reason="api")
    return Queued(queued=True)


# --- alerts ------------------------------------------------------------------------------


def alert_filter(
    status: str | None = Query(None, pattern="^(new|acknowledged|handled|closed)$"),
    severity: Severity | None = None,
    indicator: str | None = Query(None, max_length=64),
    rule_id: int | None = None,
    uscc: str | None = Query(None, max_length=40),
    since: date | None = None,
    until: date | None = None,
) -> AlertFilter:
    return AlertFilter(
        status=status or None,
        severity=severity,
        indicator=indicator or None,
        rule_id=rule_id,
        uscc=uscc or None,
        since=since,
        until=until,
    )


@router.get("/alerts", response_model=PageRead[AlertRead], summary="My institution's alerts")
def list_alerts(
    request: Request,
    filter: AlertFilter = Depends(alert_filter),
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_ALERTS),
    session: Session = Depends(db),
) -> PageRead[AlertRead]:
    return page_of(
        service.list_alerts(
            session, actor=actor, filter=filter, params=params, locale=request_locale(request)
        )
    )


@router.post(
    "/alerts/bulk",
    response_model=BulkResult,
    summary="Acknowledge, handle or close many alerts (listed, or all matching a filter)",
)
def bulk_alerts(
    body: BulkAlertAction,
    actor: Actor = require(Action.MONITORING_ALERTS),
    session: Session = Depends(db),
) -> BulkResult:
    return service.bulk_act(session, actor=actor, data=body)


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetailRead,
    summary="An alert with its trend and source batch",
)
def get_alert(
    alert_id: int,
    request: Request,
    actor: Actor = require(Action.MONITORING_ALERTS, obj="alert"),
    session: Session = Depends(db),
) -> AlertDetailRead:
    detail = service.get_alert(
        session, actor=actor, alert_id=alert_id, locale=request_locale(request)
    )
    return AlertDetailRead(
        alert=detail.alert,
        trend=TrendRead(**asdict(detail.trend)) if detail.trend else None,
        source=detail.source,
    )


@router.post(
    "/alerts/{alert_id}/actions",
    response_model=AlertRead,
    summary="Move an alert along new → acknowledged → handled → closed",
)
def act_on_alert(
    alert_id: int,
    body: AlertAction,
    request: Request,
    actor: Actor = require(Action.MONITORING_ALERTS, obj="alert"),
    session: Session = Depends(db),
) -> AlertRead:
    return service.act_on_alert(
        session, actor=actor, alert_id=alert_id, data=body, locale=request_locale(request)
    )


@router.get("/stats", response_model=AlertStats, summary="Alerts per day, indicator, severity")
def alert_stats(
    request: Request,
    since: date | None = None,
    until: date | None = None,
    actor: Actor = require(Action.MONITORING_STATS),
    session: Session = Depends(db),
) -> AlertStats:
    return service.stats(
        session, actor=actor, since=since, until=until, locale=request_locale(request)
    )


# --- batch downloads -----------------------------------------------------------------------


@router.post(
    "/downloads",
    status_code=201,
    response_model=DownloadCreated,
    summary="Download indicators of watched borrowers: a signed, SM4-encrypted package "
    "(the content key is in this answer only)",
)
def create_download(
    body: DownloadCreate,
    request: Request,
    actor: Actor = require(Action.MONITORING_DOWNLOAD),
    _: None = limited_download(),
    session: Session = Depends(db),
) -> DownloadCreated:
    created = downloads.create(session, actor=actor, data=body, locale=request_locale(request))
    read = downloads.read(created.download)
    return DownloadCreated(
        download=read,
        key=created.key.hex(),
        package_url=f"/api/v1/monitoring/downloads/{read.id}/package",
    )


@router.get(
    "/downloads", response_model=PageRead[DownloadRead], summary="My institution's downloads"
)
def list_downloads(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_DOWNLOAD),
    session: Session = Depends(db),
) -> PageRead[DownloadRead]:
    return page_of(downloads.list_downloads(session, actor=actor, params=params))


@router.get("/downloads/{download_id}", response_model=DownloadRead, summary="One download")
def get_download(
    download_id: str,
    actor: Actor = require(Action.MONITORING_DOWNLOAD, obj="download"),
    session: Session = Depends(db),
) -> DownloadRead:
    return downloads.get(session, actor=actor, public_id=download_id)


@router.get(
    "/downloads/{download_id}/package",
    summary="The encrypted package again (within retention, while the authorizations last)",
    response_class=Response,
)
def fetch_download(
    download_id: str,
    actor: Actor = require(Action.MONITORING_DOWNLOAD, obj="download"),
    _: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    name, blob = downloads.fetch(session, actor=actor, public_id=download_id)
    return Response(
        blob,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
