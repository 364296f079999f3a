"""Write and read audit events.

``record`` adds the event to the caller's session, so it commits or rolls back with the
change it describes. ``record_detached`` is for events that must survive the failure of
the request they belong to (a permission denial): it commits on its own session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from puhui.audit import repository
from puhui.audit.models import AuditEvent
from puhui.audit.schemas import AuditFilter, Outcome
from puhui.core.db import session_scope
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor


def record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    outcome: Outcome = "ok",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    username: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        user_id=actor.user_id if actor else None,
        username=actor.username if actor else username,
        role=str(actor.role) if actor else None,
        institution_id=actor.institution_id if actor else None,
        api_key_id=actor.api_key_id if actor else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        ip=ip if ip is not None else (actor.ip if actor else None),
        details=details,
    )
    session.add(event)
    session.flush()
    return event


def record_detached(
    factory: sessionmaker[Session],
    *,
    actor: Actor | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    outcome: Outcome = "denied",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    with session_scope(factory) as session:
        record(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            ip=ip,
            details=details,
        )


def list_events(session: Session, *, flt: AuditFilter, params: PageParams) -> Page[AuditEvent]:
    return paginate(session, repository.events_query(flt), params)
