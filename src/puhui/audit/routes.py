from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from puhui.audit import service
from puhui.audit.schemas import AuditEventRead, AuditFilter, Outcome
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require

router = APIRouter(prefix="/api/v1/audit", route_class=TxRoute, tags=["audit"])


@router.get(
    "/events", response_model=PageRead[AuditEventRead], summary="Audit events, newest first"
)
def list_events(
    action: Annotated[str | None, Query(max_length=64, description="Prefix, e.g. `auth.`")] = None,
    outcome: Outcome | None = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.AUDIT_READ),
    session: Session = Depends(db),
) -> PageRead[AuditEventRead]:
    flt = AuditFilter(
        action=action,
        outcome=outcome,
        username=username,
        institution_id=institution_id,
        since=since,
        until=until,
    )
    return page_read(AuditEventRead, service.list_events(session, flt=flt, params=params))
