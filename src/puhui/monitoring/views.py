"""Pages of risk warning: the watchlist (`/monitoring/watchlist`), the rule set
(`/monitoring/rules`), alerts with bulk actions (`/monitoring/alerts`), one alert with its
trend (`/monitoring/alerts/{id}`), the statistics (`/monitoring/stats`) and batch downloads
(`/monitoring/downloads`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    field_messages,
    limited_download,
    page_params,
    redirect,
    register_nav,
    render,
    request_locale,
    require,
    translate,
    validation_details,
)
from puhui.monitoring import downloads, service
from puhui.monitoring.errors import InvalidMonitoringInput
from puhui.monitoring.machine import LABELS as STATE_LABELS
from puhui.monitoring.machine import allowed_actions
from puhui.monitoring.schemas import (
    LABELS,
    OUTCOMES,
    STATES,
    AlertAction,
    AlertFilter,
    BulkAlertAction,
    DownloadCreate,
    Kind,
    Op,
    RuleCreate,
    RuleUpdate,
    Severity,
    SnoozeCreate,
    WatchCreate,
    WatchSource,
)

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Risk alerts"), "/monitoring/alerts", Action.MONITORING_ALERTS, order=54)
register_nav(N_("Watchlist"), "/monitoring/watchlist", Action.MONITORING_WATCH, order=55)
register_nav(N_("Warning rules"), "/monitoring/rules", Action.MONITORING_RULES, order=56)
register_nav(N_("Alert statistics"), "/monitoring/stats", Action.MONITORING_STATS, order=57)
register_nav(N_("Batch downloads"), "/monitoring/downloads", Action.MONITORING_DOWNLOAD, order=58)


def _errors(request: Request, exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValidationError):
        errors = field_messages(request, validation_details(exc.errors())) or {
            "form": translate(request, N_("This value is not valid."))
        }
    else:
        assert isinstance(exc, PuhuiError)
        errors = field_messages(request, exc.details) or {
            "form": translate(request, exc.message, **exc.params)
        }
    return errors


def _int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else None


# --- watchlist ---------------------------------------------------------------------------


def _watchlist(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    upload: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = service.list_watches(session, actor=actor, params=params)
    managers = service.risk_managers(session, actor=actor)
    ctx = {
        "page": page,
        "managers": managers,
        "manager_names": dict(managers),
        "labels": LABELS,
        "errors": errors or {},
        "form": form or {},
        "upload": upload,
    }
    return render(request, "monitoring/watchlist.html", ctx, status_code=status_code, actor=actor)


@router.get("/monitoring/watchlist", response_class=HTMLResponse)
def watchlist_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _watchlist(request, session, actor, params)


@router.post("/monitoring/watchlist", response_class=HTMLResponse)
def watchlist_add(
    request: Request,
    uscc: Annotated[str, Form(max_length=40)] = "",
    assignees: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str, Form(max_length=200)] = "",
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> Response:
    form = {"uscc": uscc, "note": note, "assignees": assignees or []}
    try:
        data = WatchCreate(
            uscc=uscc, note=note, assignees=[int(a) for a in assignees or [] if a.isdigit()]
        )
        service.add_watch(session, actor=actor, data=data, source=WatchSource.PAGE)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _watchlist(
            request,
            session,
            actor,
            PageParams(),
            errors=_errors(request, exc),
            form=form,
            status_code=422,
        )
    return redirect("/monitoring/watchlist")


@router.post("/monitoring/watchlist/upload", response_class=HTMLResponse)
def watchlist_upload(
    request: Request,
    file: Annotated[UploadFile, File()],
    actor: Actor = require(Action.MONITORING_WATCH),
    session: Session = Depends(db),
) -> Response:
    try:
        result = service.upload_watches(
            session,
            actor=actor,
            filename=file.filename or "upload.csv",
            content=file.file.read(service.MAX_UPLOAD_BYTES + 1),
        )
    except PuhuiError as exc:
        session.rollback()
        return _watchlist(
            request, session, actor, PageParams(), errors=_errors(request, exc), status_code=422
        )
    return _watchlist(request, session, actor, PageParams(), upload=result)


@router.post("/monitoring/watchlist/{watch_id}/remove", response_class=HTMLResponse)
def watchlist_remove(
    watch_id: int,
    actor: Actor = require(Action.MONITORING_WATCH, obj="watch"),
    session: Session = Depends(db),
) -> Response:
    service.remove_watch(session, actor=actor, watch_id=watch_id)
    return redirect("/monitoring/watchlist")


@router.post("/monitoring/watchlist/{watch_id}/assignees", response_class=HTMLResponse)
def watchlist_assign(
    request: Request,
    watch_id: int,
    assignees: Annotated[list[str] | None, Form()] = None,
    actor: Actor = require(Action.MONITORING_WATCH, obj="watch"),
    session: Session = Depends(db),
) -> Response:
    try:
        service.assign_watch(
            session,
            actor=actor,
            watch_id=watch_id,
            user_ids=[int(a) for a in assignees or [] if a.isdigit()],
        )
    except PuhuiError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _watchlist(
            request, session, actor, PageParams(), errors=_errors(request, exc), status_code=422
        )
    return redirect("/monitoring/watchlist")


# --- rules -------------------------------------------------------------------------------


def _rules(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "rule_set": service.list_rules(session, actor=actor, locale=request_locale(request)),
        "templates": service.templates(),
        "kinds": [k.value for k in Kind],
        "ops": [o.value for o in Op],
        "severities": [s.value for s in Severity],
        "labels": LABELS,
        "errors": errors or {},
        "form": form or {},
    }
    return render(request, "monitoring/rules.html", ctx, status_code=status_code, actor=actor)


@router.get("/monitoring/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    actor: Actor = require(Action.MONITORING_RULES),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _rules(request, session, actor)


@router.post("/monitoring/rules", response_class=HTMLResponse)
def rules_add(
    request: Request,
    template: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    indicator: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(max_length=12)] = "",
    op: Annotated[str, Form(max_length=2)] = "",
    threshold: Annotated[str, Form(max_length=20)] = "",
    severity: Annotated[str, Form(max_length=8)] = "",
    actor: Actor = require(Action.MONITORING_RULES),
    session: Session = Depends(db),
) -> Response:
    form = {
        "template": template,
        "name": name,
        "indicator": indicator,
        "kind": kind,
        "op": op,
        "threshold": threshold,
        "severity": severity,
    }
    try:
        data = RuleCreate.model_validate({k: v.strip() for k, v in form.items() if v.strip()})
        service.create_rule(session, actor=actor, data=data, locale=request_locale(request))
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _rules(
            request, session, actor, errors=_errors(request, exc), form=form, status_code=422
        )
    return redirect("/monitoring/rules")


@router.post("/monitoring/rules/{rule_id}/toggle", response_class=HTMLResponse)
def rules_toggle(
    request: Request,
    rule_id: int,
    enabled: Annotated[str, Form(max_length=1)] = "",
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> Response:
    service.update_rule(
        session,
        actor=actor,
        rule_id=rule_id,
        data=RuleUpdate(enabled=enabled == "1"),
        locale=request_locale(request),
    )
    return redirect("/monitoring/rules")


@router.post("/monitoring/rules/{rule_id}/snooze", response_class=HTMLResponse)
def rules_snooze(
    request: Request,
    rule_id: int,
    uscc: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    actor: Actor = require(Action.MONITORING_RULES, obj="rule"),
    session: Session = Depends(db),
) -> Response:
    service.snoozes(session, actor=actor, rule_id=rule_id)  # another institution's: 404
    try:
        data = SnoozeCreate.model_validate({"uscc": uscc, "until": until})
        service.snooze_rule(session, actor=actor, rule_id=rule_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        errors = {f"snooze-{rule_id}": " ".join(_errors(request, exc).values())}
        return _rules(request, session, actor, errors=errors, status_code=422)
    return redirect("/monitoring/rules")


# --- alerts ------------------------------------------------------------------------------


def _alert_filter(
    status: str, severity: str, indicator: str, uscc: str, since: str, until: str
) -> AlertFilter:
    raw = {
        "status": status if status in STATES else None,
        "severity": severity if severity in {s.value for s in Severity} else None,
        "indicator": indicator.strip() or None,
        "uscc": uscc.strip() or None,
        "since": since or None,
        "until": until or None,
    }
    try:
        return AlertFilter.model_validate(raw)
    except ValidationError:
        return AlertFilter.model_validate({**raw, "since": None, "until": None})


def _alerts(
    request: Request,
    session: Session,
    actor: Actor,
    flt: AlertFilter,
    params: PageParams,
    *,
    errors: dict[str, str] | None = None,
    result: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        page = service.list_alerts(
            session, actor=actor, filter=flt, params=params, locale=request_locale(request)
        )
    except PuhuiError as exc:
        session.rollback()
        errors = {**(errors or {}), **_errors(request, exc)}
        flt = AlertFilter()
        page = service.list_alerts(
            session, actor=actor, filter=flt, params=params, locale=request_locale(request)
        )
        status_code = 422
    filters = {k: ("" if v is None else str(v)) for k, v in flt.model_dump().items()}
    query = (
        "&" + urlencode({k: v for k, v in filters.items() if v}) if any(filters.values()) else ""
    )
    ctx = {
        "page": page,
        "filters": filters,
        "query": query,
        "states": STATES,
        "outcomes": OUTCOMES,
        "state_labels": STATE_LABELS,
        "severities": [s.value for s in Severity],
        "labels": LABELS,
        "errors": errors or {},
        "result": result,
    }
    return render(request, "monitoring/alerts.html", ctx, status_code=status_code, actor=actor)


@router.get("/monitoring/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    status: Annotated[str, Query(max_length=12)] = "",
    severity: Annotated[str, Query(max_length=8)] = "",
    indicator: Annotated[str, Query(max_length=64)] = "",
    uscc: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_ALERTS),
    session: Session = Depends(db),
) -> HTMLResponse:
    flt = _alert_filter(status, severity, indicator, uscc, since, until)
    return _alerts(request, session, actor, flt, params)


@router.post("/monitoring/alerts/bulk", response_class=HTMLResponse)
def alerts_bulk(
    request: Request,
    action: Annotated[str, Form(max_length=20)] = "",
    outcome: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    ids: Annotated[list[str] | None, Form()] = None,
    all_matching: Annotated[str, Form(max_length=1)] = "",
    status: Annotated[str, Form(max_length=12)] = "",
    severity: Annotated[str, Form(max_length=8)] = "",
    indicator: Annotated[str, Form(max_length=64)] = "",
    uscc: Annotated[str, Form(max_length=40)] = "",
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
    actor: Actor = require(Action.MONITORING_ALERTS),
    session: Session = Depends(db),
) -> Response:
    flt = _alert_filter(status, severity, indicator, uscc, since, until)
    try:
        data = BulkAlertAction(
            action=action,
            outcome=outcome or None,
            note=note,
            ids=[int(i) for i in ids or [] if i.isdigit()],
            all_matching=all_matching == "1",
            filter=flt,
        )
        result = service.bulk_act(session, actor=actor, data=data)
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        return _alerts(
            request,
            session,
            actor,
            flt,
            PageParams(),
            errors=_errors(request, exc),
            status_code=422,
        )
    return _alerts(request, session, actor, flt, PageParams(), result=result)


def _alert_page(
    request: Request,
    session: Session,
    actor: Actor,
    alert_id: int,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    detail = service.get_alert(
        session, actor=actor, alert_id=alert_id, locale=request_locale(request)
    )
    ctx = {
        "a": detail.alert,
        "trend": [asdict(detail.trend)] if detail.trend else [],
        "source": detail.source,
        "actions": allowed_actions(detail.alert.status),
        "outcomes": OUTCOMES,
        "state_labels": STATE_LABELS,
        "labels": LABELS,
        "errors": errors or {},
    }
    return render(request, "monitoring/alert.html", ctx, status_code=status_code, actor=actor)


@router.get("/monitoring/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request,
    alert_id: int,
    actor: Actor = require(Action.MONITORING_ALERTS, obj="alert"),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _alert_page(request, session, actor, alert_id)


@router.post("/monitoring/alerts/{alert_id}/action", response_class=HTMLResponse)
def alert_action(
    request: Request,
    alert_id: int,
    action: Annotated[str, Form(max_length=20)] = "",
    outcome: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    actor: Actor = require(Action.MONITORING_ALERTS, obj="alert"),
    session: Session = Depends(db),
) -> Response:
    try:
        data = AlertAction(action=action, outcome=outcome or None, note=note)
        service.act_on_alert(session, actor=actor, alert_id=alert_id, data=data)
    except (ValidationError, PuhuiError) as exc:
        if isinstance(exc, PuhuiError) and exc.status == 404:
            raise
        session.rollback()
        return _alert_page(
            request, session, actor, alert_id, errors=_errors(request, exc), status_code=422
        )
    return redirect(f"/monitoring/alerts/{alert_id}")


# --- statistics --------------------------------------------------------------------------


@router.get("/monitoring/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    actor: Actor = require(Action.MONITORING_STATS),
    session: Session = Depends(db),
) -> HTMLResponse:
    errors: dict[str, str] = {}
    try:
        first = date.fromisoformat(since) if since else None
        last = date.fromisoformat(until) if until else None
        data = service.stats(
            session, actor=actor, since=first, until=last, locale=request_locale(request)
        )
    except (ValueError, PuhuiError) as exc:
        session.rollback()
        errors = (
            _errors(request, exc)
            if isinstance(exc, PuhuiError)
            else {"since": translate(request, N_("Enter a date (YYYY-MM-DD)."))}
        )
        data = service.stats(
            session, actor=actor, since=None, until=None, locale=request_locale(request)
        )
    charts = [
        {
            "name": translate(request, N_("Alerts per day")),
            "unit_label": "",
            "periods": [d.day.isoformat() for d in data.per_day],
            "values": [d.alerts for d in data.per_day],
        },
        {
            "name": translate(request, N_("Entities alerted per day")),
            "unit_label": "",
            "periods": [d.day.isoformat() for d in data.per_day],
            "values": [d.entities for d in data.per_day],
        },
        {
            "name": translate(request, N_("Alerts by indicator")),
            "unit_label": "",
            "periods": [k.label for k in data.by_indicator],
            "values": [k.alerts for k in data.by_indicator],
        },
        {
            "name": translate(request, N_("Alerts by severity")),
            "unit_label": "",
            "periods": [k.label for k in data.by_severity],
            "values": [k.alerts for k in data.by_severity],
        },
    ]
    ctx = {"s": data, "charts": charts, "errors": errors, "since": since, "until": until}
    return render(
        request, "monitoring/stats.html", ctx, status_code=422 if errors else 200, actor=actor
    )


# --- batch downloads -----------------------------------------------------------------------


def _downloads_page(
    request: Request,
    session: Session,
    actor: Actor,
    params: PageParams,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    created: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "page": downloads.list_downloads(session, actor=actor, params=params),
        "errors": errors or {},
        "form": form or {"format": "csv"},
        "created": created,
        "reasons": downloads.SKIP_REASONS,
    }
    return render(request, "monitoring/downloads.html", ctx, status_code=status_code, actor=actor)


@router.get("/monitoring/downloads", response_class=HTMLResponse)
def downloads_page(
    request: Request,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.MONITORING_DOWNLOAD),
    session: Session = Depends(db),
) -> HTMLResponse:
    return _downloads_page(request, session, actor, params)


def _codes(raw: str) -> list[str]:
    return [c for c in raw.replace(",", " ").replace("，", " ").split() if c]


@router.post("/monitoring/downloads", response_class=HTMLResponse)
def downloads_create(
    request: Request,
    indicators: Annotated[str, Form(max_length=8000)] = "",
    period_from: Annotated[str, Form(max_length=6)] = "",
    period_to: Annotated[str, Form(max_length=6)] = "",
    format: Annotated[str, Form(max_length=8)] = "csv",
    usccs: Annotated[str, Form(max_length=400_000)] = "",
    actor: Actor = require(Action.MONITORING_DOWNLOAD),
    _: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    form = {
        "indicators": indicators,
        "period_from": period_from,
        "period_to": period_to,
        "format": format,
        "usccs": usccs,
    }
    try:
        start, end = _int(period_from), _int(period_to)
        if start is None:
            raise InvalidMonitoringInput.at("periods.from", N_("Write the period as YYYYMM."))
        if end is None:
            raise InvalidMonitoringInput.at("periods.to", N_("Write the period as YYYYMM."))
        data = DownloadCreate.model_validate(
            {
                "indicators": _codes(indicators),
                "periods": {"from": start, "to": end},
                "format": format,
                "usccs": _codes(usccs) or None,
            }
        )
        created = downloads.create(session, actor=actor, data=data, locale=request_locale(request))
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        errors = _errors(request, exc)
        if isinstance(exc, PuhuiError) and isinstance(exc.details, dict):
            skipped = exc.details.get("skipped") or []
            errors["form"] += " " + "; ".join(f"{s['uscc']}: {s['message']}" for s in skipped)
        return _downloads_page(
            request, session, actor, PageParams(), errors=errors, form=form, status_code=422
        )
    shown = {"read": downloads.read(created.download), "key": created.key.hex()}
    return _downloads_page(request, session, actor, PageParams(), created=shown, form=form)


@router.get("/monitoring/downloads/{download_id}/package")
def downloads_package(
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
