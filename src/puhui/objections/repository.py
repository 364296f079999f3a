"""Every objection query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from puhui.objections.models import Objection, ObjectionAttachment

OPEN = ("submitted", "routed")


def objection(session: Session, objection_id: int, *, for_update: bool = False) -> Objection | None:
    stmt = select(Objection).where(Objection.id == objection_id)
    if for_update:
        stmt = stmt.with_for_update()
    found: Objection | None = session.scalars(stmt).first()
    return found


def open_on_item(
    session: Session, *, entity_id: int, indicator_id: int, period: int
) -> Objection | None:
    stmt = select(Objection).where(
        Objection.entity_id == entity_id,
        Objection.indicator_id == indicator_id,
        Objection.period == period,
        Objection.status.in_(OPEN),
    )
    found: Objection | None = session.scalars(stmt).first()
    return found


def open_items(session: Session, entity_id: int) -> set[tuple[int, int]]:
    stmt = select(Objection.indicator_id, Objection.period).where(
        Objection.entity_id == entity_id, Objection.status.in_(OPEN)
    )
    return {(int(i), int(p)) for i, p in session.execute(stmt)}


def open_items_of(session: Session, entity_ids: Sequence[int]) -> set[tuple[int, int, int]]:
    found: set[tuple[int, int, int]] = set()
    ids = sorted(set(entity_ids))
    for start in range(0, len(ids), 1000):
        stmt = select(Objection.entity_id, Objection.indicator_id, Objection.period).where(
            Objection.entity_id.in_(ids[start : start + 1000]), Objection.status.in_(OPEN)
        )
        found |= {(int(e), int(i), int(p)) for e, i, p in session.execute(stmt)}
    return found


def objections_query(
    *,
    entity_id: int | None = None,
    sources: Sequence[str] | None = None,
    status: str | None = None,
    open_only: bool = False,
) -> Select[Any]:
    stmt = select(Objection)
    if entity_id is not None:
        stmt = stmt.where(Objection.entity_id == entity_id)
    if sources is not None:
        stmt = stmt.where(Objection.routed_source.in_(list(sources)))
    if status:
        stmt = stmt.where(Objection.status == status)
    if open_only:
        stmt = stmt.where(Objection.status.in_(OPEN))
    return stmt.order_by(Objection.submitted_at, Objection.id)


def due_for_reminder(session: Session, *, submitted_before: datetime) -> list[Objection]:
    stmt = (
        select(Objection)
        .where(
            Objection.status.in_(OPEN),
            Objection.reminded_at.is_(None),
            Objection.submitted_at <= submitted_before,
        )
        .order_by(Objection.id)
    )
    return list(session.scalars(stmt))


def overdue(session: Session, *, now: datetime) -> list[Objection]:
    stmt = (
        select(Objection)
        .where(
            Objection.status.in_(OPEN),
            Objection.escalated.is_(False),
            Objection.due_at < now,
        )
        .order_by(Objection.id)
    )
    return list(session.scalars(stmt))


def attachments(session: Session, objection_ids: Sequence[int]) -> list[ObjectionAttachment]:
    if not objection_ids:
        return []
    stmt = (
        select(ObjectionAttachment)
        .where(ObjectionAttachment.objection_id.in_(list(objection_ids)))
        .order_by(ObjectionAttachment.id)
    )
    return list(session.scalars(stmt))


def all_attachments(session: Session) -> list[ObjectionAttachment]:
    return list(session.scalars(select(ObjectionAttachment).order_by(ObjectionAttachment.id)))


def known_attachment_names(session: Session, names: Sequence[str]) -> set[str]:
    """Those of ``names`` that an attachment is stored under."""
    stmt = select(ObjectionAttachment.stored_name).where(
        ObjectionAttachment.stored_name.in_(list(names))
    )
    return {str(n) for n in session.scalars(stmt)}


def attachment(session: Session, attachment_id: int) -> ObjectionAttachment | None:
    found: ObjectionAttachment | None = session.get(ObjectionAttachment, attachment_id)
    return found
