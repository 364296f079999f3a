from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from puhui.audit.models import AuditEvent
from puhui.audit.schemas import AuditFilter


def events_query(flt: AuditFilter) -> Select[Any]:
    stmt = select(AuditEvent)
    if flt.action:
        stmt = stmt.where(AuditEvent.action.startswith(flt.action))
    if flt.outcome:
        stmt = stmt.where(AuditEvent.outcome == flt.outcome)
    if flt.username:
        stmt = stmt.where(AuditEvent.username == flt.username)
    if flt.institution_id is not None:
        stmt = stmt.where(AuditEvent.institution_id == flt.institution_id)
    if flt.since:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    return stmt.order_by(AuditEvent.id.desc())
