from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from puhui.audit import service
from puhui.audit.schemas import AuditFilter
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import SHANGHAI, TxRoute, db, page_params, register_nav, render, require

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Audit log"), "/audit", Action.AUDIT_READ, order=90)


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    day = datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 - a local calendar day
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start + timedelta(days=1) if end else start


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[Literal["", "ok", "denied", "failed"], Query()] = "",
    username: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
    until: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.AUDIT_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    flt = AuditFilter(
        action=action or None,
        outcome=outcome or None,
        username=username or None,
        since=_day(since),
        until=_day(until, end=True),
    )
    page = service.list_events(session, flt=flt, params=params)
    filters = {
        "action": action or "",
        "outcome": outcome or "",
        "username": username or "",
        "since": since or "",
        "until": until or "",
    }
    return render(request, "audit/events.html", {"page": page, "filters": filters}, actor=actor)
