from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Integer, Select, any_, cast, func, literal, select
from sqlalchemy.orm import Session

from puhui.consent.models import GRANTED, Consent, QueryRecord


def consent(session: Session, consent_id: int) -> Consent | None:
    return session.get(Consent, consent_id)


def consents_between(session: Session, *, entity_id: int, institution_id: int) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.entity_id == entity_id, Consent.institution_id == institution_id)
            .order_by(Consent.id)
        )
    )


def consents_query(
    *,
    entity_id: int | None = None,
    institution_id: int | None = None,
    statuses: Sequence[str] | None = None,
) -> Select[Any]:
    query = select(Consent).order_by(Consent.id.desc())
    if entity_id is not None:
        query = query.where(Consent.entity_id == entity_id)
    if institution_id is not None:
        query = query.where(Consent.institution_id == institution_id)
    if statuses:
        query = query.where(Consent.status.in_(list(statuses)))
    return query


def query_records_query(
    *, entity_id: int | None = None, institution_id: int | None = None
) -> Select[Any]:
    query = select(QueryRecord).order_by(QueryRecord.id.desc())
    if entity_id is not None:
        query = query.where(QueryRecord.entity_id == entity_id)
    if institution_id is not None:
        query = query.where(QueryRecord.institution_id == institution_id)
    return query


def query_counts(
    session: Session, *, since: datetime | None, until: datetime | None
) -> list[tuple[int | None, str, int]]:
    query = select(QueryRecord.institution_id, QueryRecord.purpose, func.count()).group_by(
        QueryRecord.institution_id, QueryRecord.purpose
    )
    if since is not None:
        query = query.where(QueryRecord.created_at >= since)
    if until is not None:
        query = query.where(QueryRecord.created_at < until)
    return [(r[0], r[1], int(r[2])) for r in session.execute(query)]


def granted_between(
    session: Session,
    *,
    institution_ids: Sequence[int],
    entity_ids: Sequence[int] | None,
    now: datetime,
) -> list[tuple[int, int, list[str]]]:
    """(institution, entity, purposes) of the granted consents in force at ``now``."""
    if not institution_ids:
        return []
    stmt = select(Consent.institution_id, Consent.entity_id, Consent.purposes).where(
        Consent.status == GRANTED,
        Consent.starts_at <= now,
        Consent.expires_at > now,
        Consent.institution_id.in_(list(institution_ids)),
    )
    if entity_ids is None:
        return [(int(i), int(e), list(p or [])) for i, e, p in session.execute(stmt)]
    ids = sorted(set(entity_ids))
    out: list[tuple[int, int, list[str]]] = []
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        if session.get_bind().dialect.name == "postgresql":  # one array, not 5 000 params
            match = Consent.entity_id == any_(cast(literal(part, ARRAY(Integer)), ARRAY(Integer)))
        else:
            match = Consent.entity_id.in_(part)
        rows = session.execute(stmt.where(match))
        out.extend((int(i), int(e), list(p or [])) for i, e, p in rows)
    return out
